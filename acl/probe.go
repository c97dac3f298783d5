package acl

import (
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"

	"github.com/ainfonce/goacl/acl/internal/hostval"
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/acl/pretrain"

	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/layers"
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
	// Branch is the encoder BN branch to read features with ("" for single-BN methods;
	// AdvCL's protocol keeps "pgd").
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
}

// DefaultProbeConfig returns a quick probe setting: 30 epochs of SGD lr 0.1 on the
// features, batch 256.
func DefaultProbeConfig() ProbeConfig {
	return ProbeConfig{Epochs: 30, BatchSize: 256, LR: 0.1, WeightDecay: 5e-4, Seed: 1}
}

// ProbeResult is the outcome of LinearProbe.
type ProbeResult struct {
	Config        ProbeConfig `json:"config"`
	Checkpoint    string      `json:"checkpoint"`
	TrainImages   int         `json:"train_images"`
	TestImages    int         `json:"test_images"`
	TrainAccuracy float64     `json:"train_accuracy"`
	TestAccuracy  float64     `json:"test_accuracy"`
}

// LoadEncoder restores the encoder of a pretraining run (its newest checkpoint) into a
// fresh context and returns both, with the run's configuration. The encoder is the one
// pretraining trained (RunEncoder): for ACL and DynACL runs it normalises its [0,1] input
// with the ImageNet mean/std itself, as in training. Loading is strict (see
// restoreEncoderStrict): every encoder variable the branch's forward pass needs must be
// in the checkpoint, and the checkpoint's encoder may hold nothing else but other BN
// branches' copies; otherwise the error lists the missing and unexpected variables (a
// random encoder is never evaluated silently).
func LoadEncoder(backend backends.Backend, runDir, branch string) (*context.Context, layers.Encoder, *pretrain.Config, *rundir.Checkpoint, error) {
	enc, cfg, err := RunEncoder(runDir)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ckpt, skipped, err := rundir.LatestCheckpoint(filepath.Join(runDir, rundir.CheckpointsDir))
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("run %s has no usable checkpoint (%v): %w", runDir, skipped, err)
	}
	ctx := context.New().Checked(false)
	if _, err := restoreEncoderStrict(backend, ctx, ckpt, enc, branch); err != nil {
		return nil, nil, nil, nil, err
	}
	return ctx, enc, cfg, ckpt, nil
}

// Features computes the encoder features of every image of ds (un-augmented, eval-mode
// BN of branch), in batches of batchSize, as a [N, D] float32 tensor.
func Features(backend backends.Backend, ctx *context.Context, enc layers.Encoder, branch string, ds *datasets.Dataset, batchSize int) (*tensors.Tensor, error) {
	exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		ctx.SetTraining(x.Graph(), false)
		return enc.Features(ctx, x, branch)
	})
	if err != nil {
		return nil, err
	}
	dim := enc.FeatureDim()
	out := make([]float32, 0, ds.Len()*dim)
	for start := 0; start < ds.Len(); start += batchSize {
		idx := make([]int, 0, batchSize)
		for i := start; i < min(start+batchSize, ds.Len()); i++ {
			idx = append(idx, i)
		}
		pix, _, err := ds.Float32Batch(idx)
		if err != nil {
			return nil, err
		}
		res, err := exec.Exec(tensors.FromFlatDataAndDimensions(pix, len(idx), ds.Height, ds.Width, ds.Channels))
		if err != nil {
			return nil, err
		}
		out = append(out, tensors.MustCopyFlatData[float32](res[0])...)
	}
	return tensors.FromFlatDataAndDimensions(out, ds.Len(), dim), nil
}

