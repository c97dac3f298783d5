package report

import (
	"encoding/csv"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/eval"
	"github.com/ainfonce/goacl/acl/finetune"

	"github.com/ainfonce/goacl/acl/pretrain"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// fakeResultRun writes a finished run directory (config.json, a one-variable checkpoint
// and status.json naming it) and, for each mode in results, a finetuning result of that
// checkpoint with the given SA/RA (fractions), made with the run's own protocol edited by
// edit.
func fakeResultRun(t *testing.T, method, variant string, results map[finetune.Mode][2]float64, edit func(*finetune.Config)) string {
	t.Helper()
	return fakeRun(t, pretrain.Config{Method: method, Variant: variant, Dataset: "cifar10", Encoder: "resnet18", Width: 64, Epochs: 100}, 8, results, edit)
}

// fakeRun is fakeResultRun for the pretraining configuration pre, finished at step.
func fakeRun(t *testing.T, pre pretrain.Config, step int64, results map[finetune.Mode][2]float64, edit func(*finetune.Config)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), pre.Method+"-"+pre.Variant)
	run, err := rundir.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	if err := run.WriteJSON(rundir.ConfigFile, pre); err != nil {
		t.Fatal(err)
	}
	ckpt := finishAt(t, dir, step)
	for mode, acc := range results {
		cfg, err := finetune.DefaultConfig(&pre, mode, "")
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(&cfg)
		}
		att := cfg.EvalAttack.Settings(1)
		res := finetune.Result{Config: cfg, Method: pre.Method, Variant: pre.Variant, Dataset: "cifar10", SelectedEpoch: 20, PretrainingState: rundir.StateDone,
			Test: finetune.Accuracy{Images: 10000, Clean: acc[0], Robust: acc[1]}, EvalAttack: att, AttackLabel: att.Label(),
			TrainImages: 45000, ValImages: cfg.ValSize, Checkpoint: filepath.Join(finetune.Dir(mode), finetune.BestDir, "ckpt-000000020.ckpt"),
			CheckpointSHA256: "feed", EncoderLoad: &finetune.EncoderLoad{Checkpoint: ckpt.Path, Step: ckpt.Step, SHA256: ckpt.SHA256}}
		if cfg.ValSize == 0 {
			res.TrainImages = 50000
		}
		if err := run.WriteJSON(filepath.Join(finetune.Dir(mode), finetune.ResultFile), res); err != nil {
			t.Fatal(err)
		}
		if err := run.WriteJSON(filepath.Join(finetune.Dir(mode), rundir.ConfigFile), cfg); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// finishAt writes a checkpoint of step into the run directory dir and marks the run done
