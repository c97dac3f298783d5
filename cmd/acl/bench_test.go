package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestBenchGoOnly runs `acl bench` at toy size without PyTorch and checks the report.
func TestBenchGoOnly(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	if code := runBench([]string{"-width", "2", "-batch", "2", "-steps", "1", "-rounds", "2", "-eval-batches", "1",
		"-pytorch", "none", "-baseline", "goacl:kernels=simplego", "-out", out}); code != 0 {
		t.Fatalf("acl bench exited %d", code)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Go == nil || len(rep.Go.TrainSeconds) != 2 || len(rep.Go.EvalSeconds) != 2 || rep.Go.Summary.TrainImagesPerSec <= 0 {
		t.Fatalf("go side: %+v", rep.Go)
	}
	if rep.Baseline == nil || len(rep.Baseline.TrainSeconds) != 2 || rep.SpeedupOverBaseline <= 0 {
		t.Fatalf("baseline side: %+v, speedup %v", rep.Baseline, rep.SpeedupOverBaseline)
	}
	if rep.PyTorch != nil || rep.Config.Width != 2 || rep.TrainGFLOP <= 0 {
		t.Fatalf("report: pytorch %+v, config %+v, %v GFLOP", rep.PyTorch, rep.Config, rep.TrainGFLOP)
	}
}

func TestBenchDeviceCheckAndBadFlags(t *testing.T) {
	if code := runBench([]string{"-device-check"}); code != 0 {
		t.Fatalf("device check on the pure-Go backend exited %d", code)
	}
	if code := runBench([]string{"-batch", "1"}); code != 2 {
		t.Fatalf("-batch 1: exit %d, want 2", code)
	}
	if code := runBench([]string{"-width", "2", "-batch", "2", "-pytorch", "/nonexistent/python"}); code == 0 {
		t.Fatal("an explicit -pytorch that does not exist must fail")
	}
	if code := runBench([]string{"-width", "2", "-batch", "2", "-peer", "tensorflow"}); code != 2 {
		t.Fatalf("-peer tensorflow: exit %d, want 2", code)
	}
	if code := runBench([]string{"-width", "2", "-batch", "2", "-peer", "jax", "-jax-python", "/nonexistent/python"}); code == 0 {
		t.Fatal("-peer jax with a -jax-python that does not exist must fail")
	}
}

// TestBenchParity checks the PyTorch peer against the Go step when torch is installed
// (Debian: apt-get install python3-torch).
func TestBenchParity(t *testing.T) {
	if _, err := findPython("auto"); err != nil {
		t.Skipf("PyTorch peer not checked: %v", err)
	}
	if code := runBench([]string{"-parity", t.TempDir(), "-width", "2", "-batch", "2", "-attack-steps", "1",
		"-pytorch-script", filepath.Join("..", "..", "bench", "pytorch_step.py")}); code != 0 {
		t.Fatalf("parity check exited %d", code)
	}
}

// TestBenchJAXParity checks the JAX peer (bench/jax_step.py) against the Go step: same
// weights and batch, two steps, losses within the peer's tolerance. It runs when JAX is
// installed (scripts/install-jax.sh); with GOACL_JAX_PYTHON set (scripts/test.sh sets it
// after installing JAX) a peer that does not run is a failure, not a skip.
func TestBenchJAXParity(t *testing.T) {
	script := filepath.Join("..", "..", "bench", "jax_step.py")
	python := os.Getenv("GOACL_JAX_PYTHON")
	if python == "" {
		var err error
		if python, err = findJAXPython("auto", script); err != nil {
			t.Skipf("JAX peer not checked: %v", err)
		}
	}
	if code := runBench([]string{"-parity", t.TempDir(), "-peer", "jax", "-width", "2", "-batch", "2", "-attack-steps", "1",
		"-jax-python", python, "-jax-script", script}); code != 0 {
		t.Fatalf("JAX parity check exited %d", code)
	}
}
