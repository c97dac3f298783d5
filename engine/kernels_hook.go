package engine

import (
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// simplego executes every op of a compiled graph through a package-level table of executors
// (nodeExecutors, indexed by op type) that it fills from init functions; it exports no way
// to add or replace one, and a wrapper builder can only emit simplego's own ops. The fast
// kernels of this package (kernels_*.go) therefore replace the executors of DotGeneral,
// ConvGeneral and the broadcasting Add/Sub/Mul/Div in that table, reached with go:linkname, and read the few unexported fields
// they need (a buffer's shape and flat data, a node's shape and parameters) at offsets
// looked up by reflection once at start-up. Everything is checked before it is used: if
// GoMLX's layout differs from what this file expects (another GoMLX version), the hooks are
// not installed, KernelsStatus says why, and simplego's own executors run unchanged.
// The fusion pass (fusion.go) also rewrites two fields of a node (its inputs and data)
// before simplego compiles the graph.
//
// The replacement executors act only for backends created by NewPureGo with fast kernels
// on (the default; "goacl:kernels=simplego" turns them off): for any other simplego backend
// (GOMLX_BACKEND=go) and for the cases they do not handle they call simplego's original
// executor. What a supported extension point would need from GoMLX is written down in
// docs/performance.md.

// simplegoExecutor is simplego's nodeExecutor type.
type simplegoExecutor func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error)

//go:linkname simplegoNodeExecutors github.com/gomlx/gomlx/backends/simplego.nodeExecutors
var simplegoNodeExecutors [backends.OpTypeLast]simplegoExecutor

//go:linkname simplegoGetBufferForShape github.com/gomlx/gomlx/backends/simplego.(*Backend).getBufferForShape
func simplegoGetBufferForShape(b *simplego.Backend, shape shapes.Shape) *simplego.Buffer

// Field offsets and indices found by reflection in installKernels.
var (
	bufferShapeOff, bufferFlatOff uintptr // simplego.Buffer.shape, .flat
	nodeShapeOff, nodeDataOff     uintptr // simplego.Node.shape, .data
	// Read and rewritten by the fusion pass (fusion.go).
	nodeInputsOff, nodeOpTypeOff, nodeIdxOff uintptr // simplego.Node.inputs, .opType, .builderIdx
	builderNodesOff                          uintptr // simplego.Builder.nodes
)

var (
	kernelsOnce    sync.Once
	kernelsErr     error
	origDotGeneral simplegoExecutor
	origConv       simplegoExecutor
	// fastBackends holds the inner simplego backends of PureGo backends with fast
	// kernels on, mapped to their worker count.
	fastBackends sync.Map // *simplego.Backend -> int
)

// KernelsStatus reports whether the fast pure-Go kernels (GEMM-based DotGeneral and
// ConvGeneral) are installed in simplego, or why not.
func KernelsStatus() error {
	installKernels()
	return kernelsErr
}

// installKernels checks simplego's layout and replaces the DotGeneral and ConvGeneral
// executors once.
func installKernels() {
	kernelsOnce.Do(func() {
		if err := findLayout(); err != nil {
			kernelsErr = fmt.Errorf("engine: fast kernels disabled, GoMLX's simplego layout is not the expected one (v0.26.0): %w", err)
			return
		}
		origDotGeneral = simplegoNodeExecutors[backends.OpTypeDotGeneral]
		origConv = simplegoNodeExecutors[backends.OpTypeConvGeneral]
		if origDotGeneral == nil || origConv == nil {
			kernelsErr = fmt.Errorf("engine: fast kernels disabled: simplego has no DotGeneral/ConvGeneral executor registered")
			return
		}
		simplegoNodeExecutors[backends.OpTypeDotGeneral] = execDotGeneralFast
		simplegoNodeExecutors[backends.OpTypeConvGeneral] = execConvGeneralFast
		installBinaryKernels()
		installOpKernels()
		installFusionKernels()
	})
}