// with it, as a pretraining that ended there does.
func finishAt(t *testing.T, dir string, step int64) *rundir.Checkpoint {
	t.Helper()
	ctx := context.New()
	ctx.InAbsPath("/w").VariableWithValue("v", []float32{float32(step)})
	path, err := rundir.SaveCheckpoint(ctx, filepath.Join(dir, rundir.CheckpointsDir), step, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&rundir.Dir{Path: dir}).SetStatus(rundir.Status{State: rundir.StateDone, Step: step, Checkpoint: path}); err != nil {
		t.Fatal(err)
	}
	c, err := rundir.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeAA(t *testing.T, dir string, mode finetune.Mode, robust float64) {
	t.Helper()
	run, err := rundir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sha, err := finetune.ResultSHA256(dir, mode)
	if err != nil {
		t.Fatal(err)
	}
	rec := eval.Record{Run: dir, Mode: mode, Attack: attack.Settings{Name: attack.NameAutoAttack, Norm: "Linf", Epsilon: 8.0 / 255, Version: "standard"},
		Accuracy: finetune.Accuracy{Images: 10000, Clean: 0.8, Robust: robust}, FinetuningSHA256: sha}
	rec.AttackLabel = rec.Attack.Label()
	if err := run.WriteJSON(eval.File(mode, attack.NameAutoAttack), rec); err != nil {
		t.Fatal(err)
	}
}

// The grid holds each run's numbers with their sources; a RoCL-step evaluation and a
// test-set selection are marked with notes saying how they differ; missing cells are
// dashes; all three formats render.
func TestBuildTable(t *testing.T) {
	base := fakeResultRun(t, "advcl", "base", map[finetune.Mode][2]float64{finetune.SLF: {0.80, 0.40}, finetune.ALF: {0.78, 0.45}, finetune.AFF: {0.82, 0.50}}, nil)
	writeAA(t, base, finetune.SLF, 0.37)
	ip := fakeResultRun(t, "advcl", "ip", map[finetune.Mode][2]float64{finetune.SLF: {0.81, 0.42}, finetune.AFF: {0.83, 0.52}}, nil)
	// A RoCL run finetuned with no protocol named: RoCL's own, its PGD step 0.00314.
	rocl := fakeResultRun(t, "rocl", "iphn", map[finetune.Mode][2]float64{finetune.SLF: {0.75, 0.48}}, nil)
	official := fakeResultRun(t, "advcl", "hn", map[finetune.Mode][2]float64{finetune.SLF: {0.79, 0.41}}, func(c *finetune.Config) {
		c.Selection, c.ValSize = finetune.SelectTestRA, 0
	})
	tab, err := BuildTable([]string{rocl, official, ip, base})
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != 4 || tab.Rows[0].Method != "advcl" || tab.Rows[0].Variant != "base" || tab.Rows[3].Method != "rocl" {
		t.Fatalf("rows not in method/variant order: %+v", tab.Rows)
	}
	cell := func(r int, mode finetune.Mode, metric string) *TableCell {
		return tab.Rows[r].Cells[TableColumn{mode, metric}]
	}
	if c := cell(0, finetune.SLF, MetricRA); c == nil || c.Value != 40 || !strings.HasSuffix(c.Source, filepath.Join("advcl-base", "results", "finetune-slf", "result.json")) || len(c.Notes) != 0 {
		t.Errorf("AdvCL base SLF RA cell: %+v", c)
	}
	if c := cell(0, finetune.SLF, MetricAA); c == nil || c.Value != 37 || !strings.HasSuffix(c.Source, "eval-slf-autoattack.json") {
		t.Errorf("AA cell: %+v", c)
	}
	if cell(1, finetune.ALF, MetricSA) != nil || cell(1, finetune.SLF, MetricAA) != nil {
		t.Error("cells of runs without results must be empty")
	}
	// RoCL's own protocol: both cells are noted with it (and its schedule); only the RA
	// cell with RoCL's PGD step.
	noteWith := func(c *TableCell, text string) bool {
		for _, n := range c.Notes {
			if strings.Contains(tab.Footnotes[n-1], text) {
				return true
			}
		}
		return false
	}
	roclRA, roclSA := cell(3, finetune.SLF, MetricRA), cell(3, finetune.SLF, MetricSA)
	if !noteWith(roclRA, "step 0.00314") || !noteWith(roclRA, "protocol: rocl") || roclRA.Protocol != finetune.ProtocolRoCL {
		t.Errorf("RoCL RA cell notes %v (%v), want the protocol and step 0.00314 named", roclRA.Notes, tab.Footnotes)
	}
	if noteWith(roclSA, "step 0.00314") || !noteWith(roclSA, "protocol: rocl") {
		t.Errorf("RoCL SA cell notes %v; the clean accuracy depends on the protocol, not on the attack step", roclSA.Notes)
	}
	// Test-set selection: noted on each of its cells, with the official label.
	hn := cell(2, finetune.SLF, MetricSA)
	found := false
	for _, n := range hn.Notes {
		found = found || strings.Contains(tab.Footnotes[n-1], "selected on test RA (official)")
	}
	if !found {
		t.Errorf("test-RA selection not labelled: notes %v, footnotes %v", hn.Notes, tab.Footnotes)
	}
	md := tab.Markdown()
	for _, want := range []string{"| AdvCL | base | CIFAR-10 | advcl-base | advcl | val-ra | 80.00 | 40.00 | 37.00 |", "| RoCL | IPHN | CIFAR-10 | rocl-iphn | rocl | val-ra |",
		"| AdvCL | HN | CIFAR-10 | advcl-hn | advcl | test-ra |", "| – |", "Notes:", "Sources:", "selected on test RA (official)", "eval-slf-autoattack.json"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	recs, err := csv.NewReader(strings.NewReader(tab.CSV())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 || len(recs[0]) != 6+9+4 || recs[0][6] != "slf_sa" || recs[1][4] != "advcl" || recs[1][7] != "40.00" || recs[2][9] != "" || recs[4][4] != "rocl" {
		t.Errorf("csv: %v", recs)
	}
	tex := tab.LaTeX()
	for _, want := range []string{`\toprule`, `\multicolumn{3}{c}{SLF}`, "AdvCL & base & CIFAR-10 & 80.00 & 40.00 & 37.00", `$^{`} {
		if !strings.Contains(tex, want) {
			t.Errorf("latex lacks %q:\n%s", want, tex)
		}
	}
	if _, err := tab.Format("html"); err == nil {
		t.Error("unknown format: want an error")
	}
	if _, err := BuildTable([]string{t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not a run directory") {
		t.Errorf("a folder without config.json: want an error, got %v", err)
	}
}

// A later PGD evaluation (acl eval -attack pgd20) replaces the finetuning's SA/RA and
// becomes the cells' source; a different test subset is noted.
func TestTablePrefersEvalRecord(t *testing.T) {
	a := fakeResultRun(t, "advcl", "base", map[finetune.Mode][2]float64{finetune.SLF: {0.80, 0.40}}, nil)
	b := fakeResultRun(t, "advcl", "ip", map[finetune.Mode][2]float64{finetune.SLF: {0.81, 0.42}}, nil)
	run, _ := rundir.Open(b)
	att := attack.PGD20().Settings(1)
	sha, _ := finetune.ResultSHA256(b, finetune.SLF)
	rec := eval.Record{Mode: finetune.SLF, Attack: att, AttackLabel: att.Label(), TestSubset: 1000, Accuracy: finetune.Accuracy{Images: 1000, Clean: 0.7, Robust: 0.3},
		FinetuningSHA256: sha}
	if err := run.WriteJSON(eval.File(finetune.SLF, attack.NamePGD20), rec); err != nil {
		t.Fatal(err)
	}
	tab, err := BuildTable([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	c := tab.Rows[1].Cells[TableColumn{finetune.SLF, MetricRA}]
	if c.Value != 30 || !strings.HasSuffix(c.Source, "eval-slf-pgd20.json") || len(c.Notes) != 1 {
		t.Fatalf("cell %+v, footnotes %v", c, tab.Footnotes)
	}
	if !strings.Contains(tab.Footnotes[c.Notes[0]-1], "1000-image subset") {
		t.Errorf("note %q does not name the subset", tab.Footnotes[c.Notes[0]-1])
	}
}
