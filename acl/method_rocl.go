package acl

import (
	"fmt"

	"github.com/ainfonce/goacl/acl/attack"

	"github.com/ainfonce/goacl/acl/losses"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// RoCL is Kim et al.'s Robust Contrastive Learning (NeurIPS 2020) with the A-InfoNCE
// variants of Asym-RoCL (spec §4.1):
//
//   - views: two RoCL augmentations x⁽¹⁾, x⁽²⁾ of each image (single BN, no branches);
//   - attack: instance-wise PGD on x⁽¹⁾ (uniform start clamped to [0,1], clip then
//     project) maximising the 2-view NT-Xent of [x, x⁽²⁾], with the model in eval mode;
//   - loss: one train-mode pass of [x⁽¹⁾; x⁽²⁾; x^adv] (BN statistics mix clean and
//     adversarial samples) through the encoder and RoCL's projector, the RoCL-layout
//     A-InfoNCE (RoCLNTXent, variant from the config), plus RegularizerWeight (1/256) ×
//     the 2-view NT-Xent of [x^adv, x⁽²⁾] from a second train-mode pass.
//
// RoCL's attack objective is always the plain 2-view NT-Xent (attack_lib.py); the
// "training" objective is refused rather than silently ignored.
type RoCL struct{}

func init() { RegisterMethod(RoCL{}) }

// Name implements Method.
func (RoCL) Name() string { return "rocl" }

// Views implements Method: RoCL's ori, x1, x2; the step uses x1 and x2.
func (RoCL) Views(*PretrainConfig) ([]datasets.View, []int) {
	return datasets.RoCLViews(), []int{1, 2}
}

// ValidateConfig rejects settings RoCL does not have.
func (RoCL) ValidateConfig(c *PretrainConfig) error {
	if c.AttackObjective != "plain" {
		return fmt.Errorf("-attack-objective %q: RoCL's attack always maximises the plain 2-view NT-Xent (use plain)", c.AttackObjective)
	}
	return nil
}

// roclEmbed runs the encoder (single BN) and RoCL's projector.
func roclEmbed(ctx *context.Context, enc layers.Encoder, x *graph.Node) *graph.Node {
	return layers.NewRoCLProjector(ctx, enc.Features(ctx, x, "")).Done()
}

// BuildStep implements Method.
func (RoCL) BuildStep(ctx *context.Context, in *StepInputs) *StepOutputs {
	cfg := in.Config
	x1, x2 := in.Views[0], in.Views[1]
	g := x1.Graph()
	t := cfg.Loss.Temperature
	var adv *graph.Node
	inMode(ctx, g, false, false, func() {
		target := graph.StopGradient(roclEmbed(ctx, in.Encoder, x2))
		adv = attack.PGD(ctx, []*graph.Node{x1}, cfg.Attack, func(advs []*graph.Node) *graph.Node {
			return losses.RoCLTwoViewNTXent(roclEmbed(ctx, in.Encoder, advs[0]), target, t)
		})[0]
	})
	bsz := x1.Shape().Dimensions[0]
	z := roclEmbed(ctx, in.Encoder, graph.Concatenate([]*graph.Node{x1, x2, adv}, 0))
	contrastive := losses.RoCLNTXent(z, cfg.Loss)
	metrics := map[string]*graph.Node{"contrastive": contrastive}
	loss := contrastive
	if cfg.RegularizerWeight > 0 {
		za := roclEmbed(ctx, in.Encoder, graph.Concatenate([]*graph.Node{adv, x2}, 0))
		reg := losses.RoCLTwoViewNTXent(graph.Slice(za, graph.AxisRange(0, bsz)), graph.Slice(za, graph.AxisRange(bsz, 2*bsz)), t)
		metrics["regularizer"] = reg
		loss = graph.Add(loss, graph.MulScalar(reg, cfg.RegularizerWeight))
	}
	return &StepOutputs{Loss: loss, Metrics: metrics}
}
