package hlo

import (
	"strings"
	"testing"

	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/internal/xlatest"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// smallGraph is a strided convolution, a matmul and the gradients of both: one op of each
// convolution role, three dot_generals, and a dead branch.
func smallGraph(x, k, w *graph.Node) []*graph.Node {
	y := engine.Conv2D(x, k, 2, 1)    // [2,4,4,8]
	z := graph.Reshape(y, 2, -1)      // [2,128]
	m := graph.MatMul(z, w)           // [2,5]
	_ = graph.Exp(graph.MatMul(z, w)) // dead: reaches no result
	loss := graph.ReduceAllSum(graph.Mul(m, m))
	return graph.Gradient(loss, x, k, w) // dx [2,8,8,3], dk [3,3,3,8], dw [128,5]
}

func smallInputs() []any {
	return []any{
		tensors.FromShape(shapes.Make(dtypes.Float32, 2, 8, 8, 3)),
		tensors.FromShape(shapes.Make(dtypes.Float32, 3, 3, 3, 8)),
		tensors.FromShape(shapes.Make(dtypes.Float32, 128, 5)),
	}
}

// TestRecorderCensus records a small training-like graph without compiling it and checks
// the census: live ops, one convolution of each role, the two-matmul gradient's
// dot_generals, and the ratio of the largest intermediate to the largest activation.
func TestRecorderCensus(t *testing.T) {
	rec, err := NewRecorder(xlatest.Backend(t), CaptureOnly)
	if err != nil {
		t.Fatal(err)
	}
	e, err := graph.NewExec(rec, smallGraph)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Exec(smallInputs()...); err == nil || !strings.Contains(err.Error(), ErrNotCompiled.Error()) {
		t.Fatalf("Exec on a capture-only recorder: %v, want %v", err, ErrNotCompiled)
	}
	p := rec.Last()
	if p == nil || len(rec.Programs()) != 1 || !strings.Contains(p.Text, "stablehlo.convolution") || len(p.Args) != 3 {
		t.Fatalf("recorded program: %+v", p)
	}
	c := p.Census()
	if c.Live >= c.Ops {
		t.Errorf("%d live of %d ops: the dead exp/matmul should not be live", c.Live, c.Ops)
	}
	roles := map[string]int{}
	for _, g := range c.Convolutions {
		roles[g.Role] += g.Count
	}
	if roles["forward"] != 1 || roles["input-grad"] != 1 || roles["weight-grad"] != 1 || roles["other"] != 0 {
		t.Errorf("convolutions by role %v, want one forward, one input-grad, one weight-grad", roles)
	}
	dots := 0
	for _, d := range c.Dots {
		dots += d.Count
	}
	if dots != 3 { // forward, dz = dm·wᵀ, dw = zᵀ·dm
		t.Errorf("%d live dot_generals, want 3 (the matmul and its two-matmul gradient)", dots)
	}
	if c.Activation.Shape.String() != "f32[2,4,4,8]" {
		t.Errorf("largest activation %s, want the convolution's f32[2,4,4,8]", c.Activation.Shape)
	}
	// The largest intermediate is the weight gradient dw f32[128,5] (640 elements): 2.5×.
	if c.Ratio != 2.5 || c.Summary() != "largest intermediate: 640 elements = 2.5× the largest activation" {
		t.Errorf("%s (largest %s %s), want 640 elements = 2.5×", c.Summary(), c.Largest[0].Kind, c.Largest[0].Shape)
	}
	var out strings.Builder
	if err := c.Write(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if lines[len(lines)-1] != c.Summary() {
		t.Errorf("census's last line %q, want the summary", lines[len(lines)-1])
	}
}

// TestCompileOnlyAndTimeStableHLO compiles the recorded program with XLA (compile-only:
// not run), then compiles and runs its text again through TimeStableHLO.
func TestCompileOnlyAndTimeStableHLO(t *testing.T) {
	b := xlatest.Backend(t)
	rec, err := NewRecorder(b, CompileOnly)
	if err != nil {
		t.Fatal(err)
	}
	e, err := graph.NewExec(rec, smallGraph)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Exec(smallInputs()...); err == nil || !strings.Contains(err.Error(), ErrNotRun.Error()) {
		t.Fatalf("Exec on a compile-only recorder: %v, want %v", err, ErrNotRun)
	}
	p := rec.Last()
	if p.CompileSeconds <= 0 {
		t.Errorf("compile time %v, want > 0", p.CompileSeconds)
	}
	tm, err := TimeStableHLO(b, []byte(p.Text), 2)
	if err != nil {
		t.Fatal(err)
	}
	if tm.Inputs != 3 || len(tm.RunSeconds) != 2 || tm.CompileSeconds <= 0 {
		t.Errorf("timing %+v", tm)
	}
	if _, err := TimeStableHLO(b, []byte("module @m {}"), 1); err == nil {
		t.Error("a program without main: want an error")
	}
	if _, err := NewRecorder(nil, CaptureOnly); err == nil {
		t.Error("NewRecorder(nil): want an error")
	}
}
