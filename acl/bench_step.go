package acl

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/ainfonce/goacl/acl/internal/hostval"
	"github.com/ainfonce/goacl/acl/optim"

	"github.com/ainfonce/goacl/acl/attack"

	"github.com/ainfonce/goacl/acl/losses"

	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/core/tensors/numpy"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// BenchConfig is the standard adversarial-contrastive workload of the speed benchmark
// (docs/performance.md; bench/pytorch_step.py computes the identical step in PyTorch):
//
//   - encoder: CIFAR ResNet-18 at base width Width (single BN) and RoCL's projector
//     (Linear(8W, 2048) → ReLU → Linear(2048, 128));
//   - two views x⁽¹⁾, x⁽²⁾ of Batch 32×32×3 images in [0,1];
//   - attack, in eval mode (BN uses running statistics, nothing updates): PGD with
//     AttackSteps steps of StepSize in the L∞ ball of radius Epsilon, uniform random start
//     clamped to [0,1], clip-then-project (RoCL's attack), maximising the 2-view NT-Xent
//     of [x^adv; sg(z⁽²⁾)] (RoCLTwoViewNTXent: the second view is detached);
//   - loss, in train mode (BN batch statistics over all 3B rows, running statistics
//     updated): one pass of [x⁽¹⁾; x⁽²⁾; x^adv] and the 3-view NT-Xent at Temperature
//     (RoCLNTXent, Base variant: each term's contrast side detached as in RoCL);
//   - update: PyTorch SGD with momentum and coupled weight decay at LearningRate.
//
// The evaluation workload is EvalSteps-step PGD (same ε and step, random start, no clip
// of the start, project-then-clip) maximising the cross-entropy of a 10-class linear
// head on the encoder features, in eval mode, followed by a clean forward on the
// adversarial images.
type BenchConfig struct {
	Width       int     `json:"width"`
	Batch       int     `json:"batch"`
	AttackSteps int     `json:"attack_steps"`
	EvalSteps   int     `json:"eval_steps"`
	Epsilon     float64 `json:"epsilon"`
	StepSize    float64 `json:"step_size"`
	Temperature float64 `json:"temperature"`
	// LearningRate, Momentum and WeightDecay configure the SGD update.
	LearningRate float64 `json:"learning_rate"`
	Momentum     float64 `json:"momentum"`
	WeightDecay  float64 `json:"weight_decay"`
	// Seed fixes the weights, the synthetic images and the attack's random starts.
	Seed uint64 `json:"seed"`
	// NoRandomStart starts both attacks at the clean images: the attack is then
	// deterministic, which the PyTorch parity check (ExportParity) needs. The benchmark
	// itself uses random starts.
	NoRandomStart bool `json:"no_random_start,omitempty"`
}

// DefaultBenchConfig returns the standard workload at the given width and batch: PGD-5
// (ε 8/255, step 2/255) for training, PGD-20 for evaluation, t = 0.5, SGD with lr 0.01,
// momentum 0.9, weight decay 5e-4.
func DefaultBenchConfig(width, batch int) BenchConfig {
	return BenchConfig{
		Width: width, Batch: batch, AttackSteps: 5, EvalSteps: 20,
		Epsilon: 8.0 / 255, StepSize: 2.0 / 255, Temperature: 0.5,
		LearningRate: 0.01, Momentum: 0.9, WeightDecay: 5e-4, Seed: 1,
	}
}

// Validate names the first invalid field.
func (c BenchConfig) Validate() error {
	switch {
	case c.Width < 1:
		return fmt.Errorf("bench width = %d: must be ≥ 1", c.Width)
	case c.Batch < 2:
		return fmt.Errorf("bench batch = %d: must be ≥ 2 (NT-Xent needs negatives)", c.Batch)
	case c.AttackSteps < 0 || c.EvalSteps < 0:
		return fmt.Errorf("bench attack steps %d / eval steps %d: must be ≥ 0", c.AttackSteps, c.EvalSteps)
	case !(c.Temperature > 0):
		return fmt.Errorf("bench temperature = %g: must be > 0", c.Temperature)
	}
	return nil
}

// ResNet18ForwardFLOPs returns the floating-point operations (2 per multiply-add) of the
// convolutions of one forward pass of the CIFAR ResNet-18 at base width width on one
// 32×32×3 image: 1.11 GFLOP at width 64. BN, ReLU and pooling are not counted.
func ResNet18ForwardFLOPs(width int) float64 {
	macs := 0
	conv := func(hw, k, cin, cout int) { macs += hw * hw * k * k * cin * cout }
	conv(32, 3, 3, width) // stem
	in, hw := width, 32
	for s, stride := range []int{1, 2, 2, 2} {
		c := width << s
		hw /= stride
		conv(hw, 3, in, c) // block1 conv1 (strided)
		conv(hw, 3, c, c)  // block1 conv2
		if stride != 1 || in != c {
			conv(hw, 1, in, c) // shortcut
		}
		conv(hw, 3, c, c) // block2 conv1
		conv(hw, 3, c, c) // block2 conv2
		in = c
	}
	return 2 * float64(macs)
}

