package layers

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// GlobalAvgPool averages an NHWC tensor over its two spatial axes, giving [N,C]. On the
// 4×4 maps a CIFAR ResNet-18 produces from 32×32 inputs it equals PyTorch's
// F.avg_pool2d(x, 4) (RoCL) and nn.AdaptiveAvgPool2d(1) (AdvCL, ACL); for other input
// sizes it is the adaptive (global) average, not avg_pool2d(4).
func GlobalAvgPool(x *graph.Node) *graph.Node {
	if x.Rank() != 4 {
		panic(fmt.Errorf("layers.GlobalAvgPool: want NHWC input, got shape %s", x.Shape()))
	}
	return graph.ReduceMean(x, 1, 2)
}
