package pretrain

import (
	"fmt"
	"math"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/knn"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/acl/train"
	"github.com/ainfonce/goacl/datasets"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// KNNConfig configures the kNN monitor of a pretraining (Config.KNN): the encoder's
// features (eval-mode BN, the method's evaluation branch) of a fixed test subset are
// classified by the weighted kNN of acl/knn against the features of the run's training
// images, and the top-1 accuracy is logged. It watches the training; it never changes it
// (a run with and without the monitor trains to the same weights).
type KNNConfig struct {
	// Every is the number of epochs between evaluations (≥ 1); the last epoch is always
	// evaluated, and a fresh run is also evaluated before its first step (epoch 0).
	Every int `json:"every"`
	// K and Temperature are the vote's (knn.DefaultK = 200, knn.DefaultTemperature = 0.1).
	K           int     `json:"k"`
	Temperature float64 `json:"temperature"`
	// TestImages is the size of the test subset (drawn with KNNTestSeed, the same for every
	// run, so that curves compare; 0: the whole test split); BankImages the number of the
	// run's training images whose features vote (0: all of them).
	TestImages int `json:"test_images"`
	BankImages int `json:"bank_images"`
}

// KNNTestSeed draws the kNN monitor's test subset: the same images for every run.
const KNNTestSeed = 1

// DefaultKNN returns the monitor of the MoCo CIFAR-10 demo's settings (k 200, T 0.1) every
// every epochs on testImages test images.
func DefaultKNN(every, testImages int) *KNNConfig {
	return &KNNConfig{Every: every, K: knn.DefaultK, Temperature: knn.DefaultTemperature, TestImages: testImages}
}

// Validate checks a monitor configuration (nil: the monitor is off, which is valid).
// Errors are *field.Error values naming the keys inside "knn".
func (k *KNNConfig) Validate() error {
	if k == nil {
		return nil
	}
	switch {
	case k.Every < 1:
		return field.Errorf("every", "{every} = %d: must be ≥ 1 (epochs between evaluations; turn the monitor off instead)", k.Every)
	case k.K < 1:
		return field.Errorf("k", "{k} = %d: must be ≥ 1", k.K)
	case !(k.Temperature > 0) || math.IsInf(k.Temperature, 0):
		return field.Errorf("temperature", "{temperature} = %g: must be > 0", k.Temperature)
	case k.TestImages < 0 || k.BankImages < 0:
		return field.Errorf("test_images", "{test_images} (%d) and {bank_images} (%d) must be ≥ 0", k.TestImages, k.BankImages)
	}
	return nil
}

// knnMonitor is a pretraining's kNN monitor: what it measures and where it reports.
type knnMonitor struct {
	cfg      *Config
	monitor  *knn.Monitor
	run      *rundir.Dir
	progress *train.Progress
}

// newKNNMonitor returns the monitor of cfg (nil when cfg.KNN is nil) over the variables of
// mctx, with the run's training images ds as the bank.
func newKNNMonitor(cfg *Config, backend backends.Backend, mctx *context.Context, step *Step, ds *datasets.Dataset,
	run *rundir.Dir, progress *train.Progress) (*knnMonitor, error) {
	k := cfg.KNN
	if k == nil {
		return nil, nil
	}
	test, err := datasets.LoadSplit(cfg.Dataset, cfg.DataDir, datasets.Test)
	if err != nil {
		return nil, fmt.Errorf("kNN monitor: %w", err)
	}
	if k.TestImages > 0 && k.TestImages < test.Len() {
		test = test.Subset(k.TestImages, KNNTestSeed)
	}
	bank := ds
	if k.BankImages > 0 && k.BankImages < bank.Len() {
		bank = bank.Subset(k.BankImages, cfg.Seed)
	}
	fx, err := knn.NewFeatureExtractor(backend, mctx, step.Encoder, step.Method.Evaluation(cfg).Branch, 256)
	if err != nil {
		return nil, err
	}
	m, err := knn.NewMonitor(fx, bank, test, k.K, k.Temperature)
	if err != nil {
		return nil, err
	}
	return &knnMonitor{cfg: cfg, monitor: m, run: run, progress: progress}, nil
}

// due reports whether the monitor evaluates after epoch (completed epochs; 0 before the
// first step).
func (m *knnMonitor) due(epoch int) bool {
	return m != nil && (epoch%m.cfg.KNN.Every == 0 || epoch == m.cfg.Epochs)
}

// evaluate measures the kNN accuracy at st (after st.Epoch epochs, st.Step steps), appends
// it to metrics.jsonl as a record with the step and epoch, and reports it.
func (m *knnMonitor) evaluate(st train.State) error {
	res, err := m.monitor.Evaluate()
	if err != nil {
		return err
	}
	rec := map[string]any{"step": st.Step, "epoch": st.Epoch, "knn_accuracy": res.Accuracy, "knn_k": res.K,
		"knn_temperature": res.Temperature, "knn_bank_images": res.BankImages, "knn_test_images": res.TestImages,
		"knn_seconds": res.Seconds}
	if err := m.run.LogMetrics(rec); err != nil {
		return err
	}
	m.progress.Printf("knn: epoch %d/%d  top-1 %.2f%%  (k %d, T %g; %d test images against %d training images; %.1fs)\n",
		st.Epoch, m.cfg.Epochs, 100*res.Accuracy, res.K, res.Temperature, res.TestImages, res.BankImages, res.Seconds)
	return nil
}

// KNNPoint is one kNN monitor record of a run's metrics.jsonl.
type KNNPoint struct {
	// Epoch is the number of epochs trained (0: before the first step), Step the steps,
	// Accuracy the kNN top-1 accuracy on TestImages test images.
	Epoch      int     `json:"epoch"`
	Step       int64   `json:"step"`
	Accuracy   float64 `json:"knn_accuracy"`
	TestImages int     `json:"knn_test_images"`
}

// KNNCurve reads the kNN monitor's records of the pretraining run runDir, in the order
// logged (none when the monitor was off).
func KNNCurve(runDir string) ([]KNNPoint, error) {
	run, err := rundir.Open(runDir)
	if err != nil {
		return nil, err
	}
	recs, err := run.ReadMetrics()
	if err != nil {
		return nil, err
	}
	var out []KNNPoint
	for _, r := range recs {
		acc, ok := r["knn_accuracy"].(float64)
		if !ok {
			continue
		}
		p := KNNPoint{Accuracy: acc}
		if v, ok := r["epoch"].(float64); ok {
			p.Epoch = int(v)
		}
		if v, ok := r["step"].(float64); ok {
			p.Step = int64(v)
		}
		if v, ok := r["knn_test_images"].(float64); ok {
			p.TestImages = int(v)
		}
		out = append(out, p)
	}
	return out, nil
}
