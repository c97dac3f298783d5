package acl

import (
	"fmt"
	"math"
	"strings"

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
	// ScaleCPU is an afternoon on a laptop: ResNet-18 width 16 on 2,000 images.
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
	v, err := ParseVariant(variant)
	if err != nil {
		return PretrainConfig{}, fmt.Errorf("-variant: %w", err)
	}
	cfg := PretrainConfig{Method: method, Variant: variant, Preset: preset, Dataset: dataset, DataDir: dataDir,
		Encoder: "resnet18", Width: 64, Seed: 1, AttackObjective: "plain", LogEvery: 20, KeepCheckpoints: 2}
	cfg.Loss = Defaults()
	cfg.Loss.Variant = v
	officialEpochs := 0
	switch method {
	case "rocl":
		officialEpochs = roclPreset(&cfg, v, dataset)
	default:
		if _, err := MethodByName(method); err != nil {
			return PretrainConfig{}, fmt.Errorf("-method: %w", err)
		}
		return PretrainConfig{}, fmt.Errorf("-method %s: no preset yet", method)
	}
	if k, ok := scales[scale]; ok {
		cfg.Encoder, cfg.Width, cfg.Subset, cfg.Epochs, cfg.BatchSize, cfg.LogEvery = k.encoder, k.width, k.subset, k.epochs, k.batch, k.logEvery
		// Warm-up lasts the same fraction of the (shorter) run.
		cfg.Schedule.WarmEpochs = int(math.Floor(float64(cfg.Schedule.WarmEpochs) * float64(cfg.Epochs) / float64(officialEpochs)))
	}
	cfg.Schedule.Epochs = cfg.Epochs
	return cfg, nil
}

// roclPreset fills RoCL's official settings (spec §4.1, §4.4) and returns its epochs.
func roclPreset(cfg *PretrainConfig, v Variant, dataset string) int {
	cfg.Epochs, cfg.BatchSize = 1000, 512 // 2 GPUs × 256, gathered for the loss
	cfg.Attack = PGDConfig{Epsilon: 0.0314, StepSize: 0.007, Steps: 7, Order: ClipThenProject, RandomStart: true, ClipStart: true}
	cfg.RegularizerWeight = 1.0 / 256
	cfg.Optimizer = OptimizerConfig{Kind: LARSTorchLARS, Momentum: 0.9, WeightDecay: 1e-6, TrustCoef: 1e-3, Eps: 1e-8}
	base := 0.1
	c10 := dataset == datasets.CIFAR10
	switch v {
	case IP:
		cfg.Loss.Alpha, cfg.Loss.Lambda = 0.2, 1
	case HN:
		cfg.Loss.Beta, cfg.Loss.TauPlus = 1, 0.1
		if c10 {
			base, cfg.Loss.TauPlus = 0.2, 0.12
		}
	case IPHN:
		cfg.Loss.Alpha, cfg.Loss.Lambda, cfg.Loss.Beta, cfg.Loss.TauPlus = 0.2, 1, 1, 0.1
		base = 0.2
		if c10 {
			base, cfg.Loss.TauPlus = 0.3, 0.12
		}
	}
	cfg.Schedule = ScheduleConfig{Kind: "rocl-warmup-cosine", Base: base, Multiplier: 15, WarmEpochs: 10}
	return 1000
}
