package acl

import (
	"fmt"
	"math"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/layers"

	"github.com/ainfonce/goacl/acl/internal/hostval"
	"github.com/ainfonce/goacl/acl/losses"

	"github.com/ainfonce/goacl/datasets"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// InstanceAttackResult is the outcome of Pretrained.InstanceAttack on a batch of B images.
type InstanceAttackResult struct {
	// Attack is the PGD configuration used.
	Attack attack.PGDConfig `json:"attack"`
	// Adv holds the adversarial images.
	Adv datasets.ViewBatch `json:"-"`
	// Trajectory is the attack objective (the batch mean) at the start point and after
	// each PGD step: Steps+1 values. PGD ascends it, so it mostly rises.
	Trajectory []float64 `json:"trajectory"`
	// Features are the projections of [x; target; adv] as the training loss sees them
	// (train-mode batch norm over the 3B rows, running statistics untouched): the RoCL
	// layout, ready for AnalyzePairs and NegativeWeights.
	Features *tensors.Tensor `json:"-"`
	// FeatureCosine is, per image, the cosine between the encoder features (eval mode) of
	// the clean input and of its adversarial version, clamped to [−1, 1]: 1 means the
	// attack did not move the representation.
	FeatureCosine []float64 `json:"feature_cosine"`
	// MaxPerturbation is max |adv − x| over the batch (≤ ε).
	MaxPerturbation float64 `json:"max_perturbation"`
}

// MeanFeatureCosine returns the mean of FeatureCosine.
func (r *InstanceAttackResult) MeanFeatureCosine() float64 { return meanFloat(r.FeatureCosine) }

// FinalObjective returns the last value of the trajectory.
func (r *InstanceAttackResult) FinalObjective() float64 { return r.Trajectory[len(r.Trajectory)-1] }

func meanFloat(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// InstanceAttack runs the run's own instance-wise attack on a batch: for RoCL (spec §4.1,
// attack_lib.py), PGD on x maximising the 2-view NT-Xent between the projection of the
// attacked images and the detached projection of target, with the model in eval mode, as
// in pretraining. x = x⁽¹⁾ and target = x⁽²⁾ reproduce a training step's attack;
// x = target = the clean image attacks the representation of an image itself. The random
// start comes from seed. The objective is recorded at every step (from the same graph
// nodes PGD differentiates), so the trajectory is that of the attack itself.
func (p *Pretrained) InstanceAttack(x, target datasets.ViewBatch, cfg attack.PGDConfig, seed uint64) (res *InstanceAttackResult, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if x.N != target.N || x.H != target.H || x.W != target.W || x.C != target.C {
		return nil, fmt.Errorf("instance attack: x is %d×%d×%d×%d but target is %d×%d×%d×%d", x.N, x.H, x.W, x.C, target.N, target.H, target.W, target.C)
	}
	if x.N < 2 {
		return nil, fmt.Errorf("instance attack: need at least 2 images (contrastive loss), got %d", x.N)
	}
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("instance attack on run %s: %v", p.RunDir, r)
		}
	}()
	t := p.Config.Loss.Temperature
	exec, err := context.NewExec(p.Backend, p.Ctx, func(ctx *context.Context, xs, ts *graph.Node) []*graph.Node {
		g := xs.Graph()
		var adv, cosine *graph.Node
		var objectives []*graph.Node
		layers.InMode(ctx, g, false, false, func() {
			tz := graph.StopGradient(p.embed(ctx, ts))
			objective := func(advs []*graph.Node) *graph.Node {
				o := losses.RoCLTwoViewNTXent(p.embed(ctx, advs[0]), tz, t)
				objectives = append(objectives, o)
				return o
			}
			adv = attack.PGD(ctx, []*graph.Node{xs}, cfg, objective)[0]
			objective([]*graph.Node{adv})
			hx := p.Encoder.Features(ctx, xs, "")
			ha := p.Encoder.Features(ctx, adv, "")
			cosine = graph.Div(graph.ReduceSum(graph.Mul(hx, ha), 1),
				graph.AddScalar(graph.Mul(l2Norm1(hx), l2Norm1(ha)), 1e-12))
		})
		var z *graph.Node
		layers.InMode(ctx, g, true, false, func() {
			z = p.embed(ctx, graph.Concatenate([]*graph.Node{xs, ts, adv}, 0))
		})
		traj := make([]*graph.Node, len(objectives))
		for i, o := range objectives {
			traj[i] = graph.Reshape(o, 1)
		}
		linf := graph.ReduceAllMax(graph.Abs(graph.Sub(adv, xs)))
		return []*graph.Node{adv, graph.Concatenate(traj, 0), z, cosine, linf}
	})
	if err != nil {
		return nil, err
	}
	if err := p.Ctx.SetRNGStateFromSeed(int64(seed)); err != nil {
		return nil, err
	}
	outs, err := exec.Exec(viewTensor(x), viewTensor(target))
	if err != nil {
		return nil, fmt.Errorf("instance attack on run %s: %w", p.RunDir, err)
	}
	advData := tensors.MustCopyFlatData[float32](outs[0])
	res = &InstanceAttackResult{Attack: cfg, Features: outs[2],
		Adv: datasets.ViewBatch{Name: "adv", N: x.N, H: x.H, W: x.W, C: x.C, Data: advData}}
	if res.Trajectory, err = hostval.Float64s(outs[1]); err != nil {
		return nil, err
	}
	if res.FeatureCosine, err = hostval.Float64s(outs[3]); err != nil {
		return nil, err
	}
	for i, c := range res.FeatureCosine {
		res.FeatureCosine[i] = min(max(c, -1), 1) // float32 rounding can leave |cos| slightly above 1
	}
	linf, err := hostval.Float64s(outs[4])
	if err != nil {
		return nil, err
	}
	res.MaxPerturbation = linf[0]
	return res, nil
}

// l2Norm1 is the row-wise L2 norm of a [N, D] node, as [N].
func l2Norm1(x *graph.Node) *graph.Node { return graph.Sqrt(graph.ReduceSum(graph.Square(x), 1)) }

// RepresentationRobustness attacks the representation of n test images (a seeded subset)
// with the run's own pretraining attack (x = target = the clean image) and returns the
// result; its MeanFeatureCosine is a label-free robustness measure of the encoder (1: the
// attack cannot move the features). It is not the paper's robust accuracy, which needs a
// classifier (finetuning) and a label attack.
func (p *Pretrained) RepresentationRobustness(n int, seed uint64) (*InstanceAttackResult, error) {
	b, err := p.ViewBatch(datasets.Test, n, seed)
	if err != nil {
		return nil, err
	}
	ori := b.Views[0]
	return p.InstanceAttack(ori, ori, p.Config.Attack, seed)
}

// viewTensor turns a view batch into an [N,H,W,C] tensor.
func viewTensor(v datasets.ViewBatch) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(v.Data, v.N, v.H, v.W, v.C)
}