// findLayout records the offsets of the unexported fields used here, checking their types.
func findLayout() error {
	field := func(t reflect.Type, name string, want reflect.Type) (reflect.StructField, error) {
		f, ok := t.FieldByName(name)
		if !ok {
			return f, fmt.Errorf("%s has no field %q", t, name)
		}
		if want != nil && f.Type != want {
			return f, fmt.Errorf("%s.%s has type %s, want %s", t, name, f.Type, want)
		}
		return f, nil
	}
	anyType := reflect.TypeOf((*any)(nil)).Elem()
	shapeType := reflect.TypeOf(shapes.Shape{})
	bt := reflect.TypeOf(simplego.Buffer{})
	f, err := field(bt, "shape", shapeType)
	if err != nil {
		return err
	}
	bufferShapeOff = f.Offset
	if f, err = field(bt, "flat", anyType); err != nil {
		return err
	}
	bufferFlatOff = f.Offset
	nt := reflect.TypeOf(simplego.Node{})
	if f, err = field(nt, "shape", shapeType); err != nil {
		return err
	}
	nodeShapeOff = f.Offset
	if f, err = field(nt, "data", anyType); err != nil {
		return err
	}
	nodeDataOff = f.Offset
	if f, err = field(nt, "inputs", reflect.TypeOf([]*simplego.Node(nil))); err != nil {
		return err
	}
	nodeInputsOff = f.Offset
	if f, err = field(nt, "opType", reflect.TypeOf(backends.OpType(0))); err != nil {
		return err
	}
	nodeOpTypeOff = f.Offset
	if f, err = field(nt, "builderIdx", reflect.TypeOf(0)); err != nil {
		return err
	}
	nodeIdxOff = f.Offset
	if f, err = field(reflect.TypeOf(simplego.Builder{}), "nodes", reflect.TypeOf([]*simplego.Node(nil))); err != nil {
		return err
	}
	builderNodesOff = f.Offset
	return probeParams()
}

// probeParams builds a DotGeneral and a ConvGeneral with a throw-away simplego builder and
// checks the fields of their parameter structs.
func probeParams() (err error) {
	defer recoverToError("probe", &err)
	be, err := simplego.New("")
	if err != nil {
		return err
	}
	defer be.Finalize()
	b := be.Builder("goacl_probe").(*simplego.Builder)
	f32 := func(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
	lhs, err := b.Parameter("lhs", f32(2, 3), nil)
	if err != nil {
		return err
	}
	rhs, err := b.Parameter("rhs", f32(3, 4), nil)
	if err != nil {
		return err
	}
	dot, err := b.DotGeneral(lhs, []int{1}, nil, rhs, []int{0}, nil)
	if err != nil {
		return err
	}
	// DotGeneral returns a Reshape of the normalized [batch, lhsCross, rhsCross] node.
	inputs := *nodeInputs(dot.(*simplego.Node))
	if len(inputs) != 1 {
		return fmt.Errorf("DotGeneral's result has %d inputs, want 1 (the normalized dot)", len(inputs))
	}
	dotData := reflect.TypeOf(nodeData(inputs[0]))
	if dotData == nil || dotData.Kind() != reflect.Pointer || dotData.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("DotGeneral node data is %v, want a pointer to a struct", dotData)
	}
	intT, intsT := reflect.TypeOf(0), reflect.TypeOf([]int(nil))
	if err := checkFields(dotData.Elem(), map[string]reflect.Type{
		"lhsContractingAxes": intsT, "lhsBatchAxes": intsT, "rhsContractingAxes": intsT, "rhsBatchAxes": intsT,
		"batchSize": intT, "lhsCrossSize": intT, "rhsCrossSize": intT, "contractingSize": intT,
	}); err != nil {
		return err
	}
	if s := nodeShape(inputs[0]); !s.Equal(f32(1, 2, 4)) {
		return fmt.Errorf("normalized DotGeneral shape %s, want (Float32)[1 2 4]", s)
	}
	x, err := b.Parameter("x", f32(1, 5, 5, 2), nil)
	if err != nil {
		return err
	}
	k, err := b.Parameter("k", f32(3, 3, 2, 4), nil)
	if err != nil {
		return err
	}
	axes := backends.ConvolveAxesConfig{InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
		KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
		OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2}}
	conv, err := b.ConvGeneral(x, k, axes, []int{1, 1}, [][2]int{{1, 1}, {1, 1}}, []int{1, 1}, []int{1, 1}, 1, 1)
	if err != nil {
		return err
	}
	convData := reflect.TypeOf(nodeData(conv.(*simplego.Node)))
	if convData == nil || convData.Kind() != reflect.Pointer || convData.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("ConvGeneral node data is %v, want a pointer to a struct", convData)
	}
	return checkFields(convData.Elem(), map[string]reflect.Type{
		"axes": reflect.TypeOf(backends.ConvolveAxesConfig{}), "strides": intsT,
		"paddings": reflect.TypeOf([][2]int(nil)), "inputDilations": intsT, "kernelDilations": intsT,
		"channelGroupCount": intT, "batchGroupCount": intT,
	})
}

