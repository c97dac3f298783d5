package engine

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Conv2D is PyTorch's Conv2d(bias=False, stride, padding) in GoMLX's layout: x is NHWC
// [N,H,W,Cin], kernel is [kh,kw,Cin,Cout], both spatial axes use the same stride and the
// same symmetric zero padding, and the output is [N,Ho,Wo,Cout] with
// Ho = (H+2·padding−kh)/stride+1.
//
// It emits the backend's native convolution on XLA and on the repaired pure-Go backend
// with its fast kernels (the default), whose ConvGeneral runs im2col + GEMM without graph
// ops for the patches (kernels_conv.go). On the stock simplego backend and on "goacl" with
// kernels=simplego it lowers to im2col in the graph instead: zero-pad by concatenation,
// one strided slice per kernel tap, concatenate the taps on the channel axis and do one
// matmul with the kernel reshaped to [kh·kw·Cin, Cout] (simplego's own convolution is a
// naive loop at ~0.4 GFLOP/s).
//
// It panics (GoMLX's convention inside graph building) on mismatched shapes.
func Conv2D(x, kernel *graph.Node, stride, padding int) *graph.Node {
	if x.Rank() != 4 || kernel.Rank() != 4 {
		panic(fmt.Sprintf("engine.Conv2D: want x [N,H,W,C] and kernel [kh,kw,Cin,Cout], got %s and %s", x.Shape(), kernel.Shape()))
	}
	if x.Shape().Dimensions[3] != kernel.Shape().Dimensions[2] {
		panic(fmt.Sprintf("engine.Conv2D: x has %d channels but kernel expects %d (x %s, kernel %s)",
			x.Shape().Dimensions[3], kernel.Shape().Dimensions[2], x.Shape(), kernel.Shape()))
	}
	if stride < 1 || padding < 0 {
		panic(fmt.Sprintf("engine.Conv2D: stride must be ≥ 1 and padding ≥ 0, got %d and %d", stride, padding))
	}
	if !isPureGoGraph(x.Graph()) || FastKernels(x.Graph().Backend()) {
		return graph.Convolve(x, kernel).
			StridePerAxis(stride, stride).
			PaddingPerDim([][2]int{{padding, padding}, {padding, padding}}).
			Done()
	}
	return im2colConv2D(x, kernel, stride, padding)
}

func im2colConv2D(x, kernel *graph.Node, stride, padding int) *graph.Node {
	n, h, w, cin := x.Shape().Dimensions[0], x.Shape().Dimensions[1], x.Shape().Dimensions[2], x.Shape().Dimensions[3]
	kh, kw, cout := kernel.Shape().Dimensions[0], kernel.Shape().Dimensions[1], kernel.Shape().Dimensions[3]
	hp, wp := h+2*padding, w+2*padding
	ho, wo := (hp-kh)/stride+1, (wp-kw)/stride+1
	if ho < 1 || wo < 1 {
		panic(fmt.Sprintf("engine.Conv2D: kernel %dx%d larger than padded input %dx%d", kh, kw, hp, wp))
	}
	xp := ZeroPad2D(x, padding)
	var cols *graph.Node
	if kh == 1 && kw == 1 {
		cols = xp
		if stride > 1 {
			cols = graph.Slice(xp, graph.AxisRange(), graph.AxisRange(0, stride*(ho-1)+1).Stride(stride),
				graph.AxisRange(0, stride*(wo-1)+1).Stride(stride), graph.AxisRange())
		}
	} else {
		taps := make([]*graph.Node, 0, kh*kw)
		for i := 0; i < kh; i++ {
			for j := 0; j < kw; j++ {
				taps = append(taps, graph.Slice(xp, graph.AxisRange(),
					graph.AxisRange(i, i+stride*(ho-1)+1).Stride(stride),
					graph.AxisRange(j, j+stride*(wo-1)+1).Stride(stride),
					graph.AxisRange()))
			}
		}
		cols = graph.Concatenate(taps, 3) // [N,Ho,Wo,kh·kw·Cin], tap-major like the kernel.
	}
	cols = graph.Reshape(cols, n*ho*wo, kh*kw*cin)
	k := graph.Reshape(kernel, kh*kw*cin, cout)
	out := graph.DotGeneral(cols, []int{1}, nil, k, []int{0}, nil)
	return graph.Reshape(out, n, ho, wo, cout)
}

// ZeroPad2D pads the two spatial axes of an NHWC tensor with p zeros on each side, by
// concatenation (GoMLX's Pad has no gradient).
func ZeroPad2D(x *graph.Node, p int) *graph.Node {
	if p == 0 {
		return x
	}
	g := x.Graph()
	d := x.Shape().Dimensions
	rows := graph.Zeros(g, shapes.Make(x.DType(), d[0], p, d[2], d[3]))
	x = graph.Concatenate([]*graph.Node{rows, x, rows}, 1)
	cols := graph.Zeros(g, shapes.Make(x.DType(), d[0], d[1]+2*p, p, d[3]))
	return graph.Concatenate([]*graph.Node{cols, x, cols}, 2)
}
