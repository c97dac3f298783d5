package train

import (
	gocontext "context"
	"errors"
	"iter"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// toyData is a least-squares problem: 4 batches of 8 points per epoch, y = x·[2, −1] + 0.5,
// the order of the batches rotated by the epoch (a pure function of epoch and batch).
type toyData struct{}

func (toyData) BatchesPerEpoch() int { return 4 }

func (toyData) Epoch(epoch, from int) iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		for b := from; b < 4; b++ {
			k := (b + epoch) % 4
			x, y := make([]float32, 16), make([]float32, 8)
			for i := range 8 {
				a, c := float32(k*8+i)/32, float32((k*8+i)%5)/5
				x[2*i], x[2*i+1] = a, c
				y[i] = 2*a - c + 0.5
			}
			if !yield(Batch{Inputs: []any{tensors.FromFlatDataAndDimensions(x, 8, 2), tensors.FromFlatDataAndDimensions(y, 8)}, Size: 8}, nil) {
				return
			}
		}
	}
}

// toyLoop is a Loop on toyData for epochs epochs, logging and checkpointing into run.
func toyLoop(t *testing.T, run *rundir.Dir, epochs int) *Loop {
	t.Helper()
	opt, err := optim.New(optim.Config{Kind: optim.SGD, Momentum: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	return &Loop{
		Name: "toy", Backend: testbackend.Get(t), Model: context.New().Checked(false), Optimizer: opt,
		Schedule: optim.StepDecay{Base: 0.2, Milestones: []int{2}, Gamma: 0.1}, Data: toyData{}, Epochs: epochs,
		Step: func(ctx *context.Context, in []*graph.Node) Outputs {
			w := ctx.In("toy").WithInitializer(initializers.Zero).VariableWithShape("w", shapes.Make(in[0].DType(), 2, 1)).ValueGraph(in[0].Graph())
			b := ctx.In("toy").WithInitializer(initializers.Zero).VariableWithShape("b", shapes.Make(in[0].DType())).ValueGraph(in[0].Graph())
			pred := graph.Add(graph.Reshape(graph.MatMul(in[0], w), 8), b)
			loss := graph.ReduceAllMean(graph.Square(graph.Sub(pred, in[1])))
			return Outputs{Loss: loss, Terms: map[string]*graph.Node{"bias": b, "abs_w0": graph.Abs(graph.ReduceAllSum(w))}}
		},
		RunDir: run, LogEvery: 3,
		Checkpoints: &Checkpoints{Dir: run.File(rundir.CheckpointsDir), Every: 5},
	}
}

// The loop trains, records every LogEvery steps and at epoch ends (fields as pretraining
// writes them), checkpoints at epoch ends and every Every steps, reports epoch means, and
// a run stopped by MaxSteps resumes to the same weights as an uninterrupted one.
func TestLoopRecordsCheckpointsAndResumesExactly(t *testing.T) {
	straightDir := t.TempDir()
	straight, err := rundir.Create(straightDir)
	if err != nil {
		t.Fatal(err)
	}
	defer straight.Close()
	l := toyLoop(t, straight, 3)
	var epochs []Epoch
	steps := 0
	l.EndEpoch = func(st State, e Epoch) error {
		epochs = append(epochs, e)
		return nil
	}
	l.AfterStep = func(st State, r *Result) error { steps++; return nil }
	sum, err := l.Run(gocontext.Background(), State{})
	if err != nil || sum.Step != 12 || sum.Stopped != "" || sum.Epoch != 3 {
		t.Fatalf("run: %+v, %v", sum, err)
	}
	if steps != 12 || len(epochs) != 3 || epochs[2].Steps != 4 || !(epochs[2].Loss < epochs[0].Loss) || epochs[1].LR != 0.2 || math.Abs(epochs[2].LR-0.02) > 1e-12 {
		t.Errorf("%d steps; epochs %+v", steps, epochs)
	}
	recs, err := straight.ReadMetrics()
	if err != nil {
		t.Fatal(err)
	}
	var logged []float64
	for _, r := range recs {
		logged = append(logged, r["step"].(float64))
		for _, k := range []string{"epoch", "batch", "loss", "lr", "images_per_sec", "step_seconds", "bias", "abs_w0"} {
			if _, ok := r[k]; !ok {
				t.Errorf("record %v lacks %q", r, k)
			}
		}
	}
	if want := []float64{3, 4, 6, 8, 9, 12}; len(logged) != len(want) || logged[0] != 3 || logged[1] != 4 || logged[5] != 12 {
		t.Errorf("logged steps %v, want %v", logged, want)
	}
	paths, _ := rundir.CheckpointFiles(straight.File(rundir.CheckpointsDir))
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	if strings.Join(names, " ") != "ckpt-000000004.ckpt ckpt-000000005.ckpt ckpt-000000008.ckpt ckpt-000000010.ckpt ckpt-000000012.ckpt" {
		t.Errorf("checkpoints %v", names)
	}
	var st rundir.Status
	if err := straight.ReadJSON(rundir.StatusFile, &st); err != nil || st.State != rundir.StateDone || st.Step != 12 || !strings.HasSuffix(st.Checkpoint, "ckpt-000000012.ckpt") {
		t.Errorf("status %+v, %v", st, err)
	}

	// Stop after 6 steps (mid-epoch), resume from the checkpoint into a fresh model.
	resumedDir := t.TempDir()
	resumed, err := rundir.Create(resumedDir)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	first := toyLoop(t, resumed, 3)
	first.MaxSteps = 6
	sum, err = first.Run(gocontext.Background(), State{})
	if err != nil || sum.Stopped != rundir.StateStopped || sum.Step != 6 || sum.Batch != 2 {
		t.Fatalf("first leg: %+v, %v", sum, err)
	}
	ck, _, err := rundir.LatestCheckpoint(resumed.File(rundir.CheckpointsDir))
	if err != nil || ck.Step != 6 {
		t.Fatalf("checkpoint of the stop: %v, %v", ck, err)
	}
	second := toyLoop(t, resumed, 3)
	if err := ck.Restore(second.Model, rundir.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	second.Checkpoints.Last = ck.Path
	if sum, err = second.Run(gocontext.Background(), sum.State); err != nil || sum.Step != 12 {
		t.Fatalf("second leg: %+v, %v", sum, err)
	}
	a, _, _ := rundir.LatestCheckpoint(straight.File(rundir.CheckpointsDir))
	b, _, _ := rundir.LatestCheckpoint(resumed.File(rundir.CheckpointsDir))
	if d := a.DifferentValues(b); len(d) > 0 {
		t.Errorf("variables differ after resume: %v", d)
	}
}

// A non-finite loss stops the run with ErrNonFinite: the step's record with "NaN", and
// status failed with the step, loss, terms and the last good checkpoint. A cancelled
// context stops it as interrupted, after a checkpoint.
func TestLoopStopsOnNaNAndOnCancel(t *testing.T) {
	run, err := rundir.Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	l := toyLoop(t, run, 2)
	l.Inspect = func(st State, _ *context.Context, r *Result) {
		if st.Step == 7 {
			r.Loss = math.NaN()
		}
	}
	sum, err := l.Run(gocontext.Background(), State{})
	if !errors.Is(err, ErrNonFinite) || sum.Step != 7 {
		t.Fatalf("want ErrNonFinite at step 7, got %+v, %v", sum, err)
	}
	var st rundir.Status
	if err := run.ReadJSON(rundir.StatusFile, &st); err != nil || st.State != rundir.StateFailed || st.Step != 7 || st.Loss != "NaN" ||
		!strings.HasSuffix(st.Checkpoint, "ckpt-000000005.ckpt") || !strings.Contains(st.Reason, "last good checkpoint kept") || st.Terms["bias"] == nil {
		t.Errorf("status %+v, %v", st, err)
	}
	recs, _ := run.ReadMetrics()
	if last := recs[len(recs)-1]; last["loss"] != "NaN" || last["step"] != 7.0 {
		t.Errorf("last record %v", last)
	}

	run2, err := rundir.Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer run2.Close()
	ctx, cancel := gocontext.WithCancel(gocontext.Background())
	l = toyLoop(t, run2, 2)
	l.AfterStep = func(st State, _ *Result) error {
		if st.Step == 3 {
			cancel()
		}
		return nil
	}
	sum, err = l.Run(ctx, State{})
	if err != nil || sum.Stopped != rundir.StateInterrupted || sum.Step != 3 || !strings.HasSuffix(sum.Checkpoint, "ckpt-000000003.ckpt") {
		t.Errorf("cancelled run: %+v, %v", sum, err)
	}
}
