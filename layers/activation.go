package layers

import "github.com/gomlx/gomlx/pkg/core/graph"

// ReLU returns max(x, 0) with PyTorch's gradient: 1 where x > 0 and 0 elsewhere,
// including at x == 0. (GoMLX's activations.Relu routes the gradient of a tie at 0 to x,
// giving 1 there.)
func ReLU(x *graph.Node) *graph.Node {
	// Max sends the gradient of a tie to its first operand, the zeros.
	return graph.Max(graph.ZerosLike(x), x)
}