func bufferShape(b *simplego.Buffer) shapes.Shape {
	return *(*shapes.Shape)(unsafe.Add(unsafe.Pointer(b), bufferShapeOff))
}

func bufferFlat(b *simplego.Buffer) any {
	return *(*any)(unsafe.Add(unsafe.Pointer(b), bufferFlatOff))
}

func nodeShape(n *simplego.Node) shapes.Shape {
	return *(*shapes.Shape)(unsafe.Add(unsafe.Pointer(n), nodeShapeOff))
}

func nodeData(n *simplego.Node) any {
	return *nodeDataPtr(n)
}

func nodeDataPtr(n *simplego.Node) *any {
	return (*any)(unsafe.Add(unsafe.Pointer(n), nodeDataOff))
}

// nodeInputs, nodeOpType and nodeIndex read a node's inputs, op type and index in its
// builder; builderNodes reads a builder's nodes (in creation order, a topological order).
func nodeInputs(n *simplego.Node) *[]*simplego.Node {
	return (*[]*simplego.Node)(unsafe.Add(unsafe.Pointer(n), nodeInputsOff))
}

func nodeOpType(n *simplego.Node) backends.OpType {
	return *(*backends.OpType)(unsafe.Add(unsafe.Pointer(n), nodeOpTypeOff))
}

func nodeIndex(n *simplego.Node) int {
	return *(*int)(unsafe.Add(unsafe.Pointer(n), nodeIdxOff))
}

func builderNodes(b *simplego.Builder) []*simplego.Node {
	return *(*[]*simplego.Node)(unsafe.Add(unsafe.Pointer(b), builderNodesOff))
}

// newOutputBuffer takes a buffer for shape from the backend's pool (its contents are
// arbitrary).
func newOutputBuffer(b *simplego.Backend, shape shapes.Shape) (*simplego.Buffer, error) {
	buf := simplegoGetBufferForShape(b, shape)
	if buf == nil {
		return nil, fmt.Errorf("engine: no buffer for shape %s (backend finalized?)", shape)
	}
	return buf, nil
}

// enableFastKernels turns the fast kernels on for inner (a PureGo's simplego backend) with
// the given parallelism (simplego's convention: -1 unlimited, 0 none, N workers).
func enableFastKernels(inner *simplego.Backend, parallelism int) error {
	installKernels()
	if kernelsErr != nil {
		return kernelsErr
	}
	workers := runtime.GOMAXPROCS(0)
	switch {
	case parallelism == 0:
		workers = 1
	case parallelism > 0:
		workers = min(parallelism, workers)
	}
	fastBackends.Store(inner, workers)
	return nil
}

// fastWorkers returns the worker count of b and whether b uses the fast kernels.
func fastWorkers(b *simplego.Backend) (int, bool) {
	w, ok := fastBackends.Load(b)
	if !ok {
		return 0, false
	}
	return w.(int), true
}

// recoverToError turns a panic of a kernel into an error naming the op.
func recoverToError(op string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("engine: %s kernel: %v", op, r)
	}
}

// readInt and readInts read unexported int / []int fields of a parameter struct.
func readInt(v reflect.Value, name string) int { return int(v.FieldByName(name).Int()) }

func readInts(v reflect.Value, name string) []int {
	f := v.FieldByName(name)
	if f.IsNil() {
		return nil
	}
	out := make([]int, f.Len())
	for i := range out {
		out[i] = int(f.Index(i).Int())
	}
	return out
}

// checkFields verifies that struct type t has the named fields of the given kinds.
func checkFields(t reflect.Type, fields map[string]reflect.Type) error {
	for name, want := range fields {
		f, ok := t.FieldByName(name)
		if !ok {
			return fmt.Errorf("%s has no field %q", t, name)
		}
		if f.Type != want {
			return fmt.Errorf("%s.%s has type %s, want %s", t, name, f.Type, want)
		}
	}
	return nil
}
