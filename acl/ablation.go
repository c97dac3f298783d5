package acl

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/report"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/losses"
)

// The ablation grid of the paper's Table 1 (spec §7.1): the base methods RoCL and AdvCL,
// each with the four A-InfoNCE variants, finetuned with SLF, ALF and AFF and measured by
// SA and RA (PGD-20), and AA (AutoAttack) where run.

// AblationMethods are the base methods of the grid, in row order.
var AblationMethods = []string{"rocl", "advcl"}

// AblationVariants are the A-InfoNCE variants of the grid, in row order.
var AblationVariants = []string{losses.Base.String(), losses.IP.String(), losses.HN.String(), losses.IPHN.String()}

// GridRun is one pretraining run of the ablation grid; Name is its run directory's name
// ("<method>-<variant>"), the same at every scale and on the command line.
type GridRun struct {
	// Method and Variant select the pretraining (pretrain.Methods, losses.Variant names).
	Method  string `json:"method"`
	Variant string `json:"variant"`
	// Name is the run directory's name, "<method>-<variant>".
	Name string `json:"name"`
}

// AblationGrid returns the grid's runs for the methods this build can pretrain at the
// notebook's scale, and, for the others, why not (e.g. no preset yet).
func (nb *Notebook) AblationGrid() (runs []GridRun, unavailable map[string]error) {
	unavailable = map[string]error{}
	for _, m := range AblationMethods {
		if _, err := nb.PretrainConfig(m, losses.Base.String()); err != nil {
			unavailable[m] = err
			continue
		}
		for _, v := range AblationVariants {
			runs = append(runs, GridRun{Method: m, Variant: v, Name: m + "-" + v})
		}
	}
	return runs, unavailable
}

// AblationRuns trains (or reuses) every run of AblationGrid, finetunes each with SLF, ALF
// and AFF (Notebook.Finetune), runs AutoAttack on each finetuning when
// Settings.Finetune.TableAutoAttack is set, and returns the run directories. Progress
// lines go to progress.
func (nb *Notebook) AblationRuns(progress io.Writer) ([]string, error) {
	runs, _ := nb.AblationGrid()
	var dirs []string
	for _, r := range runs {
		cfg, err := nb.PretrainConfig(r.Method, r.Variant)
		if err != nil {
			return nil, err
		}
		dir, err := nb.Pretrain(r.Name, cfg, progress)
		if err != nil {
			return nil, err
		}
		for _, mode := range finetune.Modes {
			if _, err := nb.Finetune(dir, mode, progress); err != nil {
				return nil, err
			}
			if nb.Settings.Finetune.TableAutoAttack {
				if _, _, err := nb.AutoAttack(dir, mode, nil); err != nil {
					return nil, err
				}
			}
		}
		dirs = append(dirs, dir)
	}
	return dirs, nil
}

// FinishedRuns returns the run directories under the notebook's runs folder whose
// pretraining is done, sorted by name.
func (nb *Notebook) FinishedRuns() ([]string, error) {
	entries, err := os.ReadDir(nb.RunsDir)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(nb.RunsDir, e.Name())
		run, err := rundir.Open(dir)
		if err != nil {
			continue // not a run directory
		}
		var st rundir.Status
		if run.ReadJSON(rundir.StatusFile, &st) == nil && st.State == "done" {
			dirs = append(dirs, dir)
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

// GridRunDirs returns the finished runs of AblationGrid found in the notebook's runs
// folder, whatever trained them (a notebook, `acl pretrain`, another machine), in grid
// order; none is an error saying how to make them.
func (nb *Notebook) GridRunDirs() ([]string, error) {
	finished, err := nb.FinishedRuns()
	if err != nil {
		return nil, err
	}
	done := map[string]bool{}
	for _, d := range finished {
		done[d] = true
	}
	runs, _ := nb.AblationGrid()
	var dirs []string
	for _, r := range runs {
		if d := nb.RunDir(r.Name); done[d] {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no finished run of the grid in %s: run notebook 4 or %s", nb.RunsDir, filepath.Join(nb.RunsDir, "grid.sh"))
	}
	return dirs, nil
}

// AblationTable builds the grid of the run directories dirs (report.BuildTable: every
// cell read from the runs' results files) and renders it for the notebook, labelled with
// the notebook's scale.
func (nb *Notebook) AblationTable(dirs []string) (*report.HTMLTable, error) {
	t, err := report.BuildTable(dirs)
	if err != nil {
		return nil, err
	}
	return t.HTML(fmt.Sprintf("Ablation grid at scale %s (accuracies in %%, on the test images of the selected checkpoint)", nb.Scale),
		"Scale "+nb.Scale.Describe()+"."), nil
}
