package engine

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// The executor of fused nodes (fusion.go). A fused program is evaluated fusedChunk
// elements at a time: for each chunk, the broadcast leaves are gathered into scratch
// slices, then every step runs over the chunk, reading leaves in place and earlier steps
// from scratch, and the last step writes the output. Each step computes its elements
// exactly as simplego's executor of that op does (same float32 expression, same
// comparison, same select), so fused and unfused graphs give the same bits. Outputs of
// fusedParallelMin elements or more are cut into blocks of chunks run by the workers.

// fusedChunk is the number of elements evaluated per step at a time: 4 KiB per float32
// intermediate, so a chain's intermediates stay in the L1 cache.
const fusedChunk = 1024

// fusedParallelMin is the output size from which a fused node is split over the workers.
var fusedParallelMin = 1 << 15

// fusedCalls counts the fused nodes executed, for the tests.
var fusedCalls atomic.Int64

// installFusionKernels wraps the executors of the fusible op types (from installKernels,
// last, so that the check for a fused node comes first): a node whose data is a
// fusedProgram runs the program; every other node goes to the executor installed before.
func installFusionKernels() {
	for op := range fusibleOps {
		prev := simplegoNodeExecutors[op]
		simplegoNodeExecutors[op] = func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (*simplego.Buffer, error) {
			if p, ok := nodeData(node).(*fusedProgram); ok {
				return execFused(p, backend, node, inputs, owned)
			}
			if prev == nil {
				return nil, fmt.Errorf("engine: no executor for %s", nodeOpType(node))
			}
			return prev(backend, node, inputs, owned)
		}
	}
}

// fusedScratch holds one worker's chunk-sized slices: one per step (the last step's is
// unused: it writes the output) and one per leaf that is not read in place.
type fusedScratch struct {
	f [][]float32
	b [][]bool
}

// scratch returns a fusedScratch for p, from p's pool (give it back with p.pool.Put).
func (p *fusedProgram) scratch() *fusedScratch {
	if sc, ok := p.pool.Get().(*fusedScratch); ok {
		return sc
	}
	n := len(p.steps) + len(p.leaves)
	sc := &fusedScratch{f: make([][]float32, n), b: make([][]bool, n)}
	for s, st := range p.steps[:len(p.steps)-1] {
		if st.bool {
			sc.b[s] = make([]bool, fusedChunk)
		} else {
			sc.f[s] = make([]float32, fusedChunk)
		}
	}
	for l, lf := range p.leaves {
		switch {
		case lf.kind == leafFull:
		case lf.dtype == dtypes.Bool:
			sc.b[len(p.steps)+l] = make([]bool, fusedChunk)
		default:
			sc.f[len(p.steps)+l] = make([]float32, fusedChunk)
		}
	}
	return sc
}