// roclProjectorFLOPs is the forward cost of RoCL's projector on one feature vector.
func roclProjectorFLOPs(width int) float64 { return 2 * float64(8*width*2048+2048*128) }

// TrainFLOPs is the nominal work of one training step of the workload, counting for
// every image the minimum the algorithm needs with F = encoder+projector forward: F for
// the detached second view, 2F per attack step (forward and input gradient), 3F for the
// loss pass of the three views and 6F for its backward (input and weight gradients):
// (10 + 2·AttackSteps)·B·F. Images per second and this count give the effective
// GFLOP/s reported by `acl bench` for both frameworks.
func (c BenchConfig) TrainFLOPs() float64 {
	f := ResNet18ForwardFLOPs(c.Width) + roclProjectorFLOPs(c.Width)
	return float64(10+2*c.AttackSteps) * float64(c.Batch) * f
}

// EvalFLOPs is the nominal work of one evaluation batch: 2F per PGD step and F for the
// final forward, (1 + 2·EvalSteps)·B·F, with F the encoder forward (the linear head is
// negligible and not counted).
func (c BenchConfig) EvalFLOPs() float64 {
	return float64(1+2*c.EvalSteps) * float64(c.Batch) * ResNet18ForwardFLOPs(c.Width)
}

// BenchStep holds the compiled workload and a fixed synthetic batch (uniform [0,1]
// images, uniform labels) drawn from the seed; data loading is not part of the timings.
type BenchStep struct {
	Config      BenchConfig
	ctx         *context.Context
	train, eval *context.Exec
	init        *context.Exec
	x1, x2, xEv *tensors.Tensor
	labels      *tensors.Tensor
}

// NewBenchStep builds the workload on backend (nil: none is created here; pass
// engine.New()'s). Graphs compile at the first TrainStep/EvalBatch.
func NewBenchStep(backend backends.Backend, cfg BenchConfig) (*BenchStep, error) {
	if backend == nil {
		return nil, fmt.Errorf("acl.NewBenchStep: nil backend")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opt, err := optim.New(optim.Config{Kind: optim.SGD, Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay})
	if err != nil {
		return nil, err
	}
	ctx := context.New().Checked(false)
	if err := ctx.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		return nil, err
	}
	if err := optim.SetLearningRate(ctx, cfg.LearningRate); err != nil {
		return nil, err
	}
	enc := layers.ResNet18{Width: cfg.Width, ConvInit: layers.PyTorchDefault}
	embed := func(ctx *context.Context, x *graph.Node) *graph.Node {
		return layers.NewRoCLProjector(ctx, enc.Features(ctx, x, "")).Done()
	}
	loss := losses.DefaultConfig()
	loss.Temperature = cfg.Temperature
	trainAttack := attack.PGDConfig{Epsilon: cfg.Epsilon, StepSize: cfg.StepSize, Steps: cfg.AttackSteps,
		Order: attack.ClipThenProject, RandomStart: !cfg.NoRandomStart, ClipStart: true}
	train, err := context.NewExec(backend, ctx, func(ctx *context.Context, x1, x2 *graph.Node) *graph.Node {
		g := x1.Graph()
		var adv, l *graph.Node
		layers.InMode(ctx, g, false, false, func() {
			target := graph.StopGradient(embed(ctx, x2))
			adv = attack.PGD(ctx, []*graph.Node{x1}, trainAttack, func(advs []*graph.Node) *graph.Node {
				return losses.RoCLTwoViewNTXent(embed(ctx, advs[0]), target, cfg.Temperature)
			})[0]
		})
		layers.InMode(ctx, g, true, true, func() {
			l = losses.RoCLNTXent(embed(ctx, graph.Concatenate([]*graph.Node{x1, x2, adv}, 0)), loss)
		})
		opt.UpdateGraph(ctx, g, l)
		return l
	})
	if err != nil {
		return nil, err
	}
	evalAttack := attack.PGDConfig{Epsilon: cfg.Epsilon, StepSize: cfg.StepSize, Steps: cfg.EvalSteps,
		Order: attack.ProjectThenClip, RandomStart: !cfg.NoRandomStart}
	eval, err := context.NewExec(backend, ctx, func(ctx *context.Context, x, y *graph.Node) *graph.Node {
		g := x.Graph()
		var correct *graph.Node
		layers.InMode(ctx, g, false, false, func() {
			logits := func(x *graph.Node) *graph.Node {
				return layers.NewLinear(ctx.In("bench_head"), enc.Features(ctx, x, ""), 10).Done()
			}
			adv := attack.PGD(ctx, []*graph.Node{x}, evalAttack, func(advs []*graph.Node) *graph.Node {
				return losses.CrossEntropy(logits(advs[0]), y)
			})[0]
			pred := graph.ConvertDType(graph.ArgMax(logits(adv), 1), dtypes.Int32)
			correct = graph.ReduceAllSum(graph.ConvertDType(graph.Equal(pred, y), dtypes.Float32))
		})
		return correct
	})
	if err != nil {
		return nil, err
	}
	// initExec creates and initialises every model variable without training (eval mode),
	// so that ExportParity can write the weights the first step starts from.
	initExec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		var out *graph.Node
		layers.InMode(ctx, x.Graph(), false, false, func() {
			h := enc.Features(ctx, x, "")
			z := layers.NewRoCLProjector(ctx, h).Done()
			logits := layers.NewLinear(ctx.In("bench_head"), h, 10).Done()
			out = graph.Add(graph.ReduceAllSum(z), graph.ReduceAllSum(logits))
		})
		return out
	})
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xbe7c4))
	img := func() *tensors.Tensor {
		v := make([]float32, cfg.Batch*32*32*3)
		for i := range v {
			v[i] = rng.Float32()
		}
		return tensors.FromFlatDataAndDimensions(v, cfg.Batch, 32, 32, 3)
	}
	labels := make([]int32, cfg.Batch)
	for i := range labels {
		labels[i] = int32(rng.IntN(10))
	}
	return &BenchStep{Config: cfg, ctx: ctx, train: train, eval: eval, init: initExec,
		x1: img(), x2: img(), xEv: img(), labels: tensors.FromFlatDataAndDimensions(labels, cfg.Batch)}, nil
}

