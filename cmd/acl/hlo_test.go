package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/engine/hlo"
	"github.com/ainfonce/goacl/internal/xlatest"
)

// TestHLOCensusEveryMethod builds every method's pretraining step (each variant) and the
// PGD-20 evaluation graph at width 16, batch 16 for XLA and checks that no intermediate
// tensor XLA is given exceeds 4× the largest activation. GoMLX v0.26.0's own matmul
// gradient (broadcast × multiply → reduce) puts [48,128,2048] outer products, 16× the
// largest activation, into every step; engine/dotgrad.go's two-matmul gradient removes
// them on every backend.
func TestHLOCensusEveryMethod(t *testing.T) {
	rec, err := hlo.NewRecorder(xlatest.Backend(t), hlo.CaptureOnly)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, p *hlo.Program, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		c := p.Census()
		t.Logf("%s: %d ops (%d live), %d convolution groups, %s", name, c.Ops, c.Live, len(c.Convolutions), c.Summary())
		if c.Ratio > 4 || c.Ratio <= 0 {
			t.Errorf("%s: %s (largest: %s %s); want ≤ 4", name, c.Summary(), c.Largest[0].Kind, c.Largest[0].Shape)
		}
	}
	for _, method := range pretrain.MethodNames() {
		m, _ := pretrain.MethodByName(method)
		for _, variant := range m.Variants() {
			cfg, err := censusConfig(method, variant, "resnet18", 16, 16)
			if err != nil {
				t.Fatal(err)
			}
			p, err := recordStep(rec, cfg)
			check(method+"-"+variant+" step", p, err)
		}
	}
	cfg, err := censusConfig("rocl", "base", "resnet18", 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	p, err := recordEval(rec, cfg)
	check("PGD-20 eval", p, err)
}

// TestHLOCommand runs `acl hlo` and checks its output: the census sections and, as the
// last line, the ratio of the largest intermediate tensor to the largest activation.
func TestHLOCommand(t *testing.T) {
	xlatest.Backend(t)
	t.Setenv("GOMLX_BACKEND", xlatest.Config)
	file := filepath.Join(t.TempDir(), "step.mlir")
	out := captureStdout(t, func() int {
		return runHLO([]string{"-method", "rocl", "-variant", "ip", "-width", "4", "-batch", "4", "-stablehlo", file})
	})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	var n int64
	var r float64
	if _, err := fmt.Sscanf(last, "largest intermediate: %d elements = %g× the largest activation", &n, &r); err != nil || n <= 0 || r <= 0 {
		t.Errorf("last line %q: want \"largest intermediate: N elements = R× the largest activation\" (%v)", last, err)
	}
	for _, want := range []string{"ops by kind", "live convolutions by kind", "forward", "input-grad", "weight-grad", "live dot_generals", "ten largest intermediate tensors"} {
		if !strings.Contains(out, want) {
			t.Errorf("acl hlo output lacks %q", want)
		}
	}
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), "stablehlo.convolution") {
		t.Errorf("-stablehlo file: %v, %d bytes", err, len(b))
	}
	if code := runHLO([]string{"-graph", "nope"}); code != 2 {
		t.Errorf("-graph nope: exit %d, want 2", code)
	}
}

// captureStdout runs fn with os.Stdout redirected and returns what it printed.
func captureStdout(t *testing.T, fn func() int) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = f
	code := fn()
	os.Stdout = saved
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
