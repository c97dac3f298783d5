package engine

import (
	"reflect"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// execDotGeneralFast replaces simplego's DotGeneral executor. simplego's DotGeneral node
// outputs the normalized [batch, lhsCross, rhsCross] product; when each group of axes
// (batch, cross, contracting) of each operand can be addressed with a single stride — every
// DotGeneral this project builds: matmuls, the im2col products and their gradients — it
// runs the blocked GEMM on the operands in place. simplego instead copies both operands
// into 64×64 blocks padded with zeros (a 16-column output does 4× the work) and runs a
// 1×4 dot-product kernel. Other cases and other backends go to simplego's executor.
func execDotGeneralFast(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (out *simplego.Buffer, err error) {
	workers, ok := fastWorkers(backend)
	if !ok {
		return origDotGeneral(backend, node, inputs, owned)
	}
	p := reflect.ValueOf(nodeData(node)).Elem()
	lc, lb := readInts(p, "lhsContractingAxes"), readInts(p, "lhsBatchAxes")
	rc, rb := readInts(p, "rhsContractingAxes"), readInts(p, "rhsBatchAxes")
	batch, m, n, k := readInt(p, "batchSize"), readInt(p, "lhsCrossSize"), readInt(p, "rhsCrossSize"), readInt(p, "contractingSize")
	lhsShape, rhsShape := bufferShape(inputs[0]), bufferShape(inputs[1])
	lhs, okL := dotLayout(lhsShape, lc, lb)
	rhs, okR := dotLayout(rhsShape, rc, rb)
	outShape := nodeShape(node)
	if !okL || !okR || outShape.Size() != batch*m*n {
		return origDotGeneral(backend, node, inputs, owned)
	}
	defer recoverToError("DotGeneral", &err)
	switch flat := bufferFlat(inputs[0]).(type) {
	case []float32:
		return runDot(backend, outShape, flat, bufferFlat(inputs[1]).([]float32), lhs, rhs, batch, m, n, k, workers)
	case []float64:
		return runDot(backend, outShape, flat, bufferFlat(inputs[1]).([]float64), lhs, rhs, batch, m, n, k, workers)
	}
	return origDotGeneral(backend, node, inputs, owned)
}

func runDot[T float](backend *simplego.Backend, outShape shapes.Shape, l, r []T, lhs, rhs operandStrides, batch, m, n, k, workers int) (*simplego.Buffer, error) {
	out, err := newOutputBuffer(backend, outShape)
	if err != nil {
		return nil, err
	}
	c := bufferFlat(out).([]T)
	for bi := range batch {
		a := matrix[T]{data: l, off: bi * lhs.batch, rs: lhs.cross, cs: lhs.contract}
		b := matrix[T]{data: r, off: bi * rhs.batch, rs: rhs.contract, cs: rhs.cross}
		gemm(m, n, k, aSource[T](a), b, c[bi*m*n:(bi+1)*m*n], n, workers)
	}
	return out, nil
}

// operandStrides are the strides of an operand's flattened batch, cross and contracting
// indices.
type operandStrides struct{ batch, cross, contract int }

// dotLayout returns the strides of the operand's batch, cross and contracting index
// groups, each flattened row-major in the order simplego uses (batch and contracting
// axes in the given order, cross axes ascending), and false when a group cannot be
// addressed with a single stride.
func dotLayout(shape shapes.Shape, contracting, batch []int) (operandStrides, bool) {
	rank := shape.Rank()
	kind := make([]int, rank) // 0 cross, 1 contracting, 2 batch
	for _, a := range contracting {
		kind[a] = 1
	}
	for _, a := range batch {
		kind[a] = 2
	}
	var cross []int
	for a := range rank {
		if kind[a] == 0 {
			cross = append(cross, a)
		}
	}
	strides := shape.Strides()
	var s operandStrides
	var ok1, ok2, ok3 bool
	s.batch, ok1 = groupStride(shape.Dimensions, strides, batch)
	s.cross, ok2 = groupStride(shape.Dimensions, strides, cross)
	s.contract, ok3 = groupStride(shape.Dimensions, strides, contracting)
	return s, ok1 && ok2 && ok3
}

// groupStride returns the stride of the row-major flattening of the given axes (in that
// order), if one stride addresses it: ignoring size-1 axes, each axis' stride must be the
// next one's stride times its size.
func groupStride(dims, strides []int, axes []int) (int, bool) {
	var kept []int
	for _, a := range axes {
		if dims[a] != 1 {
			kept = append(kept, a)
		}
	}
	if len(kept) == 0 {
		return 0, true
	}
	for i := 0; i+1 < len(kept); i++ {
		if strides[kept[i]] != strides[kept[i+1]]*dims[kept[i+1]] {
			return 0, false
		}
	}
	return strides[kept[len(kept)-1]], true
}
