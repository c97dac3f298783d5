package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/eval"
	"github.com/ainfonce/goacl/acl/finetune"
)

// run invokes a subcommand in-process and fails the test on a non-zero exit code.
func runCommand(t *testing.T, want int, args ...string) {
	t.Helper()
	cmd, ok := commands[args[0]]
	if !ok {
		t.Fatalf("no command %q", args[0])
	}
	if code := cmd.run(args[1:]); code != want {
		t.Fatalf("acl %s: exit %d, want %d", strings.Join(args, " "), code, want)
	}
}

// The toy-scale pipeline of docs/evaluation.md, through the commands themselves: a RoCL
// pretraining → SLF, ALF and AFF finetuning → PGD-20 evaluation → AutoAttack of the SLF
// model → acl table in all three formats, every cell traced to its run.
func TestEvaluationPipelineToyScale(t *testing.T) {
	data := cifar10Dir(t)
	run := filepath.Join(t.TempDir(), "rocl-ip")
	runCommand(t, 0, "pretrain", "-method", "rocl", "-variant", "ip", "-preset", "smoke", "-data", data, "-out", run,
		"-width", "4", "-subset", "64", "-batch", "32", "-epochs", "1")
	scale := []string{"-epochs", "1", "-batch", "32", "-train-subset", "64", "-val-size", "32", "-test-subset", "32", "-eval-batch", "32"}
	for _, mode := range []string{"slf", "alf", "aff"} {
		runCommand(t, 0, append([]string{"finetune", "-run", run, "-mode", mode}, scale...)...)
	}
	// A second finetuning of a mode is refused without -force.
	runCommand(t, 1, append([]string{"finetune", "-run", run, "-mode", "slf"}, scale...)...)
	runCommand(t, 0, "eval", "-run", run, "-attack", "pgd20")
	for _, mode := range finetune.Modes {
		var rec eval.Record
		b, err := os.ReadFile(filepath.Join(run, eval.File(mode, attack.NamePGD20)))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Accuracy.Images != 32 || rec.Accuracy.Robust > rec.Accuracy.Clean || rec.Attack.Steps != 20 ||
			rec.Attack.StepSize != 2.0/255 || rec.Selection != finetune.SelectValRA || rec.Checkpoint == "" {
			t.Errorf("%s evaluation record: %+v", mode, rec)
		}
	}
	// AutoAttack (standard) of the SLF model on 16 test images: against a toy model the
	// first attack already fools every point, so the later ones are skipped.
	runCommand(t, 0, "eval", "-run", run, "-attack", attack.NameAutoAttack, "-mode", "slf", "-test-subset", "16")
	var aa eval.Record
	if b, err := os.ReadFile(filepath.Join(run, eval.File(finetune.SLF, attack.NameAutoAttack))); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &aa); err != nil {
		t.Fatal(err)
	}
	if aa.Accuracy.Images != 16 || aa.Attack.Version != attack.AutoAttackStandardPreset || aa.Accuracy.Robust > aa.Accuracy.Clean || aa.Extra["autoattack"] == nil {
		t.Errorf("AutoAttack record: %+v", aa)
	}
	runCommand(t, 2, "eval", "-run", run, "-attack", "cw")

	out := filepath.Join(t.TempDir(), "table")
	runCommand(t, 0, "table", "-runs", run, "-format", "md", "-out", out+".md")
	md, err := os.ReadFile(out + ".md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| RoCL | IP | CIFAR-10 | rocl-ip |", "SLF RA", "AFF SA", "Sources:", "SLF AA ← ",
		filepath.Join(run, "results", "eval-aff-pgd20.json"), "PGD-20 (CE, Linf ε=8/255, step 2/255"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown table lacks %q:\n%s", want, md)
		}
	}
	runCommand(t, 0, "table", "-runs", run, "-format", "csv", "-out", out+".csv")
	f, err := os.Open(out + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[1][0] != "rocl" || recs[1][4] == "" || recs[1][6] == "" || recs[1][7] == "" || recs[1][10] == "" {
		t.Errorf("csv grid: %v", recs)
	}
	runCommand(t, 0, "table", "-runs", run, "-format", "latex", "-out", out+".tex")
	runCommand(t, 2, "table", "-runs", run, "-format", "html")
	runCommand(t, 2, "table")
	runCommand(t, 2, "finetune", "-run", run)
	runCommand(t, 2, "finetune", "-run", run, "-mode", "xlf")
	runCommand(t, 2, "finetune", "-run", run, "-mode", "slf", "-select", "val-ra", "-val-size", "0")
}
