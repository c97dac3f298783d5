package finetune

import (
	gocontext "context"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"

	"github.com/ainfonce/goacl/acl/knn"
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/train"

	"github.com/ainfonce/goacl/acl/optim"

	"github.com/ainfonce/goacl/datasets"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// ProbeConfig configures a linear probe: a linear classifier trained on the frozen
// encoder's features of un-augmented images (RoCL's linear evaluation protocol, spec
// §5.2, at a configurable scale). It measures clean accuracy only.
type ProbeConfig struct {
	// Branch is the encoder BN branch to read features with: BranchAuto (the default)
	// for the one the method's protocol evaluates (ProtocolBranch: "pgd" for AdvCL, ACL
	// and DynACL, "" for RoCL), "" for a single BN, or a branch name.
	Branch string `json:"branch"`
	// TrainSubset and TestSubset limit the images used (0: the whole split).
	TrainSubset int `json:"train_subset"`
	TestSubset  int `json:"test_subset"`
	Epochs      int `json:"epochs"`
	BatchSize   int `json:"batch_size"`
	// LR is the SGD learning rate (momentum 0.9, weight decay WeightDecay), decayed ×0.1
	// at 60 % and 80 % of the epochs.
	LR          float64 `json:"lr"`
	WeightDecay float64 `json:"weight_decay"`
	Seed        uint64  `json:"seed"`
	// DataDir, when set, replaces the run's data folder (LoadOptions.DataDir).
	DataDir string `json:"data_dir,omitempty"`
}

// DefaultProbeConfig returns a quick probe setting: 30 epochs of SGD lr 0.1 on the
// features, batch 256, of the BN branch the method's protocol evaluates.
func DefaultProbeConfig() ProbeConfig {
	return ProbeConfig{Branch: BranchAuto, Epochs: 30, BatchSize: 256, LR: 0.1, WeightDecay: 5e-4, Seed: 1}
}

// ProbeResult is the outcome of LinearProbe.
type ProbeResult struct {
	// Config is the probe's configuration; Checkpoint, CheckpointStep and
	// CheckpointSHA256 name the encoder's checkpoint and Branch the BN branch read;
	// TrainImages and TestImages count the images the head was trained and tested on, and
	// TrainAccuracy and TestAccuracy are its accuracies on them.
	Config           ProbeConfig `json:"config"`
	Checkpoint       string      `json:"checkpoint"`
	CheckpointStep   int64       `json:"checkpoint_step"`
	CheckpointSHA256 string      `json:"checkpoint_sha256"`
	Branch           string      `json:"branch"`
	TrainImages      int         `json:"train_images"`
	TestImages       int         `json:"test_images"`
	TrainAccuracy    float64     `json:"train_accuracy"`
	TestAccuracy     float64     `json:"test_accuracy"`
	// Data is the data folder read (pretrain.Config.ResolveData).
	Data *pretrain.DataSource `json:"data,omitempty"`
}

// Features computes the encoder features of every image of ds (un-augmented, eval-mode
// BN of the model's branch), in batches of batchSize, as a [N, D] float32 tensor
// (knn.FeatureExtractor).
func (m *Model) Features(ds *datasets.Dataset, batchSize int) (*tensors.Tensor, error) {
	fx, err := knn.NewFeatureExtractor(m.Backend, m.Ctx, m.Encoder, m.Branch, batchSize)
	if err != nil {
		return nil, err
	}
	f, err := fx.Features(ds)
	if err != nil {
		return nil, err
	}
	return tensors.FromFlatDataAndDimensions(f, ds.Len(), fx.Dim()), nil
}

// LinearProbe trains a linear classifier on the frozen features of a pretraining run's
// encoder (Load with pc.Branch: by default the branch the method's protocol evaluates,
// so that multi-BN runs such as AdvCL's are read as their evaluation reads them) with the training loop of acl/train, and reports clean
// train and test accuracy. Progress (a line at the first and last epoch and every 10th)
// goes to progress. It is LinearProbeContext without cancellation.
func LinearProbe(backend backends.Backend, runDir string, pc ProbeConfig, progress io.Writer) (*ProbeResult, error) {
	return LinearProbeContext(gocontext.Background(), backend, runDir, pc, progress)
}

// LinearProbeContext is LinearProbe stopped by ctx: once ctx is cancelled the probe stops
// between feature batches or training steps and returns an error wrapping ctx.Err() (a
// probe is not resumed: it is quick to run again).
func LinearProbeContext(ctx gocontext.Context, backend backends.Backend, runDir string, pc ProbeConfig, progress io.Writer) (*ProbeResult, error) {
	if pc.Epochs < 1 || pc.BatchSize < 1 || !(pc.LR > 0) || pc.TrainSubset < 0 || pc.TestSubset < 0 {
		return nil, fmt.Errorf("probe: epochs (%d) and batch (%d) must be ≥ 1, lr (%g) > 0, subsets ≥ 0", pc.Epochs, pc.BatchSize, pc.LR)
	}
	m, err := Load(backend, runDir, LoadOptions{Branch: pc.Branch, DataDir: pc.DataDir})
	if err != nil {
		return nil, err
	}
	cfg := m.Config
	data, err := m.Data()
	if err != nil {
		return nil, err
	}
	trainSet, err := datasets.LoadSplit(cfg.Dataset, data.Dir, datasets.Train)
	if err != nil {
		return nil, err
	}
	test, err := datasets.LoadSplit(cfg.Dataset, data.Dir, datasets.Test)
	if err != nil {
		return nil, err
	}
	if pc.TrainSubset > 0 && pc.TrainSubset < trainSet.Len() {
		trainSet = trainSet.Subset(pc.TrainSubset, pc.Seed)
	}
	if pc.TestSubset > 0 && pc.TestSubset < test.Len() {
		test = test.Subset(pc.TestSubset, pc.Seed)
	}
	p := train.NewProgress(progress)
	p.Printf("probe: features of %d train and %d test images (%s, branch %q)\n", trainSet.Len(), test.Len(), m.Encoder, m.Branch)
	stopped := func() error { return fmt.Errorf("probe: interrupted: %w", ctx.Err()) }
	trainF, err := m.Features(trainSet, 256)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, stopped()
	}
	testF, err := m.Features(test, 256)
	if err != nil {
		return nil, err
	}
	numClasses := trainSet.NumClasses
	dim := m.Encoder.FeatureDim()
	lctx := context.New().Checked(false)
	opt, err := optim.New(optim.Config{Kind: optim.SGD, Momentum: 0.9, WeightDecay: pc.WeightDecay})
	if err != nil {
		return nil, err
	}
	logits := func(ctx *context.Context, f *graph.Node) *graph.Node {
		c := ctx.In("probe").WithInitializer(initializers.Zero)
		w := c.VariableWithShape("weights", shapes.Make(f.DType(), dim, numClasses)).ValueGraph(f.Graph())
		b := c.VariableWithShape("biases", shapes.Make(f.DType(), numClasses)).ValueGraph(f.Graph())
		return graph.Add(graph.MatMul(f, w), graph.InsertAxes(b, 0))
	}
	loop := &train.Loop{
		Name: "probe", Backend: m.Backend, Model: lctx, Optimizer: opt, Progress: p,
		Step: func(ctx *context.Context, in []*graph.Node) train.Outputs {
			return train.Outputs{Loss: losses.CrossEntropy(logits(ctx, in[0]), in[1])}
		},
		Schedule: optim.StepDecay{Base: pc.LR, Milestones: []int{pc.Epochs * 6 / 10, pc.Epochs * 8 / 10}, Gamma: 0.1},
		Data:     newFeatureData(trainF, trainSet.Labels, pc.BatchSize, pc.Seed), Epochs: pc.Epochs,
		EndEpoch: func(_ train.State, e train.Epoch) error {
			if e.Index == 0 || e.Index == pc.Epochs-1 || (e.Index+1)%10 == 0 {
				p.Printf("probe: epoch %d/%d loss %.4f\n", e.Index+1, pc.Epochs, e.Loss)
			}
			return nil
		},
	}
	sum, err := loop.Run(ctx, train.State{})
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	if sum.Stopped != "" {
		return nil, stopped()
	}
	predict, err := context.NewExec(m.Backend, lctx, func(ctx *context.Context, f *graph.Node) *graph.Node {
		return graph.ArgMax(logits(ctx, f), -1, dtypes.Int32)
	})
	if err != nil {
		return nil, err
	}
	accuracy := func(f *tensors.Tensor, labels []int32) (float64, error) {
		out, err := predict.Exec(f)
		if err != nil {
			return 0, err
		}
		pred := tensors.MustCopyFlatData[int32](out[0])
		correct := 0
		for i, p := range pred {
			if p == labels[i] {
				correct++
			}
		}
		return float64(correct) / float64(len(labels)), nil
	}
	res := &ProbeResult{Config: pc, Checkpoint: m.Checkpoint.Path, CheckpointStep: m.Checkpoint.Step, CheckpointSHA256: m.Checkpoint.SHA256,
		Branch: m.Branch, TrainImages: trainSet.Len(), TestImages: test.Len(), Data: data}
	if res.TrainAccuracy, err = accuracy(trainF, trainSet.Labels); err != nil {
		return nil, err
	}
	if res.TestAccuracy, err = accuracy(testF, test.Labels); err != nil {
		return nil, err
	}
	return res, nil
}

