package acl

import (
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// SLFLoss is standard linear finetuning's loss on one batch (spec §5.1): the mean
// cross-entropy of the classifier on the clean (augmented) images x with labels y, the
// whole model in eval mode, so the frozen encoder's BN uses its running statistics and
// nothing but the linear head trains (the caller marks the encoder non-trainable).
func SLFLoss(ctx *context.Context, clf *Classifier, x, y *graph.Node) *graph.Node {
	var loss *graph.Node
	layers.InMode(ctx, x.Graph(), false, false, func() { loss = losses.CrossEntropy(clf.Logits(ctx, x), y) })
	return loss
}
