package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/eval"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/engine"
)

func init() {
	register("eval", "evaluate finetuned classifiers of a run: clean accuracy and PGD-20 / AutoAttack robust accuracy", runEval)
}

const evalUsage = `usage: acl eval -run DIR -attack pgd20|autoattack|apgd [-mode slf|alf|aff] [flags]

Evaluates the selected checkpoint of each finetuning of DIR (every mode found, or -mode)
on the test images and writes DIR/results/eval-<mode>-<attack>.json with the clean and
robust accuracy and every setting (attack, ε, step, steps, restarts, subset, seed,
selection rule, checkpoint). pgd20 defaults to the finetuning's own evaluation attack
(AdvCL protocol: ε 8/255, step 2/255, random start); -step 0.00314 gives RoCL's.
autoattack is AutoAttack "standard" (L∞, ε 8/255, batch 128); apgd runs only its first two
attacks (APGD-CE, APGD-T), an upper bound on the AutoAttack robust accuracy that a CPU can
afford. Both use the images in batches through the model's oracle (eval mode).
Like AutoAttack's checks.py, every evaluation warns (stderr and the record's "warnings")
when its number may be fake: outputs that change between passes, outputs that are
probabilities, clean images with a zero gradient, a PGD-20 robust accuracy not above
AutoAttack's on the same images.

flags:
`

func runEval(args []string) int {
	fs := flag.NewFlagSet("acl eval", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), evalUsage); fs.PrintDefaults() }
	runDir := fs.String("run", "", "pretraining run directory holding results/finetune-<mode> (required)")
	attackName := fs.String("attack", attack.NamePGD20, "pgd20 | autoattack (standard: APGD-CE, APGD-T, FAB-T, Square) | apgd (APGD-CE, APGD-T only: an upper bound on AutoAttack for CPUs)")
	modeName := fs.String("mode", "", "slf | alf | aff (default: every finetuning found)")
	testSubset := fs.Int("test-subset", 0, "test images (0: the finetuning's own test subset; -1: all)")
	batch := fs.Int("batch", 0, "evaluation batch size (0: the finetuning's for pgd20, 128 for AutoAttack)")
	seed := fs.Uint64("seed", 0, "seed of the subset and the attack (0: the finetuning's)")
	eps := fs.Float64("eps", 0, "L∞ ε (0: the attack's default: the finetuning's for pgd20, 8/255 for AutoAttack)")
	step := fs.Float64("step", 0, "PGD step size (0: the finetuning's; 0.00314 = RoCL's robustness_test)")
	steps := fs.Int("steps", 0, "PGD steps (0: 20)")
	restarts := fs.Int("restarts", 1, "PGD restarts, ≤ 100 (an image is robust only if every restart fails)")
	dataDir := fs.String("data", "", "read the test images from this folder instead of the run's (recorded; by default the run's folder must still hold the files it was trained on)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *runDir == "" {
		fmt.Fprintln(os.Stderr, "acl eval: -run is required (the pretraining run directory)")
		return 2
	}
	// Every value is checked before anything is read or evaluated.
	opts := eval.Options{Restarts: *restarts, TestSubset: *testSubset, BatchSize: *batch, Seed: *seed,
		Epsilon: *eps, StepSize: *step, Steps: *steps, DataDir: *dataDir}
	if err := opts.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "acl eval:", phrase(err, evalFlags))
		return 2
	}
	run, err := rundir.Open(*runDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl eval: -run:", err)
		return 2
	}
	var modes []finetune.Mode
	if *modeName != "" {
		m, err := finetune.ParseMode(*modeName)
		if err != nil {
			fmt.Fprintln(os.Stderr, "acl eval: -mode:", err)
			return 2
		}
		modes = []finetune.Mode{m}
	} else {
		for _, m := range finetune.Modes {
			if _, err := os.Stat(run.File(finetune.Dir(m), finetune.ResultFile)); err == nil {
				modes = append(modes, m)
			}
		}
		if len(modes) == 0 {
			fmt.Fprintf(os.Stderr, "acl eval: %s has no finetuning results: run acl finetune -run %s -mode slf|alf|aff first\n", *runDir, *runDir)
			return 1
		}
	}
	preset := ""
	if *attackName != attack.NamePGD20 {
		if preset = attack.PresetOfName(*attackName); preset == "" {
			fmt.Fprintf(os.Stderr, "acl eval: -attack %q unknown; use %s, %s or %s\n", *attackName, attack.NamePGD20, attack.NameAutoAttack, attack.NameAPGD)
			return 2
		}
	}
	backend, err := engine.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl eval:", err)
		return 1
	}
	opts.Backend = backend
	for _, mode := range modes {
		var rec *eval.Record
		if preset == "" {
			rec, err = eval.PGD(*runDir, mode, opts)
		} else {
			rec, _, err = eval.AutoAttack(*runDir, mode, preset, opts, os.Stdout)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "acl eval: %s: %s\n", mode, phrase(err, evalFlags))
			return 1
		}
		fmt.Printf("%s: SA %.2f%%, RA %.2f%% on %d test images — %s [%s]; wrote %s\n", mode, 100*rec.Accuracy.Clean, 100*rec.Accuracy.Robust,
			rec.Accuracy.Images, rec.AttackLabel, rec.SelectionLabel, run.File(eval.File(mode, rec.Attack.Name)))
		for _, w := range rec.Warnings {
			fmt.Fprintf(os.Stderr, "acl eval: %s: warning: %s\n", mode, w)
		}
	}
	return 0
}