// featureData is the probe's train.Data: the precomputed features in a fresh random order
// every epoch (from one generator seeded once, so epochs must be read in order, from
// their first batch: the probe never resumes), in batches of batchSize, a last batch of
// a single feature left out.
type featureData struct {
	feats     []float32
	labels    []int32
	dim, n    int
	batchSize int
	rng       *rand.Rand
}

func newFeatureData(f *tensors.Tensor, labels []int32, batchSize int, seed uint64) *featureData {
	dims := f.Shape().Dimensions
	return &featureData{feats: tensors.MustCopyFlatData[float32](f), labels: labels, n: dims[0], dim: dims[1],
		batchSize: batchSize, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// BatchesPerEpoch implements train.Data.
func (d *featureData) BatchesPerEpoch() int {
	n := 0
	for s := 0; s+1 < d.n; s += d.batchSize {
		n++
	}
	return n
}

// Epoch implements train.Data.
func (d *featureData) Epoch(epoch, from int) iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		if from != 0 {
			yield(train.Batch{}, fmt.Errorf("probe data: epoch %d from batch %d: the probe does not resume", epoch+1, from))
			return
		}
		perm := d.rng.Perm(d.n)
		for s := 0; s+1 < len(perm); s += d.batchSize {
			idx := perm[s:min(s+d.batchSize, len(perm))]
			fb := make([]float32, 0, len(idx)*d.dim)
			yb := make([]int32, len(idx))
			for i, j := range idx {
				fb = append(fb, d.feats[j*d.dim:(j+1)*d.dim]...)
				yb[i] = d.labels[j]
			}
			b := train.Batch{Inputs: []any{tensors.FromFlatDataAndDimensions(fb, len(idx), d.dim), tensors.FromFlatDataAndDimensions(yb, len(idx))}, Size: len(idx)}
			if !yield(b, nil) {
				return
			}
		}
	}
}
