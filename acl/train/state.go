package train

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"sort"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// State is where a run stands: the next batch to train and the steps done. Pretraining
// saves it with every checkpoint (its JSON fields are those of checkpoints written before
// this package existed) and resumes from it.
type State struct {
	// Epoch and Batch locate the next batch to train (Batch counts from 0 in the epoch).
	Epoch int `json:"epoch"`
	Batch int `json:"batch"`
	// Step is the number of optimizer steps done.
	Step int64 `json:"step"`
	// StepsPerEpoch is the number of batches of an epoch.
	StepsPerEpoch int `json:"steps_per_epoch"`
}

// Outputs is what a step builder returns: the loss to minimise (a scalar) and named
// scalar terms to log.
type Outputs struct {
	// Loss is the scalar minimised; Terms the named scalars logged.
	Loss  *graph.Node
	Terms map[string]*graph.Node
}

// Result is the outcome of one step, read back on the host.
type Result struct {
	// Loss is the step's loss (before the update), Terms its logged terms by name.
	Loss  float64
	Terms map[string]float64
	// LR is the learning rate the step used; Size the number of images of its batch.
	LR   float64
	Size int
	// Seconds is the wall time of the step's execution.
	Seconds float64
}

// Epoch summarises a finished epoch: its 0-based index, the mean loss and terms over its
// steps, the learning rate of its last step and its training time.
type Epoch struct {
	// Index is the epoch from 0 and Steps its number of steps; Loss and Terms are means
	// over them; LR is its last step's learning rate and Seconds its training time.
	Index   int
	Steps   int
	Loss    float64
	Terms   map[string]float64
	LR      float64
	Seconds float64
}

// Batch is one step's data: the step graph's inputs (tensors, or anything context.Exec
// accepts), in the order the step builder reads them, and the number of images.
type Batch struct {
	// Inputs are the step graph's inputs; Size the number of images.
	Inputs []any
	Size   int
}

// Data is what a Loop trains on: a fixed number of batches per epoch, and each epoch's
// batches from a given batch on. For an exact resume, batches must be a pure function of
// (epoch, batch index) (datasets.Loader's are).
type Data interface {
	BatchesPerEpoch() int
	Epoch(epoch, from int) iter.Seq2[Batch, error]
}

// Summary is what Run returns: where the run stopped and its last loss.
type Summary struct {
	State
	// FinalLoss is the loss of the last step trained.
	FinalLoss float64
	// Stopped is "" when the run trained all its epochs, else the status it stopped with
	// (rundir.StateInterrupted or rundir.StateStopped); such a run can be resumed from its
	// newest checkpoint when checkpoints are kept.
	Stopped string
	// Checkpoint is the newest checkpoint kept ("" when none).
	Checkpoint string
}

// ErrNonFinite is wrapped by the error Run returns when a loss or term becomes NaN or
// ±Inf, or when a variable holds NaN or ±Inf when a checkpoint is due.
var ErrNonFinite = errors.New("non-finite loss")

// finite reports whether the loss is finite (the terms are recorded, not checked: the
// loss is what the update follows).
func (r *Result) finite() bool { return !math.IsNaN(r.Loss) && !math.IsInf(r.Loss, 0) }

// JSONSafe turns non-finite values into strings ("NaN", "+Inf", "-Inf"), which
// encoding/json cannot write as numbers: the form status.json and metrics.jsonl record
// them in.
func JSONSafe(m map[string]float64) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			out[k] = fmt.Sprint(v)
		} else {
			out[k] = v
		}
	}
	return out
}

// NonFiniteVariables lists the variables of ctx whose value holds a NaN or ±Inf (float32
// and float64 variables; at most 10 names, then a count), sorted.
func NonFiniteVariables(ctx *context.Context) []string {
	var bad []string
	n := 0
	ctx.EnumerateVariables(func(v *context.Variable) {
		if !v.HasValue() {
			return
		}
		t, err := v.Value()
		if err != nil {
			return
		}
		finite := true
		switch t.DType() {
		case dtypes.Float32:
			_ = tensors.ConstFlatData(t, func(xs []float32) {
				for _, x := range xs {
					if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
						finite = false
						return
					}
				}
			})
		case dtypes.Float64:
			_ = tensors.ConstFlatData(t, func(xs []float64) {
				for _, x := range xs {
					if math.IsNaN(x) || math.IsInf(x, 0) {
						finite = false
						return
					}
				}
			})
		}
		if !finite {
			if n++; n <= 10 {
				bad = append(bad, v.ScopeAndName())
			}
		}
	})
	sort.Strings(bad)
	if n > 10 {
		bad = append(bad, fmt.Sprintf("and %d more", n-10))
	}
	return bad
}
