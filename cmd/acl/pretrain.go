package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/datasets"
)

func init() {
	register("pretrain", "adversarial contrastive pretraining into a run directory", runPretrain)
}

func runPretrain(args []string) int {
	fs := flag.NewFlagSet("acl pretrain", flag.ContinueOnError)
	method := fs.String("method", "rocl", "method: "+strings.Join(pretrain.MethodNames(), "|"))
	variant := fs.String("variant", "base", "A-InfoNCE variant: base|ip|hn|iphn")
	preset := fs.String("preset", pretrain.ScalePaper, "preset: "+strings.Join(pretrain.PresetNames(), "|"))
	data := fs.String("data", "", "folder with the data set's official binary files (default: $ACL_CIFAR10_DIR or $ACL_CIFAR100_DIR; else ../shared/datasets/cifar-10|cifar-100 when it holds files, as in a development checkout; else the user cache <cache>/goacl/datasets/cifar-10|cifar-100, where a missing data set is downloaded with its checksum)")
	pseudo := fs.String("pseudo-labels", "", "folder with AdvCL's pseudo_train_*.npy (AdvCL only; default: advcl-pseudo-labels/<cifar-10|cifar-100> next to -data, when it exists)")
	out := fs.String("out", "", "run directory to create (required)")
	resume := fs.Bool("resume", false, "continue the run in -out from its newest checkpoint (-out must hold a run of the same configuration)")
	overwrite := fs.Bool("overwrite", false, "clear the run in -out (checkpoints, records, finetunings) and start a new one there; never clears a folder that holds no run")
	printConfig := fs.Bool("print-config", false, "print the resolved configuration as JSON and exit")
	probe := fs.Bool("probe", false, "after pretraining, train a linear probe on the BN branch the method's protocol evaluates and print clean test accuracy")
	probeEpochs := fs.Int("probe-epochs", 30, "linear-probe epochs")
	probeTrain := fs.Int("probe-train", 0, "linear-probe training images (0: the pretraining subset size, or all)")
	probeTest := fs.Int("probe-test", 0, "linear-probe test images (0: all)")
	// Scale and hyperparameter overrides (applied only when given).
	encoder := fs.String("encoder", "", "encoder architecture: resnet18|smallcnn")
	width := fs.Int("width", 0, "encoder base width ≥ 1 (resnet18: 64 = paper; omit to keep the preset's)")
	subset := fs.Int("subset", 0, "train on this many images (0: all)")
	epochs := fs.Int("epochs", 0, "epochs")
	batch := fs.Int("batch", 0, "batch size")
	seed := fs.Uint64("seed", 0, "seed of data order, augmentations and attack starts")
	maxSteps := fs.Int64("max-steps", 0, "stop after this many steps (resumable)")
	devices := fs.Int("devices", 0, "run each step over N devices of the XLA backend, the batch split among them (GOMLX_BACKEND=xla:cpu: N host devices; xla:cuda: N GPUs); a run may resume on another N")
	logEvery := fs.Int("log-every", 0, "log metrics every N steps")
	ckptEvery := fs.Int("checkpoint-every", 0, "checkpoint every N steps (default: each epoch)")
	lr := fs.Float64("lr", 0, "base learning rate")
	alpha := fs.Float64("alpha", 0, "IP: α, share of the clean/adversarial pair loss on the clean anchor")
	lambda := fs.Float64("lambda", 0, "IP: λ, weight of the clean/adversarial pairs")
	beta := fs.Float64("beta", 0, "HN: β concentration")
	tauPlus := fs.Float64("tau-plus", 0, "HN: τ⁺ positive-unlabeled prior")
	quirks := fs.String("quirks", "", "official (reproduce the official code's quirks) or corrected")
	attackObjective := fs.String("attack-objective", "", "what PGD maximises: plain|training")
	attackSteps := fs.Int("attack-steps", 0, "PGD steps of the training attack (scale knob for smoke tests; the presets keep the official count)")
	adaptiveWarmup := fs.Int("adaptive-warmup", 0, "AdvCL-IP: adaptive-α warm-up epochs E_w (-1: fixed α)")
	dMin := fs.Float64("d-min", 0, "AdvCL-IP: adaptive-α d_min")
	ceWeight := fs.Float64("ce-weight", 0, "AdvCL: weight of the pseudo-label cross-entropy")
	inputNorm := fs.String("input-norm", "", "normalise inputs inside the model: imagenet|none")
	momentumEncoder := fs.Bool("momentum-encoder", true, "DynACL: send the second view through a momentum (key) encoder")
	reloadEvery := fs.Int("reload-every", 0, "DynACL: epochs between augmentation-strength updates")
	knnEvery := fs.Int("knn-every", 0, "kNN monitor: evaluate every N epochs (0: off; the cpu and paper presets turn it on, smoke leaves it off)")
	knnTest := fs.Int("knn-test", 0, "kNN monitor: test images (default: the preset's, or 1000; -1: the whole test split)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *out == "" && !*printConfig {
		fmt.Fprintln(os.Stderr, "acl pretrain: -out is required (the run directory to create)")
		return 2
	}
	if *resume && *overwrite {
		fmt.Fprintln(os.Stderr, "acl pretrain: -resume and -overwrite exclude each other")
		return 2
	}
	cfg, err := pretrain.Preset(*method, *variant, *preset, *data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl pretrain:", phrase(err, pretrainFlags))
		return 2
	}
	if *data == "" {
		// The preset names the data set; its default folder (the AdvCL pseudo labels are
		// looked for next to it).
		dir, source := datasets.DefaultDir(cfg.Dataset, "")
		if cfg, err = pretrain.Preset(*method, *variant, *preset, dir); err != nil {
			fmt.Fprintln(os.Stderr, "acl pretrain:", phrase(err, pretrainFlags))
			return 2
		}
		if !*printConfig {
			fmt.Printf("data: %s (%s; -data chooses another folder)\n", dir, source)
		}
	}
	var ferr error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "pseudo-labels":
			cfg.PseudoLabelDir = *pseudo
		case "encoder":
			cfg.Encoder = *encoder
		case "width":
			// An explicit width must be a width: the run records the resolved value, so
			// 0 does not mean "default" here (omit -width to keep the preset's).
			if *width < 1 {
				ferr = fmt.Errorf("-width = %d: must be ≥ 1; omit -width to keep the preset's width (%d)", *width, cfg.Width)
			}
			cfg.Width = *width
		case "subset":
			cfg.Subset = *subset
		case "epochs":
			cfg.Epochs, cfg.Schedule.Epochs = *epochs, *epochs
			if cfg.Schedule.WarmEpochs >= *epochs {
				cfg.Schedule.WarmEpochs = 0
			}
		case "batch":
			cfg.BatchSize = *batch
		case "seed":
			cfg.Seed = *seed
		case "max-steps":
			cfg.MaxSteps = *maxSteps
		case "devices":
			cfg.Devices = *devices
		case "log-every":
			cfg.LogEvery = *logEvery
		case "checkpoint-every":
			cfg.CheckpointEvery = *ckptEvery
		case "lr":
			cfg.Schedule.Base = *lr
		case "alpha":
			cfg.Loss.Alpha = *alpha
		case "lambda":
			cfg.Loss.Lambda = *lambda
		case "beta":
			cfg.Loss.Beta = *beta
		case "tau-plus":
			cfg.Loss.TauPlus = *tauPlus
		case "quirks":
			switch *quirks {
			case "official":
				cfg.Loss.Quirks = losses.Official
			case "corrected":
				cfg.Loss.Quirks = losses.Corrected
			default:
				ferr = fmt.Errorf("-quirks %q: use official or corrected", *quirks)
			}
		case "attack-objective":
			cfg.AttackObjective = *attackObjective
		case "attack-steps":
			cfg.Attack.Steps = *attackSteps
		case "adaptive-warmup":
			switch {
			case *adaptiveWarmup < 0:
				cfg.AdaptiveAlpha = nil
			case cfg.AdaptiveAlpha != nil:
				cfg.AdaptiveAlpha.WarmupEpochs = *adaptiveWarmup
			default:
				cfg.AdaptiveAlpha = &pretrain.AdaptiveAlphaConfig{WarmupEpochs: *adaptiveWarmup, DMin: pretrain.DefaultAdaptiveDMin}
			}
		case "ce-weight":
			cfg.CEWeight = *ceWeight
		case "input-norm":
			// "none" is the flag's name for no normalisation (config.json: ""); any other
			// value is passed as it is, for validation to accept or name.
			cfg.InputNorm = *inputNorm
			if *inputNorm == "none" {
				cfg.InputNorm = pretrain.InputNormNone
			}
		case "momentum-encoder":
			if cfg.DynACL == nil {
				ferr = fmt.Errorf("-momentum-encoder is DynACL's (-method dynacl)")
			} else {
				cfg.DynACL.MomentumEncoder = *momentumEncoder
				if cfg.DynACL.Momentum == 0 {
					cfg.DynACL.Momentum = pretrain.DefaultMomentum
				}
			}
		case "knn-every":
			switch {
			case *knnEvery == 0:
				cfg.KNN = nil
			case cfg.KNN != nil:
				cfg.KNN.Every = *knnEvery
			default:
				cfg.KNN = pretrain.DefaultKNN(*knnEvery, 1000)
			}
		case "reload-every":
			if cfg.DynACL == nil {
				ferr = fmt.Errorf("-reload-every is DynACL's (-method dynacl)")
			} else {
				cfg.DynACL.ReloadEvery = *reloadEvery
			}
		}
	})
	// -d-min applies after -adaptive-warmup, and -knn-test after -knn-every, whatever their
	// order on the command line.
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "knn-test" && ferr == nil {
			if cfg.KNN == nil {
				ferr = fmt.Errorf("-knn-test: the kNN monitor is off (the cpu and paper presets turn it on; or pass -knn-every)")
			} else {
				cfg.KNN.TestImages = max(*knnTest, 0)
			}
		}
		if f.Name == "d-min" && ferr == nil {
			if cfg.AdaptiveAlpha == nil {
				ferr = fmt.Errorf("-d-min: adaptive α is off (AdvCL IP/IPHN presets turn it on; or pass -adaptive-warmup)")
			} else {
				cfg.AdaptiveAlpha.DMin = *dMin
			}
		}
	})
	if ferr != nil {
		fmt.Fprintln(os.Stderr, "acl pretrain:", ferr)
		return 2
	}
	if code, done := checkConfig("acl pretrain", &cfg, *printConfig, pretrainFlags); done {
		return code
	}
	var doing phase
	doing.set("finishing the current step and saving a checkpoint")
	ctx, done := interruptible("acl pretrain", doing.get)
	defer done()
	fmt.Printf("pretraining %s (%s, preset %s) into %s\n", cfg.RunName(), cfg.Encoder, cfg.Preset, *out)
	res, err := pretrain.Pretrain(ctx, cfg, *out, pretrain.Options{Resume: *resume, Overwrite: *overwrite, Progress: os.Stdout, Warnings: os.Stderr})
	switch {
	case errors.Is(err, pretrain.ErrRunExists):
		fmt.Fprintf(os.Stderr, "acl pretrain: %v\n(pass -resume to continue it, -overwrite to replace it, or choose another -out)\n", err)
		return 1
	case errors.Is(err, pretrain.ErrFolderNotEmpty):
		fmt.Fprintf(os.Stderr, "acl pretrain: %v\n(-out must be a new or empty folder; -overwrite clears only a run's folder)\n", err)
		return 1
	case errors.Is(err, pretrain.ErrNothingToResume):
		fmt.Fprintf(os.Stderr, "acl pretrain: %v\n(check -out; drop -resume to start a new run)\n", err)
		return 1
	case err != nil:
		return trainingFailed("acl pretrain", err, pretrainFlags)
	}
	if res.Stopped {
		fmt.Printf("stopped after %d steps; continue with: acl pretrain ... -out %s -resume\n", res.Steps, *out)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return 0
	}
	if res.AlreadyDone {
		fmt.Printf("%s already finished (%d steps, last logged loss %.4f): nothing to resume\n", *out, res.Steps, res.FinalLoss)
	} else {
		fmt.Printf("done: %d steps, final loss %.4f\n", res.Steps, res.FinalLoss)
	}
	if *probe {
		doing.set("stopping the linear probe (the pretraining is finished; run the probe again with -resume -probe)")
		pc := finetune.DefaultProbeConfig()
		pc.Epochs = *probeEpochs
		pc.TrainSubset = *probeTrain
		if pc.TrainSubset == 0 {
			pc.TrainSubset = cfg.Subset
		}
		pc.TestSubset = *probeTest
		pr, err := finetune.LinearProbeContext(ctx, nil, *out, pc, os.Stdout)
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "acl pretrain: linear probe interrupted: no accuracy reported")
			return exitInterrupted
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "acl pretrain: linear probe:", err)
			return 1
		}
		fmt.Printf("linear probe: clean train accuracy %.2f%%, clean test accuracy %.2f%% (%d test images)\n",
			100*pr.TrainAccuracy, 100*pr.TestAccuracy, pr.TestImages)
	}
	return 0
}
