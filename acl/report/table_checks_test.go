package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/eval"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
)

// writeEval writes mode's evaluation record by attack name with robust accuracy robust,
// naming the finetuning by sha.
func writeEval(t *testing.T, dir string, mode finetune.Mode, name string, robust float64, sha string) {
	t.Helper()
	att := attack.Settings{Name: name, Norm: "Linf", Epsilon: 8.0 / 255, StepSize: 2.0 / 255, Steps: 20, Restarts: 1}
	rec := eval.Record{Run: dir, Mode: mode, Attack: att, AttackLabel: att.Label(), FinetuningSHA256: sha,
		Accuracy: finetune.Accuracy{Images: 10000, Clean: 0.7, Robust: robust}}
	if err := (&rundir.Dir{Path: dir}).WriteJSON(eval.File(mode, name), rec); err != nil {
		t.Fatal(err)
	}
}

// Evaluation records name the finetuning they evaluated; after a new finetuning of the
// mode (acl finetune -force with other settings) the table no longer shows their numbers:
// SA and RA come from the new result.json, the AA cell is empty, and every record not
// used is listed with the reason. A record that names no finetuning (written before they
// did) cannot be checked and is not used either.
func TestTableIgnoresEvaluationsOfAnotherFinetuning(t *testing.T) {
	run := fakeResultRun(t, "advcl", "base", map[finetune.Mode][2]float64{finetune.SLF: {0.80, 0.40}, finetune.ALF: {0.78, 0.45}}, nil)
	sha, _ := finetune.ResultSHA256(run, finetune.SLF)
	writeEval(t, run, finetune.SLF, attack.NamePGD20, 0.39, sha)
	writeEval(t, run, finetune.SLF, attack.NameAutoAttack, 0.35, sha)
	writeEval(t, run, finetune.ALF, attack.NamePGD20, 0.44, "") // an old record
	tab, err := BuildTable([]string{run})
	if err != nil {
		t.Fatal(err)
	}
	cell := func(tab *Table, mode finetune.Mode, m string) *TableCell {
		return tab.Rows[0].Cells[TableColumn{mode, m}]
	}
	if c := cell(tab, finetune.SLF, MetricRA); c.Value != 39 || !strings.HasSuffix(c.Source, "eval-slf-pgd20.json") {
		t.Errorf("current evaluation not used: %+v", c)
	}
	if c := cell(tab, finetune.ALF, MetricRA); c.Value != 45 || len(tab.Rows[0].Ignored) != 1 || !strings.Contains(tab.Rows[0].Ignored[0], "does not name the finetuning") {
		t.Errorf("an old record: cell %+v, ignored %v", c, tab.Rows[0].Ignored)
	}
	// A new SLF finetuning with other settings replaces result.json.
	var res finetune.Result
	r := &rundir.Dir{Path: run}
	if err := r.ReadJSON(filepath.Join(finetune.Dir(finetune.SLF), finetune.ResultFile), &res); err != nil {
		t.Fatal(err)
	}
	res.Config.Seed, res.Test.Clean, res.Test.Robust = 7, 0.60, 0.20
	if err := r.WriteJSON(filepath.Join(finetune.Dir(finetune.SLF), finetune.ResultFile), res); err != nil {
		t.Fatal(err)
	}
	tab, err = BuildTable([]string{run})
	if err != nil {
		t.Fatal(err)
	}
	if c := cell(tab, finetune.SLF, MetricRA); c.Value != 20 || !strings.HasSuffix(c.Source, filepath.Join("finetune-slf", "result.json")) {
		t.Errorf("SLF RA after a new finetuning: %+v, want the new result's 20", c)
	}
	if c := cell(tab, finetune.SLF, MetricAA); c != nil {
		t.Errorf("AA of the previous finetuning still shown: %+v", c)
	}
	ignored := strings.Join(tab.Rows[0].Ignored, "\n")
	if len(tab.Rows[0].Ignored) != 3 || !strings.Contains(ignored, "eval-slf-pgd20.json: it evaluated another finetuning") || !strings.Contains(ignored, "eval-slf-autoattack.json") {
		t.Errorf("ignored records: %v", tab.Rows[0].Ignored)
	}
	if md := tab.Markdown(); !strings.Contains(md, "Not used:") || !strings.Contains(md, "ignored "+filepath.Join(run, "results", "eval-slf-autoattack.json")) {
		t.Errorf("markdown does not list the records not used:\n%s", md)
	}
}

