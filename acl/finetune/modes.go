package finetune

import (
	"fmt"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Loss builds the training loss of one batch of cfg.Mode (images x [B,H,W,C] in [0,1],
// labels y [B]) with its named terms; it sets train/eval mode itself.
func Loss(ctx *context.Context, clf *Classifier, cfg *Config, x, y *graph.Node) (loss *graph.Node, terms map[string]*graph.Node) {
	switch cfg.Mode {
	case SLF:
		return SLFLoss(ctx, clf, x, y), nil
	case ALF:
		return ALFLoss(ctx, clf, cfg.TrainAttack, x, y), nil
	case AFF:
		return AFFLoss(ctx, clf, cfg.TRADES, x, y)
	}
	panic(fmt.Errorf("finetune: unknown mode %q", cfg.Mode))
}

// SLFLoss is standard linear finetuning's loss on one batch (spec §5.1): the mean
// cross-entropy of the classifier on the clean (augmented) images x with labels y, the
// whole model in eval mode, so the frozen encoder's BN uses its running statistics and
// nothing but the linear head trains (the caller marks the encoder non-trainable).
func SLFLoss(ctx *context.Context, clf *Classifier, x, y *graph.Node) *graph.Node {
	var loss *graph.Node
	layers.InMode(ctx, x.Graph(), false, false, func() { loss = losses.CrossEntropy(clf.Logits(ctx, x), y) })
	return loss
}

// ALFLoss is adversarial linear finetuning's loss on one batch (spec §5.1, §8.12): PGD
// (attack: PGD-20 on the summed cross-entropy, step 2/255, ε = 8/255, random start, as the
// official code's train=False branch) makes adversarial examples of x against the whole
// classifier, encoder + head, in eval mode; the loss is the mean cross-entropy of the
// classifier, still in eval mode, on those examples alone. Only the linear head trains
// (the caller marks the encoder non-trainable).
func ALFLoss(ctx *context.Context, clf *Classifier, atk attack.PGDConfig, x, y *graph.Node) *graph.Node {
	var loss *graph.Node
	layers.InMode(ctx, x.Graph(), false, false, func() {
		adv := attack.PGD(ctx, []*graph.Node{x}, atk, func(advs []*graph.Node) *graph.Node {
			return graph.ReduceAllSum(attack.PerExampleAttackLoss(attack.LossCE, clf.Logits(ctx, advs[0]), y, nil))
		})[0]
		loss = losses.CrossEntropy(clf.Logits(ctx, adv), y)
	})
	return loss
}

// AFFLoss is adversarial full finetuning's loss on one batch (spec §5.1; trades.py of
// Asym-AdvCL, Asym-RoCL and ACL): TRADESAdversary makes x' against the classifier in eval
// mode; then, in train mode (BN normalises with batch statistics and updates its running
// statistics), the loss is TRADESLoss(f(x), f(x'), y, β) and every parameter trains.
// trades.py makes exactly two train-mode passes, f(x) and f(x'), so the BN running
// statistics move twice per step. With clf.NaturalBranch set it is DynACL's dual-BN
// TRADES (utils.py trades_loss_dual): the clean passes, the attack's target included, go
// through NaturalBranch and the adversarial ones through Branch. It returns the loss and
// the terms "ce" and "kl".
func AFFLoss(ctx *context.Context, clf *Classifier, cfg attack.TRADESConfig, x, y *graph.Node) (*graph.Node, map[string]*graph.Node) {
	g := x.Graph()
	natural := clf.Branch
	if clf.NaturalBranch != "" {
		natural = clf.NaturalBranch
	}
	var adv *graph.Node
	layers.InMode(ctx, g, false, false, func() {
		target := clf.LogitsWith(ctx, x, natural)
		adv = attack.TRADESAdversaryFrom(ctx, x, target, cfg, func(z *graph.Node) *graph.Node { return clf.Logits(ctx, z) })
	})
	var loss, ce, kl *graph.Node
	layers.InMode(ctx, g, true, true, func() {
		clean := clf.LogitsWith(ctx, x, natural)
		advLogits := clf.Logits(ctx, adv)
		loss, ce, kl = attack.TRADESLoss(clean, advLogits, y, cfg.Beta)
	})
	return loss, map[string]*graph.Node{"ce": ce, "kl": kl}
}
