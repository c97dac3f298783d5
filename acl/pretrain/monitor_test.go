package pretrain

import (
	gocontext "context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/rundir"
)

// runLatestCheckpoint reads a run's newest checkpoint or fails the test.
func runLatestCheckpoint(t *testing.T, dir string) *rundir.Checkpoint {
	t.Helper()
	ck, _, err := rundir.LatestCheckpoint(filepath.Join(dir, rundir.CheckpointsDir))
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

// The kNN monitor watches without touching: a run with it trains to exactly the weights
// of a run without it, logs one record before the first step and one after each epoch,
// with accuracies in [0, 1], and prints them in the progress output.
func TestKNNMonitorDoesNotChangeTraining(t *testing.T) {
	plain := t.TempDir()
	if _, err := Pretrain(gocontext.Background(), tinyConfig(t, "ip"), plain, Options{Backend: testBackend(t)}); err != nil {
		t.Fatal(err)
	}
	watched := t.TempDir()
	cfg := tinyConfig(t, "ip")
	cfg.KNN = DefaultKNN(1, 100)
	var progress strings.Builder
	if _, err := Pretrain(gocontext.Background(), cfg, watched, Options{Backend: testBackend(t), Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	a, b := runLatestCheckpoint(t, plain), runLatestCheckpoint(t, watched)
	if a.Step != b.Step || len(a.Variables) != len(b.Variables) {
		t.Fatalf("steps %d vs %d, %d vs %d variables", a.Step, b.Step, len(a.Variables), len(b.Variables))
	}
	for _, key := range a.DifferentValues(b) {
		t.Errorf("variable %s differs with the kNN monitor on", key)
	}
	curve, err := KNNCurve(watched)
	if err != nil {
		t.Fatal(err)
	}
	if len(curve) != 3 {
		t.Fatalf("kNN curve %+v: want 3 points (epochs 0, 1, 2)", curve)
	}
	for i, p := range curve {
		if p.Epoch != i || p.TestImages != 100 || !(p.Accuracy >= 0 && p.Accuracy <= 1) || math.IsNaN(p.Accuracy) {
			t.Errorf("point %d: %+v; want epoch %d, 100 test images, accuracy in [0,1]", i, p, i)
		}
	}
	if curve[0].Step != 0 || curve[2].Step != 8 {
		t.Errorf("kNN points at steps %d…%d, want 0…8", curve[0].Step, curve[2].Step)
	}
	if n := strings.Count(progress.String(), "knn: epoch"); n != 3 {
		t.Errorf("progress shows %d kNN lines, want 3:\n%s", n, progress.String())
	}
	if curve, err := KNNCurve(plain); err != nil || len(curve) != 0 {
		t.Errorf("a run without the monitor has kNN points %v (%v)", curve, err)
	}
	// The run's final loss is still the training's, not a monitor record's.
	run, _ := rundir.Open(watched)
	if l, err := run.FinalLoss(); err != nil || math.IsNaN(l) {
		t.Errorf("final loss %v, %v", l, err)
	}
}

// A run stopped mid-way and resumed has each kNN point once, and Every > 1 skips epochs
// but never the last.
func TestKNNMonitorResumeAndEvery(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig(t, "base")
	cfg.Epochs, cfg.Schedule.Epochs = 3, 3
	cfg.KNN = DefaultKNN(2, 50)
	cfg.MaxSteps = 5
	if res, err := Pretrain(gocontext.Background(), cfg, dir, Options{Backend: testBackend(t)}); err != nil || !res.Stopped {
		t.Fatalf("first leg: %+v, %v", res, err)
	}
	cfg.MaxSteps = 0
	cfg.KNN.Every = 2
	if _, err := Pretrain(gocontext.Background(), cfg, dir, Options{Backend: testBackend(t), Resume: true}); err != nil {
		t.Fatal(err)
	}
	curve, err := KNNCurve(dir)
	if err != nil {
		t.Fatal(err)
	}
	var epochs []int
	for _, p := range curve {
		epochs = append(epochs, p.Epoch)
	}
	if want := []int{0, 2, 3}; len(epochs) != len(want) || epochs[0] != 0 || epochs[1] != 2 || epochs[2] != 3 {
		t.Errorf("kNN points at epochs %v, want %v (every 2 epochs and the last)", epochs, want)
	}
}

// A run of 0 epochs trains nothing and stores the model as initialised: a step-0
// checkpoint (the same for the same seed, another for another seed), status done, and the
// kNN monitor's epoch-0 point; the encoder it holds is the one training starts from.
func TestZeroEpochsStoresInitialModel(t *testing.T) {
	initial := func(seed uint64) string {
		cfg := tinyConfig(t, "base")
		cfg.Epochs, cfg.Seed = 0, seed
		cfg.KNN = DefaultKNN(1, 50)
		dir := t.TempDir()
		res, err := Pretrain(gocontext.Background(), cfg, dir, Options{Backend: testBackend(t)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Steps != 0 || res.Stopped {
			t.Fatalf("0 epochs: %+v", res)
		}
		return dir
	}
	a, b, c := initial(1), initial(1), initial(2)
	ca, cb, cc := runLatestCheckpoint(t, a), runLatestCheckpoint(t, b), runLatestCheckpoint(t, c)
	if ca.Step != 0 || len(ca.Variables) == 0 {
		t.Fatalf("checkpoint step %d with %d variables; want step 0 with the model", ca.Step, len(ca.Variables))
	}
	if d := ca.DifferentValues(cb); len(d) > 0 {
		t.Errorf("same seed, different initial models: %v", d)
	}
	if d := ca.DifferentValues(cc); len(d) == 0 {
		t.Error("seeds 1 and 2 give the same initial model")
	}
	run, _ := rundir.Open(a)
	var st rundir.Status
	if err := run.ReadJSON(rundir.StatusFile, &st); err != nil || st.State != rundir.StateDone {
		t.Errorf("status %+v, %v; want done", st, err)
	}
	if curve, err := KNNCurve(a); err != nil || len(curve) != 1 || curve[0].Epoch != 0 {
		t.Errorf("kNN curve %+v, %v; want the epoch-0 point", curve, err)
	}
	// Resuming it finds it finished.
	cfg := tinyConfig(t, "base")
	cfg.Epochs = 0
	cfg.KNN = DefaultKNN(1, 50)
	if res, err := Pretrain(gocontext.Background(), cfg, a, Options{Backend: testBackend(t), Resume: true}); err != nil || !res.AlreadyDone {
		t.Errorf("resuming a 0-epoch run: %+v, %v; want AlreadyDone", res, err)
	}
	// Its encoder is where training starts: a 1-epoch run of the same seed has a step-0
	// kNN point equal to the initial model's.
	trained := t.TempDir()
	cfg.Epochs, cfg.Schedule.Epochs = 1, 1
	if _, err := Pretrain(gocontext.Background(), cfg, trained, Options{Backend: testBackend(t)}); err != nil {
		t.Fatal(err)
	}
	c0, _ := KNNCurve(a)
	c1, _ := KNNCurve(trained)
	if len(c1) != 2 || c1[0].Accuracy != c0[0].Accuracy {
		t.Errorf("kNN before training %+v, of the 0-epoch run %+v: want the same epoch-0 accuracy", c1, c0)
	}
}

func TestKNNConfigValidate(t *testing.T) {
	for name, k := range map[string]*KNNConfig{
		"every 0": {Every: 0, K: 200, Temperature: 0.1},
		"k 0":     {Every: 1, K: 0, Temperature: 0.1},
		"T NaN":   {Every: 1, K: 200, Temperature: math.NaN()},
		"test -1": {Every: 1, K: 200, Temperature: 0.1, TestImages: -1},
	} {
		cfg := tinyConfig(t, "base")
		cfg.KNN = k
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "knn.") {
			t.Errorf("%s: %v; want an error naming a knn key", name, err)
		}
	}
}
