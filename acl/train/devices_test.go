package train

import (
	gocontext "context"
	"iter"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/internal/testvals"
	"github.com/ainfonce/goacl/internal/xlatest"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// batchData yields 3 batches of n float64 points, x ∈ [n,3], as in a contrastive batch.
type batchData struct{ n int }

func (d batchData) BatchesPerEpoch() int { return 3 }

func (d batchData) Epoch(epoch, from int) iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		for b := from; b < 3; b++ {
			x := testvals.RandomData(uint64(100*epoch+b), 3*d.n)
			if !yield(Batch{Inputs: []any{tensors.FromFlatDataAndDimensions(x, d.n, 3)}, Size: d.n}, nil) {
				return
			}
		}
	}
}

// globalBatchLoop trains a step whose every term needs the whole batch: a linear map, a
// BatchNorm-like standardisation with batch statistics (a running mean updated in the
// graph), an InfoNCE-like loss over the n×n similarity matrix, and a host input (a
// scale fed by Loop.Inputs, which changes each step).
func globalBatchLoop(t *testing.T, b backends.Backend, devices, n int) (*Loop, *[]float64) {
	t.Helper()
	opt, err := optim.New(optim.Config{Kind: optim.SGD, Momentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	losses := new([]float64)
	l := &Loop{
		Name: "global-batch", Backend: b, Model: context.New().Checked(false), Devices: devices, Optimizer: opt,
		Schedule: optim.StepDecay{Base: 0.1}, Data: batchData{n}, Epochs: 2,
		Inputs: func(st State) ([]any, error) { return []any{1 + 0.1*float64(st.Step)}, nil },
		Step: func(ctx *context.Context, in []*graph.Node) Outputs {
			x, scale := in[0], in[1]
			g := x.Graph()
			w := ctx.In("toy").WithInitializer(initializers.RandomNormalFn(ctx, 0.5)).VariableWithShape("w", shapes.Make(x.DType(), 3, 4)).ValueGraph(g)
			h := graph.MatMul(x, w)
			mean := graph.ReduceAndKeep(h, graph.ReduceMean, 0)
			std := graph.Sqrt(graph.AddScalar(graph.ReduceAndKeep(graph.Square(graph.Sub(h, mean)), graph.ReduceMean, 0), 1e-5))
			running := ctx.In("toy").WithInitializer(initializers.Zero).VariableWithShape("running_mean", shapes.Make(x.DType(), 1, 4)).SetTrainable(false)
			running.SetValueGraph(graph.Add(graph.MulScalar(running.ValueGraph(g), 0.9), graph.MulScalar(graph.StopGradient(mean), 0.1)))
			z := graph.Mul(graph.Div(graph.Sub(h, mean), std), scale)
			sim := graph.MatMul(z, graph.Transpose(z, 0, 1))
			diag := graph.Mul(sim, graph.ConvertDType(graph.Equal(graph.Iota(g, sim.Shape(), 0), graph.Iota(g, sim.Shape(), 1)), x.DType()))
			loss := graph.ReduceAllMean(graph.Sub(graph.Log(graph.ReduceSum(graph.Exp(sim), 1)), graph.ReduceSum(diag, 1)))
			return Outputs{Loss: loss}
		},
		AfterStep: func(st State, r *Result) error { *losses = append(*losses, r.Loss); return nil },
	}
	if err := l.Model.SetRNGStateFromSeed(5); err != nil {
		t.Fatal(err)
	}
	return l, losses
}

// TestDataParallelLoop: the loop's step over 4 XLA CPU host devices (batch split, host
// input and variables replicated) trains as on 1 device: the same loss every step and
// the same variables, running statistic included, within float64 reduction order.
func TestDataParallelLoop(t *testing.T) {
	var losses [2][]float64
	var models [2]*context.Context
	for i, n := range []int{1, 4} {
		l, ls := globalBatchLoop(t, xlatest.BackendWithDevices(t, n), n, 8)
		if _, err := l.Run(gocontext.Background(), State{}); err != nil {
			t.Fatalf("%d device(s): %v", n, err)
		}
		losses[i], models[i] = *ls, l.Model
	}
	if len(losses[1]) != 6 || testvals.MaxRelErr(losses[1], losses[0]) > 1e-12 {
		t.Errorf("losses on 4 devices %v, on 1 device %v", losses[1], losses[0])
	}
	for _, name := range []string{"w", "running_mean"} {
		a, _ := models[0].In("toy").GetVariable(name).Value()
		b, _ := models[1].In("toy").GetVariable(name).Value()
		if d := testvals.MaxRelErr(testvals.Float64s(t, b), testvals.Float64s(t, a)); d > 1e-12 {
			t.Errorf("variable %s differs by %.3g between 4 devices and 1", name, d)
		}
	}
}

// A batch that does not divide over the devices fails the step with a clear error, and
// the pure-Go backend refuses several devices before any step, naming XLA.
func TestDataParallelLoopErrors(t *testing.T) {
	l, _ := globalBatchLoop(t, xlatest.BackendWithDevices(t, 4), 4, 6)
	if _, err := l.Run(gocontext.Background(), State{}); err == nil || !strings.Contains(err.Error(), "does not divide over 4 devices") {
		t.Errorf("a batch of 6 over 4 devices: %v", err)
	}
	pureGo, err := engine.NewPureGo("")
	if err != nil {
		t.Fatal(err)
	}
	l, losses := globalBatchLoop(t, pureGo, 2, 8)
	if _, err := l.Run(gocontext.Background(), State{}); err == nil || !strings.Contains(err.Error(), "XLA") || len(*losses) != 0 {
		t.Errorf("2 devices on the pure-Go backend: %v after %d steps", err, len(*losses))
	}
}
