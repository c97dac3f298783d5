package acl

import (
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/ainfonce/goacl/acl/optim"

	"github.com/ainfonce/goacl/acl/attack"

	"github.com/ainfonce/goacl/acl/losses"

	"github.com/ainfonce/goacl/datasets"
)

// Scales of a preset: the official hyperparameters of a method/variant/dataset at the
// paper's scale, or shrunk to what a CPU can run. Only the scale knobs change (encoder,
// width, subset, epochs, batch, warm-up epochs, logging); every loss, attack and
// optimizer hyperparameter stays official.
const (
	// ScalePaper is the official setting (ResNet-18 width 64, full data, official epochs
	// and batch): a GPU run.
	ScalePaper = "paper"
	// ScaleCPU is ResNet-18 width 16 on 2,000 images: minutes per epoch on a 2-core CPU.
	ScaleCPU = "cpu"
	// ScaleSmoke is what CI runs: a small CNN on 256 images for one epoch.
	ScaleSmoke = "smoke"
)

// PresetNames lists the preset names accepted by Preset: a scale, or "<dataset>" /
// "<dataset>-<scale>" (the dataset defaults to cifar10 and the scale to paper).
func PresetNames() []string {
	return []string{ScalePaper, ScaleCPU, ScaleSmoke, "cifar10", "cifar100", "cifar10-cpu", "cifar100-cpu", "cifar10-smoke", "cifar100-smoke"}
}

type scaleKnobs struct {
	encoder   string
	width     int
	subset    int
	epochs    int
	batch     int
	logEvery  int
	ckptEvery int
}

var scales = map[string]scaleKnobs{
	ScaleCPU:   {encoder: "resnet18", width: 16, subset: 2000, epochs: 10, batch: 64, logEvery: 5},
	ScaleSmoke: {encoder: "smallcnn", width: 8, subset: 256, epochs: 1, batch: 32, logEvery: 2},
}

// Preset returns the resolved configuration for method, variant and preset name (see
// PresetNames), with dataDir as the data folder. Flags then override single fields.
func Preset(method, variant, preset, dataDir string) (PretrainConfig, error) {
	dataset, scale := datasets.CIFAR10, ScalePaper
	for _, part := range strings.Split(preset, "-") {
		switch part {
		case datasets.CIFAR10, datasets.CIFAR100:
			dataset = part
		case ScalePaper, ScaleCPU, ScaleSmoke:
			scale = part
		default:
			return PretrainConfig{}, fmt.Errorf("-preset %q: unknown; use one of %s", preset, strings.Join(PresetNames(), ", "))
		}
	}
	v, err := losses.ParseVariant(variant)
	if err != nil {
		return PretrainConfig{}, fmt.Errorf("-variant: %w", err)
	}
	cfg := PretrainConfig{Method: method, Variant: variant, Preset: preset, Dataset: dataset, DataDir: dataDir,
		Encoder: "resnet18", Width: 64, Seed: 1, AttackObjective: "plain", LogEvery: 20, KeepCheckpoints: 2}
	cfg.Loss = losses.DefaultConfig()
	cfg.Loss.Variant = v
	officialEpochs := 0
	switch method {
	case "rocl":
		officialEpochs = roclPreset(&cfg, v, dataset)
	case advclName:
		officialEpochs = advclPreset(&cfg, v, dataset)
	case aclName:
		officialEpochs = aclPreset(&cfg)
	case dynaclName:
		officialEpochs = dynaclPreset(&cfg)
	default:
		if _, err := MethodByName(method); err != nil {
			return PretrainConfig{}, fmt.Errorf("-method: %w", err)
		}
		return PretrainConfig{}, fmt.Errorf("-method %s: no preset yet", method)
	}
	if k, ok := scales[scale]; ok {
		cfg.Encoder, cfg.Width, cfg.Subset, cfg.Epochs, cfg.BatchSize, cfg.LogEvery = k.encoder, k.width, k.subset, k.epochs, k.batch, k.logEvery
		frac := float64(cfg.Epochs) / float64(officialEpochs)
		// Warm-up lasts the same fraction of the (shorter) run.
		cfg.Schedule.WarmEpochs = int(math.Floor(float64(cfg.Schedule.WarmEpochs) * frac))
		if a := cfg.AdaptiveAlpha; a != nil {
			// Adaptive α's warm-up shrinks likewise, but keeps at least one epoch to measure
			// d̄ and, from 2 epochs on, leaves at least one epoch after it.
			a.WarmupEpochs = max(1, min(int(math.Round(float64(a.WarmupEpochs)*frac)), cfg.Epochs-1))
		}
		if d := cfg.DynACL; d != nil {
			// The annealing keeps its number of steps per run: R/epochs stays 50/1000.
			d.ReloadEvery = max(1, int(math.Round(float64(d.ReloadEvery)*frac)))
		}
	}
	if method == advclName && cfg.BatchSize <= 256 {
		// AdvCL warms up only for batches larger than 256 (pretraining_advCL.py: args.warm).
		cfg.Schedule.WarmEpochs = 0
	}
	cfg.Schedule.Epochs = cfg.Epochs
	return cfg, nil
}

