// Package hlo shows what XLA is given: it records the StableHLO programs that GoMLX's XLA
// backend hands to the PJRT plugin, and takes their census (ops by kind, convolutions by
// kind with their dimension numbers, dot_generals, the largest intermediate tensors, and
// how the largest of them compares with the largest activation).
//
// A Recorder wraps an XLA backend: graphs built on it are recorded when GoMLX compiles
// them, either instead of compiling (CaptureOnly: fast, nothing reaches XLA, for the
// census of large graphs) or as well as compiling (CompileOnly, CompileAndRun: the XLA
// compile time is recorded too). The program is read from go-xla's StableHLO builder, the same object GoMLX
// serialises for the plugin, so the census is of exactly what XLA receives.
package hlo

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/gomlx/go-xla/pkg/stablehlo"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"
)

// ErrNotCompiled is what compiling a graph on a CaptureOnly Recorder returns, after the
// program has been recorded: GoMLX's Exec then fails with it, which the caller expects.
var ErrNotCompiled = errors.New("hlo: program recorded, not compiled (capture-only recorder)")

// ErrNotRun is what compiling a graph on a CompileOnly Recorder returns, after the program
// has been recorded and compiled (and the executable released).
var ErrNotRun = errors.New("hlo: program recorded and compiled, not run (compile-only recorder)")

// Mode says whether a Recorder also compiles, and runs, what it records.
type Mode int

const (
	// CaptureOnly records each program and returns ErrNotCompiled instead of compiling:
	// nothing reaches XLA.
	CaptureOnly Mode = iota
	// CompileOnly records each program, compiles it with XLA (timing the compile), releases
	// the executable and returns ErrNotRun: compile times without running large graphs.
	CompileOnly
	// CompileAndRun records each program and compiles it with XLA, timing the compile, and
	// returns the executable: the graph then runs as on the XLA backend itself.
	CompileAndRun
)

// Program is one recorded StableHLO program.
type Program struct {
	// Name is the GoMLX graph's name.
	Name string
	// Text is the StableHLO module as GoMLX passes it to the plugin.
	Text string
	// Args are the main function's arguments, Ops its top-level operations in program
	// order, and Results the names of the values it returns.
	Args    []Tensor
	Ops     []Op
	Results []string
	// BuildSeconds is the time from the builder's creation to the compile call: GoMLX
	// building the graph (gradients included) and its StableHLO. CompileSeconds is the
	// time XLA took to compile it (0 for CaptureOnly).
	BuildSeconds, CompileSeconds float64
}

// Recorder is a backends.Backend that records the programs of the graphs compiled on it
// and otherwise behaves as the XLA backend it wraps.
type Recorder struct {
	backends.Backend
	mode Mode

	mu       sync.Mutex
	programs []*Program
}

// NewRecorder wraps b, which must be GoMLX's XLA backend (engine.NewWithConfig("xla:cpu")).
func NewRecorder(b backends.Backend, mode Mode) (*Recorder, error) {
	if _, ok := b.(*xla.Backend); !ok {
		return nil, fmt.Errorf("hlo: backend %q is not GoMLX's XLA backend: the census needs GOMLX_BACKEND=xla:cpu (or xla:cuda)", b)
	}
	if err := checkLayout(); err != nil {
		return nil, err
	}
	return &Recorder{Backend: b, mode: mode}, nil
}

// Programs returns the programs recorded so far, in compile order.
func (r *Recorder) Programs() []*Program {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Program(nil), r.programs...)
}

// Last returns the most recently recorded program, or nil.
func (r *Recorder) Last() *Program {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.programs) == 0 {
		return nil
	}
	return r.programs[len(r.programs)-1]
}

// Builder implements backends.Backend: the XLA builder, with Compile recording.
func (r *Recorder) Builder(name string) backends.Builder {
	return &recordingBuilder{Builder: r.Backend.Builder(name), rec: r, name: name, created: time.Now()}
}

type recordingBuilder struct {
	backends.Builder
	rec     *Recorder
	name    string
	created time.Time
}

// Compile records the program, then compiles it (CaptureAndCompile) or returns
// ErrNotCompiled (CaptureOnly).
func (b *recordingBuilder) Compile(outputs []backends.Op, shardings []*backends.ShardingSpec) (backends.Executable, error) {
	xb, ok := b.Builder.(*xla.Builder)
	if !ok {
		return nil, fmt.Errorf("hlo: builder %T is not the XLA builder", b.Builder)
	}
	shlo, fn := builderInternals(xb)
	p := &Program{Name: b.name, BuildSeconds: time.Since(b.created).Seconds()}
	var exe backends.Executable
	if b.rec.mode == CaptureOnly {
		values := make([]*stablehlo.Value, len(outputs))
		for i, o := range outputs {
			n, ok := o.(*xla.Node)
			if !ok {
				return nil, fmt.Errorf("hlo: output %d is a %T, not an XLA node", i, o)
			}
			values[i] = nodeValue(n)
		}
		if err := fn.Return(values...); err != nil {
			return nil, fmt.Errorf("hlo: finishing program %q: %w", b.name, err)
		}
	} else {
		t0 := time.Now()
		var err error
		if exe, err = b.Builder.Compile(outputs, shardings); err != nil {
			return nil, err
		}
		p.CompileSeconds = time.Since(t0).Seconds()
	}
	var text bytes.Buffer
	if err := shlo.Write(&text); err != nil {
		return nil, fmt.Errorf("hlo: writing program %q: %w", b.name, err)
	}
	p.Text = text.String()
	p.Args, p.Ops, p.Results = opsOf(fn)
	b.rec.mu.Lock()
	b.rec.programs = append(b.rec.programs, p)
	b.rec.mu.Unlock()
	switch b.rec.mode {
	case CaptureOnly:
		return nil, ErrNotCompiled
	case CompileOnly:
		exe.Finalize()
		return nil, ErrNotRun
	}
	return exe, nil
}

// GoMLX v0.26.0's xla.Builder keeps go-xla's StableHLO builder and main function in the
// unexported fields "builder" and "fn", and xla.Node its value in "value". They are read
// through reflect with their types checked once (checkLayout), so another GoMLX version
// fails with a clear error instead of reading garbage.
var layoutErr = sync.OnceValue(func() error {
	bt := reflect.TypeOf(xla.Builder{})
	for name, want := range map[string]reflect.Type{
		"builder": reflect.TypeOf((*stablehlo.Builder)(nil)),
		"fn":      reflect.TypeOf((*stablehlo.Function)(nil)),
	} {
		if f, ok := bt.FieldByName(name); !ok || f.Type != want {
			return fmt.Errorf("hlo: xla.Builder has no field %s of type %s (GoMLX version other than v0.26.0?)", name, want)
		}
	}
	if f, ok := reflect.TypeOf(xla.Node{}).FieldByName("value"); !ok || f.Type != reflect.TypeOf((*stablehlo.Value)(nil)) {
		return fmt.Errorf("hlo: xla.Node has no field value of type *stablehlo.Value (GoMLX version other than v0.26.0?)")
	}
	return nil
})

func checkLayout() error { return layoutErr() }

func field[T any](structPtr any, name string) T {
	f := reflect.ValueOf(structPtr).Elem().FieldByName(name)
	return *(*T)(unsafe.Pointer(f.UnsafeAddr()))
}

func builderInternals(b *xla.Builder) (*stablehlo.Builder, *stablehlo.Function) {
	return field[*stablehlo.Builder](b, "builder"), field[*stablehlo.Function](b, "fn")
}

func nodeValue(n *xla.Node) *stablehlo.Value { return field[*stablehlo.Value](n, "value") }
