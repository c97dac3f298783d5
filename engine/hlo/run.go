package hlo

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/go-xla/pkg/pjrt"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"
)

// Timing is how long XLA took to compile a program and to run it.
type Timing struct {
	Inputs         int
	CompileSeconds float64
	// RunSeconds and RunCPUSeconds are the wall and process CPU time of each timed run
	// (after one untimed run).
	RunSeconds, RunCPUSeconds []float64
}

// Median returns the medians of the wall and CPU times.
func (t *Timing) Median() (wall, cpu float64) { return median(t.RunSeconds), median(t.RunCPUSeconds) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

// TimeStableHLO compiles a StableHLO module (text, e.g. from `acl hlo -stablehlo` or JAX's
// jit(f).lower(...).as_text()) with the PJRT client of XLA backend b, feeds its main
// function uniform [0,1) floats and zero integers, runs it once untimed and reps times
// timed. It is how the same program is compared across compilers (bench/jax_step.py
// --run-stablehlo runs a file on JAX's XLA), or two programs on the same compiler.
// Input donation is not used: every run reads the same buffers.
func TimeStableHLO(b backends.Backend, text []byte, reps int) (*Timing, error) {
	xb, ok := b.(*xla.Backend)
	if !ok {
		return nil, fmt.Errorf("hlo: backend %q is not GoMLX's XLA backend", b)
	}
	f, ok := reflect.TypeOf(xla.Backend{}).FieldByName("client")
	if !ok || f.Type != reflect.TypeOf((*pjrt.Client)(nil)) {
		return nil, fmt.Errorf("hlo: xla.Backend has no client field of type *pjrt.Client (GoMLX version other than v0.26.0?)")
	}
	client := field[*pjrt.Client](xb, "client")
	args, err := mainArguments(text)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var ins []*pjrt.Buffer
	defer func() {
		for _, in := range ins {
			_ = in.Destroy()
		}
	}()
	for i, a := range args {
		n := int(a.Elements())
		var buf *pjrt.Buffer
		switch a.DType {
		case "f32":
			v := make([]float32, n)
			for j := range v {
				v[j] = rng.Float32()
			}
			buf, err = pjrt.ArrayToBuffer(client, v, a.Dims...)
		case "f64":
			v := make([]float64, n)
			for j := range v {
				v[j] = rng.Float64()
			}
			buf, err = pjrt.ArrayToBuffer(client, v, a.Dims...)
		case "i32":
			buf, err = pjrt.ArrayToBuffer(client, make([]int32, n), a.Dims...)
		case "i64":
			buf, err = pjrt.ArrayToBuffer(client, make([]int64, n), a.Dims...)
		case "ui32":
			buf, err = pjrt.ArrayToBuffer(client, make([]uint32, n), a.Dims...)
		case "ui64":
			buf, err = pjrt.ArrayToBuffer(client, make([]uint64, n), a.Dims...)
		case "i1":
			buf, err = pjrt.ArrayToBuffer(client, make([]bool, n), a.Dims...)
		default:
			return nil, fmt.Errorf("hlo: argument %d of main has element type %s, not supported here", i, a.DType)
		}
		if err != nil {
			return nil, fmt.Errorf("hlo: argument %d (%s): %w", i, a, err)
		}
		ins = append(ins, buf)
	}
	t := &Timing{Inputs: len(ins)}
	t0 := time.Now()
	exe, err := client.Compile().WithStableHLO(text).Done()
	if err != nil {
		return nil, fmt.Errorf("hlo: compiling: %w", err)
	}
	defer func() { _ = exe.Destroy() }()
	t.CompileSeconds = time.Since(t0).Seconds()
	for r := 0; r <= reps; r++ {
		w0, c0 := time.Now(), processCPU()
		outs, err := exe.Execute(ins...).Done()
		if err != nil {
			return nil, fmt.Errorf("hlo: running: %w", err)
		}
		for _, o := range outs {
			_ = o.Destroy()
		}
		if r > 0 {
			t.RunSeconds = append(t.RunSeconds, time.Since(w0).Seconds())
			t.RunCPUSeconds = append(t.RunCPUSeconds, processCPU()-c0)
		}
	}
	return t, nil
}

var (
	mainSignature = regexp.MustCompile(`(?s)func\.func (?:public )?@main\((.*?)\)\s*(?:->|\{)`)
	argumentType  = regexp.MustCompile(`%[\w.]+: tensor<([^>]*)>`)
)

// mainArguments reads the argument types of a StableHLO module's main function.
func mainArguments(text []byte) ([]Shape, error) {
	m := mainSignature.FindSubmatch(text)
	if m == nil {
		return nil, fmt.Errorf("hlo: no func.func @main(...) in the program")
	}
	var out []Shape
	for _, a := range argumentType.FindAllSubmatch(m[1], -1) {
		parts := strings.Split(string(a[1]), "x")
		s := Shape{DType: parts[len(parts)-1], Dims: []int{}}
		for _, d := range parts[:len(parts)-1] {
			n, err := strconv.Atoi(d)
			if err != nil {
				return nil, fmt.Errorf("hlo: argument type tensor<%s>: dynamic or unknown dimension", a[1])
			}
			s.Dims = append(s.Dims, n)
		}
		out = append(out, s)
	}
	return out, nil
}