// advclPreset fills AdvCL's official settings (spec §4.2, §4.4: Asym-AdvCL
// shell/{cifar10,cifar100}/*.sh) and returns its epochs. AdvCL's loop runs epochs
// 0..401 of a 400-epoch cosine and its scripts evaluate epoch_400.ckpt, written after
// 401 epochs; the preset trains the 400 epochs the schedule is laid out for (use
// -epochs 401 with the same schedule to match the evaluated checkpoint).
func advclPreset(cfg *PretrainConfig, v losses.Variant, dataset string) int {
	cfg.Epochs, cfg.BatchSize = 400, 512
	cfg.Attack = attack.PGDConfig{Epsilon: 8.0 / 255, StepSize: 2.0 / 255, Steps: 5, Order: attack.ProjectThenClip, RandomStart: true}
	cfg.CEWeight = 0.2
	cfg.Optimizer = optim.Config{Kind: optim.SGD, Momentum: 0.9, WeightDecay: 1e-4}
	cfg.PseudoLabelDir = ""
	if d := DefaultPseudoLabelDir(cfg.DataDir, dataset); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			cfg.PseudoLabelDir = d
		}
	}
	c10 := dataset == datasets.CIFAR10
	lr := 0.5
	cfg.AttackObjective = "training" // no --attack_ori
	switch v {
	case losses.IP:
		if c10 {
			lr, cfg.Loss.Alpha, cfg.Loss.Lambda = 1.0, 0.2, 1.2
			cfg.AdaptiveAlpha = &AdaptiveAlphaConfig{WarmupEpochs: 30, DMin: 0.4}
		} else {
			lr, cfg.Loss.Alpha, cfg.Loss.Lambda = 2.0, 0.3, 1.5
			cfg.AdaptiveAlpha = &AdaptiveAlphaConfig{WarmupEpochs: 20, DMin: 0.5}
		}
	case losses.HN:
		cfg.AttackObjective = "plain"
		cfg.Loss.Beta = 1
		if c10 {
			lr, cfg.Loss.TauPlus = 1.2, 0.12
		} else {
			lr, cfg.Loss.TauPlus = 2.0, 0.01
		}
	case losses.IPHN:
		cfg.AttackObjective = "plain"
		lr, cfg.Loss.Beta = 2.0, 1
		if c10 {
			cfg.Loss.Alpha, cfg.Loss.Lambda, cfg.Loss.TauPlus = 0.2, 0.7, 0.1
			cfg.AdaptiveAlpha = &AdaptiveAlphaConfig{WarmupEpochs: 30, DMin: 0.4}
		} else {
			cfg.Loss.Alpha, cfg.Loss.Lambda, cfg.Loss.TauPlus = 0.3, 1.5, 0.01
			cfg.AdaptiveAlpha = &AdaptiveAlphaConfig{WarmupEpochs: 20, DMin: 0.5}
		}
	}
	cfg.Schedule = optim.ScheduleConfig{Kind: "advcl-cosine", Base: lr, WarmEpochs: 10, WarmFrom: 0.01}
	return 400
}

// aclPreset fills ACL(DS)'s official settings (spec §4.3; VITA-Group ACL
// train_simCLR.py --ACL_DS defaults) and returns its epochs. The A-InfoNCE variants of
// ACL(DS) are this project's extension: no official values exist, so they keep the loss
// defaults (α 0.2, λ 1, β 1, τ⁺ 0.1).
func aclPreset(cfg *PretrainConfig) int {
	cfg.Epochs, cfg.BatchSize = 1000, 512
	cfg.InputNorm = InputNormImageNet
	cfg.Attack = attack.PGDConfig{Epsilon: 8.0 / 255, StepSize: 2.0 / 255, Steps: 5, Order: attack.ProjectThenClip, RandomStart: true}
	cfg.Optimizer = optim.Config{Kind: optim.LARSACL, Momentum: 0.9, WeightDecay: 1e-6, TrustCoef: 1e-3}
	cfg.Schedule = optim.ScheduleConfig{Kind: "acl-cosine", Base: 5.0, WarmEpochs: 10, Min: 1e-6}
	return 1000
}

// dynaclPreset fills DynACL's official settings (spec §10; PKU-ML/DYNACL
// train_DynACL.py defaults) and returns its epochs: ACL(DS)'s, with the per-epoch
// schedule, the annealing period 50, swap 2/3 and the momentum encoder (m = 0.99).
func dynaclPreset(cfg *PretrainConfig) int {
	aclPreset(cfg)
	cfg.Schedule.Kind = "dynacl-cosine"
	cfg.DynACL = &DynACLConfig{ReloadEvery: 50, SwapParam: 2.0 / 3, MomentumEncoder: true, Momentum: 0.99}
	return 1000
}

// roclPreset fills RoCL's official settings (spec §4.1, §4.4) and returns its epochs.
func roclPreset(cfg *PretrainConfig, v losses.Variant, dataset string) int {
	cfg.Epochs, cfg.BatchSize = 1000, 512 // 2 GPUs × 256, gathered for the loss
	cfg.Attack = attack.PGDConfig{Epsilon: 0.0314, StepSize: 0.007, Steps: 7, Order: attack.ClipThenProject, RandomStart: true, ClipStart: true}
	cfg.RegularizerWeight = 1.0 / 256
	cfg.Optimizer = optim.Config{Kind: optim.LARSTorchLARS, Momentum: 0.9, WeightDecay: 1e-6, TrustCoef: 1e-3, Eps: 1e-8}
	base := 0.1
	c10 := dataset == datasets.CIFAR10
	switch v {
	case losses.IP:
		cfg.Loss.Alpha, cfg.Loss.Lambda = 0.2, 1
	case losses.HN:
		cfg.Loss.Beta, cfg.Loss.TauPlus = 1, 0.1
		if c10 {
			base, cfg.Loss.TauPlus = 0.2, 0.12
		}
	case losses.IPHN:
		cfg.Loss.Alpha, cfg.Loss.Lambda, cfg.Loss.Beta, cfg.Loss.TauPlus = 0.2, 1, 1, 0.1
		base = 0.2
		if c10 {
			base, cfg.Loss.TauPlus = 0.3, 0.12
		}
	}
	cfg.Schedule = optim.ScheduleConfig{Kind: "rocl-warmup-cosine", Base: base, Multiplier: 15, WarmEpochs: 10}
	return 1000
}
