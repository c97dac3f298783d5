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

// PresetNames lists the preset names accepted by Preset: a scale, or "<dataset>" /
// "<dataset>-<scale>" (the dataset defaults to cifar10 and the scale to paper).
func PresetNames() []string {
	return []string{ScalePaper, ScaleCPU, ScaleSmoke, "cifar10", "cifar100", "cifar10-cpu", "cifar100-cpu", "cifar10-smoke", "cifar100-smoke"}
}

// Scale holds the scale knobs of a shrunk preset: the encoder, its width, the training
// images, epochs and batch, the logging interval and the kNN monitor. Every loss, attack and
// optimizer hyperparameter stays the method's official one (ScaledPreset).
type Scale struct {
	// Encoder and Width are the architecture, Subset the training images (0: all),
	// Epochs and BatchSize the run's, LogEvery the metrics interval.
	Encoder   string `json:"encoder"`
	Width     int    `json:"width"`
	Subset    int    `json:"subset"`
	Epochs    int    `json:"epochs"`
	BatchSize int    `json:"batch_size"`
	LogEvery  int    `json:"log_every"`
	// KNN is the kNN monitor (nil: off).
	KNN *KNNConfig `json:"knn,omitempty"`
}

// Scales returns the scale knobs of the named shrunk scales: cpu (ResNet-18 width 16,
// 2,000 images, 10 epochs of batch 64, the kNN monitor every epoch on 1,000 test images)
// and smoke (a width-8 CNN, 256 images, 1 epoch of batch 32, no monitor).
func Scales() map[string]Scale {
	return map[string]Scale{
		ScaleCPU:   {Encoder: "resnet18", Width: 16, Subset: 2000, Epochs: 10, BatchSize: 64, LogEvery: 5, KNN: DefaultKNN(1, 1000)},
		ScaleSmoke: {Encoder: "smallcnn", Width: 8, Subset: 256, Epochs: 1, BatchSize: 32, LogEvery: 2},
	}
}

// PaperKNN is the kNN monitor at the paper's scale: every 10 epochs on the whole test split.
func PaperKNN() *KNNConfig { return DefaultKNN(10, 0) }

// Preset returns the resolved configuration for method, variant and preset name (see
// PresetNames), with dataDir as the data folder: ScaledPreset at the preset's data set and
// scale (Scales; the paper's scale unscaled, with PaperKNN). The command line then
// overrides single fields. Errors are *field.Error values of the keys preset, variant and
// method.
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
	var knobs *Scale
	if k, ok := Scales()[scale]; ok {
		knobs = &k
	}
	cfg, err := ScaledPreset(method, variant, dataset, dataDir, knobs)
	cfg.Preset = preset
	return cfg, err
}

// ScaledPreset returns the configuration of method and variant on dataset with dataDir as
// the data folder: the shared defaults, the method's official hyperparameters
// (Method.Preset) and, with s set, s's scale knobs, with the warm-up epochs of the schedule
// and of the method's own annealings shrunk in proportion to the epochs (Method.Rescale);
// s nil keeps the paper's scale with PaperKNN. Its Preset field is "custom" (Preset names
// its own). Errors are *field.Error values of the keys variant and method.
func ScaledPreset(method, variant, dataset, dataDir string, s *Scale) (Config, error) {
	v, err := losses.ParseVariant(variant)
	if err != nil {
		return Config{}, field.Wrap("variant", err)
	}
	m, err := MethodByName(method)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Method: method, Variant: variant, Preset: "custom", Dataset: dataset, DataDir: dataDir,
		Encoder: "resnet18", Width: 64, Seed: 1, AttackObjective: "plain", LogEvery: 20, KeepCheckpoints: 2}
	cfg.Loss = losses.DefaultConfig()
	cfg.Loss.Variant = v
	m.Preset(&cfg)
	cfg.KNN = PaperKNN()
	if s != nil {
		officialEpochs := cfg.Epochs
		cfg.Encoder, cfg.Width, cfg.Subset, cfg.Epochs, cfg.BatchSize, cfg.LogEvery = s.Encoder, s.Width, s.Subset, s.Epochs, s.BatchSize, s.LogEvery
		cfg.KNN = nil
		if s.KNN != nil {
			k := *s.KNN
			cfg.KNN = &k
		}
		frac := float64(cfg.Epochs) / float64(officialEpochs)
		// Warm-up lasts the same fraction of the (shorter) run.
		cfg.Schedule.WarmEpochs = int(math.Floor(float64(cfg.Schedule.WarmEpochs) * frac))
		m.Rescale(&cfg, frac)
	}
	cfg.Schedule.Epochs = cfg.Epochs
	return cfg, nil
}
