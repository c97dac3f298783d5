package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestBenchOps runs `acl bench-ops` on a width-2 network and a small GEMM, with the
// PyTorch peer (values checked on the strided convolution and the projector matmul) when
// torch is installed, and checks the JSON report.
func TestBenchOps(t *testing.T) {
	python := "none"
	if _, err := findPython("auto"); err == nil {
		python = "auto"
	} else {
		t.Logf("PyTorch peer not run: %v", err)
	}
	out := filepath.Join(t.TempDir(), "ops.json")
	if code := runBenchOps([]string{"-widths", "2", "-batch", "4", "-gemms", "64x32x16", "-rounds", "1", "-min-time", "0.001",
		"-pytorch", python, "-pytorch-script", filepath.Join("..", "..", "bench", "pytorch_ops.py"), "-out", out}); code != 0 {
		t.Fatalf("acl bench-ops exited %d", code)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep opsReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Ops) != 5*3+2*3+1 {
		t.Fatalf("%d ops in the report, want 22", len(rep.Ops))
	}
	for _, op := range rep.Ops {
		if op.Go == nil || len(op.Go.Seconds) != 1 || !(op.Go.GFLOPs > 0) || op.GFLOP <= 0 {
			t.Fatalf("%s: goacl side %+v", op.id(), op.Go)
		}
		// goacl's kernels must do at least the nominal GEMM work (and not, say, the
		// forward product too in a gradient graph: at most the padded-grid overhead).
		if op.GoGEMMWork < 0.999 || op.GoGEMMWork > 2.5 {
			t.Errorf("%s: GEMM work %.3g × nominal", op.id(), op.GoGEMMWork)
		}
		if python != "none" && (op.PyTorchBest == "" || !(op.Ratio > 0)) {
			t.Errorf("%s: no PyTorch figure (best %q, ratio %v)", op.id(), op.PyTorchBest, op.Ratio)
		}
	}
	if python != "none" {
		if len(rep.Checks) != 2*3*2+3*3 { // two conv shapes × three passes × two layouts; proj1 × three passes × three variants
			t.Errorf("%d value checks, want 21", len(rep.Checks))
		}
		for _, c := range rep.Checks {
			if !c.OK {
				t.Errorf("check %+v failed", c)
			}
		}
	}
}

func TestBenchOpsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-widths", "0"}, {"-gemms", "12x3"}, {"-only", "nothing-matches"}, {"-rounds", "0"}} {
		if code := runBenchOps(append(args, "-pytorch", "none")); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
