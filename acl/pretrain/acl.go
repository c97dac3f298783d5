package pretrain

import (
	"math"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// ACL is Jiang et al.'s ACL (NeurIPS 2020) in its dual-stream form ACL(DS) (spec §4.3;
// VITA-Group ACL train_simCLR.py with --ACL_DS), configuration name "acl":
//
//   - views: two ACLTransform views x⁽¹⁾, x⁽²⁾ (bicubic crop), stacked [x⁽¹⁾; x⁽²⁾];
//   - model: dual BN 'normal'/'pgd' in the backbone AND in the 3-layer projection head
//     (layers.NewACLProjector), images normalised inside the model with the ImageNet
//     statistics (InputNorm "imagenet", as the official model's first layer);
//   - attack: both views attacked jointly as one tensor (uniform start, no clip of the
//     start, Attack.Steps sign steps, project then clip), with the model in EVAL mode
//     through 'pgd' (running statistics, nothing updated), ascending the NT-Xent of the
//     adversarial pair (AttackObjective "plain", the official attack) or the training
//     loss with the IP mixing off and the clean projections fixed ("training");
//   - loss: ½[NT(clean pair via 'normal') + NT(adversarial pair via 'pgd')]
//     (losses.ACLDSNTXent, one train-mode pass per stream). With the IP/HN/IPHN variants
//     the loss is this project's A-InfoNCE extension losses.AInfoNCEACLDS, which adds the
//     clean/adversarial cross term; the official ACL code has no such variants (spec
//     §4.3: results with them are "ours");
//   - schedule: ACLCosine ("acl-cosine"), optimizer ACL's LARS.
type ACL struct{}

const aclName = "acl"

// Name implements Method.
func (ACL) Name() string { return aclName }

// Preset implements Method: ACL(DS)'s official settings (spec §4.3; VITA-Group ACL
// train_simCLR.py --ACL_DS defaults). The A-InfoNCE variants of ACL(DS) are this
// project's extension: no official values exist, so they keep the loss defaults (α 0.2,
// λ 1, β 1, τ⁺ 0.1).
func (ACL) Preset(cfg *Config) {
	cfg.Epochs, cfg.BatchSize = 1000, 512
	cfg.InputNorm = InputNormImageNet
	cfg.Attack = attack.PGDConfig{Epsilon: 8.0 / 255, StepSize: 2.0 / 255, Steps: 5, Order: attack.ProjectThenClip, RandomStart: true}
	cfg.Optimizer = optim.Config{Kind: optim.LARSACL, Momentum: 0.9, WeightDecay: 1e-6, TrustCoef: 1e-3}
	cfg.Schedule = optim.ScheduleConfig{Kind: "acl-cosine", Base: 5.0, WarmEpochs: 10, Min: 1e-6}
}

// Rescale implements Method: ACL has no epoch-counted settings of its own.
func (ACL) Rescale(*Config, float64) {}

// Validate implements Method: ACL has no settings of its own.
func (ACL) Validate(*Config) error { return nil }

// Inputs implements Method: the two ACLTransform views.
func (ACL) Inputs(*Config, int) Inputs {
	return Inputs{Views: datasets.ACLViews(), Used: []int{0, 1}}
}

// NewState implements Method: ACL keeps no host state.
func (ACL) NewState(*Config) (State, error) { return NoState(), nil }

// Evaluation implements Method: ACL finetunes its 'pgd' BN (--bnNameCnt 1,
// train_trades.py); no official A-InfoNCE finetuning rate exists for it.
func (ACL) Evaluation(*Config) Evaluation {
	lr := defaultFinetuneLR(aclName)
	return Evaluation{Branch: layers.BranchPGD, Protocol: aclName, LinearLR: lr, FullLR: lr}
}

// BuildStep implements Method.
func (ACL) BuildStep(ctx *context.Context, in *StepInputs) *StepOutputs {
	embed := func(x *Node, branch string) *Node { return ACLEmbed(ctx, in.Encoder, x, branch) }
	return aclDSStep(ctx, in, embed, nil)
}

// ACLEmbed runs the encoder and ACL's projection head, both with BN branch branch.
func ACLEmbed(ctx *context.Context, enc layers.Encoder, x *Node, branch string) *Node {
	return layers.NewACLProjector(ctx, enc.Features(ctx, x, branch)).Branch(branch).Done()
}

// aclDSStep builds the ACL(DS) step shared by ACL and DynACL: embed maps the stacked
// views [x⁽¹⁾; x⁽²⁾] ([2B,H,W,C]) to projections [2B, D] through a BN branch, and
// advWeight (nil: 1) is DynACL's weight w of the adversarial stream
// (losses.AnnealedACLDS).
func aclDSStep(ctx *context.Context, in *StepInputs, embed func(x *Node, branch string) *Node, advWeight *Node) *StepOutputs {
	cfg := in.Config
	x := Concatenate(in.Views, 0)
	g := x.Graph()
	attackLoss := cfg.Loss
	if attackLoss.Variant.HasHN() {
		attackLoss.Variant = losses.HN
	} else {
		attackLoss.Variant = losses.Base
	}
	var adv *Node
	layers.InMode(ctx, g, false, false, func() {
		var clean *Node
		if cfg.AttackObjective == "training" {
			clean = StopGradient(embed(x, layers.BranchNormal))
		}
		adv = attack.PGD(ctx, []*Node{x}, cfg.Attack, func(a []*Node) *Node {
			zAdv := embed(a[0], layers.BranchPGD)
			if clean == nil {
				return losses.ACLNTXent(zAdv, cfg.Loss.Temperature, cfg.Loss.Quirks)
			}
			loss, _ := losses.ACLDSStreams(clean, zAdv, attackLoss, advWeight)
			if cfg.Loss.Variant != losses.Base {
				// The IP mixing is off for the attack, the cross term kept (symmetric).
				loss = Add(loss, losses.ACLDSCross(clean, zAdv, attackLoss))
			}
			return loss
		})[0]
	})
	// The official step forwards the adversarial pair first, then the clean pair.
	zAdv := embed(adv, layers.BranchPGD)
	zClean := embed(x, layers.BranchNormal)
	loss, terms := losses.AnnealedACLDS(zClean, zAdv, cfg.Loss, advWeight)
	return &StepOutputs{Loss: loss, Metrics: terms}
}

// ACLCosine is ACL's per-iteration LambdaLR schedule (train_simCLR.py: cosine_annealing):
// with t the 1-based global iteration (the scheduler is stepped before each optimizer
// step), lr = base·t/W during W warm-up iterations, then
// base·(m + (1−m)(1 + cos(π(t−W)/(T−W)))/2) with m = Min/base, T = Epochs·stepsPerEpoch and
// W = WarmEpochs·stepsPerEpoch. Schedule kind "acl-cosine".
type ACLCosine struct {
	// Base is the peak learning rate, Epochs the training length, WarmEpochs the warm-up
	// length and Min the final learning rate.
	Base       float64 `json:"base"`
	Epochs     int     `json:"epochs"`
	WarmEpochs int     `json:"warm_epochs"`
	Min        float64 `json:"min"`
}

// LearningRate implements optim.Schedule.
func (s ACLCosine) LearningRate(epoch, step, stepsPerEpoch int) float64 {
	t := float64(epoch*stepsPerEpoch + step + 1)
	w := float64(s.WarmEpochs * stepsPerEpoch)
	total := float64(s.Epochs * stepsPerEpoch)
	if t < w {
		return s.Base * t / w
	}
	m := s.Min / s.Base
	return s.Base * (m + (1-m)*0.5*(1+math.Cos((t-w)/(total-w)*math.Pi)))
}

func init() {
	optim.RegisterSchedule("acl-cosine", func(c optim.ScheduleConfig) (optim.Schedule, error) {
		if err := c.CheckEpochs(true); err != nil {
			return nil, err
		}
		return ACLCosine{Base: c.Base, Epochs: c.Epochs, WarmEpochs: c.WarmEpochs, Min: c.Min}, nil
	})
}
