package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
)

func init() {
	register("finetune", "finetune a pretraining run's encoder (SLF, ALF, AFF) and report SA/RA", runFinetune)
}

// finetuneUsage explains the command beyond the flag list.
const finetuneUsage = `usage: acl finetune -run DIR -mode slf|alf|aff [flags]

Finetunes the encoder of the pretraining run DIR (the checkpoint the run finished with,
strictly loaded, BN branch of the protocol) with a linear head and writes
DIR/results/finetune-<mode>/: config.json, metrics.jsonl (one line per epoch), best/ (the
selected checkpoint) and result.json with the test SA and RA of the selected epoch.
Defaults are the official protocol of the run's own method (rocl, advcl, acl, dynacl:
epochs, batch, schedule, augmentation, attacks and learning rate as its scripts ran
them; docs/evaluation.md), selecting the epoch on a 5,000-image validation split held out
from the training set (-select official: the protocol's own rule). -force replaces an
existing finetuning only once the new one has finished.

flags:
`

func runFinetune(args []string) int {
	fs := flag.NewFlagSet("acl finetune", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), finetuneUsage); fs.PrintDefaults() }
	runDir := fs.String("run", "", "pretraining run directory (required)")
	modeName := fs.String("mode", "", "slf | alf | aff (required)")
	protocol := fs.String("protocol", "", "finetuning protocol: rocl | advcl | acl | dynacl (default: the run's own method's)")
	selection := fs.String("select", string(finetune.SelectValRA), "epoch selection: val-ra (best PGD RA on the held-out validation split) | test-ra (best RA on the test set, as AdvCL and RoCL ALF/AFF did; labelled as such) | last | official (the protocol's own rule); all but val-ra train on the whole training split")
	checkpoint := fs.String("checkpoint", "", "pretraining checkpoint to finetune (relative to -run, or a path; default: the one the run finished with)")
	branch := fs.String("branch", finetune.BranchAuto, "encoder BN branch: auto (pgd for multi-BN runs, none for single-BN runs) | pgd | normal | \"\"")
	force := fs.Bool("force", false, "replace an existing finetuning of this mode")
	printConfig := fs.Bool("print-config", false, "print the resolved configuration as JSON and exit")
	// Scale and hyperparameter overrides (applied only when given).
	epochs := fs.Int("epochs", 0, "epochs (LR milestones scale with them; official 25)")
	batch := fs.String("batch", "", "training batch size, or robustssl (128: the RobustSSL benchmark's, in every mode) (default: the protocol's)")
	lr := fs.Float64("lr", 0, "base learning rate (default: the official one of spec §4.4)")
	trainSubset := fs.Int("train-subset", 0, "train on this many images (0: all left after the validation split)")
	valSize := fs.Int("val-size", 0, "validation images held out from the training split (default 5000; 0 with -select test-ra or last)")
	testSubset := fs.Int("test-subset", 0, "evaluate on this many test images (0: all 10,000)")
	evalBatch := fs.Int("eval-batch", 0, "evaluation batch size")
	evalStep := fs.Float64("eval-step", 0, "PGD step size of the evaluation attack (e.g. 0.00314, RoCL's); results are labelled with it")
	evalEps := fs.Float64("eval-eps", 0, "ε of the evaluation attack")
	seed := fs.Uint64("seed", 0, "seed of the splits, data order, augmentations, head initialisation and attack starts")
	dataDir := fs.String("data", "", "read the data set from this folder instead of the run's (recorded; by default the run's folder must still hold the files it was trained on)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *runDir == "" || *modeName == "" {
		fmt.Fprintln(os.Stderr, "acl finetune: -run and -mode are required (e.g. acl finetune -run runs/rocl-ip -mode slf)")
		return 2
	}
	mode, err := finetune.ParseMode(*modeName)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl finetune:", phrase(err, finetuneFlags))
		return 2
	}
	run, err := rundir.Open(*runDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl finetune: -run:", err)
		return 2
	}
	var pre pretrain.Config
	if err := run.ReadJSON(rundir.ConfigFile, &pre); err != nil {
		fmt.Fprintln(os.Stderr, "acl finetune: -run:", err)
		return 2
	}
	cfg, err := finetune.DefaultConfig(&pre, mode, *protocol)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl finetune:", phrase(err, finetuneFlags))
		return 2
	}
	if err := cfg.Select(finetune.Selection(*selection)); err != nil {
		fmt.Fprintln(os.Stderr, "acl finetune:", phrase(err, finetuneFlags))
		return 2
	}
	var ferr error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "branch":
			cfg.Branch = *branch
		case "checkpoint":
			cfg.PretrainedCheckpoint = *checkpoint
		case "epochs":
			cfg.ScaleEpochs(*epochs)
		case "batch":
			if *batch == "robustssl" {
				cfg.BatchSize = finetune.BatchRobustSSL
			} else if n, err := strconv.Atoi(*batch); err == nil {
				cfg.BatchSize = n
			} else {
				ferr = fmt.Errorf("-batch %q: give a number or robustssl", *batch)
			}
		case "lr":
			cfg.LR, cfg.LRSource = *lr, "-lr flag"
		case "train-subset":
			cfg.TrainSubset = *trainSubset
		case "val-size":
			cfg.ValSize = *valSize
		case "test-subset":
			cfg.TestSubset = *testSubset
		case "eval-batch":
			cfg.EvalBatch = *evalBatch
		case "eval-step":
			cfg.EvalAttack.StepSize = *evalStep
		case "eval-eps":
			cfg.EvalAttack.Epsilon = *evalEps
		case "seed":
			cfg.Seed = *seed
		}
	})
	if ferr != nil {
		fmt.Fprintln(os.Stderr, "acl finetune:", ferr)
		return 2
	}
	if code, done := checkConfig("acl finetune", &cfg, *printConfig, finetuneFlags); done {
		return code
	}
	ctx, done := interruptible("acl finetune", func() string { return "stopping between batches (a finetuning does not resume: run it again)" })
	defer done()
	fmt.Printf("finetuning %s of %s (%s, protocol %s: %s; lr %g: %s; %s)\n", mode, *runDir, pre.RunName(), cfg.Protocol, cfg.Source, cfg.LR, cfg.LRSource, cfg.Selection.Label())
	res, err := finetune.Finetune(ctx, *runDir, cfg, finetune.Options{Force: *force, Progress: os.Stdout, DataDir: *dataDir})
	if errors.Is(err, finetune.ErrFinetuningExists) {
		fmt.Fprintf(os.Stderr, "acl finetune: %v\n(pass -force to replace it)\n", err)
		return 1
	}
	if err != nil && ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "acl finetune:", err)
		return exitInterrupted
	}
	if err != nil {
		return trainingFailed("acl finetune", err, finetuneFlags)
	}
	fmt.Printf("%s: SA %.2f%%, RA %.2f%% on %d test images (epoch %d, %s; %s)\n", mode, 100*res.Test.Clean, 100*res.Test.Robust,
		res.Test.Images, res.SelectedEpoch, res.SelectionLabel, res.AttackLabel)
	fmt.Printf("wrote %s\n", run.File(finetune.Dir(mode), finetune.ResultFile))
	return 0
}
