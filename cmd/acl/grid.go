package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ainfonce/goacl/acl"
)

func init() {
	register("grid", "write the ablation grid of a notebook scale as a bash script of acl commands", runGrid)
}

const gridUsage = `usage: acl grid [-scale smoke|cpu|gpu] [-runs DIR] [-data DIR] [-out FILE]

Writes a bash script that runs the ablation grid of notebook 4 from the command line at
a notebook scale into the notebooks' runs folder (<runs>/<scale>): for each run, acl
pretrain (skipped when done, resumed when interrupted), acl finetune for SLF, ALF and AFF
(skipped when done), acl eval -attack pgd20 and, at gpu scale, -attack autoattack; then
acl table. The script's arguments select runs by name (default: all); ACL (the acl
command; default: a binary built from the repository into the runs folder), RUNS and
DATA override the folders; for a GPU set GOMLX_BACKEND=xla:... The defaults of the flags
are the notebooks' (ACL_NOTEBOOK_SCALE, ACL_NOTEBOOK_RUNS, ACL_CIFAR10_DIR).

flags:
`

func runGrid(args []string) int {
	fs := flag.NewFlagSet("acl grid", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), gridUsage); fs.PrintDefaults() }
	scale := fs.String("scale", os.Getenv(acl.NotebookScaleEnv), "notebook scale: smoke (default), cpu or gpu")
	runs := fs.String("runs", os.Getenv(acl.NotebookRunsEnv), "the notebooks' runs folder (default: <repo>/notebooks/runs)")
	data := fs.String("data", os.Getenv(acl.NotebookDataEnv), "the CIFAR-10 folder (default: ../shared/datasets/cifar-10 next to the repository when it holds files, else the user cache <cache>/goacl/datasets/cifar-10)")
	out := fs.String("out", "", "write the script to this file (default: standard output)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	nb, err := acl.OpenNotebookAt(acl.NotebookPlaces{Scale: *scale, DataDir: *data, Runs: *runs})
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl grid:", err)
		return 2
	}
	script, err := gridScript(nb)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl grid:", err)
		return 1
	}
	if *out == "" {
		fmt.Print(script)
		return 0
	}
	if err := os.WriteFile(*out, []byte(script), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "acl grid: -out:", err)
		return 1
	}
	return 0
}

// gridScript is the script of the grid of nb (see gridUsage).
func gridScript(nb *acl.Notebook) (string, error) {
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
	fmt.Fprintf(&b, "#!/usr/bin/env bash\n# The A-InfoNCE ablation grid at scale %s (written by acl grid).\n", nb.Scale)
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
	// -resume continues a run folder; on a missing folder it is an error (issue 18).
	b.WriteString("    resume=; [ -d \"$RUNS/$run\" ] && resume=-resume\n")
	fmt.Fprintf(&b, "    \"$ACL\" pretrain -method \"$method\" -variant \"$variant\" -preset %s -data \"$DATA\" -out \"$RUNS/$run\" $resume\n  fi\n", nb.Preset)
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

func gridNames(runs []acl.GridRun) []string {
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
