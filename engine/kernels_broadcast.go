package engine

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
)

// BroadcastInDim. GoMLX's gradients broadcast per-channel vectors ([1,1,1,C] → [N,H,W,C]:
// batch norm's γ, 1/σ and their adjoints) and scalars (zeros for the ReLU gradient's
// selects) to full activations with explicit BroadcastInDim ops; simplego fills the output
// one element at a time through a multi-axis index iterator (≈4% of the benchmark step's
// op time). This executor writes the same values with block copies: the operand's axes
// are laid over the output's (size-1 axes dropped, neighbouring axes of the same kind
// merged); along a broadcast axis the first slice is built and then replicated by copies
// of doubling length, along a matching axis the slices are built one by one, and the
// innermost matching run is one copy. The result is bit-identical (it only copies).
// Float32 and float64; other dtypes and broadcast axes that are not increasing (simplego's
// iterator assumes they are) go to simplego's executor.

// installBroadcastKernels replaces the BroadcastInDim executor (from installKernels).
func installBroadcastKernels() {
	overrideExecutor(backends.OpTypeBroadcastInDim, true, func(_ int, backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, _ []bool) (*simplego.Buffer, bool, error) {
		return execBroadcastInDim(backend, node, inputs)
	})
}

// axisRun is a run of neighbouring axes merged into one: its total size and whether the
// run is broadcast (BroadcastInDim) or reduced (Reduce*).
type axisRun struct {
	dim  int
	flag bool
}

// mergeAxes drops size-1 axes and merges neighbouring axes with the same flag.
func mergeAxes(dims []int, flags []bool) []axisRun {
	var runs []axisRun
	for i, d := range dims {
		switch {
		case d == 1:
		case len(runs) > 0 && runs[len(runs)-1].flag == flags[i]:
			runs[len(runs)-1].dim *= d
		default:
			runs = append(runs, axisRun{d, flags[i]})
		}
	}
	return runs
}

// execBroadcastInDim runs BroadcastInDim if it is a case it handles; handled is false
// otherwise (nothing was done).
func execBroadcastInDim(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer) (out *simplego.Buffer, handled bool, err error) {
	outShape := nodeShape(node)
	inShape := bufferShape(inputs[0])
	axes, ok := nodeData(node).([]int)
	if !ok || len(axes) != inShape.Rank() || !slices.IsSorted(axes) || outShape.DType != inShape.DType {
		return nil, false, nil
	}
	// The operand's dimensions laid over the output's axes (1 elsewhere).
	od := outShape.Dimensions
	broadcast := make([]bool, len(od))
	for i := range broadcast {
		broadcast[i] = true
	}
	for inAxis, outAxis := range axes {
		if outAxis < 0 || outAxis >= len(od) || inAxis > 0 && axes[inAxis-1] == outAxis {
			return nil, false, nil
		}
		switch inShape.Dimensions[inAxis] {
		case od[outAxis]:
			broadcast[outAxis] = false
		case 1:
		default:
			return nil, false, nil
		}
	}
	runs := mergeAxes(od, broadcast)
	defer recoverToError("BroadcastInDim", &err)
	switch in := bufferFlat(inputs[0]).(type) {
	case []float32:
		out, err = runBroadcastInDim(backend, node, in, runs)
	case []float64:
		out, err = runBroadcastInDim(backend, node, in, runs)
	default:
		return nil, false, nil
	}
	return out, true, err
}

func runBroadcastInDim[T float](backend *simplego.Backend, node *simplego.Node, in []T, runs []axisRun) (*simplego.Buffer, error) {
	out, err := newOutputBuffer(backend, nodeShape(node))
	if err != nil {
		return nil, err
	}
	o := bufferFlat(out).([]T)
	if len(o) > 0 {
		broadcastFill(o, in, runs)
	}
	return out, nil
}

// broadcastFill writes into o (the output block spanned by runs) the operand block in.
func broadcastFill[T float](o, in []T, runs []axisRun) {
	if len(runs) == 0 { // a single element
		o[0] = in[0]
		return
	}
	r, rest := runs[0], runs[1:]
	inner := len(o) / r.dim
	if r.flag {
		if len(rest) == 0 {
			o[0] = in[0]
		} else {
			broadcastFill(o[:inner], in, rest)
		}
		replicate(o, inner)
		return
	}
	if len(rest) == 0 {
		copy(o, in[:len(o)])
		return
	}
	innerIn := len(in) / r.dim
	for i := range r.dim {
		broadcastFill(o[i*inner:(i+1)*inner], in[i*innerIn:(i+1)*innerIn], rest)
	}
}

// replicate fills o with copies of its first n elements (len(o) a multiple of n), copying
// blocks of doubling length.
func replicate[T any](o []T, n int) {
	for n < len(o) {
		n += copy(o[n:], o[:n])
	}
}

// fill sets every element of dst to v.
func fill[T any](dst []T, v T) {
	if len(dst) > 0 {
		dst[0] = v
		replicate(dst, 1)
	}
}

// expand returns v repeated n times.
func expand[T any](v T, n int) []T {
	s := make([]T, n)
	fill(s, v)
	return s
}
