package layers

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

const (
	// ResNet18Scope is the scope ResNet18 opens for its variables.
	ResNet18Scope = "resnet18"
	// DefaultResNetWidth is the paper's base width W (stages of 64, 128, 256, 512).
	DefaultResNetWidth = 64
)

// ResNet18 is the CIFAR variant of ResNet-18 used by RoCL, AdvCL and ACL, as an Encoder:
// a 3×3 stride-1 convolution stem with W channels, BN and ReLU (no max-pool), four stages
// of two BasicBlocks with W, 2W, 4W, 8W channels and strides 1, 2, 2, 2, then global
// average pooling to [N, 8W]. Convolutions have no bias; there is no classifier.
//
// Variables (under ctx.In("resnet18")): stem/conv/weights, stem/bn/[branch/]…, then
// stage{1..4}/block{1,2}/… as in BasicBlock, e.g. resnet18/stage2/block1/conv1/weights,
// resnet18/stage2/block1/shortcut/bn/pgd/gamma.
type ResNet18 struct {
	// Width is the base width W; 0 means 64 (the paper's ResNet-18).
	Width int
	// ConvInit is the kernel initialisation: KaimingNormalFanOut (default; AdvCL, ACL) or
	// PyTorchDefault (RoCL).
	ConvInit ConvInit
	// InputMean and InputStd, when set, normalise the input per channel inside the model,
	// (x−mean)/std, as ACL's official model does with the ImageNet statistics
	// (mean 0.485, 0.456, 0.406; std 0.229, 0.224, 0.225). RoCL and AdvCL feed [0,1]
	// images unnormalised: leave them nil.
	InputMean, InputStd []float64
}

// width returns the effective base width.
func (m ResNet18) width() int {
	if m.Width == 0 {
		return DefaultResNetWidth
	}
	return m.Width
}

// FeatureDim returns 8W.
func (m ResNet18) FeatureDim() int { return 8 * m.width() }

// String returns e.g. "resnet18(width=64)".
func (m ResNet18) String() string { return fmt.Sprintf("resnet18(width=%d)", m.width()) }

// Features runs the ResNet-18 on x [N,H,W,C] with BN branch branch and returns [N, 8W].
func (m ResNet18) Features(ctx *context.Context, x *graph.Node, branch string) *graph.Node {
	if x.Rank() != 4 {
		panic(fmt.Errorf("layers.ResNet18: want NHWC input, got shape %s", x.Shape()))
	}
	if m.Width < 0 {
		panic(fmt.Errorf("layers.ResNet18: negative width %d", m.Width))
	}
	ctx = ctx.In(ResNet18Scope)
	x = normalizeInput(x, m.InputMean, m.InputStd)
	w := m.width()
	stem := ctx.In("stem")
	out := NewConv2D(stem.In("conv"), x, w).Init(m.ConvInit).Done()
	out = ReLU(NewBatchNorm(stem.In("bn"), out).Branch(branch).Done())
	opts := BlockOptions{Branch: branch, ConvInit: m.ConvInit}
	for s, stride := range []int{1, 2, 2, 2} {
		channels := w << s
		for b := range 2 {
			blockStride := 1
			if b == 0 {
				blockStride = stride
			}
			out = BasicBlock(ctx.Inf("stage%d", s+1).Inf("block%d", b+1), out, channels, blockStride, opts)
		}
	}
	return GlobalAvgPool(out)
}

// ResNet18ParamCount returns the number of trainable parameters of ResNet18 at base width
// width (0 = 64) with branches BN parameter sets (1 for a single BN, 2 for ACL's dual BN,
// 3 for AdvCL's triple BN); running statistics are not parameters. At width 64 with one
// branch it is 11,168,832, PyTorch's CIFAR ResNet-18 (11,173,962) without its 512→10 fc.
func ResNet18ParamCount(width, branches int) int {
	if width == 0 {
		width = DefaultResNetWidth
	}
	conv := 3 * 3 * 3 * width // stem
	bnChannels := width       // stem BN
	in := width
	for s := range 4 {
		c := width << s
		conv += 9*in*c + 9*c*c + 9*c*c + 9*c*c // block1 conv1, conv2; block2 conv1, conv2
		bnChannels += 4 * c
		if s > 0 { // stride 2 and more channels: 1×1 shortcut with BN
			conv += in * c
			bnChannels += c
		}
		in = c
	}
	return conv + 2*bnChannels*branches
}

// normalizeInput returns (x−mean)/std per channel, or x when mean and std are nil.
func normalizeInput(x *graph.Node, mean, std []float64) *graph.Node {
	if mean == nil && std == nil {
		return x
	}
	c := x.Shape().Dimensions[x.Rank()-1]
	if len(mean) != c || len(std) != c {
		panic(fmt.Errorf("layers: input normalisation has %d means and %d stds for %d channels", len(mean), len(std), c))
	}
	g := x.Graph()
	for i, s := range std {
		if s <= 0 {
			panic(fmt.Errorf("layers: input normalisation std[%d] = %g must be > 0", i, s))
		}
	}
	dims := channelShape(x)
	meanN := graph.Reshape(graph.ConstAsDType(g, x.DType(), mean), dims...)
	stdN := graph.Reshape(graph.ConstAsDType(g, x.DType(), std), dims...)
	return graph.Div(graph.Sub(x, meanN), stdN)
}
