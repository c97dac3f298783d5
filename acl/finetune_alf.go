package acl

import (
	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

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