// The table checks every run against what it is now: a folder that is not a pretraining
// run (a finetuning's folder) is refused; a run named twice is shown once; cells of an
// unfinished pretraining and of a finetuning of a checkpoint the run no longer ends with
// are marked with a note saying why; runs of another scale (width 8 beside width 16) are
// footnoted.
func TestTableTrustsNothing(t *testing.T) {
	slf := map[finetune.Mode][2]float64{finetune.SLF: {0.80, 0.40}}
	fresh := fakeResultRun(t, "advcl", "base", slf, nil)
	if _, err := BuildTable([]string{filepath.Join(fresh, finetune.Dir(finetune.SLF))}); err == nil || !strings.Contains(err.Error(), "finetuning's folder") {
		t.Errorf("a finetuning's folder as a run: want an error, got %v", err)
	}
	if _, err := BuildTable([]string{filepath.Join(fresh, rundir.CheckpointsDir)}); err == nil {
		t.Error("a folder without config.json: want an error")
	}
	// Resumed from step 4 to step 8 after its finetuning: stale.
	pre := pretrain.Config{Method: "advcl", Variant: "ip", Dataset: "cifar10", Encoder: "resnet18", Width: 16, Epochs: 100}
	resumed := fakeRun(t, pre, 4, slf, nil)
	finishAt(t, resumed, 8)
	// Interrupted: unfinished.
	pre.Variant = "hn"
	stopped := fakeRun(t, pre, 6, slf, nil)
	if err := (&rundir.Dir{Path: stopped}).SetStatus(rundir.Status{State: rundir.StateInterrupted, Step: 6, Checkpoint: filepath.Join(stopped, rundir.CheckpointsDir, "ckpt-000000006.ckpt")}); err != nil {
		t.Fatal(err)
	}
	// Another scale.
	pre.Variant, pre.Width = "iphn", 8
	narrow := fakeRun(t, pre, 8, slf, nil)

	rel, err := filepath.Rel(mustGetwd(t), fresh)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := BuildTable([]string{fresh, resumed, stopped, narrow, fresh + string(filepath.Separator), rel})
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != 4 || len(tab.Remarks) != 2 || !strings.Contains(tab.Remarks[0], "named twice") {
		t.Fatalf("%d rows (want 4), remarks %v", len(tab.Rows), tab.Remarks)
	}
	byRun := map[string]*TableRow{}
	for _, r := range tab.Rows {
		byRun[r.Run] = r
	}
	note := func(c *TableCell) string {
		var s []string
		for _, n := range c.Notes {
			s = append(s, tab.Footnotes[n-1])
		}
		return strings.Join(s, " | ")
	}
	ra := func(run string) *TableCell { return byRun[run].Cells[TableColumn{finetune.SLF, MetricRA}] }
	if c := ra(fresh); c.Mark != "" {
		t.Errorf("fresh run marked %q: %s", c.Mark, note(c))
	}
	if c := ra(resumed); c.Mark != MarkStale || !strings.Contains(note(c), "step-4 checkpoint") || !strings.Contains(note(c), "ends with step 8") {
		t.Errorf("finetuning of step 4 of a run now at step 8: mark %q, notes %s", c.Mark, note(c))
	}
	if c := ra(stopped); c.Mark != MarkUnfinished || !strings.Contains(note(c), `"interrupted"`) {
		t.Errorf("interrupted run: mark %q, notes %s", c.Mark, note(c))
	}
	if c := ra(narrow); !strings.Contains(note(c), "pretraining scale: resnet18 width 8") || !strings.Contains(note(c), "rest of the column: resnet18 width 16") {
		t.Errorf("width 8 beside width 16: notes %s", note(c))
	}
	md := tab.Markdown()
	for _, want := range []string{"(40.00, stale)", "(40.00, unfinished)", "named twice"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}
