package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/ainfonce/goacl/acl"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/backends"
)

func init() {
	register("eval", "evaluate finetuned classifiers of a run: clean accuracy and PGD-20 / AutoAttack robust accuracy", runEval)
}

// OracleAttackOptions are the command-line settings handed to a host-driven attack.
type OracleAttackOptions struct {
	// Epsilon of the L∞ ball (0: the attack's default, 8/255).
	Epsilon float64
	// BatchSize of the attack (0: the attack's default; AutoAttack 128 as RobustSSL).
	BatchSize int
	Seed      uint64
	// Log receives the attack's progress lines (nil: none).
	Log io.Writer
}

// An oracleAttack runs a host-driven attack on a finetuned model, through its oracle,
// over the test images and fills rec.Attack, rec.Accuracy, rec.BatchSize and optionally
// rec.Extra.
type oracleAttack func(oracle acl.RobustnessOracle, test *datasets.Dataset, opts OracleAttackOptions, rec *acl.EvalRecord) error

// oracleAttacks holds the host-driven attacks by -attack name: AutoAttack's "standard"
// version and its APGD-only preset.
var oracleAttacks = map[string]oracleAttack{
	acl.AttackAutoAttack: autoAttackOverOracle(acl.AttackAutoAttack, acl.AutoAttackStandardPreset),
	acl.AttackAPGD:       autoAttackOverOracle(acl.AttackAPGD, acl.AutoAttackAPGDPreset),
}

