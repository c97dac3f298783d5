package engine

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// GoMLX v0.26.0's DotGeneral gradient multiplies the output adjoint by the broadcast other
// operand and reduces, materialising the [I,J,K] outer product of a matmul: 22 s per step
// for ResNet-18 at width 16 and 19 GB tensors at width 64 on the pure-Go backend. The
// gradient of C = A·B is two matmuls, dA = dC·Bᵀ and dB = Aᵀ·dC; dotGeneralVJP computes
// exactly that for any DotGeneral (batch, contracting and free axes in any order).
//
// On XLA the outer-product form is as costly: at width 64, batch 512 the training step held
// 20 such tensors (the largest f32[1536,2048,512]), which XLA GPU ran as slow reduce
// fusions and compiled for minutes (docs/results/gpu-h100-2026-11-27/); `acl hlo` shows
// them as the largest intermediate tensors of the step, 16× the largest activation at
// width 16, batch 16. GoMLX fixed its gradient the same way upstream in v0.28.0.
//
// The override is installed once, for the Dot and DotGeneral node types, and applies to
// graphs of every backend. GOACL_XLA_DOTGRAD=0 gives graphs of other backends than the
// pure-Go ones GoMLX's own gradient back, for A/B measurements (scripts/xla-diag.sh).

var installOnce sync.Once

func init() { installGradientOverrides() }

// installGradientOverrides replaces the Dot/DotGeneral entries of graph.VJPRegistration
// with matmul-based VJPs. It is idempotent.
func installGradientOverrides() {
	installOnce.Do(func() {
		for _, nt := range []graph.NodeType{graph.NodeTypeDotGeneral, graph.NodeTypeDot} {
			original := graph.VJPRegistration[nt]
			graph.VJPRegistration[nt] = func(node *graph.Node, v []*graph.Node, outShape shapes.Shape) []*graph.Node {
				if !isPureGoGraph(node.Graph()) && !xlaDotGrad() {
					return original(node, v, outShape)
				}
				if node.Type() == graph.NodeTypeDot {
					return dotVJP(node, v[0])
				}
				return dotGeneralVJP(node, v[0])
			}
		}
		installMinMaxOverrides()
		// GoMLX defines no gradient for Reverse (its convolution gradient uses Reverse only
		// on the kernel); the adjoint of a reversal is the same reversal.
		if _, ok := graph.VJPRegistration[graph.NodeTypeReverse]; !ok {
			graph.VJPRegistration[graph.NodeTypeReverse] = func(node *graph.Node, v []*graph.Node, _ shapes.Shape) []*graph.Node {
				return []*graph.Node{graph.Reverse(v[0], readIntsField(node, "axes")...)}
			}
		}
	})
}

// XLADotGradEnv names the variable that, set to 0, keeps GoMLX's own outer-product
// Dot/DotGeneral gradient on graphs of non-pure-Go backends (for A/B timing only).
const XLADotGradEnv = "GOACL_XLA_DOTGRAD"

// xlaDotGrad reports whether graphs of other backends than the pure-Go ones get the
// two-matmul gradient (the default), read when each gradient is built.
func xlaDotGrad() bool { return os.Getenv(XLADotGradEnv) != "0" }

// dotParams are the axes of a DotGeneral node.
type dotParams struct {
	lhsContracting, lhsBatch, rhsContracting, rhsBatch []int
}

// readDotParams reads the axes GoMLX stores in the node's unexported inputs struct
// (nodeInputsDotGeneral). Reading unexported fields through reflect is allowed; a
// change of that struct in a future GoMLX fails loudly.
func readDotParams(node *graph.Node) dotParams {
	ints := func(name string) []int { return readIntsField(node, name) }
	return dotParams{
		lhsContracting: ints("lhsContractingAxes"), lhsBatch: ints("lhsBatchAxes"),
		rhsContracting: ints("rhsContractingAxes"), rhsBatch: ints("rhsBatchAxes"),
	}
}

// readIntsField reads the []int field `name` of the node's unexported inputs struct
// (GoMLX's nodeInputs<Op>), panicking with a clear message if GoMLX's layout changed.
func readIntsField(node *graph.Node, name string) []int {
	in := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !in.IsValid() || in.IsNil() {
		panic(fmt.Sprintf("engine: node %s has no inputs struct (GoMLX layout changed?)", node))
	}
	f := in.Elem().Elem().FieldByName(name)
	if !f.IsValid() || f.Kind() != reflect.Slice {
		panic(fmt.Sprintf("engine: inputs of node %s lack the []int field %q (GoMLX layout changed?)", node, name))
	}
	out := make([]int, f.Len())
	for i := range out {
		out[i] = int(f.Index(i).Int())
	}
	return out
}

