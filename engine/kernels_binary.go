package engine

import (
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Broadcasting Add/Sub/Mul/Div. simplego runs a binary op whose operands differ in shape
// (batch norm's x − mean[1,1,1,C], ·γ, +β, /√var, and their gradients) through a
// per-element multi-axis index iterator (≈6% of the benchmark step). When one operand
// has the output's shape and the other only has size-1 axes where the output is larger,
// these executors walk the output in contiguous runs instead: either runs along which
// both operands advance (the broadcast operand restarts at each run, e.g. [1,1,1,C]), or
// runs along which the broadcast operand stays constant (e.g. [N,1,1,1]). Same-shape and
// scalar operands, other dtypes and other layouts go to simplego's executors, which
// handle them well or generally.

type binaryOp int

// (dotgrad.go's iota helper shadows the builtin in this package.)
const (
	opAdd binaryOp = 0
	opSub binaryOp = 1
	opMul binaryOp = 2
	opDiv binaryOp = 3
)

var binaryOpTypes = map[backends.OpType]binaryOp{
	backends.OpTypeAdd: opAdd, backends.OpTypeSub: opSub, backends.OpTypeMul: opMul, backends.OpTypeDiv: opDiv,
}

// installBinaryKernels replaces the executors of Add, Sub, Mul and Div (from
// installKernels).
func installBinaryKernels() {
	for opType, op := range binaryOpTypes {
		orig := simplegoNodeExecutors[opType]
		if orig == nil {
			continue
		}
		simplegoNodeExecutors[opType] = func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (out *simplego.Buffer, err error) {
			if _, ok := fastWorkers(backend); ok {
				if out, handled, err := execBroadcastBinary(op, backend, node, inputs); handled {
					return out, err
				}
			}
			return orig(backend, node, inputs, owned)
		}
	}
}

// broadcastPlan describes how a broadcast operand b (of the output's rank) meets the
// output: the output is a sequence of runs of length run; for run r the broadcast
// operand starts at offset bOff(r) and advances along the run (advance) or stays put.
type broadcastPlan struct {
	run     int
	advance bool
	outer   []int // output dims of the axes before the run
	bStride []int // b's strides on those axes (0 where b is broadcast)
}

// planBroadcast returns the plan for b broadcast to out, or false if b is not simply
// broadcast (rank differs, or a size that is neither 1 nor the output's).
func planBroadcast(b, out shapes.Shape) (broadcastPlan, bool) {
	r := out.Rank()
	if b.Rank() != r || r == 0 {
		return broadcastPlan{}, false
	}
	bd, od := b.Dimensions, out.Dimensions
	for i := range r {
		if bd[i] != od[i] && bd[i] != 1 {
			return broadcastPlan{}, false
		}
	}
	// Trailing axes where b matches the output (advance) or is broadcast (constant).
	k := r
	advance := bd[r-1] == od[r-1]
	for k > 0 && (bd[k-1] == od[k-1]) == advance || k > 0 && od[k-1] == 1 {
		k--
	}
	p := broadcastPlan{run: prod(od[k:]), advance: advance, outer: od[:k], bStride: make([]int, k)}
	st := prod(bd[k:])
	if !advance {
		st = 1
	}
	for i := k - 1; i >= 0; i-- {
		if bd[i] != 1 {
			p.bStride[i] = st
		}
		st *= bd[i]
	}
	return p, true
}

// execBroadcastBinary runs op if it is a broadcast it handles; handled is false
// otherwise (nothing was done).
func execBroadcastBinary(op binaryOp, backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer) (out *simplego.Buffer, handled bool, err error) {
	outShape := nodeShape(node)
	ls, rs := bufferShape(inputs[0]), bufferShape(inputs[1])
	if ls.Equal(rs) || ls.Size() == 1 || rs.Size() == 1 || outShape.Size() < 1024 {
		return nil, false, nil
	}
	bigIsLeft := ls.Equal(outShape)
	small := rs
	if !bigIsLeft {
		if !rs.Equal(outShape) {
			return nil, false, nil
		}
		small = ls
	}
	plan, ok := planBroadcast(small, outShape)
	if !ok || plan.run < 4 {
		return nil, false, nil
	}
	defer recoverToError("broadcast binary op", &err)
	switch l := bufferFlat(inputs[0]).(type) {
	case []float32:
		out, err = runBroadcastBinary(op, backend, outShape, l, bufferFlat(inputs[1]).([]float32), bigIsLeft, plan)
	case []float64:
		out, err = runBroadcastBinary(op, backend, outShape, l, bufferFlat(inputs[1]).([]float64), bigIsLeft, plan)
	default:
		return nil, false, nil
	}
	return out, true, err
}

func runBroadcastBinary[T float](op binaryOp, backend *simplego.Backend, outShape shapes.Shape, l, r []T, bigIsLeft bool, p broadcastPlan) (*simplego.Buffer, error) {
	out, err := newOutputBuffer(backend, outShape)
	if err != nil {
		return nil, err
	}
	o := bufferFlat(out).([]T)
	big, small := l, r
	if !bigIsLeft {
		big, small = r, l
	}
	idx := make([]int, len(p.outer))
	bOff := 0
	for start := 0; start < len(o); start += p.run {
		dst, x := o[start:start+p.run], big[start:start+p.run]
		if p.advance {
			binaryRun(op, dst, x, small[bOff:bOff+p.run], bigIsLeft)
		} else {
			binaryRunScalar(op, dst, x, small[bOff], bigIsLeft)
		}
		for a := len(idx) - 1; a >= 0; a-- {
			idx[a]++
			bOff += p.bStride[a]
			if idx[a] < p.outer[a] {
				break
			}
			bOff -= idx[a] * p.bStride[a]
			idx[a] = 0
		}
	}
	return out, nil
}

// binaryRun computes dst = x op y (x the full operand; swapped when the full operand is
// on the right).
func binaryRun[T float](op binaryOp, dst, x, y []T, xIsLeft bool) {
	y = y[:len(x)]
	dst = dst[:len(x)]
	switch {
	case op == opAdd:
		for i, v := range x {
			dst[i] = v + y[i]
		}
	case op == opMul:
		for i, v := range x {
			dst[i] = v * y[i]
		}
	case op == opSub && xIsLeft:
		for i, v := range x {
			dst[i] = v - y[i]
		}
	case op == opSub:
		for i, v := range x {
			dst[i] = y[i] - v
		}
	case op == opDiv && xIsLeft:
		for i, v := range x {
			dst[i] = v / y[i]
		}
	default: // opDiv, full operand on the right
		for i, v := range x {
			dst[i] = y[i] / v
		}
	}
}

// binaryRunScalar computes dst = x op c (or c op x when the full operand is on the right).
func binaryRunScalar[T float](op binaryOp, dst, x []T, c T, xIsLeft bool) {
	dst = dst[:len(x)]
	switch {
	case op == opAdd:
		for i, v := range x {
			dst[i] = v + c
		}
	case op == opMul:
		for i, v := range x {
			dst[i] = v * c
		}
	case op == opSub && xIsLeft:
		for i, v := range x {
			dst[i] = v - c
		}
	case op == opSub:
		for i, v := range x {
			dst[i] = c - v
		}
	case op == opDiv && xIsLeft:
		for i, v := range x {
			dst[i] = v / c
		}
	default:
		for i, v := range x {
			dst[i] = c / v
		}
	}
}
