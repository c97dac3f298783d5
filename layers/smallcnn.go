package layers

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

const (
	// SmallCNNScope is the scope SmallCNN opens for its variables.
	SmallCNNScope = "smallcnn"
	// DefaultSmallCNNWidth is SmallCNN's default base width.
	DefaultSmallCNNWidth = 16
)

// SmallCNN is a 4-layer CNN for fast CPU runs and tests, as an Encoder with the same
// contract as ResNet18: four 3×3 convolutions (no bias) with W, 2W, 4W, 8W channels and
// strides 1, 2, 2, 2, each followed by a branch-aware BN and ReLU, then global average
// pooling to [N, 8W]. At 32×32 and W = 16 a forward pass costs about 8 MFLOP per image.
//
// Variables (under ctx.In("smallcnn")): conv{1..4}/weights and bn{1..4}/[branch/]….
type SmallCNN struct {
	// Width is the base width W; 0 means 16.
	Width int
	// ConvInit is the kernel initialisation (default KaimingNormalFanOut).
	ConvInit ConvInit
}

func (m SmallCNN) width() int {
	if m.Width == 0 {
		return DefaultSmallCNNWidth
	}
	return m.Width
}

// FeatureDim returns 8W.
func (m SmallCNN) FeatureDim() int { return 8 * m.width() }

// String returns e.g. "smallcnn(width=16)".
func (m SmallCNN) String() string { return fmt.Sprintf("smallcnn(width=%d)", m.width()) }

// Features runs the CNN on x [N,H,W,C] with BN branch branch and returns [N, 8W].
func (m SmallCNN) Features(ctx *context.Context, x *graph.Node, branch string) *graph.Node {
	if x.Rank() != 4 {
		panic(fmt.Errorf("layers.SmallCNN: want NHWC input, got shape %s", x.Shape()))
	}
	if m.Width < 0 {
		panic(fmt.Errorf("layers.SmallCNN: negative width %d", m.Width))
	}
	ctx = ctx.In(SmallCNNScope)
	out := x
	for i, stride := range []int{1, 2, 2, 2} {
		out = NewConv2D(ctx.Inf("conv%d", i+1), out, m.width()<<i).Stride(stride).Init(m.ConvInit).Done()
		out = ReLU(NewBatchNorm(ctx.Inf("bn%d", i+1), out).Branch(branch).Done())
	}
	return GlobalAvgPool(out)
}

// SmallCNNParamCount returns the number of trainable parameters of SmallCNN for input
// channels inChannels, base width width (0 = 16) and branches BN parameter sets.
func SmallCNNParamCount(inChannels, width, branches int) int {
	if width == 0 {
		width = DefaultSmallCNNWidth
	}
	total, in := 0, inChannels
	for i := range 4 {
		c := width << i
		total += 9*in*c + 2*c*branches
		in = c
	}
	return total
}
