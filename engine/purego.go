package engine

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// PureGoName is the name under which the repaired pure-Go backend is registered
// (GOMLX_BACKEND=goacl, optionally "goacl:parallelism=N,..." with simplego's options).
const PureGoName = "goacl"

func init() {
	backends.Register(PureGoName, NewPureGo)
}

// PureGo is GoMLX's simplego backend with the ops and fixes CNN training needs: Reverse
// and Pad composed from simplego's own ops, ConvGeneral with nil strides/dilations filled
// in, and parallelism=-1 by default (simplego's default parallelism deadlocks when parallel
// ops each run a DotGeneral that waits for the taken workers). With fast kernels on (the
// default) its DotGeneral and ConvGeneral run the blocked GEMM of this package
// (kernels_*.go) instead of simplego's.
type PureGo struct {
	*simplego.Backend
	fastKernels bool
	fusion      bool // fuse elementwise chains when compiling (fusion.go); needs fastKernels
}

var _ backends.Backend = (*PureGo)(nil)

// NewPureGo creates the repaired pure-Go backend. config takes simplego's options
// (comma-separated; parallelism is -1, unlimited, unless one is given, and is set without
// the console line simplego prints for that option) and this
// package's own: "kernels=goacl" (default: the fast GEMM-based DotGeneral and
// ConvGeneral) or "kernels=simplego" (simplego's own executors, for comparison), and
// "fusion=on" (default with the fast kernels: elementwise chains run as one op, see
// fusion.go) or "fusion=off".
func NewPureGo(config string) (backends.Backend, error) {
	var rest []string
	fast, fusion, parallelism := true, true, -1
	for _, part := range strings.Split(config, ",") {
		key, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch key {
		case "":
			continue
		case "kernels":
			switch value {
			case "goacl":
				fast = true
			case "simplego":
				fast = false
			default:
				return nil, fmt.Errorf("engine: %s option kernels=%q: use kernels=goacl (fast, default) or kernels=simplego", PureGoName, value)
			}
			continue
		case "fusion":
			switch value {
			case "on":
				fusion = true
			case "off":
				fusion = false
			default:
				return nil, fmt.Errorf("engine: %s option fusion=%q: use fusion=on (default) or fusion=off", PureGoName, value)
			}
			continue
		case "parallelism":
			n, err := strconv.Atoi(value)
			if err != nil {
				return nil, fmt.Errorf("engine: %s option parallelism=%q: want an integer (-1: unlimited)", PureGoName, value)
			}
			parallelism = n
			continue // set below, without simplego's console message
		}
		rest = append(rest, part)
	}
	inner, err := simplego.New(strings.Join(rest, ","))
	if err != nil {
		return nil, err
	}
	if err := setSimplegoParallelism(inner.(*simplego.Backend), parallelism); err != nil {
		// GoMLX's layout changed: let simplego set it (it prints a line to stdout).
		if inner, err = simplego.New(strings.Join(append(rest, fmt.Sprintf("parallelism=%d", parallelism)), ",")); err != nil {
			return nil, err
		}
	}
	b := &PureGo{Backend: inner.(*simplego.Backend)}
	// If the kernels cannot be installed (another GoMLX version), the backend still works
	// with simplego's executors; KernelsStatus says why.
	b.fastKernels = fast && enableFastKernels(b.Backend, parallelism) == nil
	b.fusion = b.fastKernels && fusion
	return b, nil
}

// FastKernels reports whether b is the repaired pure-Go backend running the fast
// GEMM-based DotGeneral and ConvGeneral kernels.
func FastKernels(b backends.Backend) bool {
	p, ok := b.(*PureGo)
	return ok && p.fastKernels
}

// Name implements backends.Backend.
func (b *PureGo) Name() string { return "goacl pure Go (simplego, repaired)" }

// String implements backends.Backend: the name used in GOMLX_BACKEND.
func (b *PureGo) String() string { return PureGoName }

// Description implements backends.Backend.
func (b *PureGo) Description() string {
	kernels := "simplego's DotGeneral/ConvGeneral"
	if b.fastKernels {
		kernels = "goacl GEMM DotGeneral/ConvGeneral kernels (" + strings.Join(GEMMKernels(), ", ") + ")"
	}
	if b.fusion {
		kernels += ", fused elementwise chains"
	}
	return "GoMLX simplego with Reverse/Pad, ConvGeneral fixes, deadlock-free parallelism and " + kernels
}