// LinearProbe trains a linear classifier on the frozen features of a pretraining run's
// encoder and reports clean train and test accuracy. Progress lines go to progress.
func LinearProbe(backend backends.Backend, runDir string, pc ProbeConfig, progress io.Writer) (*ProbeResult, error) {
	if pc.Epochs < 1 || pc.BatchSize < 1 || !(pc.LR > 0) || pc.TrainSubset < 0 || pc.TestSubset < 0 {
		return nil, fmt.Errorf("probe: epochs (%d) and batch (%d) must be ≥ 1, lr (%g) > 0, subsets ≥ 0", pc.Epochs, pc.BatchSize, pc.LR)
	}
	if backend == nil {
		var err error
		if backend, err = engine.New(); err != nil {
			return nil, err
		}
	}
	ctx, enc, cfg, ckpt, err := LoadEncoder(backend, runDir, pc.Branch)
	if err != nil {
		return nil, err
	}
	train, test, err := loadSplits(cfg.Dataset, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if pc.TrainSubset > 0 && pc.TrainSubset < train.Len() {
		train = train.Subset(pc.TrainSubset, pc.Seed)
	}
	if pc.TestSubset > 0 && pc.TestSubset < test.Len() {
		test = test.Subset(pc.TestSubset, pc.Seed)
	}
	progressf(progress, "probe: features of %d train and %d test images (%s, branch %q)\n", train.Len(), test.Len(), enc, pc.Branch)
	trainF, err := Features(backend, ctx, enc, pc.Branch, train, 256)
	if err != nil {
		return nil, err
	}
	testF, err := Features(backend, ctx, enc, pc.Branch, test, 256)
	if err != nil {
		return nil, err
	}
	numClasses := train.NumClasses
	dim := enc.FeatureDim()
	lctx := context.New().Checked(false)
	opt, _ := optim.New(optim.Config{Kind: optim.SGD, Momentum: 0.9, WeightDecay: pc.WeightDecay})
	logits := func(ctx *context.Context, f *graph.Node) *graph.Node {
		c := ctx.In("probe").WithInitializer(initializers.Zero)
		w := c.VariableWithShape("weights", shapes.Make(f.DType(), dim, numClasses)).ValueGraph(f.Graph())
		b := c.VariableWithShape("biases", shapes.Make(f.DType(), numClasses)).ValueGraph(f.Graph())
		return graph.Add(graph.MatMul(f, w), graph.InsertAxes(b, 0))
	}
	step, err := context.NewExec(backend, lctx, func(ctx *context.Context, f, y *graph.Node) *graph.Node {
		loss := losses.CrossEntropy(logits(ctx, f), y)
		opt.UpdateGraph(ctx, f.Graph(), loss)
		return loss
	})
	if err != nil {
		return nil, err
	}
	predict, err := context.NewExec(backend, lctx, func(ctx *context.Context, f *graph.Node) *graph.Node {
		return graph.ArgMax(logits(ctx, f), -1, dtypes.Int32)
	})
	if err != nil {
		return nil, err
	}
	feats := tensors.MustCopyFlatData[float32](trainF)
	rng := rand.New(rand.NewPCG(pc.Seed, 0x9e3779b97f4a7c15))
	schedule := optim.StepDecay{Base: pc.LR, Milestones: []int{pc.Epochs * 6 / 10, pc.Epochs * 8 / 10}, Gamma: 0.1}
	for epoch := 0; epoch < pc.Epochs; epoch++ {
		if err := optim.SetLearningRate(lctx, schedule.LearningRate(epoch, 0, 1)); err != nil {
			return nil, err
		}
		perm := rng.Perm(train.Len())
		var sum float64
		var batches int
		for s := 0; s+1 < len(perm); s += pc.BatchSize {
			idx := perm[s:min(s+pc.BatchSize, len(perm))]
			fb := make([]float32, 0, len(idx)*dim)
			yb := make([]int32, len(idx))
			for i, j := range idx {
				fb = append(fb, feats[j*dim:(j+1)*dim]...)
				yb[i] = train.Labels[j]
			}
			out, err := step.Exec(tensors.FromFlatDataAndDimensions(fb, len(idx), dim), tensors.FromFlatDataAndDimensions(yb, len(idx)))
			if err != nil {
				return nil, err
			}
			sum += hostval.Scalar(out[0])
			batches++
		}
		if epoch == 0 || epoch == pc.Epochs-1 || (epoch+1)%10 == 0 {
			progressf(progress, "probe: epoch %d/%d loss %.4f\n", epoch+1, pc.Epochs, sum/float64(batches))
		}
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
	res := &ProbeResult{Config: pc, Checkpoint: ckpt.Path, TrainImages: train.Len(), TestImages: test.Len()}
	if res.TrainAccuracy, err = accuracy(trainF, train.Labels); err != nil {
		return nil, err
	}
	if res.TestAccuracy, err = accuracy(testF, test.Labels); err != nil {
		return nil, err
	}
	return res, nil
}

// loadSplits loads the train and test splits of a CIFAR data set.
func loadSplits(name, dir string) (train, test *datasets.Dataset, err error) {
	switch name {
	case datasets.CIFAR10:
		return datasets.LoadCIFAR10(dir)
	case datasets.CIFAR100:
		return datasets.LoadCIFAR100(dir)
	}
	return nil, nil, fmt.Errorf("dataset %q: want %s or %s", name, datasets.CIFAR10, datasets.CIFAR100)
}
