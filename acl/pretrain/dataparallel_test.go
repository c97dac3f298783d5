package pretrain

import (
	gocontext "context"
	"encoding/json"
	"iter"
	"math"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/acl/train"
	"github.com/ainfonce/goacl/internal/xlatest"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Data-parallel pretraining (Config.Devices, train.Loop.Devices) on the XLA CPU plugin's
// host devices: a step over 4 devices must be the step of 1 device with the whole batch.

// float64Data feeds a pretraining's batches with their images as float64: the model's
// variables and every computation follow the input's dtype (layers), so the same step
// runs in double precision, where reduction-order differences are ~1e-16 instead of
// float32's ~1e-7 and cannot hide a semantic difference.
type float64Data struct{ train.Data }

// Epoch implements train.Data.
func (d float64Data) Epoch(epoch, from int) iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for b, err := range d.Data.Epoch(epoch, from) {
			if err == nil {
				for i, in := range b.Inputs {
					if t := in.(*tensors.Tensor); t.DType() == dtypes.Float32 {
						f32 := tensors.MustCopyFlatData[float32](t)
						f64 := make([]float64, len(f32))
						for j, v := range f32 {
							f64[j] = float64(v)
						}
						b.Inputs[i] = tensors.FromFlatDataAndDimensions(f64, t.Shape().Dimensions...)
					}
				}
			}
			if !yield(b, err) {
				return
			}
		}
	}
}

// dpLeg is one leg of a float64 training: the loss and terms of each step, the model and
// the method's host state at its end.
type dpLeg struct {
	steps [][]float64 // per step: loss, then the terms in sorted-name order
	model *context.Context
	state State
}

// trainFloat64 trains cfg in float64 with Pretrain's step, data, optimizer, schedule and
// host state on devices devices of b until step maxSteps, saving a checkpoint in dir
// every every steps and when it stops. With from, it resumes that checkpoint as
// Pretrain does.
func trainFloat64(t *testing.T, cfg Config, b backends.Backend, devices int, maxSteps int64, dir string, from *rundir.Checkpoint, every int64) dpLeg {
	t.Helper()
	method, _ := MethodByName(cfg.Method)
	data, err := loadData(&cfg, method)
	if err != nil {
		t.Fatal(err)
	}
	step, state, err := NewStep(&cfg, data.pseudoLabelSets())
	if err != nil {
		t.Fatal(err)
	}
	schedule, _ := cfg.Schedule.Build()
	optimizer, _ := optim.New(cfg.Optimizer)
	model := context.New().Checked(false)
	if err := model.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		t.Fatal(err)
	}
	var start TrainState
	if from != nil {
		if err := json.Unmarshal(from.State, &start); err != nil {
			t.Fatal(err)
		}
		if err := from.Restore(model, rundir.RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := state.Load(start.Method); err != nil {
			t.Fatal(err)
		}
	}
	leg := dpLeg{model: model, state: state}
	loop := &train.Loop{Backend: b, Model: model, Step: step.Build, Devices: devices, Optimizer: optimizer,
		Schedule: schedule, Data: float64Data{data}, Epochs: cfg.Epochs, MaxSteps: maxSteps,
		Inputs: stepScalars(&cfg, step, state),
		AfterStep: func(st train.State, r *train.Result) error {
			names := make([]string, 0, len(r.Terms))
			for n := range r.Terms {
				names = append(names, n)
			}
			sort.Strings(names)
			vals := []float64{r.Loss}
			for _, n := range names {
				vals = append(vals, r.Terms[n])
			}
			leg.steps = append(leg.steps, vals)
			return state.AfterStep(st, r.Size, r.Terms)
		},
		Checkpoints: &train.Checkpoints{Dir: dir, Every: every, State: func(st train.State) (any, error) {
			saved, err := state.Save()
			return TrainState{State: st, Method: saved}, err
		}},
	}
	t0 := time.Now()
	if _, err := loop.Run(gocontext.Background(), start.State); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d device(s): steps %d–%d in %.1f s", devices, start.Step+1, maxSteps, time.Since(t0).Seconds())
	return leg
}

