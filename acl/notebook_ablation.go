package acl

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

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
	Method  string `json:"method"`
	Variant string `json:"variant"`
	Name    string `json:"name"`
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
		for _, mode := range FinetuneModes {
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

// AblationHTML renders a Table (BuildTable) for a notebook: one row per run (its name,
// method and variant), SA and RA per finetuning mode and AA where any cell has it, as
// percentages with the table's note marks; under it the scale, the settings shared by the
// table and by each column, and the numbered notes.
func AblationHTML(t *Table, nb *Notebook) *HTMLTable {
	var cols []TableColumn
	for _, c := range t.Columns {
		if c.Metric != MetricAA || t.hasCells(c) {
			cols = append(cols, c)
		}
	}
	heads := []string{"run", "method", "variant"}
	for _, c := range cols {
		heads = append(heads, c.Title())
	}
	h := NewHTMLTable("ablation", fmt.Sprintf("Ablation grid at scale %s (accuracies in %%, on the test images of the selected checkpoint)", nb.Scale), heads...)
	for _, r := range t.Rows {
		row := []HTMLCell{HTMLText(filepath.Base(r.Run)), HTMLText(displayName(methodNames, r.Method)), HTMLText(displayName(variantNames, r.Variant))}
		for _, c := range cols {
			cell := r.Cells[c]
			if cell == nil {
				row = append(row, HTMLText("–"))
				continue
			}
			hc := HTMLPercent(cell.Value / 100)
			for _, n := range cell.Notes {
				hc.Text += fmt.Sprintf(" [%d]", n)
			}
			row = append(row, hc)
		}
		_ = h.AddRow(row...)
	}
	h.AddNote("Scale " + nb.Scale.Describe() + ".")
	h.AddNote("SA: clean accuracy; RA: PGD-20 robust accuracy; AA: AutoAttack robust accuracy; – : not run. Each cell is read from the run directory's results (finetune-<mode>/result.json, eval-<mode>-<attack>.json).")
	if len(t.Shared) > 0 {
		h.AddNote("Shared by every cell: " + strings.Join(t.Shared, "; ") + ".")
	}
	for _, c := range cols {
		if len(t.Common[c]) > 0 {
			h.AddNote(c.Title() + ": " + strings.Join(t.Common[c], "; ") + ".")
		}
	}
	for i, f := range t.Footnotes {
		h.AddNote(fmt.Sprintf("[%d] %s", i+1, f))
	}
	return h
}

// GridScript returns a bash script that runs the ablation grid from the command line at
// the notebook's scale into the notebook's runs folder: for each run, `acl pretrain`
// (skipped when done, resumed when interrupted), `acl finetune` for SLF, ALF and AFF (skipped when done), `acl eval -attack
// pgd20` and, at gpu scale, `acl eval -attack autoattack`; then `acl table`. Arguments
// select runs by name (default: all). ACL (the acl command; default: a binary built from
// the repository into the runs folder), RUNS and DATA override the folders; for a GPU set
// GOMLX_BACKEND=xla:... (docs: ../shared/docs/gpu-runs.md).
func (nb *Notebook) GridScript() (string, error) {
	runs, unavailable := nb.AblationGrid()
	if len(runs) == 0 {
		return "", fmt.Errorf("no method of the grid can be pretrained: %v", unavailable)
	}
	f := nb.Settings.Finetune
	var ft []string
	for _, kv := range []struct {
		flag string
		v    int
	}{{"-epochs", f.Epochs}, {"-batch", f.BatchSize}, {"-train-subset", f.TrainSubset}, {"-val-size", f.ValSize}, {"-test-subset", f.TestSubset}, {"-eval-batch", f.EvalBatch}} {
		if kv.v > 0 {
			ft = append(ft, fmt.Sprintf("%s %d", kv.flag, kv.v))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#!/usr/bin/env bash\n# The A-InfoNCE ablation grid at scale %s (written by acl.Notebook.GridScript).\n", nb.Scale)
	fmt.Fprintf(&b, "# Usage: bash grid.sh [RUN...]   (RUN: %s; default: all)\n", strings.Join(gridNames(runs), " "))
	for m, err := range unavailable {
		fmt.Fprintf(&b, "# Not in this grid yet: %s (%v)\n", m, err)
	}
	for _, r := range runs {
		if r.Method == "advcl" {
			b.WriteString("# AdvCL reads its pseudo labels from advcl-pseudo-labels/cifar-10 next to DATA (see acl pretrain -pseudo-labels).\n")
			break
		}
	}
	b.WriteString("set -euo pipefail\n")
	fmt.Fprintf(&b, "REPO=%q\nRUNS=\"${RUNS:-%s}\"\nDATA=\"${DATA:-%s}\"\n", nb.RepoRoot, nb.RunsDir, nb.DataDir)
	b.WriteString("if [ -z \"${ACL:-}\" ]; then\n  ACL=\"$RUNS/acl\"\n  (cd \"$REPO\" && go build -o \"$ACL\" ./cmd/acl)\nfi\n")
	b.WriteString("mkdir -p \"$RUNS\"\n")
	fmt.Fprintf(&b, "ALL=(%s)\n", strings.Join(gridNames(runs), " "))
	b.WriteString("SELECTED=(\"$@\")\nif [ ${#SELECTED[@]} -eq 0 ]; then SELECTED=(\"${ALL[@]}\"); fi\n")
	b.WriteString("for run in \"${SELECTED[@]}\"; do\n  method=${run%%-*}; variant=${run#*-}\n")
	b.WriteString("  if grep -qs '\"state\": *\"done\"' \"$RUNS/$run/status.json\"; then\n    echo \"$run: pretraining done\"\n  else\n")
	fmt.Fprintf(&b, "    \"$ACL\" pretrain -method \"$method\" -variant \"$variant\" -preset %s -data \"$DATA\" -out \"$RUNS/$run\" -resume\n  fi\n", nb.Preset)
	b.WriteString("  for mode in slf alf aff; do\n")
	fmt.Fprintf(&b, "    [ -f \"$RUNS/$run/results/finetune-$mode/result.json\" ] || \"$ACL\" finetune -run \"$RUNS/$run\" -mode \"$mode\"%s\n", prefixSpace(strings.Join(ft, " ")))
	b.WriteString("  done\n")
	b.WriteString("  \"$ACL\" eval -run \"$RUNS/$run\" -attack pgd20\n")
	if f.TableAutoAttack {
		b.WriteString("  \"$ACL\" eval -run \"$RUNS/$run\" -attack autoattack\n")
	}
	b.WriteString("done\n")
	b.WriteString("dirs=(); for run in \"${ALL[@]}\"; do [ -f \"$RUNS/$run/config.json\" ] && dirs+=(\"$RUNS/$run\"); done\n")
	b.WriteString("\"$ACL\" table -runs \"${dirs[@]}\" -format md -out \"$RUNS/table.md\"\n")
	b.WriteString("echo \"table: $RUNS/table.md\"\n")
	return b.String(), nil
}

// WriteGridScript writes GridScript to <runs>/grid.sh and returns its path.
func (nb *Notebook) WriteGridScript() (string, error) {
	s, err := nb.GridScript()
	if err != nil {
		return "", err
	}
	path := filepath.Join(nb.RunsDir, "grid.sh")
	return path, os.WriteFile(path, []byte(s), 0o755)
}

func gridNames(runs []GridRun) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.Name
	}
	return out
}

func prefixSpace(s string) string {
	if s == "" {
		return ""
	}
	return " " + s
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
