package pretrain

import (
	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Supervised is the baseline that uses the labels: supervised adversarial training
// (PGD-AT, Madry et al., ICLR 2018, "Towards Deep Learning Models Resistant to Adversarial
// Attacks"; settings of MadryLab/cifar10_challenge config.json), configuration name
// "supervised", variant base only. It trains the same encoder as the contrastive methods,
// with a linear head on its features, so that SLF/ALF/AFF of its encoder show where "labels
// used" lands beside an adversarial contrastive encoder of the same size and budget:
//
//   - views: RandomCrop(32, 4) + horizontal flip (datasets.FinetuneViews), and the class
//     labels (single BN);
//   - attack: PGD-7, ε 8/255, step 2/255, uniform random start, on the mean cross-entropy
//     of encoder + head; the model in training mode (batch statistics, as Madry's model,
//     built once in mode 'train', attacks), running statistics not updated by the attack;
//   - loss: the mean cross-entropy of encoder + head on the adversarial examples alone
//     (training mode, statistics updating); the term "adv_accuracy" logs the batch's
//     accuracy under the attack;
//   - optimizer SGD (momentum 0.9, weight decay 2e-4), learning rate 0.1 ×0.1 at 1/2 and
//     3/4 of the run (Madry's 40,000 and 60,000 of 80,000 steps; schedule "madry-step");
//     80,000 steps of batch 128 are 205 epochs of CIFAR-10.
//
// The head lives under SupervisedHeadScope, outside the encoder's scope: finetuning and
// evaluation load the encoder alone, strictly, like every other method's.
type Supervised struct{}

const supervisedName = "supervised"

// SupervisedHeadScope is the variable scope of the supervised baseline's linear head.
const SupervisedHeadScope = "supervised_head"

// Name implements Method.
func (Supervised) Name() string { return supervisedName }

// Preset implements Method: Madry's CIFAR-10 PGD-AT (see the type's documentation).
func (Supervised) Preset(cfg *Config) {
	cfg.Epochs, cfg.BatchSize = 205, 128
	cfg.Attack = attack.PGDConfig{Epsilon: 8.0 / 255, StepSize: 2.0 / 255, Steps: 7, Order: attack.ProjectThenClip, RandomStart: true}
	cfg.Optimizer = optim.Config{Kind: optim.SGD, Momentum: 0.9, WeightDecay: 2e-4}
	cfg.Schedule = optim.ScheduleConfig{Kind: "madry-step", Base: 0.1, Gamma: 0.1}
}

// Variants implements Method: the baseline has no A-InfoNCE variant.
func (Supervised) Variants() []string { return []string{losses.Base.String()} }

// Rescale implements Method: the schedule's milestones are fractions of the run already.
func (Supervised) Rescale(*Config, float64) {}

// Validate implements Method: the baseline's attack maximises the cross-entropy.
func (Supervised) Validate(c *Config) error {
	if c.AttackObjective != "plain" {
		return field.Errorf("attack_objective", "{attack_objective} %q: the supervised baseline's attack maximises the cross-entropy (use plain)", c.AttackObjective)
	}
	return nil
}

// Inputs implements Method: one augmented view and the labels.
func (Supervised) Inputs(*Config, int) Inputs {
	return Inputs{Views: datasets.FinetuneViews(), Used: []int{0}, Labels: true}
}

// NewState implements Method: no host state.
func (Supervised) NewState(*Config) (State, error) { return NoState(), nil }

// Evaluation implements Method: the single BN; linear finetuning at 0.001, full at 0.1.
// There is no official rate for this baseline. Cross-entropy training grows its features
// (mean norm 138 against 10–16 for the contrastive encoders and the random one after one
// epoch at the CPU scale), and at the contrastive rows' 0.1 its linear head diverged (SLF
// loss 1,605 in the first epoch, 105 in the last); at 0.001, the contrastive rows' step
// for features 10× larger, it ended at 2.2 (docs/results/cpu-ablation-scale.md).
func (Supervised) Evaluation(*Config) Evaluation {
	return Evaluation{Branch: "",
		LinearLR: LR{0.001, "supervised baseline: 0.1 × (13.7/128)², the contrastive rows' step for its 10× larger features (docs/results/cpu-ablation-scale.md)"},
		FullLR:   LR{0.1, "supervised baseline: the contrastive rows' 0.1 (not measured)"}}
}

// supervisedLogits is the baseline's classifier: the encoder's features (single BN) and a
// linear head of numClasses outputs.
func supervisedLogits(ctx *context.Context, enc layers.Encoder, x *graph.Node, numClasses int) *graph.Node {
	return layers.NewLinear(ctx.InAbsPath("/"+SupervisedHeadScope), enc.Features(ctx, x, ""), numClasses).Done()
}

// BuildStep implements Method.
func (Supervised) BuildStep(ctx *context.Context, in *StepInputs) *StepOutputs {
	cfg := in.Config
	x, y := in.Views[0], in.Labels
	g := x.Graph()
	classes := 10
	if cfg.Dataset == datasets.CIFAR100 {
		classes = 100
	}
	var adv *graph.Node
	layers.InMode(ctx, g, true, false, func() {
		adv = attack.PGD(ctx, []*graph.Node{x}, cfg.Attack, func(advs []*graph.Node) *graph.Node {
			return losses.CrossEntropy(supervisedLogits(ctx, in.Encoder, advs[0], classes), y)
		})[0]
	})
	logits := supervisedLogits(ctx, in.Encoder, adv, classes)
	loss := losses.CrossEntropy(logits, y)
	correct := graph.ConvertDType(graph.Equal(graph.ArgMax(logits, -1, dtypes.Int32), y), loss.DType())
	return &StepOutputs{Loss: loss, Metrics: map[string]*graph.Node{"adv_accuracy": graph.ReduceAllMean(correct)}}
}

// MadryStep is Madry et al.'s piecewise-constant learning rate as a fraction of the run:
// Base until half the epochs, Base·Gamma until three quarters, Base·Gamma² after
// (cifar10_challenge: 0.1, 0.01, 0.001 from steps 0, 40,000 and 60,000 of 80,000),
// changing at epoch boundaries. Schedule kind "madry-step".
type MadryStep struct {
	// Base is the initial rate, Gamma the factor of each decay, Epochs the run's length.
	Base   float64 `json:"base"`
	Gamma  float64 `json:"gamma"`
	Epochs int     `json:"epochs"`
}

// LearningRate implements optim.Schedule.
func (s MadryStep) LearningRate(epoch, _, _ int) float64 {
	lr := s.Base
	for _, frac := range []float64{0.5, 0.75} {
		if float64(epoch) >= frac*float64(s.Epochs) {
			lr *= s.Gamma
		}
	}
	return lr
}

func init() {
	optim.RegisterSchedule("madry-step", func(c optim.ScheduleConfig) (optim.Schedule, error) {
		if err := c.CheckEpochs(false); err != nil {
			return nil, err
		}
		if !(c.Gamma > 0) {
			return nil, field.Errorf("gamma", "schedule %q: {gamma} = %g, must be > 0", c.Kind, c.Gamma)
		}
		return MadryStep{Base: c.Base, Gamma: c.Gamma, Epochs: c.Epochs}, nil
	})
}
