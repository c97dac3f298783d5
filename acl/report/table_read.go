package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/eval"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
)

// readTableRow reads one run directory's results, checking each against the run as it
// stands (see BuildTable).
func readTableRow(dir string) (*TableRow, error) {
	run, pre, err := openPretrainingRun(dir)
	if err != nil {
		return nil, err
	}
	row := &TableRow{Run: dir, Method: pre.Method, Variant: pre.Variant, Dataset: pre.Dataset, Cells: map[TableColumn]*TableCell{}}
	// What every cell of the row depends on: the run's state and its final checkpoint.
	var runMark, runReason string
	var st rundir.Status
	switch err := run.ReadJSON(rundir.StatusFile, &st); {
	case errors.Is(err, fs.ErrNotExist):
		runMark, runReason = MarkUnfinished, fmt.Sprintf("%s: the pretraining has no status.json: it may not have finished", dir)
	case err != nil:
		return nil, fmt.Errorf("table: %w", err)
	case st.State != rundir.StateDone:
		runMark, runReason = MarkUnfinished, fmt.Sprintf("%s: the pretraining is %q at step %d, not done", dir, st.State, st.Step)
	}
	final, finalErr := finetune.PretrainedCheckpoint(dir)
	scale := pretrainingScale(pre)
	for _, mode := range finetune.Modes {
		var res finetune.Result
		resPath := filepath.Join(finetune.Dir(mode), finetune.ResultFile)
		if err := readOptionalJSON(run, resPath, &res); err != nil {
			return nil, err
		} else if res.Config.Mode == "" {
			continue
		}
		resSHA, err := finetune.ResultSHA256(dir, mode)
		if err != nil {
			return nil, fmt.Errorf("table: %w", err)
		}
		ft := finetuneSettings(&res)
		ft["pretraining scale"] = scale
		mark, reasons := runMark, []string{}
		if runReason != "" {
			reasons = append(reasons, runReason)
		}
		if m, why := finetuningFreshness(dir, mode, &res, final, finalErr); m != "" {
			mark, reasons = worseMark(mark, m), append(reasons, why)
		}
		newCell := func(v float64, src string, settings map[string]string, warnings []string) *TableCell {
			c := &TableCell{Value: 100 * v, Source: src, Settings: settings, Mark: mark, Protocol: res.Config.Protocol, Selection: res.Config.Selection}
			c.reasons = append(c.reasons, reasons...)
			for _, w := range warnings {
				c.reasons = append(c.reasons, "evaluation warning: "+w)
			}
			return c
		}
		// SA and RA: a later PGD evaluation (acl eval -attack pgd20) of this finetuning's
		// selected checkpoint replaces the finetuning's own numbers; both come from one file.
		sa, ra := res.Test.Clean, res.Test.Robust
		src := run.File(resPath)
		attackLabel := res.AttackLabel
		images, subset := res.Test.Images, res.Config.TestSubset
		var warnings []string
		if pgd, ok, err := readEvalRecord(run, mode, attack.NamePGD20, resSHA, row); err != nil {
			return nil, err
		} else if ok {
			sa, ra, src, attackLabel = pgd.Accuracy.Clean, pgd.Accuracy.Robust, run.File(eval.File(mode, attack.NamePGD20)), pgd.AttackLabel
			images, subset, warnings = pgd.Accuracy.Images, pgd.TestSubset, pgd.Warnings
		}
		// A classifier imported from PyTorch (acl import) has no SA/RA until acl eval
		// measures it: no cell rather than 0.
		if images > 0 {
			testSet := testSetLabel(images, subset)
			row.Cells[TableColumn{mode, MetricSA}] = newCell(sa, src, withSettings(ft, "test images", testSet), warnings)
			row.Cells[TableColumn{mode, MetricRA}] = newCell(ra, src, withSettings(ft, "test images", testSet, "attack", attackLabel), warnings)
		}
		if aa, ok, err := readEvalRecord(run, mode, attack.NameAutoAttack, resSHA, row); err != nil {
			return nil, err
		} else if ok {
			row.Cells[TableColumn{mode, MetricAA}] = newCell(aa.Accuracy.Robust, run.File(eval.File(mode, attack.NameAutoAttack)),
				withSettings(ft, "test images", testSetLabel(aa.Accuracy.Images, aa.TestSubset), "attack", aa.AttackLabel), aa.Warnings)
		}
	}
	return row, nil
}

