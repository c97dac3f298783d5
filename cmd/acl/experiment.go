package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ainfonce/goacl/acl/experiment"
	"github.com/ainfonce/goacl/datasets"
)

func init() {
	register("experiment", "run an experiment (rows × seeds with baselines, kNN curves, intervals) and write its report", runExperiment)
}

const experimentUsage = `usage: acl experiment -preset NAME -runs DIR [-results DIR] [flags]

Runs the plan of a preset into the runs folder DIR: for each seed and row a pretraining
with the kNN monitor (or a baseline: the encoder as initialised, supervised PGD-AT), its
finetunings and PGD-20 evaluation, and AutoAttack on the first seed(s). Finished pieces
are skipped, interrupted ones resumed: rerun the same command to continue. Then it writes
the report, generated from the run directories alone, to the results folder: README.md
(means with 95%% t-intervals over seeds, the baselines, paired differences, the kNN
curves, wall and CPU time per row, machine, load and commands), knn-curves.png and
results.json, and prints the results table.

presets: ` + "%s" + `

flags:
`

func runExperiment(args []string) int {
	fs := flag.NewFlagSet("acl experiment", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), experimentUsage, strings.Join(experiment.Presets(), ", "))
		fs.PrintDefaults()
	}
	preset := fs.String("preset", "", "the plan: "+strings.Join(experiment.Presets(), " | ")+" (required unless -report-only)")
	runs := fs.String("runs", "", "runs folder: one run directory per row and seed, plus plan.json and the ledger (required)")
	results := fs.String("results", "", "folder of the report (default: <runs>/report)")
	data := fs.String("data", "", "the data set's folder (default as acl pretrain: $ACL_CIFAR10_DIR, ../shared/datasets/cifar-10 when it holds files, else the user cache)")
	pseudo := fs.String("pseudo-labels", "", "AdvCL's pseudo-label folder (default: advcl-pseudo-labels/cifar-10 next to the data folder)")
	epochs := fs.Int("epochs", 0, "pretraining epochs (default: the preset's)")
	subset := fs.Int("subset", 0, "pretraining images (default: the preset's; -1: the whole training split)")
	seeds := fs.Int("seeds", 0, "number of seeds, 1..N (default: the preset's)")
	rows := fs.String("rows", "", "comma-separated rows to keep (default: all of the preset's)")
	width := fs.Int("width", 0, "encoder width (default: the preset's)")
	batch := fs.Int("batch", 0, "pretraining batch (default: the preset's)")
	evalTrain := fs.Int("eval-train", 0, "finetuning training images (default: the preset's)")
	evalTest := fs.Int("eval-test", 0, "test images of the PGD-20 evaluation (default: the preset's)")
	aaImages := fs.Int("autoattack-images", 0, "AutoAttack's test images (default: the preset's)")
	note := fs.String("note", "", "a sentence appended to the plan's purpose in the report (e.g. which data the machine had)")
	printPlan := fs.Bool("print-plan", false, "print the resolved plan as JSON and exit")
	reportOnly := fs.Bool("report-only", false, "only (re)write the report from the runs folder")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *runs == "" {
		fmt.Fprintln(os.Stderr, "acl experiment: -runs is required (the runs folder)")
		return 2
	}
	if *results == "" {
		*results = filepath.Join(*runs, "report")
	}
	reportCmd := fmt.Sprintf("acl experiment -report-only -runs %s -results %s", *runs, *results)
	if *reportOnly {
		return writeExperimentReport(*runs, *results, reportCmd)
	}
	plan, err := experiment.Preset(*preset)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl experiment: -preset:", err)
		return 2
	}
	o := experiment.Overrides{Epochs: *epochs, Subset: *subset, Seeds: *seeds, Width: *width, BatchSize: *batch,
		EvalTrain: *evalTrain, EvalTest: *evalTest, AutoAttackImages: *aaImages, Note: *note}
	if *rows != "" {
		o.Rows = strings.Split(*rows, ",")
	}
	if err := o.Apply(&plan); err != nil {
		fmt.Fprintln(os.Stderr, "acl experiment: -rows:", err)
		return 2
	}
	if err := plan.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "acl experiment:", err)
		return 2
	}
	if *printPlan {
		b, _ := json.MarshalIndent(plan, "", "  ")
		fmt.Println(string(b))
		return 0
	}
	dataDir := *data
	if dataDir == "" {
		var source string
		dataDir, source = datasets.DefaultDir(plan.Dataset, "")
		fmt.Printf("data: %s (%s; -data chooses another folder)\n", dataDir, source)
	}
	if err := datasets.Ensure(plan.Dataset, dataDir); err != nil {
		fmt.Fprintln(os.Stderr, "acl experiment: -data:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("experiment %s: %s\n", plan.Name, plan.Describe())
	err = experiment.Run(ctx, plan, *runs, experiment.Options{DataDir: dataDir, PseudoLabelDir: *pseudo, Progress: os.Stdout})
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl experiment:", err)
		if code := writeExperimentReport(*runs, *results, reportCmd); code != 0 {
			return code
		}
		return 1
	}
	return writeExperimentReport(*runs, *results, reportCmd)
}

// writeExperimentReport collects the runs folder, writes the report and prints the
// results table.
func writeExperimentReport(runs, results, reportCmd string) int {
	res, err := experiment.Collect(runs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl experiment:", err)
		return 1
	}
	if err := res.WriteReport(results, reportCmd); err != nil {
		fmt.Fprintln(os.Stderr, "acl experiment: report:", err)
		return 1
	}
	fmt.Printf("\n%s\nreport: %s\n", res.Summary(), filepath.Join(results, experiment.ReportFile))
	return 0
}