// latestCheckpoint reads the newest checkpoint of dir.
func latestCheckpoint(t *testing.T, dir string) *rundir.Checkpoint {
	t.Helper()
	c, _, err := rundir.LatestCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sameVariables compares every variable of two checkpoints: integer ones (the RNG state,
// the global step) exactly, float ones within tol (MaxRelErr); it returns the largest
// float difference.
func sameVariables(t *testing.T, what string, a, b *rundir.Checkpoint, tol float64) float64 {
	t.Helper()
	if len(a.Variables) != len(b.Variables) {
		t.Fatalf("%s: %d variables against %d", what, len(a.Variables), len(b.Variables))
	}
	worst := 0.0
	for i, v := range a.Variables {
		w := b.Variables[i]
		x, errX := a.Tensor(v)
		y, errY := b.Tensor(w)
		if errX != nil || errY != nil || v.Key() != w.Key() {
			t.Fatalf("%s: variable %s / %s: %v %v", what, v.Key(), w.Key(), errX, errY)
		}
		if !x.DType().IsFloat() {
			if !x.Equal(y) {
				t.Errorf("%s: %s = %v, want %v", what, v.Key(), y, x)
			}
			continue
		}
		d := maxRelErr(toF64(t, y), toF64(t, x))
		if !(d <= tol) {
			t.Errorf("%s: %s differs by %.3g (tolerance %g)", what, v.Key(), d, tol)
		}
		worst = math.Max(worst, d)
	}
	return worst
}

// TestDataParallelEquivalence: RoCL-IPHN and AdvCL-IP (its pseudo-label cross-entropy,
// train-mode attack and adaptive α fed from the host) at smoke scale (smokeMethodConfig:
// the official loss, attack order with its random start, optimizer and schedule; a 1-step
// attack, batches of 64: 16 images per device), trained in float64:
// 3 steps on 4 XLA CPU host devices give the losses, terms and every variable (weights,
// BN running statistics, optimizer state, RNG state) of 3 steps on 1 device; then the
// 4-device run's checkpoint resumes on 1 device and step 4 equals the 1-device run's
// step 4, host state included. In float64 the two differ only by reduction order
// (measured ≤ 1e-11); the tolerance, 1e-7, is far below what any semantic difference
// (a device's share of the batch as negatives, per-device BN statistics, a per-device
// random start) produces.
func TestDataParallelEquivalence(t *testing.T) {
	const tol = 1e-7
	one, four := xlatest.BackendWithDevices(t, 1), xlatest.BackendWithDevices(t, 4)
	for _, mv := range [][2]string{{"rocl", "iphn"}, {advclName, "ip"}} {
		t.Run(mv[0]+"-"+mv[1], func(t *testing.T) {
			cfg := smokeMethodConfig(t, mv[0], mv[1])
			refDir, dpDir := t.TempDir(), t.TempDir()
			ref := trainFloat64(t, cfg, one, 1, 4, refDir, nil, 3)
			dp := trainFloat64(t, cfg, four, 4, 3, dpDir, nil, 0)
			ck3 := latestCheckpoint(t, dpDir)
			refCk3, err := rundir.ReadCheckpoint(filepath.Join(refDir, "ckpt-000000003.ckpt"))
			if err != nil {
				t.Fatal(err)
			}
			w3 := sameVariables(t, "after 3 steps on 4 devices", refCk3, ck3, tol)
			resumed := trainFloat64(t, cfg, one, 1, 4, dpDir, ck3, 0)
			got := append(dp.steps, resumed.steps...)
			if len(got) != 4 || len(ref.steps) != 4 {
				t.Fatalf("steps: %d and %d, want 4", len(got), len(ref.steps))
			}
			worstLoss := 0.0
			for s := range ref.steps {
				d := maxRelErr(got[s], ref.steps[s])
				worstLoss = math.Max(worstLoss, d)
				if !(d <= tol) {
					t.Errorf("step %d: loss and terms %v, on 1 device %v (rel. difference %.3g)", s+1, got[s], ref.steps[s], d)
				}
			}
			w4 := sameVariables(t, "after step 4 (resumed on 1 device)", latestCheckpoint(t, refDir), latestCheckpoint(t, dpDir), tol)
			st := train.State{Epoch: 0, Batch: 4, Step: 4, StepsPerEpoch: 8}
			a, errA := ref.state.Scalars(st)
			b, errB := resumed.state.Scalars(st)
			if errA != nil || errB != nil || maxRelErr(b, a) > tol {
				t.Errorf("host scalars after step 4: %v (%v), on 1 device %v (%v)", b, errB, a, errA)
			}
			t.Logf("largest relative difference from 1 device: losses and terms %.3g, variables after 3 steps on 4 devices %.3g, after step 4 resumed on 1 device %.3g",
				worstLoss, w3, w4)
		})
	}
}