// openPretrainingRun opens dir and reads its configuration, refusing folders that are not
// pretraining runs (a finetuning's folder holds a config.json too).
func openPretrainingRun(dir string) (*rundir.Dir, *pretrain.Config, error) {
	run, err := rundir.Open(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("table: %w", err)
	}
	data, err := os.ReadFile(run.File(rundir.ConfigFile))
	if err != nil {
		return nil, nil, fmt.Errorf("table: %w", err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return nil, nil, fmt.Errorf("table: %s: %w", run.File(rundir.ConfigFile), err)
	}
	if _, isFinetuning := keys["mode"]; isFinetuning {
		return nil, nil, fmt.Errorf("table: %s is a finetuning's folder, not a pretraining run: give the run directory it belongs to (the folder holding results/)", dir)
	}
	var pre pretrain.Config
	if err := json.Unmarshal(data, &pre); err != nil || pre.Method == "" {
		return nil, nil, fmt.Errorf("table: %s is not a pretraining run directory (its %s names no method)", dir, rundir.ConfigFile)
	}
	return run, &pre, nil
}

// finetuningFreshness checks a finetuning against the run as it stands: it must have
// finished, have finetuned a finished pretraining, and have finetuned the checkpoint the
// run ends with now (final; finalErr when that checkpoint cannot be read). It returns a
// mark and its reason, or "".
func finetuningFreshness(dir string, mode finetune.Mode, res *finetune.Result, final *rundir.Checkpoint, finalErr error) (string, string) {
	var st rundir.Status
	if (&rundir.Dir{Path: filepath.Join(dir, finetune.Dir(mode))}).ReadJSON(rundir.StatusFile, &st) == nil && st.State != rundir.StateDone {
		return MarkUnfinished, fmt.Sprintf("%s %s finetuning: status %q", dir, mode, st.State)
	}
	if res.PretrainingState != "" && res.PretrainingState != rundir.StateDone {
		return MarkUnfinished, fmt.Sprintf("%s %s finetuning: it finetuned the pretraining while it was %q", dir, mode, res.PretrainingState)
	}
	load := res.EncoderLoad
	switch {
	case res.Config.Selection == finetune.SelectImported:
		// A classifier imported from PyTorch does not come from this run's pretraining;
		// provenance.json names the file it came from.
		return "", ""
	case finalErr != nil:
		return MarkStale, fmt.Sprintf("%s: %v", dir, finalErr)
	case load == nil:
		return MarkUnverified, fmt.Sprintf("%s %s finetuning records no pretraining checkpoint", dir, mode)
	case load.Step != final.Step || (load.SHA256 != "" && load.SHA256 != final.SHA256):
		how := "finetune again"
		if load.Chosen == "named by the user" {
			how = "a checkpoint named by the user"
		}
		return MarkStale, fmt.Sprintf("%s %s finetuning: it finetuned the step-%d checkpoint (sha256 %.12s…); the run ends with step %d (sha256 %.12s…): %s",
			dir, mode, load.Step, load.SHA256, final.Step, final.SHA256, how)
	case load.SHA256 == "":
		return MarkUnverified, fmt.Sprintf("%s %s finetuning records no checkpoint sha256 (made before results recorded it): it cannot be checked against the run; finetune again", dir, mode)
	}
	return "", ""
}

// worseMark returns the more serious of two marks.
func worseMark(a, b string) string {
	rank := map[string]int{"": 0, MarkUnverified: 1, MarkUnfinished: 2, MarkStale: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// readEvalRecord reads mode's evaluation record by attack name; a record that does not
// describe the finetuning whose result.json has sha256 resSHA is not used: it is listed in
// row.Ignored with the reason.
func readEvalRecord(run *rundir.Dir, mode finetune.Mode, name, resSHA string, row *TableRow) (*eval.Record, bool, error) {
	var rec eval.Record
	path := eval.File(mode, name)
	if err := readOptionalJSON(run, path, &rec); err != nil || rec.Attack.Name == "" {
		return nil, false, err
	}
	if why := rec.Stale(resSHA); why != "" {
		row.Ignored = append(row.Ignored, fmt.Sprintf("%s: %s", run.File(path), why))
		return nil, false, nil
	}
	return &rec, true, nil
}

// readOptionalJSON reads name from run into v; a missing file leaves v untouched.
func readOptionalJSON(run *rundir.Dir, name string, v any) error {
	err := run.ReadJSON(name, v)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("table: %w", err)
	}
	return nil
}

// canonicalPath is dir made absolute with symbolic links resolved (where it can be): two
// names of one run give the same string.
func canonicalPath(dir string) string {
	p, err := filepath.Abs(dir)
	if err != nil {
		return filepath.Clean(dir)
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// pretrainingScale describes the size of a pretraining (encoder, width, images, epochs):
// cells of runs of different scales are noted down their columns.
func pretrainingScale(pre *pretrain.Config) string {
	images := "all images"
	if pre.Subset > 0 {
		images = fmt.Sprintf("%d images", pre.Subset)
	}
	return fmt.Sprintf("%s width %d, %s, %d epochs", pre.Encoder, pre.Width, images, pre.Epochs)
}

func testSetLabel(images, subset int) string {
	if subset == 0 || subset > images { // a "subset" larger than the images evaluated was all of them
		return fmt.Sprintf("all %d", images)
	}
	return fmt.Sprintf("%d-image subset", images)
}

// finetuneSettings are the finetuning settings every cell of a mode depends on. The
// learning rate is left out: it differs between rows by design (spec §4.4).
func finetuneSettings(r *finetune.Result) map[string]string {
	c := &r.Config
	s := map[string]string{
		"protocol":  c.Protocol,
		"selection": c.Selection.Label(),
		"schedule":  fmt.Sprintf("%d epochs, batch %d, milestones %v", c.Epochs, c.BatchSize, c.Schedule().Milestones),
		"training images": func() string {
			if c.TrainSubset == 0 {
				return fmt.Sprintf("all %d", r.TrainImages)
			}
			return fmt.Sprintf("%d-image subset", r.TrainImages)
		}(),
	}
	if c.Selection == finetune.SelectValRA {
		s["validation images"] = fmt.Sprint(r.ValImages)
	}
	switch c.Mode {
	case finetune.ALF:
		s["training attack"] = c.TrainAttack.Settings(1).Label()
	case finetune.AFF:
		s["training attack"] = fmt.Sprintf("TRADES β=%g, %d steps of %s at ε=%s", c.TRADES.Beta, c.TRADES.Steps, attack.Fraction255(c.TRADES.StepSize), attack.Fraction255(c.TRADES.Epsilon))
		if c.NaturalBranch != "" {
			s["training attack"] += fmt.Sprintf(", clean pass through BN %q", c.NaturalBranch)
		}
	}
	return s
}

func withSettings(base map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}