// TrainStep runs one adversarial contrastive step (attack, loss, update) on the fixed
// batch and returns the loss before the update.
func (s *BenchStep) TrainStep() (float64, error) {
	out, err := s.train.Exec(s.x1, s.x2)
	if err != nil {
		return 0, fmt.Errorf("bench train step: %w", err)
	}
	return hostval.Scalar(out[0]), nil
}

// EvalBatch runs the PGD evaluation on the fixed batch and returns how many adversarial
// images the (untrained) head classifies as their label.
func (s *BenchStep) EvalBatch() (float64, error) {
	out, err := s.eval.Exec(s.xEv, s.labels)
	if err != nil {
		return 0, fmt.Errorf("bench eval batch: %w", err)
	}
	return hostval.Scalar(out[0]), nil
}

// Finalize releases the compiled graphs.
func (s *BenchStep) Finalize() {
	s.train.Finalize()
	s.eval.Finalize()
	s.init.Finalize()
}

// ParityManifest is the manifest.json that ExportParity writes for bench/pytorch_step.py
// --parity: the workload, the files of the batch and of the initial variables, and the
// losses of the Go steps.
type ParityManifest struct {
	Config    BenchConfig       `json:"config"`
	X1        string            `json:"x1"`
	X2        string            `json:"x2"`
	Variables map[string]string `json:"variables"` // scope path (e.g. /resnet18/stem/conv/weights) -> file
	Losses    []float64         `json:"losses"`    // loss of each train step, before its update
	Backend   string            `json:"backend"`
}

// ExportParity checks that the PyTorch peer computes the same step: on a fresh BenchStep
// (use NoRandomStart), it writes into dir the batch (x1.npy, x2.npy, NHWC float32), every
// model variable before training (weights as stored here: convolutions [kh,kw,Cin,Cout],
// linear layers [in,out]; BN γ, β and running statistics), then runs steps train steps
// and writes their losses in manifest.json. `pytorch_step.py --parity dir` loads the same
// weights and batch, runs the same steps and compares the losses.
func (s *BenchStep) ExportParity(dir string, steps int, backendName string) (*ParityManifest, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if _, err := s.init.Exec(s.x1); err != nil {
		return nil, fmt.Errorf("bench parity: initialising the model: %w", err)
	}
	m := &ParityManifest{Config: s.Config, X1: "x1.npy", X2: "x2.npy", Variables: map[string]string{}, Backend: backendName}
	if err := numpy.ToNpyFile(s.x1, filepath.Join(dir, m.X1)); err != nil {
		return nil, err
	}
	if err := numpy.ToNpyFile(s.x2, filepath.Join(dir, m.X2)); err != nil {
		return nil, err
	}
	for v := range s.ctx.IterVariables() {
		name := v.ScopeAndName()
		if !strings.HasPrefix(name, "/"+layers.ResNet18Scope+"/") && !strings.HasPrefix(name, "/"+layers.RoCLProjectorScope+"/") {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("bench parity: variable %s: %w", name, err)
		}
		file := "var" + strings.ReplaceAll(name, "/", "__") + ".npy"
		if err := numpy.ToNpyFile(val, filepath.Join(dir, file)); err != nil {
			return nil, err
		}
		m.Variables[name] = file
	}
	for range steps {
		loss, err := s.TrainStep()
		if err != nil {
			return nil, err
		}
		m.Losses = append(m.Losses, loss)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return m, os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
}
