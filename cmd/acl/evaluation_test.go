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
// pretraining → SLF, ALF and AFF finetuning with no -protocol (so RoCL's own) → PGD-20
// evaluation → AutoAttack of the SLF model → acl table in all three formats, every cell
// traced to its run and labelled with its protocol; then a new SLF finetuning with other
// settings (-force), after which the table no longer uses the evaluations of the old one.
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
		// RoCL's protocol: robustness_test.py (SLF) clamps its random start,
		// rocl_finetune.py (ALF, AFF) does not; both use step 0.00314 at ε 0.0314.
		if rec.Accuracy.Images != 32 || rec.Accuracy.Robust > rec.Accuracy.Clean || rec.Attack.Steps != 20 || rec.Protocol != finetune.ProtocolRoCL ||
			rec.Attack.StepSize != attack.RoCLEvalStep || rec.Attack.ClipStart != (mode == finetune.SLF) || rec.Selection != finetune.SelectValRA ||
			rec.Checkpoint == "" || rec.FinetuningSHA256 == "" || rec.Pretrained == nil || rec.Pretrained.SHA256 == "" {
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
	for _, want := range []string{"| RoCL | IP | CIFAR-10 | rocl-ip | rocl | val-ra |", "SLF RA", "AFF SA", "Sources:", "SLF AA ← ",
		filepath.Join(run, "results", "eval-aff-pgd20.json"), "PGD-20 (CE, Linf ε=0.0314, step 0.00314"} {
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
	if len(recs) != 2 || recs[1][0] != "rocl" || recs[1][4] != "rocl" || recs[1][6] == "" || recs[1][8] == "" || recs[1][9] == "" || recs[1][12] == "" {
		t.Errorf("csv grid: %v", recs)
	}
	runCommand(t, 0, "table", "-runs", run, "-format", "latex", "-out", out+".tex")
	runCommand(t, 2, "table", "-runs", run, "-format", "html")
	runCommand(t, 2, "table")
	runCommand(t, 2, "finetune", "-run", run)
	runCommand(t, 2, "finetune", "-run", run, "-mode", "xlf")
	runCommand(t, 2, "finetune", "-run", run, "-mode", "slf", "-select", "val-ra", "-val-size", "0")
	runCommand(t, 2, "finetune", "-run", run, "-mode", "slf", "-batch", "huge")
	runCommand(t, 2, "finetune", "-run", run, "-mode", "slf", "-protocol", "simclr")

	// A new SLF finetuning with other settings replaces the old one; the table then takes
	// SLF's SA and RA from it and leaves the evaluations of the old one out, saying so.
	runCommand(t, 0, "finetune", "-run", run, "-mode", "slf", "-force", "-seed", "2", "-select", "official",
		"-epochs", "1", "-batch", "32", "-train-subset", "64", "-test-subset", "32", "-eval-batch", "32")
	var res finetune.Result
	if b, err := os.ReadFile(filepath.Join(run, finetune.Dir(finetune.SLF), finetune.ResultFile)); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Config.Selection != finetune.SelectLast || res.ValImages != 0 || res.Config.Seed != 2 {
		t.Errorf("-select official of a RoCL SLF: selection %q, %d validation images, seed %d; want linear_eval.py's last epoch on the whole split", res.Config.Selection, res.ValImages, res.Config.Seed)
	}
	runCommand(t, 0, "table", "-runs", run, "-format", "md", "-out", out+"2.md")
	md2, err := os.ReadFile(out + "2.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Not used:", "eval-slf-pgd20.json: it evaluated another finetuning", "eval-slf-autoattack.json: it evaluated another finetuning",
		"SLF SA, SLF RA ← " + filepath.Join(run, "results", "finetune-slf", "result.json"), "rocl | slf: last; alf: val-ra; aff: val-ra"} {
		if !strings.Contains(string(md2), want) {
			t.Errorf("table after a new SLF finetuning lacks %q:\n%s", want, md2)
		}
	}
	if strings.Contains(string(md2), "SLF AA ←") {
		t.Errorf("the AA of the replaced SLF finetuning is still shown:\n%s", md2)
	}
}

// acl pretrain -probe reads a multi-BN run through the branch its protocol evaluates
// (AdvCL's 'pgd'), where it used to fail after training with 80 missing variables.
func TestPretrainProbeMultiBN(t *testing.T) {
	run := filepath.Join(t.TempDir(), "advcl")
	runCommand(t, 0, "pretrain", "-method", "advcl", "-preset", "smoke", "-data", cifar10Dir(t), "-out", run,
		"-width", "4", "-subset", "32", "-batch", "16", "-epochs", "1", "-attack-steps", "1", "-probe", "-probe-epochs", "1", "-probe-test", "32")
}
