package layers

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// BlockOptions configures a BasicBlock.
type BlockOptions struct {
	// Branch is the BN parameter set used by this pass ("" = single, unbranched BN).
	Branch string
	// ConvInit is the kernel initialisation; the zero value is KaimingNormalFanOut.
	ConvInit ConvInit
}

// BasicBlock is the ResNet BasicBlock of the CIFAR ResNets (RoCL, AdvCL, ACL) on an NHWC
// input x: conv3×3(stride)→BN→ReLU→conv3×3→BN, plus the shortcut, then ReLU. The
// shortcut is x itself, or conv1×1(stride)→BN when the stride is not 1 or the channel
// count changes. Convolutions have no bias and PyTorch padding (1 for 3×3, 0 for 1×1).
//
// Variables, in ctx's scope: conv1/weights, bn1/[branch/]{gamma,beta,running_mean,
// running_var}, conv2/weights, bn2/…, and when present shortcut/conv/weights and
// shortcut/bn/…. (PyTorch names: conv1, bn1, conv2, bn2, shortcut.0 / downsample.conv,
// shortcut.1 / downsample.bn.)
func BasicBlock(ctx *context.Context, x *graph.Node, outChannels, stride int, opts BlockOptions) *graph.Node {
	if x.Rank() != 4 {
		panic(fmt.Errorf("layers.BasicBlock: want NHWC input, got shape %s (scope %s)", x.Shape(), ctx.Scope()))
	}
	bn := func(name string, v *graph.Node) *graph.Node {
		return NewBatchNorm(ctx.In(name), v).Branch(opts.Branch).Done()
	}
	out := NewConv2D(ctx.In("conv1"), x, outChannels).Stride(stride).Init(opts.ConvInit).Done()
	out = ReLU(bn("bn1", out))
	out = NewConv2D(ctx.In("conv2"), out, outChannels).Init(opts.ConvInit).Done()
	out = bn("bn2", out)
	shortcut := x
	if stride != 1 || x.Shape().Dimensions[3] != outChannels {
		sc := ctx.In("shortcut")
		shortcut = NewConv2D(sc.In("conv"), x, outChannels).Kernel(1).Stride(stride).Init(opts.ConvInit).Done()
		shortcut = NewBatchNorm(sc.In("bn"), shortcut).Branch(opts.Branch).Done()
	}
	return ReLU(graph.Add(out, shortcut))
}
