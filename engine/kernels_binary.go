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
// runs along which the broadcast operand stays constant (e.g. [N,1,1,1]). Short runs that
// reuse the same slice of the broadcast operand are done against a tile of it repeated,
// the output reuses the full operand's buffer when the executor owns it, and large
// outputs are cut along their first axis over the workers. Same-shape and scalar
// operands, other dtypes and other layouts go to simplego's executors (or, for large
// same-shape ones, to kernels_elementwise.go).

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
		// Not counted: opKernelCalls of these op types count the parallel elementwise
		// kernel (kernels_elementwise.go) that wraps this one.
		overrideExecutor(opType, false, func(workers int, backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (*simplego.Buffer, bool, error) {
			return execBroadcastBinary(op, workers, backend, node, inputs, owned)
		})
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
// otherwise (nothing was done). The full operand's buffer becomes the output when the
// executor owns it (as simplego's binary ops do).
func execBroadcastBinary(op binaryOp, workers int, backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (out *simplego.Buffer, handled bool, err error) {
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
	big := 1
	if bigIsLeft {
		big = 0
	}
	var reuse *simplego.Buffer
	if owned[big] {
		reuse = inputs[big]
	}
	switch l := bufferFlat(inputs[0]).(type) {
	case []float32:
		out, err = runBroadcastBinary(op, workers, backend, outShape, small, l, bufferFlat(inputs[1]).([]float32), bigIsLeft, plan, reuse)
	case []float64:
		out, err = runBroadcastBinary(op, workers, backend, outShape, small, l, bufferFlat(inputs[1]).([]float64), bigIsLeft, plan, reuse)
	default:
		return nil, false, nil
	}
	if err == nil && out == reuse {
		inputs[big] = nil // tells simplego the buffer was taken over
	}
	return out, true, err
}

// runBroadcastBinary computes op into a new buffer, or in place into reuse (the full
// operand's buffer) if not nil. Outputs of parallelElementwiseMin elements or more are
// cut along their first axis into parts computed by the workers (kernels_elementwise.go).
func runBroadcastBinary[T float](op binaryOp, workers int, backend *simplego.Backend, outShape, smallShape shapes.Shape, l, r []T, bigIsLeft bool, p broadcastPlan, reuse *simplego.Buffer) (*simplego.Buffer, error) {
	out := reuse
	if out == nil {
		var err error
		if out, err = newOutputBuffer(backend, outShape); err != nil {
			return nil, err
		}
	}
	o := bufferFlat(out).([]T)
	big, small := l, r
	if !bigIsLeft {
		big, small = r, l
	}
	od, sd := outShape.Dimensions, smallShape.Dimensions
	if parts := min(2*workers, od[0]); workers > 1 && parts > 1 && len(o) >= parallelElementwiseMin {
		// Part i covers rows [i·n/parts, (i+1)·n/parts) of the first axis.
		inner, smallInner := len(o)/od[0], 0
		if sd[0] == od[0] {
			smallInner = len(small) / sd[0]
		}
		plans := make([]broadcastPlan, parts)
		ok := true
		for i := range plans {
			rows := (i+1)*od[0]/parts - i*od[0]/parts
			partOut := shapes.Make(outShape.DType, append([]int{rows}, od[1:]...)...)
			partSmall := smallShape.Clone()
			if smallInner > 0 {
				partSmall.Dimensions[0] = rows
			}
			if plans[i], ok = planBroadcast(partSmall, partOut); !ok {
				break
			}
		}
		if ok {
			parallelSplits.Add(1)
			parallelFor(parts, workers, func(i int) {
				a0, a1 := i*od[0]/parts, (i+1)*od[0]/parts
				broadcastLoop(op, o[a0*inner:a1*inner], big[a0*inner:a1*inner], small[a0*smallInner:], bigIsLeft, plans[i])
			})
			return out, nil
		}
	}
	broadcastLoop(op, o, big, small, bigIsLeft, p)
	return out, nil
}

// broadcastLoop computes o = big op small (swapped when the full operand is on the
// right) following plan p.
func broadcastLoop[T float](op binaryOp, o, big, small []T, bigIsLeft bool, p broadcastPlan) {
	// The runs along the trailing outer axes on which small is constant (stride 0, e.g.
	// N·H·W runs of C for [1,1,1,C]) form groups that share one slice of small. Short
	// advancing runs are processed against a tile of that slice repeated (one call per
	// ≈tileElems elements instead of one per run: 1.6× on BN's Mul by [1,1,1,16]); a
	// constant operand covers its whole group in one call.
	k, g := len(p.outer), 1
	for k > 0 && p.bStride[k-1] == 0 {
		k--
		g *= p.outer[k]
	}
	outer, bStride := p.outer[:k], p.bStride[:k]
	group := g * p.run
	m := 0 // runs per tile; 0: no tiling
	if p.advance && p.run < tileElems/8 {
		if m = min(tileElems/p.run, g/4); m < 2 {
			m = 0
		}
	}
	var tileBuf [tileElems]T // on the stack
	var tile []T
	tileOff := -1
	idx := make([]int, k)
	bOff := 0
	for start := 0; start < len(o); start += group {
		dst, x := o[start:start+group], big[start:start+group]
		switch {
		case !p.advance:
			binaryRunScalar(op, dst, x, small[bOff], bigIsLeft)
		case m > 0:
			if tileOff != bOff {
				tile = tileBuf[:m*p.run]
				copy(tile, small[bOff:bOff+p.run])
				replicate(tile, p.run)
				tileOff = bOff
			}
			for s := 0; s < group; s += len(tile) {
				e := min(group, s+len(tile))
				binaryRun(op, dst[s:e], x[s:e], tile[:e-s], bigIsLeft)
			}
		default:
			for s := 0; s < group; s += p.run {
				binaryRun(op, dst[s:s+p.run], x[s:s+p.run], small[bOff:bOff+p.run], bigIsLeft)
			}
		}
		for a := len(idx) - 1; a >= 0; a-- {
			idx[a]++
			bOff += bStride[a]
			if idx[a] < outer[a] {
				break
			}
			bOff -= idx[a] * bStride[a]
			idx[a] = 0
		}
	}
}

// tileElems is the length of the repeated tile of a short broadcast run.
const tileElems = 2048

// binaryRun computes dst = x op y (x the full operand; swapped when the full operand is
// on the right).
func binaryRun[T float](op binaryOp, dst, x, y []T, xIsLeft bool) {
	y = y[:len(x)]
	dst = dst[:len(x)]
	// The vector kernels first (vec.go), in the Go loops' operand order.
	a, b := x, y
	if !xIsLeft && (op == opSub || op == opDiv) {
		a, b = y, x
	}
	if n := vecBinary(op, dst, a, b); n > 0 {
		dst, x, y = dst[n:], x[n:], y[n:]
	}
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
