package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// acl grid writes the ablation grid of a notebook scale as valid bash: the smoke script
// pretrains with the smoke preset into the runs folder, finetunes at the notebook's sizes,
// evaluates with PGD-20 only, and builds the table.
func TestGridScript(t *testing.T) {
	runs := t.TempDir()
	path := filepath.Join(t.TempDir(), "grid.sh")
	if code := runGrid([]string{"-scale", "smoke", "-runs", runs, "-data", "/data/cifar-10", "-out", path}); code != 0 {
		t.Fatalf("acl grid: exit %d", code)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	script := string(data)
	for _, want := range []string{"-preset smoke", `-data "$DATA" -out "$RUNS/$run" $resume`, `[ -d "$RUNS/$run" ] && resume=-resume`, "finetune -run \"$RUNS/$run\" -mode \"$mode\" -epochs 1 -batch 32 -train-subset 64 -val-size 32 -test-subset 32 -eval-batch 32",
		"eval -run \"$RUNS/$run\" -attack pgd20", "ALL=(rocl-base rocl-ip rocl-hn rocl-iphn", "table -runs", filepath.Join(runs, "smoke")} {
		if !strings.Contains(script, want) {
			t.Errorf("grid script lacks %q:\n%s", want, script)
		}
	}
	if strings.Contains(script, "autoattack") {
		t.Errorf("the smoke grid script runs AutoAttack on every finetuning")
	}
	if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
		t.Errorf("grid script is not valid bash: %v\n%s", err, out)
	}
	if code := runGrid([]string{"-scale", "huge", "-runs", runs}); code != 2 {
		t.Errorf("-scale huge: exit %d, want 2", code)
	}
}
