package finetune

import (
	"fmt"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Accuracy is the outcome of evaluating a classifier on a set of images.
type Accuracy struct {
	// Images is the number of images evaluated; CleanCorrect and RobustCorrect how many
	// were classified correctly without and under the attack; Clean and Robust the same as
	// fractions of Images.
	Images        int     `json:"images"`
	CleanCorrect  int     `json:"clean_correct"`
	RobustCorrect int     `json:"robust_correct"`
	Clean         float64 `json:"clean_accuracy"`
	Robust        float64 `json:"robust_accuracy"`
}

// PGDEvaluator measures clean accuracy and robust accuracy under PGD on the cross-entropy
// (the model in eval mode): an image counts as robust when the adversarial example of
// every restart is classified correctly (the official RA counts the adversarial
// prediction alone, with one restart). Its compiled graph is kept between calls. The
// finetuning protocol selects its epoch with it, and eval reports with it.
type PGDEvaluator struct {
	clf       *Classifier
	attack    attack.PGDConfig
	restarts  int
	batchSize int
	seed      uint64
	exec      *context.Exec
}

// NewPGDEvaluator returns an evaluator of clf under attack (restarts ≥ 1) in batches of
// batchSize; seed fixes the random starts, so the same seed gives the same result.
func NewPGDEvaluator(clf *Classifier, atk attack.PGDConfig, restarts, batchSize int, seed uint64) (*PGDEvaluator, error) {
	if err := atk.Validate(); err != nil {
		return nil, err
	}
	if restarts < 1 || batchSize < 1 {
		return nil, fmt.Errorf("evaluation: restarts (%d) and batch size (%d) must be ≥ 1", restarts, batchSize)
	}
	e := &PGDEvaluator{clf: clf, attack: atk, restarts: restarts, batchSize: batchSize, seed: seed}
	var err error
	e.exec, err = context.NewExec(clf.Backend, clf.Ctx, func(ctx *context.Context, x, y *graph.Node) []*graph.Node {
		g := x.Graph()
		var clean, adv *graph.Node
		layers.InMode(ctx, g, false, false, func() {
			clean = graph.ArgMax(clf.Logits(ctx, x), -1, dtypes.Int32)
			advX := attack.PGD(ctx, []*graph.Node{x}, atk, func(advs []*graph.Node) *graph.Node {
				return graph.ReduceAllSum(attack.PerExampleAttackLoss(attack.LossCE, clf.Logits(ctx, advs[0]), y, nil))
			})[0]
			adv = graph.ArgMax(clf.Logits(ctx, advX), -1, dtypes.Int32)
		})
		return []*graph.Node{graph.Equal(clean, y), graph.Equal(adv, y)}
	})
	return e, err
}

// Settings describes the evaluator's attack.
func (e *PGDEvaluator) Settings() attack.Settings { return e.attack.Settings(e.restarts) }

// Evaluate measures ds (un-augmented images, in order). The classifier context's RNG is
// set from the evaluator's seed for the evaluation and restored afterwards, so evaluating
// during training neither depends on nor disturbs the training's random stream.
func (e *PGDEvaluator) Evaluate(ds *datasets.Dataset) (*Accuracy, error) {
	if ds.Len() == 0 {
		return nil, fmt.Errorf("evaluation: empty data set")
	}
	restore, err := withSeededRNG(e.clf.Ctx, e.seed)
	if err != nil {
		return nil, err
	}
	defer restore()
	acc := &Accuracy{Images: ds.Len()}
	// Every batch runs with the same shape: the last one is padded with black images,
	// whose results are dropped. Eval-mode examples are independent, so this is exact,
	// and it saves compiling a second (on XLA: slow) PGD graph for the remainder.
	shape := min(e.batchSize, ds.Len())
	err = ds.PaddedBatches(shape, func(pix []float32, labels []int32, n int) error {
		xt := tensors.FromFlatDataAndDimensions(pix, shape, ds.Height, ds.Width, ds.Channels)
		yt := tensors.FromFlatDataAndDimensions(labels, shape)
		robust := make([]bool, n)
		for r := range e.restarts {
			out, err := e.exec.Exec(xt, yt)
			if err != nil {
				return err
			}
			clean := tensors.MustCopyFlatData[bool](out[0])
			adv := tensors.MustCopyFlatData[bool](out[1])
			for i := range n {
				if r == 0 {
					robust[i] = adv[i]
					if clean[i] {
						acc.CleanCorrect++
					}
				} else {
					robust[i] = robust[i] && adv[i]
				}
			}
		}
		for _, ok := range robust {
			if ok {
				acc.RobustCorrect++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	acc.Clean = float64(acc.CleanCorrect) / float64(acc.Images)
	acc.Robust = float64(acc.RobustCorrect) / float64(acc.Images)
	return acc, nil
}

// withSeededRNG seeds ctx's RNG with seed and returns a function that puts the previous
// RNG state back.
func withSeededRNG(ctx *context.Context, seed uint64) (func(), error) {
	var saved *tensors.Tensor
	if v := ctx.GetVariableByScopeAndName(context.RootScope, context.RNGStateVariableName); v != nil && v.HasValue() {
		t, err := v.Value()
		if err != nil {
			return nil, err
		}
		if saved, err = t.LocalClone(); err != nil {
			return nil, err
		}
	}
	if err := ctx.SetRNGStateFromSeed(int64(seed)); err != nil {
		return nil, err
	}
	return func() {
		if saved != nil {
			v := ctx.GetVariableByScopeAndName(context.RootScope, context.RNGStateVariableName)
			_ = v.SetValue(saved)
		}
	}, nil
}

// Exec is the evaluator's compiled graph (for tools that inspect it, such as the op
// inventory).
func (e *PGDEvaluator) Exec() *context.Exec { return e.exec }
