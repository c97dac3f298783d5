package engine

import (
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// GoMLX's gradient of Max(x0, x1) (and Min) builds the 0/1 masks arithmetically,
// Sign(Sign(x0−x1)+1) and its complement, then multiplies the adjoint by each: seven
// full-size elementwise ops per ReLU in every backward pass, two of them a branchy Sign
// (≈5% of the benchmark step on the pure-Go backend). On graphs of the repaired pure-Go
// backend with fast kernels (the default; kernels=simplego keeps the engine as it was), for
// operands of the output's shape (ReLU = Max(0, x), clips), the same routing is built with one
// comparison and two selects: the adjoint goes to x1 exactly where x0 < x1 (Max; x0 where
// x0 < x1 for Min) — the same decisions as GoMLX's NonNegativeIndicator(x0 − x1) for every
// input, ties (to x0), infinities and NaN (to x0) included. Other cases keep GoMLX's
// gradient, and so do XLA graphs: XLA fuses these elementwise ops itself, and with this
// override (and broadcastgrad.go's) the W16/B16 benchmark step on XLA CPU changed by 12 of
// 10,529 ops and ran in the same time (docs/performance.md).

// installMinMaxOverrides replaces the Max and Min entries of graph.VJPRegistration; it is
// called once from installGradientOverrides.
func installMinMaxOverrides() {
	for _, nt := range []graph.NodeType{graph.NodeTypeMax, graph.NodeTypeMin} {
		original := graph.VJPRegistration[nt]
		isMin := nt == graph.NodeTypeMin
		graph.VJPRegistration[nt] = func(node *graph.Node, v []*graph.Node, outShape shapes.Shape) []*graph.Node {
			in := node.Inputs()
			if !FastKernels(node.Graph().Backend()) || len(in) != 2 || len(v) != 1 ||
				!in[0].Shape().Equal(node.Shape()) || !in[1].Shape().Equal(node.Shape()) {
				return original(node, v, outShape)
			}
			lt := graph.LessThan(in[0], in[1])
			zero := graph.ZerosLike(v[0])
			first, second := graph.Where(lt, zero, v[0]), graph.Where(lt, v[0], zero)
			if isMin {
				first, second = second, first
			}
			return []*graph.Node{first, second}
		}
	}
}