// freeAxes returns the axes of a rank-r operand that are neither contracting nor batch,
// in increasing order (the order DotGeneral lays them out in its output).
func freeAxes(rank int, contracting, batch []int) []int {
	var free []int
	for a := 0; a < rank; a++ {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			free = append(free, a)
		}
	}
	return free
}

// dotGeneralVJP returns [dLhs, dRhs] for out = DotGeneral(lhs, rhs). The output is laid
// out [batch..., lhsFree..., rhsFree...]. dLhs contracts v's rhsFree axes with rhs's free
// axes (batch axes matched), giving [batch..., lhsFree..., rhsContracting(sorted)...],
// then transposes that to lhs's axis order; dRhs likewise.
func dotGeneralVJP(node, v *graph.Node) []*graph.Node {
	lhs, rhs := node.Inputs()[0], node.Inputs()[1]
	p := readDotParams(node)
	lhsFree := freeAxes(lhs.Rank(), p.lhsContracting, p.lhsBatch)
	rhsFree := freeAxes(rhs.Rank(), p.rhsContracting, p.rhsBatch)
	nb := len(p.lhsBatch)
	vBatch := iota(0, nb)
	vLhsFree := iota(nb, len(lhsFree))
	vRhsFree := iota(nb+len(lhsFree), len(rhsFree))

	dLhs := adjointOf(v, vBatch, vRhsFree, rhs, rhsFree, p.rhsBatch,
		lhs.Rank(), p.lhsBatch, lhsFree, p.lhsContracting, p.rhsContracting)
	dRhs := adjointOf(v, vBatch, vLhsFree, lhs, lhsFree, p.lhsBatch,
		rhs.Rank(), p.rhsBatch, rhsFree, p.rhsContracting, p.lhsContracting)
	return []*graph.Node{dLhs, dRhs}
}

// adjointOf computes the adjoint of one operand ("this") of a DotGeneral from the output
// adjoint v and the other operand. vContract are v's axes that hold the other operand's
// free axes (contracted here with otherFree); v's remaining non-batch axes are this
// operand's free axes. The result DotGeneral(v, other) has layout
// [batch..., thisFree..., otherContracting sorted...]; it is transposed to this operand's
// layout, where thisContracting[k] pairs with otherContracting[k].
func adjointOf(v *graph.Node, vBatch, vContract []int, other *graph.Node, otherFree, otherBatch []int,
	thisRank int, thisBatch, thisFree, thisContracting, otherContracting []int) *graph.Node {
	d := graph.DotGeneral(v, vContract, vBatch, other, otherFree, otherBatch)
	nb, nf := len(thisBatch), len(thisFree)
	sortedOtherContracting := slices.Sorted(slices.Values(otherContracting))
	// perm[i] = axis of d that becomes axis i of "this".
	perm := make([]int, thisRank)
	for i, a := range thisBatch {
		perm[a] = i
	}
	for i, a := range thisFree {
		perm[a] = nb + i
	}
	for k, a := range thisContracting {
		perm[a] = nb + nf + slices.Index(sortedOtherContracting, otherContracting[k])
	}
	if isIdentity(perm) {
		return d
	}
	return graph.TransposeAllAxes(d, perm...)
}

// dotVJP is the gradient of the Dot op (vector·vector, matrix·vector, matrix·matrix).
func dotVJP(node, v *graph.Node) []*graph.Node {
	a, b := node.Inputs()[0], node.Inputs()[1]
	switch {
	case a.Rank() == 1 && b.Rank() == 1:
		return []*graph.Node{graph.Mul(v, b), graph.Mul(v, a)}
	case a.Rank() == 2 && b.Rank() == 1: // [i,j]·[j] -> [i]
		return []*graph.Node{
			graph.Mul(graph.BroadcastToDims(graph.InsertAxes(v, -1), a.Shape().Dimensions...), graph.InsertAxes(b, 0)),
			graph.DotGeneral(a, []int{0}, nil, v, []int{0}, nil),
		}
	default: // [i,j]·[j,k] -> [i,k]
		return []*graph.Node{
			graph.DotGeneral(v, []int{1}, nil, b, []int{1}, nil), // [i,j]
			graph.DotGeneral(a, []int{0}, nil, v, []int{0}, nil), // [j,k]
		}
	}
}

func iota(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}

func isIdentity(perm []int) bool {
	for i, p := range perm {
		if p != i {
			return false
		}
	}
	return true
}