// autoAttackOverOracle runs the AutoAttack preset (acl.AutoAttackPreset: "standard" =
// APGD-CE → APGD-T → FAB-T → Square; "apgd" = its first two attacks) on the test images
// and records it under the attack name.
func autoAttackOverOracle(name, preset string) oracleAttack {
	return func(oracle acl.RobustnessOracle, test *datasets.Dataset, opts OracleAttackOptions, rec *acl.EvalRecord) error {
		eps := opts.Epsilon
		if eps == 0 {
			eps = 8.0 / 255
		}
		aa, err := acl.AutoAttackPreset(preset, eps)
		if err != nil {
			return err
		}
		if opts.BatchSize > 0 {
			aa.BatchSize = opts.BatchSize
		}
		aa.Seed, aa.Log = opts.Seed, opts.Log
		idx := make([]int, test.Len())
		for i := range idx {
			idx[i] = i
		}
		x, y, err := test.Float32Batch(idx)
		if err != nil {
			return err
		}
		res, err := aa.Run(oracle, x, y, acl.ImageShape{H: test.Height, W: test.Width, C: test.Channels})
		if err != nil {
			return err
		}
		robust := 0
		for _, r := range res.Robust {
			if r {
				robust++
			}
		}
		rec.Attack = acl.AttackSettings{Name: name, Norm: "Linf", Epsilon: eps, Restarts: 1, Version: preset}
		rec.Accuracy = acl.Accuracy{Images: res.Images, CleanCorrect: int(math.Round(res.CleanAccuracy * float64(res.Images))),
			RobustCorrect: robust, Clean: res.CleanAccuracy, Robust: res.RobustAccuracy}
		rec.BatchSize = aa.BatchSize
		rec.Extra = map[string]any{"autoattack": res}
		return nil
	}
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

flags:
`

func runEval(args []string) int {
	fs := flag.NewFlagSet("acl eval", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), evalUsage); fs.PrintDefaults() }
	runDir := fs.String("run", "", "pretraining run directory holding results/finetune-<mode> (required)")
	attack := fs.String("attack", acl.AttackPGD20, "pgd20 | autoattack (standard: APGD-CE, APGD-T, FAB-T, Square) | apgd (APGD-CE, APGD-T only: an upper bound on AutoAttack for CPUs)")
	modeName := fs.String("mode", "", "slf | alf | aff (default: every finetuning found)")
	testSubset := fs.Int("test-subset", 0, "test images (0: the finetuning's own test subset; -1: all)")
	batch := fs.Int("batch", 0, "evaluation batch size (0: the finetuning's for pgd20, 128 for AutoAttack)")
	seed := fs.Uint64("seed", 0, "seed of the subset and the attack (0: the finetuning's)")
	eps := fs.Float64("eps", 0, "L∞ ε (0: the attack's default: the finetuning's for pgd20, 8/255 for AutoAttack)")
	step := fs.Float64("step", 0, "PGD step size (0: the finetuning's; 0.00314 = RoCL's robustness_test)")
	steps := fs.Int("steps", 0, "PGD steps (0: 20)")
	restarts := fs.Int("restarts", 1, "PGD restarts (an image is robust only if every restart fails)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *runDir == "" {
		fmt.Fprintln(os.Stderr, "acl eval: -run is required (the pretraining run directory)")
		return 2
	}
	run, err := acl.OpenRunDir(*runDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl eval: -run:", err)
		return 2
	}
	var modes []acl.FinetuneMode
	if *modeName != "" {
		m, err := acl.ParseFinetuneMode(*modeName)
		if err != nil {
			fmt.Fprintln(os.Stderr, "acl eval: -mode:", err)
			return 2
		}
		modes = []acl.FinetuneMode{m}
	} else {
		for _, m := range acl.FinetuneModes {
			if _, err := os.Stat(run.File(acl.FinetuneDir(m), acl.FinetuneResultFile)); err == nil {
				modes = append(modes, m)
			}
		}
		if len(modes) == 0 {
			fmt.Fprintf(os.Stderr, "acl eval: %s has no finetuning results: run acl finetune -run %s -mode slf|alf|aff first\n", *runDir, *runDir)
			return 1
		}
	}
	var hostAttack oracleAttack
	if *attack != acl.AttackPGD20 {
		fn, ok := oracleAttacks[*attack]
		if !ok {
			fmt.Fprintf(os.Stderr, "acl eval: -attack %q unknown; use %s, %s or %s\n", *attack, acl.AttackPGD20, acl.AttackAutoAttack, acl.AttackAPGD)
			return 2
		}
		hostAttack = fn
	}
	backend, err := engine.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl eval:", err)
		return 1
	}
	for _, mode := range modes {
		var rec *acl.EvalRecord
		if hostAttack == nil {
			opts := acl.EvalOptions{Backend: backend, Restarts: *restarts, TestSubset: *testSubset, BatchSize: *batch, Seed: *seed,
				Epsilon: *eps, StepSize: *step, Steps: *steps}
			rec, err = acl.EvaluateFinetunedPGD(*runDir, mode, opts)
		} else {
			rec, err = evalWithOracle(backend, *runDir, mode, hostAttack, *testSubset, *batch, *seed, OracleAttackOptions{Epsilon: *eps, BatchSize: *batch, Seed: *seed, Log: os.Stdout})
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "acl eval: %s: %v\n", mode, err)
			return 1
		}
		fmt.Printf("%s: SA %.2f%%, RA %.2f%% on %d test images — %s [%s]; wrote %s\n", mode, 100*rec.Accuracy.Clean, 100*rec.Accuracy.Robust,
			rec.Accuracy.Images, rec.AttackLabel, rec.SelectionLabel, run.File(acl.EvalFile(mode, rec.Attack.Name)))
	}
	return 0
}

// evalWithOracle loads the mode finetuning of runDir, runs the host-driven attack over
// its oracle and writes the record.
func evalWithOracle(backend backends.Backend, runDir string, mode acl.FinetuneMode, attack oracleAttack, testSubset, batch int, seed uint64, opts OracleAttackOptions) (*acl.EvalRecord, error) {
	m, err := acl.LoadFinetuned(backend, runDir, mode)
	if err != nil {
		return nil, err
	}
	rec, test, err := acl.NewEvalRecord(m, runDir, testSubset, seed, batch)
	if err != nil {
		return nil, err
	}
	oracle, err := acl.NewOracle(m.Classifier)
	if err != nil {
		return nil, err
	}
	opts.Seed = rec.Seed
	start := time.Now()
	if err := attack(oracle, test, opts, rec); err != nil {
		return nil, err
	}
	rec.Seconds = time.Since(start).Seconds()
	return rec, acl.WriteEvalRecord(runDir, rec)
}
