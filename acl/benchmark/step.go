package benchmark

import (
	"fmt"
	"math/rand/v2"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/internal/hostval"
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/train"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Step holds the compiled workload and a fixed synthetic batch (uniform [0,1]
// images, uniform labels) drawn from the seed; data loading is not part of the timings.
type Step struct {
	// Config is the workload the step was built for.
	Config      Config
	ctx         *context.Context
	train, eval *context.Exec
	init        *context.Exec
	x1, x2, xEv *tensors.Tensor
	labels      *tensors.Tensor
}

// NewStep builds the workload on backend (nil: none is created here; pass
// engine.New()'s). Graphs compile at the first TrainStep/EvalBatch.
func NewStep(backend backends.Backend, cfg Config) (*Step, error) {
	if backend == nil {
		return nil, fmt.Errorf("benchmark.NewStep: nil backend")
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
	rocl := &pretrain.Config{Method: "rocl", Variant: "base", AttackObjective: "plain", Loss: losses.DefaultConfig(),
		Attack: attack.PGDConfig{Epsilon: cfg.Epsilon, StepSize: cfg.StepSize, Steps: cfg.AttackSteps,
			Order: attack.ClipThenProject, RandomStart: !cfg.NoRandomStart, ClipStart: true}}
	rocl.Loss.Temperature = cfg.Temperature
	// RoCL's own step (its attack and loss) and the training loop's update.
	step := &pretrain.Step{Config: rocl, Method: pretrain.RoCL{}, Encoder: enc, Inputs: pretrain.RoCL{}.Inputs(rocl, 0)}
	loop := &train.Loop{Step: step.Build, Optimizer: opt}
	trainExec, err := context.NewExec(backend, ctx, func(ctx *context.Context, inputs []*graph.Node) *graph.Node {
		outs, _ := loop.BuildStep(ctx, inputs)
		return outs[0]
	})
	if err != nil {
		return nil, err
	}
	evalAttack := attack.PGDConfig{Epsilon: cfg.Epsilon, StepSize: cfg.StepSize, Steps: cfg.EvalSteps,
		Order: attack.ProjectThenClip, RandomStart: !cfg.NoRandomStart}
	evalExec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x, y *graph.Node) *graph.Node {
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
	return &Step{Config: cfg, ctx: ctx, train: trainExec, eval: evalExec, init: initExec,
		x1: img(), x2: img(), xEv: img(), labels: tensors.FromFlatDataAndDimensions(labels, cfg.Batch)}, nil
}

// TrainStep runs one adversarial contrastive step (attack, loss, update) on the fixed
// batch and returns the loss before the update.
func (s *Step) TrainStep() (float64, error) {
	out, err := s.train.Exec(s.x1, s.x2)
	if err != nil {
		return 0, fmt.Errorf("bench train step: %w", err)
	}
	return hostval.Scalar(out[0]), nil
}

// EvalBatch runs the PGD evaluation on the fixed batch and returns how many adversarial
// images the (untrained) head classifies as their label.
func (s *Step) EvalBatch() (float64, error) {
	out, err := s.eval.Exec(s.xEv, s.labels)
	if err != nil {
		return 0, fmt.Errorf("bench eval batch: %w", err)
	}
	return hostval.Scalar(out[0]), nil
}

// Finalize releases the compiled graphs.
func (s *Step) Finalize() {
	s.train.Finalize()
	s.eval.Finalize()
	s.init.Finalize()
}

// Graphs calls visit with each of the workload's executables and the inputs it runs on
// ("init", "eval", then "train", which creates the optimizer's variables and so goes
// last): for tools that compile and inspect them (the op inventory).
func (s *Step) Graphs(visit func(name string, e *context.Exec, args ...any)) {
	visit("init", s.init, s.x1)
	visit("eval", s.eval, s.xEv, s.labels)
	visit("train", s.train, s.x1, s.x2)
}
