package pretrain

import (
	"math"
	"strings"

	"github.com/ainfonce/goacl/acl/field"
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

// The kNN monitor of each scale (Config.KNN): at the paper's scale every 10 epochs on the
// whole test split, at the cpu scale every epoch on 1,000 test images, off at smoke scale.
var scaleKNN = map[string]func() *KNNConfig{
	ScalePaper: func() *KNNConfig { return DefaultKNN(10, 0) },
	ScaleCPU:   func() *KNNConfig { return DefaultKNN(1, 1000) },
	ScaleSmoke: func() *KNNConfig { return nil },
}

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
// PresetNames), with dataDir as the data folder: the shared defaults, the method's
// official hyperparameters (Method.Preset), the scale's kNN monitor, and for the cpu and
// smoke scales the scale knobs, with the warm-up epochs of the schedule and of the method's own annealings
// shrunk in proportion (Method.Rescale). The command line then overrides single fields.
// Errors are *field.Error values of the keys preset, variant and method.
func Preset(method, variant, preset, dataDir string) (Config, error) {
	dataset, scale := datasets.CIFAR10, ScalePaper
	for _, part := range strings.Split(preset, "-") {
		switch part {
		case datasets.CIFAR10, datasets.CIFAR100:
			dataset = part
		case ScalePaper, ScaleCPU, ScaleSmoke:
			scale = part
		default:
			return Config{}, field.Errorf("preset", "{preset} %q: unknown; use one of %s", preset, strings.Join(PresetNames(), ", "))
		}
	}
	v, err := losses.ParseVariant(variant)
	if err != nil {
		return Config{}, field.Wrap("variant", err)
	}
	m, err := MethodByName(method)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Method: method, Variant: variant, Preset: preset, Dataset: dataset, DataDir: dataDir,
		Encoder: "resnet18", Width: 64, Seed: 1, AttackObjective: "plain", LogEvery: 20, KeepCheckpoints: 2}
	cfg.Loss = losses.DefaultConfig()
	cfg.Loss.Variant = v
	m.Preset(&cfg)
	if k, ok := scales[scale]; ok {
		officialEpochs := cfg.Epochs
		cfg.Encoder, cfg.Width, cfg.Subset, cfg.Epochs, cfg.BatchSize, cfg.LogEvery = k.encoder, k.width, k.subset, k.epochs, k.batch, k.logEvery
		frac := float64(cfg.Epochs) / float64(officialEpochs)
		// Warm-up lasts the same fraction of the (shorter) run.
		cfg.Schedule.WarmEpochs = int(math.Floor(float64(cfg.Schedule.WarmEpochs) * frac))
		m.Rescale(&cfg, frac)
	}
	cfg.Schedule.Epochs = cfg.Epochs
	cfg.KNN = scaleKNN[scale]()
	return cfg, nil
}