// execFused runs p for node. The output reuses an owned leaf of its shape and dtype
// when there is one (each element is read before it is written).
func execFused(p *fusedProgram, backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (out *simplego.Buffer, err error) {
	defer recoverToError("fused elementwise", &err)
	if len(inputs) != len(p.leaves) {
		return nil, fmt.Errorf("engine: fused %s node has %d inputs, its program %d leaves", nodeOpType(node), len(inputs), len(p.leaves))
	}
	shape := nodeShape(node)
	f32 := make([][]float32, len(inputs))
	bools := make([][]bool, len(inputs))
	reuse := -1
	for i, in := range inputs {
		switch v := bufferFlat(in).(type) {
		case []float32:
			f32[i] = v
		case []bool:
			bools[i] = v
		default:
			return nil, fmt.Errorf("engine: fused %s node: input %d is %s", nodeOpType(node), i, bufferShape(in).DType)
		}
		if reuse < 0 && owned[i] && p.leaves[i].kind == leafFull && p.leaves[i].dtype == shape.DType {
			reuse = i
		}
	}
	if reuse >= 0 {
		out = inputs[reuse]
	} else if out, err = newOutputBuffer(backend, shape); err != nil {
		return nil, err
	}
	outF, _ := bufferFlat(out).([]float32)
	outB, _ := bufferFlat(out).([]bool)
	n := shape.Size()
	chunks := ceilDiv(n, fusedChunk)
	workers, _ := fastWorkers(backend)
	blocks := 1
	if workers > 1 && n >= fusedParallelMin {
		blocks = min(chunks, 4*workers)
	}
	per := ceilDiv(chunks, blocks)
	parallelFor(blocks, workers, func(b int) {
		sc := p.scratch()
		p.fillConstant(sc, f32, bools)
		for c := b * per; c < min(chunks, (b+1)*per); c++ {
			lo := c * fusedChunk
			p.runChunk(lo, min(n, lo+fusedChunk), f32, bools, sc, outF, outB)
		}
		p.pool.Put(sc)
	})
	if reuse >= 0 {
		inputs[reuse] = nil // tells simplego the buffer was taken over
	}
	fusedCalls.Add(1)
	return out, nil
}

// fillConstant fills the scratch slices of the leaves that are the same in every chunk:
// scalars (their value repeated) and periodic broadcasts (their values for chunk 0).
func (p *fusedProgram) fillConstant(sc *fusedScratch, f32 [][]float32, bools [][]bool) {
	for l, lf := range p.leaves {
		i := len(p.steps) + l
		switch {
		case lf.kind == leafScalar && lf.dtype == dtypes.Bool:
			fill(sc.b[i], bools[l][0])
		case lf.kind == leafScalar:
			fill(sc.f[i], f32[l][0])
		case lf.periodic && lf.dtype == dtypes.Bool:
			gatherBroadcast(sc.b[i], bools[l], lf.plan, 0)
		case lf.periodic:
			gatherBroadcast(sc.f[i], f32[l], lf.plan, 0)
		}
	}
}

// gatherBroadcast writes into dst the values of the broadcast operand src (laid out by
// plan) for the output elements [lo, lo+len(dst)).
func gatherBroadcast[T any](dst, src []T, plan broadcastPlan, lo int) {
	r, w := lo/plan.run, lo%plan.run
	for i := 0; i < len(dst); r, w = r+1, 0 {
		off, q := 0, r
		for a := len(plan.outer) - 1; a >= 0; a-- {
			off += q % plan.outer[a] * plan.bStride[a]
			q /= plan.outer[a]
		}
		seg := min(plan.run-w, len(dst)-i)
		if plan.advance {
			copy(dst[i:i+seg], src[off+w:])
		} else {
			fill(dst[i:i+seg], src[off])
		}
		i += seg
	}
}

// chunkArg returns the chunk [lo, hi) of operand a: an earlier step (a ≥ 0) from scratch,
// or leaf −1−a, read in place when it has the output's shape. leaves and scratch are the
// float32 or the Bool ones.
func chunkArg[T any](p *fusedProgram, a, lo, hi int, leaves, scratch [][]T) []T {
	if a >= 0 {
		return scratch[a][:hi-lo]
	}
	if l := -1 - a; p.leaves[l].kind == leafFull {
		return leaves[l][lo:hi]
	} else {
		return scratch[len(p.steps)+l][:hi-lo]
	}
}

// runChunk evaluates every step for the output elements [lo, hi).
func (p *fusedProgram) runChunk(lo, hi int, f32 [][]float32, bools [][]bool, sc *fusedScratch, outF []float32, outB []bool) {
	m := hi - lo
	for l, lf := range p.leaves {
		if lf.kind != leafBroadcast || lf.periodic {
			continue
		}
		if lf.dtype == dtypes.Bool {
			gatherBroadcast(sc.b[len(p.steps)+l][:m], bools[l], lf.plan, lo)
		} else {
			gatherBroadcast(sc.f[len(p.steps)+l][:m], f32[l], lf.plan, lo)
		}
	}
	last := len(p.steps) - 1
	for s, st := range p.steps {
		var df []float32
		var db []bool
		switch {
		case s == last && st.bool:
			db = outB[lo:hi]
		case s == last:
			df = outF[lo:hi]
		case st.bool:
			db = sc.b[s][:m]
		default:
			df = sc.f[s][:m]
		}
		x := func(k int) []float32 { return chunkArg(p, st.args[k], lo, hi, f32, sc.f) }
		switch st.op {
		case backends.OpTypeWhere:
			selectBits(chunkArg(p, st.args[0], lo, hi, bools, sc.b), floatBits[uint32](x(1)), floatBits[uint32](x(2)), floatBits[uint32](df))
		case backends.OpTypeAdd, backends.OpTypeSub, backends.OpTypeMul, backends.OpTypeDiv:
			binaryRun(binaryOpTypes[st.op], df, x(0), x(1), true)
		case backends.OpTypeMax, backends.OpTypeMin, backends.OpTypeNeg, backends.OpTypeAbs,
			backends.OpTypeSign, backends.OpTypeSqrt, backends.OpTypeExp, backends.OpTypeLog:
			var y []float32
			if len(st.args) > 1 {
				y = x(1)
			}
			floatOpRun(st.op, df, x(0), y)
		default:
			compareRun(st.op, db, x(0), x(1))
		}
	}
}

// floatOpRun computes dst = op(a) or op(a, b) for the float ops other than
// Add/Sub/Mul/Div, as simplego computes each element.
func floatOpRun(op backends.OpType, dst, a, b []float32) {
	dst = dst[:len(a)]
	switch op {
	case backends.OpTypeMax:
		b = b[:len(a)]
		for i, v := range a {
			dst[i] = max(v, b[i])
		}
	case backends.OpTypeMin:
		b = b[:len(a)]
		for i, v := range a {
			dst[i] = min(v, b[i])
		}
	case backends.OpTypeNeg:
		for i, v := range a {
			dst[i] = -v
		}
	case backends.OpTypeAbs:
		for i, v := range a {
			if v < 0 {
				v = -v
			}
			dst[i] = v
		}
	case backends.OpTypeSign:
		for i, v := range a {
			switch {
			case v < 0:
				dst[i] = -1
			case v > 0:
				dst[i] = 1
			default:
				dst[i] = 0
			}
		}
	case backends.OpTypeSqrt:
		for i, v := range a {
			dst[i] = float32(math.Sqrt(float64(v)))
		}
	case backends.OpTypeExp:
		for i, v := range a {
			dst[i] = float32(math.Exp(float64(v)))
		}
	case backends.OpTypeLog:
		for i, v := range a {
			dst[i] = float32(math.Log(float64(v)))
		}
	default:
		panic(fmt.Sprintf("fused float op %s", op))
	}
}
