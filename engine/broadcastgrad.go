package engine

import (
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// GoMLX's gradients of Mul and Div first broadcast a smaller operand to the output's
// shape with an explicit BroadcastInDim (batch norm's γ and σ, [1,1,1,C] → [N,H,W,C]) and
// then multiply or divide full-size tensors; Div's operand gradient also squares the
// broadcast σ element by element. On graphs of the repaired pure-Go backend with fast
// kernels (the default; kernels=simplego keeps the engine as it was), when one operand has
// the output's shape and the other does not, these overrides leave the smaller operand as
// it is and let the op broadcast it (kernels_binary.go runs such ops over contiguous
// runs), and square it at its own size: one materialised full-size tensor and one
// full-size pass fewer per Mul, two per Div. Every element is computed from the same
// values with the same operations as GoMLX's gradient (v·b, v/b, −v·(a/(b·b))), so the
// gradients are bit-identical. Operands that are both broadcast keep GoMLX's gradient, and
// so do XLA graphs, where XLA fuses the broadcast into its consumers (measured: no change in
// the XLA CPU step time, see minmaxgrad.go).

func init() { installBroadcastGradOverrides() }

// installBroadcastGradOverrides replaces the Mul and Div entries of
// graph.VJPRegistration (once, from init).
func installBroadcastGradOverrides() {
	for _, nt := range []graph.NodeType{graph.NodeTypeMul, graph.NodeTypeDiv} {
		original := graph.VJPRegistration[nt]
		if original == nil {
			continue
		}
		isDiv := nt == graph.NodeTypeDiv
		graph.VJPRegistration[nt] = func(node *graph.Node, v []*graph.Node, outShape shapes.Shape) []*graph.Node {
			in := node.Inputs()
			if !FastKernels(node.Graph().Backend()) || len(in) != 2 || len(v) != 1 {
				return original(node, v, outShape)
			}
			aFull, bFull := in[0].Shape().Equal(node.Shape()), in[1].Shape().Equal(node.Shape())
			if aFull == bFull { // no broadcast, or both operands broadcast
				return original(node, v, outShape)
			}
			if isDiv {
				return divBroadcastVJP(node, in[0], in[1], v[0])
			}
			return mulBroadcastVJP(node, in[0], in[1], v[0])
		}
	}
}

// reduceToInput sums the adjoint of a full-size result over the axes input was broadcast
// along (GoMLX's vjpForDefaultBroadcast).
func reduceToInput(node, input, v *graph.Node) *graph.Node {
	if input.Shape().Equal(node.Shape()) {
		return v
	}
	if input.IsScalar() {
		return graph.ReduceAllSum(v)
	}
	var axes []int
	for i, d := range input.Shape().Dimensions {
		if d == 1 && v.Shape().Dimensions[i] > 1 {
			axes = append(axes, i)
		}
	}
	return graph.ReshapeWithShape(graph.ReduceSum(v, axes...), input.Shape())
}

// mulBroadcastVJP: d(a·b)/da = v·b, d(a·b)/db = v·a, each summed back to its operand's shape.
func mulBroadcastVJP(node, a, b, v *graph.Node) []*graph.Node {
	return []*graph.Node{reduceToInput(node, a, graph.Mul(v, b)), reduceToInput(node, b, graph.Mul(v, a))}
}

// divBroadcastVJP: d(a/b)/da = v/b, d(a/b)/db = −v·(a/(b·b)), each summed back to its
// operand's shape.
func divBroadcastVJP(node, a, b, v *graph.Node) []*graph.Node {
	return []*graph.Node{
		reduceToInput(node, a, graph.Div(v, b)),
		reduceToInput(node, b, graph.Neg(graph.Mul(v, graph.Div(a, graph.Mul(b, b))))),
	}
}
