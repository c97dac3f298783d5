package layers

import "github.com/gomlx/gomlx/pkg/core/graph"

// ReLU returns max(x, 0) with PyTorch's gradient: 1 where x > 0 and 0 elsewhere,
// including at x == 0. (GoMLX's activations.Relu routes the gradient of a tie at 0 to x,
// giving 1 there.)
//
// It is built as Where(0 ≥ x, 0, x) with a scalar 0, which no backend op expands to the
// activation's size: one comparison and one select in the forward pass, and in the
// backward pass the select's gradient Where(0 ≥ x, 0, v) reusing the forward comparison
// (GoMLX's Max(ZerosLike(x), x) materialises a zeros tensor per call, and its gradient a
// second comparison). Values are those of Max(0, x) for every input: 0 for −0 and −∞, NaN
// for NaN. The gradient is 1 where x > 0 and also where x is NaN (like PyTorch's
// threshold_backward, which passes the gradient where the output is not ≤ 0), 0 elsewhere.
func ReLU(x *graph.Node) *graph.Node {
	zero := graph.ScalarZero(x.Graph(), x.DType())
	return graph.Where(graph.GreaterOrEqual(zero, x), zero, x)
}