// Builder implements backends.Backend, returning the repaired builder.
func (b *PureGo) Builder(name string) backends.Builder {
	return &pureGoBuilder{Builder: b.Backend.Builder(name).(*simplego.Builder), fusion: b.fusion}
}

// pureGoBuilder adds the missing ops to simplego's builder and, with fusion on, fuses
// elementwise chains when compiling. Every op it emits is built with the embedded
// builder's own methods, so the executable is simplego's.
type pureGoBuilder struct {
	*simplego.Builder
	fusion bool
}

// Compile implements backends.Builder: it fuses the graph's elementwise chains
// (fusion.go) and compiles it with simplego.
func (b *pureGoBuilder) Compile(outputs []backends.Op, shardings []*backends.ShardingSpec) (backends.Executable, error) {
	if b.fusion && len(shardings) == 0 {
		fuseElementwise(b.Builder, outputs)
	}
	return b.Builder.Compile(outputs, shardings)
}

// Reverse reverses x along the given axes by concatenating its unit slices in reverse
// order. It is used on kernels (small spatial axes), so the slice count stays small.
func (b *pureGoBuilder) Reverse(x backends.Op, axes ...int) (backends.Op, error) {
	shape, err := b.OpShape(x)
	if err != nil {
		return nil, err
	}
	out := x
	for _, axis := range axes {
		if axis < 0 || axis >= shape.Rank() {
			return nil, fmt.Errorf("Reverse: axis %d out of range for shape %s", axis, shape)
		}
		n := shape.Dimensions[axis]
		if n <= 1 {
			continue
		}
		parts := make([]backends.Op, n)
		for i := 0; i < n; i++ {
			parts[n-1-i], err = b.sliceAxis(out, shape, axis, i, i+1, 1)
			if err != nil {
				return nil, err
			}
		}
		if out, err = b.Concatenate(axis, parts...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Pad implements XLA's Pad (start/end padding, negative start/end cropping, interior
// padding) by composition: interior padding interleaves a block of fill values after
// each element with Reshape + Concatenate and drops the trailing block; start/end
// padding concatenates fill blocks; negative values slice.
func (b *pureGoBuilder) Pad(x, fillValue backends.Op, axesConfig ...backends.PadAxis) (backends.Op, error) {
	shape, err := b.OpShape(x)
	if err != nil {
		return nil, err
	}
	shape = shape.Clone() // OpShape shares the node's dimensions; this one is updated below.
	if len(axesConfig) > shape.Rank() {
		return nil, fmt.Errorf("Pad: %d axes configured for operand of rank %d", len(axesConfig), shape.Rank())
	}
	out := x
	for axis, cfg := range axesConfig {
		if cfg.Interior < 0 {
			return nil, fmt.Errorf("Pad: negative interior padding %d on axis %d", cfg.Interior, axis)
		}
		if cfg.Interior > 0 && shape.Dimensions[axis] > 1 {
			if out, shape, err = b.padInterior(out, shape, fillValue, axis, cfg.Interior); err != nil {
				return nil, err
			}
		}
		if cfg.Start < 0 || cfg.End < 0 {
			start, end := max(-cfg.Start, 0), shape.Dimensions[axis]-max(-cfg.End, 0)
			if start > end {
				return nil, fmt.Errorf("Pad: cropping %d+%d exceeds axis %d of size %d", -cfg.Start, -cfg.End, axis, shape.Dimensions[axis])
			}
			if out, err = b.sliceAxis(out, shape, axis, start, end, 1); err != nil {
				return nil, err
			}
			shape.Dimensions[axis] = end - start
		}
		parts := make([]backends.Op, 0, 3)
		if cfg.Start > 0 {
			fill, err := b.fillBlock(fillValue, shape, axis, cfg.Start)
			if err != nil {
				return nil, err
			}
			parts = append(parts, fill)
		}
		parts = append(parts, out)
		if cfg.End > 0 {
			fill, err := b.fillBlock(fillValue, shape, axis, cfg.End)
			if err != nil {
				return nil, err
			}
			parts = append(parts, fill)
		}
		if len(parts) > 1 {
			if out, err = b.Concatenate(axis, parts...); err != nil {
				return nil, err
			}
			shape.Dimensions[axis] += max(cfg.Start, 0) + max(cfg.End, 0)
		}
	}
	return out, nil
}

// padInterior inserts `interior` fill values between consecutive elements along axis.
func (b *pureGoBuilder) padInterior(x backends.Op, shape shapes.Shape, fillValue backends.Op, axis, interior int) (backends.Op, shapes.Shape, error) {
	n := shape.Dimensions[axis]
	// [..., n, ...] -> [..., n, 1, ...]
	expanded := slices.Insert(slices.Clone(shape.Dimensions), axis+1, 1)
	xe, err := b.Reshape(x, expanded...)
	if err != nil {
		return nil, shape, err
	}
	expShape := shapes.Make(shape.DType, expanded...)
	fill, err := b.fillBlock(fillValue, expShape, axis+1, interior)
	if err != nil {
		return nil, shape, err
	}
	joined, err := b.Concatenate(axis+1, xe, fill) // [..., n, 1+interior, ...]
	if err != nil {
		return nil, shape, err
	}
	flat := slices.Clone(shape.Dimensions)
	flat[axis] = n * (1 + interior)
	joinedFlat, err := b.Reshape(joined, flat...)
	if err != nil {
		return nil, shape, err
	}
	newShape := shapes.Make(shape.DType, flat...)
	keep := n + (n-1)*interior
	out, err := b.sliceAxis(joinedFlat, newShape, axis, 0, keep, 1)
	if err != nil {
		return nil, shape, err
	}
	newShape.Dimensions[axis] = keep
	return out, newShape, nil
}

// fillBlock broadcasts the scalar fillValue to shape with dimension `size` on axis.
func (b *pureGoBuilder) fillBlock(fillValue backends.Op, shape shapes.Shape, axis, size int) (backends.Op, error) {
	dims := slices.Clone(shape.Dimensions)
	dims[axis] = size
	return b.BroadcastInDim(fillValue, shapes.Make(shape.DType, dims...), nil)
}

// sliceAxis slices [start, end) with stride along one axis, keeping the others whole.
func (b *pureGoBuilder) sliceAxis(x backends.Op, shape shapes.Shape, axis, start, end, stride int) (backends.Op, error) {
	rank := shape.Rank()
	starts, limits, strides := make([]int, rank), slices.Clone(shape.Dimensions), make([]int, rank)
	for i := range strides {
		strides[i] = 1
	}
	starts[axis], limits[axis], strides[axis] = start, end, stride
	return b.Slice(x, starts, limits, strides)
}

// ConvGeneral fills the nil strides and kernel dilations that GoMLX's convolution
// gradient passes (simplego rejects stride 0 and indexes the dilations) and delegates.
func (b *pureGoBuilder) ConvGeneral(input, kernel backends.Op, axes backends.ConvolveAxesConfig,
	strides []int, paddings [][2]int, inputDilations, kernelDilations []int,
	channelGroupCount, batchGroupCount int) (backends.Op, error) {
	n := len(axes.InputSpatial)
	strides = onesIfEmpty(strides, n)
	inputDilations = onesIfEmpty(inputDilations, n)
	kernelDilations = onesIfEmpty(kernelDilations, n)
	if len(paddings) == 0 {
		paddings = make([][2]int, n)
	}
	return b.Builder.ConvGeneral(input, kernel, axes, strides, paddings, inputDilations, kernelDilations,
		channelGroupCount, batchGroupCount)
}

func onesIfEmpty(v []int, n int) []int {
	if len(v) != 0 {
		return v
	}
	ones := make([]int, n)
	for i := range ones {
		ones[i] = 1
	}
	return ones
}

// setSimplegoParallelism sets simplego's worker limit (its "parallelism" option: -1
// unlimited, 0 none, N workers) the way the option does, by assigning the worker pool's
// maxParallelism before any work runs, but without the "SimpleGo backend: parallelism set
// to N" line simplego's option parser prints to stdout for every backend created (it
// reached users' consoles and notebooks). It returns an error, and changes nothing, if
// GoMLX's struct layout is not the one of v0.26.0.
func setSimplegoParallelism(b *simplego.Backend, n int) error {
	pool := reflect.ValueOf(b).Elem().FieldByName("workers")
	if !pool.IsValid() || pool.Kind() != reflect.Struct {
		return fmt.Errorf("engine: simplego.Backend has no workers pool (GoMLX layout changed?)")
	}
	f := pool.FieldByName("maxParallelism")
	if !f.IsValid() || f.Kind() != reflect.Int {
		return fmt.Errorf("engine: simplego's workers pool has no int maxParallelism (GoMLX layout changed?)")
	}
	*(*int)(unsafe.Pointer(f.UnsafeAddr())) = n
	return nil
}
