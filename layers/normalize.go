package layers

import "github.com/gomlx/gomlx/pkg/core/graph"

// L2NormalizeEpsilon is the smallest norm L2Normalize divides by, as in PyTorch's
// F.normalize(eps=1e-12).
const L2NormalizeEpsilon = 1e-12

// L2Normalize returns x divided by its L2 norm over the last axis, with PyTorch's
// F.normalize(x, dim=-1) semantics: x / max(‖x‖, 1e-12). It is computed as
// x / Sqrt(max(Σx², 1e-24)), so an all-zero row maps to zeros with finite gradients.
func L2Normalize(x *graph.Node) *graph.Node {
	sumSq := graph.ReduceAndKeep(graph.Square(x), graph.ReduceSum, -1)
	floor := graph.Scalar(x.Graph(), x.DType(), L2NormalizeEpsilon*L2NormalizeEpsilon)
	return graph.Div(x, graph.Sqrt(graph.Max(sumSq, floor)))
}
