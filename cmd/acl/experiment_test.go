package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/experiment"
	"github.com/ainfonce/goacl/internal/testdirs"
)

// acl experiment resolves a preset with the overrides, refuses bad input before work,
// runs a plan into its runs folder and writes the report, which -report-only rewrites.
func TestExperimentCommand(t *testing.T) {
	out := captureStdout(t, func() int {
		return runExperiment([]string{"-preset", "cpu-ablation", "-runs", t.TempDir(), "-epochs", "2", "-seeds", "1", "-rows", "rocl-ip,pgd-at", "-print-plan"})
	})
	var plan experiment.Plan
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("-print-plan: %v\n%s", err, out)
	}
	if plan.Scale.Epochs != 2 || len(plan.Seeds) != 1 || len(plan.Rows) != 2 || plan.Rows[1].Baseline != experiment.SupervisedAT {
		t.Errorf("resolved plan %+v", plan)
	}
	for _, args := range [][]string{
		{"-preset", "cpu-ablation"},                                   // no -runs
		{"-preset", "nope", "-runs", t.TempDir()},                     // unknown preset
		{"-preset", "smoke", "-rows", "simclr", "-runs", t.TempDir()}, // unknown row
	} {
		if code := runExperiment(args); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}

	runs := filepath.Join(t.TempDir(), "runs")
	out = captureStdout(t, func() int {
		return runExperiment([]string{"-preset", "smoke", "-rows", "random-init", "-seeds", "1", "-runs", runs, "-data", testdirs.CIFAR10(t)})
	})
	for _, want := range []string{"random encoder (baseline)", "SLF PGD-20", "report: " + filepath.Join(runs, "report", "README.md")} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	report := filepath.Join(t.TempDir(), "results")
	captureStdout(t, func() int { return runExperiment([]string{"-report-only", "-runs", runs, "-results", report}) })
	md, err := os.ReadFile(filepath.Join(report, "README.md"))
	if err != nil || !strings.Contains(string(md), "acl experiment -report-only -runs "+runs+" -results "+report) {
		t.Errorf("report %v:\n%s", err, md)
	}
}

// acl pretrain's -knn-every and -knn-test set the kNN monitor; -knn-every 0 turns it off,
// and -knn-test without a monitor is refused.
func TestPretrainKNNFlags(t *testing.T) {
	cfgOf := func(args ...string) map[string]any {
		t.Helper()
		out := captureStdout(t, func() int {
			return runPretrain(append([]string{"-method", "rocl", "-data", t.TempDir(), "-print-config"}, args...))
		})
		var cfg map[string]any
		if err := json.Unmarshal([]byte(out), &cfg); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return cfg
	}
	if k, ok := cfgOf("-preset", "smoke")["knn"]; ok {
		t.Errorf("smoke preset has a kNN monitor %v", k)
	}
	k, _ := cfgOf("-preset", "smoke", "-knn-every", "2", "-knn-test", "300")["knn"].(map[string]any)
	if k["every"] != 2.0 || k["test_images"] != 300.0 || k["k"] != 200.0 || k["temperature"] != 0.1 {
		t.Errorf("-knn-every 2 -knn-test 300: %v", k)
	}
	if k, ok := cfgOf("-preset", "cpu", "-knn-every", "0")["knn"]; ok {
		t.Errorf("-knn-every 0 left the monitor on: %v", k)
	}
	if code := runPretrain([]string{"-preset", "smoke", "-knn-test", "300", "-print-config"}); code != 2 {
		t.Errorf("-knn-test without a monitor: exit %d, want 2", code)
	}
}
