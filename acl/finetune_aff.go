package acl

import (
	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// AFFLoss is adversarial full finetuning's loss on one batch (spec §5.1, AdvCL's
// AFF_trades with trades.py): TRADESAdversary makes x' against the classifier in eval
// mode; then, in train mode (BN normalises with batch statistics and updates its running
// statistics), the loss is TRADESLoss(f(x), f(x'), y, β) and every parameter trains.
//
// trades.py runs three train-mode forward passes in this order: f(x) for the
// cross-entropy, f(x') and f(x) again for the KL target. The second clean pass gives the
// same logits as the first (same input, same batch statistics), so its logits are reused,
// but it is still built so that the BN running statistics move three times exactly as in
// the official code. It returns the loss and the terms "ce" and "kl".
func AFFLoss(ctx *context.Context, clf *Classifier, cfg attack.TRADESConfig, x, y *graph.Node) (*graph.Node, map[string]*graph.Node) {
	g := x.Graph()
	var adv *graph.Node
	layers.InMode(ctx, g, false, false, func() {
		adv = attack.TRADESAdversary(ctx, x, cfg, func(z *graph.Node) *graph.Node { return clf.Logits(ctx, z) })
	})
	var loss, ce, kl *graph.Node
	layers.InMode(ctx, g, true, true, func() {
		natural := clf.Logits(ctx, x)
		advLogits := clf.Logits(ctx, adv)
		clf.Encoder.Features(ctx, x, clf.Branch) // third pass: BN running statistics only
		loss, ce, kl = attack.TRADESLoss(natural, advLogits, y, cfg.Beta)
	})
	return loss, map[string]*graph.Node{"ce": ce, "kl": kl}
}
