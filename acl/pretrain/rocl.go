package pretrain

import (
	"math"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// RoCL is Kim et al.'s Robust Contrastive Learning (NeurIPS 2020) with the A-InfoNCE
// variants of Asym-RoCL (spec §4.1), configuration name "rocl":
//
//   - views: two RoCL augmentations x⁽¹⁾, x⁽²⁾ of each image (single BN, no branches);
//   - attack: instance-wise PGD on x⁽¹⁾ (uniform start clamped to [0,1], clip then
//     project) maximising the 2-view NT-Xent of [x, x⁽²⁾], with the model in eval mode;
//   - loss: one train-mode pass of [x⁽¹⁾; x⁽²⁾; x^adv] (BN statistics mix clean and
//     adversarial samples) through the encoder and RoCL's projector, the RoCL-layout
//     A-InfoNCE (losses.RoCLNTXent, variant from the config), plus RegularizerWeight
//     (1/256) × the 2-view NT-Xent of [x^adv, x⁽²⁾] from a second train-mode pass;
//   - schedule: RoCLWarmupCosine ("rocl-warmup-cosine"), optimizer torchlars LARS.
//
// RoCL's attack objective is always the plain 2-view NT-Xent (attack_lib.py); the
// "training" objective is refused rather than silently ignored. The benchmark step
// (acl/benchmark) is this method's step.
type RoCL struct{}

const roclName = "rocl"

// Name implements Method.
func (RoCL) Name() string { return roclName }

// Preset implements Method: RoCL's official settings (spec §4.1, §4.4): 1000 epochs of
// batch 512 (2 GPUs × 256, gathered for the loss), PGD-7 (ε 0.0314, step 0.007),
// torchlars LARS, and the per-variant loss values and learning rates of the Asym-RoCL
// scripts.
func (RoCL) Preset(cfg *Config) {
	cfg.Epochs, cfg.BatchSize = 1000, 512
	cfg.Attack = attack.PGDConfig{Epsilon: 0.0314, StepSize: 0.007, Steps: 7, Order: attack.ClipThenProject, RandomStart: true, ClipStart: true}
	cfg.RegularizerWeight = 1.0 / 256
	cfg.Optimizer = optim.Config{Kind: optim.LARSTorchLARS, Momentum: 0.9, WeightDecay: 1e-6, TrustCoef: 1e-3, Eps: 1e-8}
	base := 0.1
	c10 := cfg.Dataset == datasets.CIFAR10
	switch cfg.Loss.Variant {
	case losses.IP:
		cfg.Loss.Alpha, cfg.Loss.Lambda = 0.2, 1
	case losses.HN:
		cfg.Loss.Beta, cfg.Loss.TauPlus = 1, 0.1
		if c10 {
			base, cfg.Loss.TauPlus = 0.2, 0.12
		}
	case losses.IPHN:
		cfg.Loss.Alpha, cfg.Loss.Lambda, cfg.Loss.Beta, cfg.Loss.TauPlus = 0.2, 1, 1, 0.1
		base = 0.2
		if c10 {
			base, cfg.Loss.TauPlus = 0.3, 0.12
		}
	}
	cfg.Schedule = optim.ScheduleConfig{Kind: "rocl-warmup-cosine", Base: base, Multiplier: 15, WarmEpochs: 10}
}

// Rescale implements Method: RoCL has no epoch-counted settings of its own.
func (RoCL) Rescale(*Config, float64) {}

// Validate implements Method: RoCL's attack always maximises the plain 2-view NT-Xent.
func (RoCL) Validate(c *Config) error {
	if c.AttackObjective != "plain" {
		return field.Errorf("attack_objective", "{attack_objective} %q: RoCL's attack always maximises the plain 2-view NT-Xent (use plain)", c.AttackObjective)
	}
	return nil
}

// Inputs implements Method: RoCL's ori, x1, x2; the step uses x1 and x2.
func (RoCL) Inputs(*Config, int) Inputs {
	return Inputs{Views: datasets.RoCLViews(), Used: []int{1, 2}}
}

// NewState implements Method: RoCL keeps no host state.
func (RoCL) NewState(*Config) (State, error) { return NoState(), nil }

// Evaluation implements Method: the single BN, finetuned at 0.1 (spec §4.4, §5.2).
func (RoCL) Evaluation(*Config) Evaluation {
	lr := LR{0.1, "spec §4.4/§5.2"}
	return Evaluation{Branch: "", Protocol: roclName, LinearLR: lr, FullLR: lr}
}

// RoCLEmbed runs the encoder (single BN) and RoCL's projector: the representation RoCL's
// loss and attack see.
func RoCLEmbed(ctx *context.Context, enc layers.Encoder, x *graph.Node) *graph.Node {
	return layers.NewRoCLProjector(ctx, enc.Features(ctx, x, "")).Done()
}

// BuildStep implements Method.
func (RoCL) BuildStep(ctx *context.Context, in *StepInputs) *StepOutputs {
	cfg := in.Config
	x1, x2 := in.Views[0], in.Views[1]
	g := x1.Graph()
	t := cfg.Loss.Temperature
	var adv *graph.Node
	layers.InMode(ctx, g, false, false, func() {
		target := graph.StopGradient(RoCLEmbed(ctx, in.Encoder, x2))
		adv = attack.PGD(ctx, []*graph.Node{x1}, cfg.Attack, func(advs []*graph.Node) *graph.Node {
			return losses.RoCLTwoViewNTXent(RoCLEmbed(ctx, in.Encoder, advs[0]), target, t)
		})[0]
	})
	bsz := x1.Shape().Dimensions[0]
	z := RoCLEmbed(ctx, in.Encoder, graph.Concatenate([]*graph.Node{x1, x2, adv}, 0))
	contrastive := losses.RoCLNTXent(z, cfg.Loss)
	metrics := map[string]*graph.Node{"contrastive": contrastive}
	loss := contrastive
	if cfg.RegularizerWeight > 0 {
		za := RoCLEmbed(ctx, in.Encoder, graph.Concatenate([]*graph.Node{adv, x2}, 0))
		reg := losses.RoCLTwoViewNTXent(graph.Slice(za, graph.AxisRange(0, bsz)), graph.Slice(za, graph.AxisRange(bsz, 2*bsz)), t)
		metrics["regularizer"] = reg
		loss = graph.Add(loss, graph.MulScalar(reg, cfg.RegularizerWeight))
	}
	return &StepOutputs{Loss: loss, Metrics: metrics}
}

// RoCLWarmupCosine is RoCL's GradualWarmupScheduler(multiplier, total_epoch=WarmEpochs)
// followed by CosineAnnealingLR(T_max=Epochs) from the peak, stepped once at the start of
// each epoch (rocl_train.py): with e = epoch+1, lr(e) = base·(1 + (multiplier−1)·e/WarmEpochs)
// for e ≤ WarmEpochs, then multiplier·base·(1 + cos(π t/Epochs))/2 with t = e−WarmEpochs−1
// (the warm-up scheduler hands over at the cosine's own step 0, so the first epoch after
// the warm-up trains at the peak). Schedule kind "rocl-warmup-cosine".
type RoCLWarmupCosine struct {
	// Base is the initial learning rate, Multiplier the warm-up's peak factor, WarmEpochs
	// the warm-up length and Epochs the cosine's T_max.
	Base       float64 `json:"base"`
	Multiplier float64 `json:"multiplier"`
	WarmEpochs int     `json:"warm_epochs"`
	Epochs     int     `json:"epochs"`
}

// LearningRate implements optim.Schedule.
func (s RoCLWarmupCosine) LearningRate(epoch, _, _ int) float64 {
	e := epoch + 1
	if e <= s.WarmEpochs {
		return s.Base * (1 + (s.Multiplier-1)*float64(e)/float64(s.WarmEpochs))
	}
	peak := s.Base * s.Multiplier
	return peak * (1 + math.Cos(math.Pi*float64(e-s.WarmEpochs-1)/float64(s.Epochs))) / 2
}

func init() {
	optim.RegisterSchedule("rocl-warmup-cosine", func(c optim.ScheduleConfig) (optim.Schedule, error) {
		if err := c.CheckEpochs(false); err != nil {
			return nil, err
		}
		if c.Multiplier < 1 {
			return nil, field.Errorf("multiplier", "schedule %q: {multiplier} = %g, must be ≥ 1", c.Kind, c.Multiplier)
		}
		return RoCLWarmupCosine{Base: c.Base, Multiplier: c.Multiplier, WarmEpochs: c.WarmEpochs, Epochs: c.Epochs}, nil
	})
}
