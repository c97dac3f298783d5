package experiment

import (
	gocontext "context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/ainfonce/goacl/internal/testdirs"
)

// tinyPlan has every kind of row (two variants of a method and both baselines) at toy
// size with two seeds: a width-4 CNN on 64 images, 2 epochs of 4 steps, a 1-step
// attack; SLF of 1 epoch on 64 images, 32 test images, AutoAttack on 8 for seed 1.
func tinyPlan() Plan {
	p := Plan{Name: "tiny", Title: "tiny", Purpose: "a test",
		Rows:    []Row{MethodRow("rocl", "base"), MethodRow("rocl", "ip"), RandomRow(), SupervisedRow()},
		Seeds:   []uint64{1, 2},
		Dataset: datasets.CIFAR10, AttackSteps: 1,
		Scale: pretrain.Scale{Encoder: "smallcnn", Width: 4, Subset: 64, Epochs: 2, BatchSize: 16, LogEvery: 2, KNN: pretrain.DefaultKNN(1, 50)},
		Eval:  slf(1, 32, 64, 32, 32)}
	p.Eval.AutoAttack, p.Eval.AutoAttackImages, p.Eval.AutoAttackSeeds = attack.AutoAttackStandardPreset, 8, 1
	return p
}

// cancelOn is a progress writer that cancels a context when a line contains a marker.
type cancelOn struct {
	mu     sync.Mutex
	marker string
	cancel func()
	seen   strings.Builder
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen.Write(p)
	if c.cancel != nil && strings.Contains(string(p), c.marker) {
		c.cancel()
		c.cancel = nil
	}
	return len(p), nil
}

// The whole pipeline at toy size: an interrupted run continues where it stopped, a rerun
// of a finished one does nothing, every row and seed is measured (pretraining with its
// kNN curve, SLF clean and PGD-20 accuracy, AutoAttack on the first seed), the baselines
// are what they say (0 epochs; the supervised method), and the report holds the tables,
// intervals, verdicts, curves, times and commands.
func TestRunCollectReport(t *testing.T) {
	backend := testbackend.Get(t)
	runs := filepath.Join(t.TempDir(), "runs")
	plan := tinyPlan()
	opts := Options{Backend: backend, DataDir: testdirs.CIFAR10(t), Command: []string{"acl", "experiment", "-preset", "tiny"}}

	// Stop in the middle of rocl-ip seed 1's pretraining, then continue.
	ctx, cancel := gocontext.WithCancel(gocontext.Background())
	stopper := &cancelOn{marker: "epoch 1/2 batch 2/4", cancel: cancel}
	first := opts
	first.Progress = stopper
	err := Run(ctx, plan, runs, first)
	if err == nil || !errors.Is(err, gocontext.Canceled) {
		t.Fatalf("interrupted run: %v; want a cancellation error", err)
	}
	if err := Run(gocontext.Background(), plan, runs, opts); err != nil {
		t.Fatal(err)
	}
	res, err := Collect(runs)
	if err != nil {
		t.Fatal(err)
	}
	legs, interrupted := map[string]int{}, 0
	for _, l := range res.Legs {
		if l.Outcome == "interrupted" {
			interrupted++
		}
		legs[l.Row+"/"+PieceKey(l.Piece, l.Mode)]++
		if l.Outcome != "done" && l.Outcome != "interrupted" {
			t.Errorf("leg %+v", l)
		}
		if !(l.Wall > 0) {
			t.Errorf("leg without wall time: %+v", l)
		}
	}
	if legs["rocl-base/pretrain"] != 3 || legs["rocl-base/finetune-slf"] != 2 || interrupted != 1 {
		t.Errorf("legs %v, %d interrupted: want rocl-base seed 1's pretraining interrupted once and resumed (3 legs for 2 seeds)", legs, interrupted)
	}

	// A rerun of a finished experiment runs nothing and records no invocation.
	n := len(res.Legs)
	if err := Run(gocontext.Background(), plan, runs, opts); err != nil {
		t.Fatal(err)
	}
	if again, _ := Collect(runs); len(again.Legs) != n || len(again.Invocations) != 2 {
		t.Errorf("rerun: %d legs (was %d), %d invocations; want no new leg and the 2 invocations that ran pieces", len(again.Legs), n, len(again.Invocations))
	}

	// Every row and seed is measured.
	if len(res.Rows) != 4 {
		t.Fatalf("%d rows", len(res.Rows))
	}
	for _, r := range res.Rows {
		for i, s := range r.Seeds {
			if s.State != "done" {
				t.Errorf("%s seed %d: state %q", r.Row.Name, s.Seed, s.State)
			}
			ft := s.Finetunes[finetune.SLF]
			if ft == nil || ft.Test.Images != 32 || ft.Config.Selection != finetune.SelectLast {
				t.Errorf("%s seed %d: SLF %+v", r.Row.Name, s.Seed, ft)
				continue
			}
			if (i == 0) != (s.AutoAttack != nil) {
				t.Errorf("%s seed %d: AutoAttack record %v; want one for the first seed only", r.Row.Name, s.Seed, s.AutoAttack != nil)
			}
			if s.AutoAttack != nil && (s.AutoAttack.Accuracy.Images != 8 || s.AutoAttack.Accuracy.Robust > ft.Test.Clean+1e-9) {
				t.Errorf("%s: AutoAttack %+v", r.Row.Name, s.AutoAttack.Accuracy)
			}
			wantPoints := 3 // epochs 0, 1, 2
			if r.Row.Baseline == RandomInit {
				wantPoints = 1
			}
			if len(s.KNN) != wantPoints {
				t.Errorf("%s seed %d: kNN curve %+v, want %d points", r.Row.Name, s.Seed, s.KNN, wantPoints)
			}
			if _, ok := s.Times[PiecePretrain]; !ok {
				t.Errorf("%s seed %d: no pretraining time", r.Row.Name, s.Seed)
			}
		}
		for _, sum := range []Summary{r.Clean[finetune.SLF], r.Robust[finetune.SLF], r.KNN} {
			if sum.N != 2 || !(sum.Mean >= 0 && sum.Mean <= 1) || math.IsNaN(sum.HalfWidth) {
				t.Errorf("%s: summary %+v; want 2 values with an interval", r.Row.Name, sum)
			}
		}
	}
	// The baselines are what they say.
	rnd, _ := pretrain.ReadConfig(RunDir(runs, RandomRow(), 1))
	sup, _ := pretrain.ReadConfig(RunDir(runs, SupervisedRow(), 1))
	if rnd == nil || rnd.Epochs != 0 || sup == nil || sup.Method != "supervised" || sup.Epochs != 2 || sup.Subset != 64 {
		t.Errorf("baseline configs: random %+v, supervised %+v", rnd, sup)
	}
	// The random encoder is the RoCL rows' starting point: same seed, same epoch-0 kNN.
	if a, b := res.Rows[2].Seeds[0].KNN[0].Accuracy, res.Rows[0].Seeds[0].KNN[0].Accuracy; a != b {
		t.Errorf("kNN of the random encoder %.3f, of rocl-base before its first step %.3f: want equal", a, b)
	}
	kinds := map[string]int{}
	for _, c := range res.Comparisons {
		kinds[c.Kind]++
		if c.Robust.N != 2 {
			t.Errorf("comparison %s − %s over %d pairs, want 2", c.Row, c.Against, c.Robust.N)
		}
	}
	if kinds["variant"] != 1 || kinds["baseline"] != 4 {
		t.Errorf("comparisons %v: want rocl-ip − rocl-base, and 2 pretrainings × 2 baselines", kinds)
	}

	// The report.
	out := filepath.Join(t.TempDir(), "report")
	if err := res.WriteReport(out, "acl experiment -report-only -runs R -results D"); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# tiny", "## Results", "RoCL IP", "random encoder (baseline)", "supervised PGD-AT (baseline)",
		"## Against the baselines", "## Do the A-InfoNCE variants change robustness?", "95% interval", "knn-curves.png",
		"## Time", "## Machine and load", "acl experiment -preset tiny", "acl experiment -report-only -runs R -results D",
		"rocl-ip/seed-2", "AutoAttack (8 imgs)", " ± "} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if st, err := os.Stat(filepath.Join(out, CurvesFile)); err != nil || st.Size() < 1000 {
		t.Errorf("kNN curves PNG: %v", err)
	}
	if st, err := os.Stat(filepath.Join(out, ResultsFile)); err != nil || st.Size() < 1000 {
		t.Errorf("results.json: %v", err)
	}
	if s := res.Summary(); !strings.Contains(s, "SLF PGD-20") || !strings.Contains(s, "chance is 10%") {
		t.Errorf("console summary:\n%s", s)
	}

	// Another plan in the same folder is refused.
	other := tinyPlan()
	other.Seeds = []uint64{1}
	if err := Run(gocontext.Background(), other, runs, opts); !errors.Is(err, ErrOtherPlan) {
		t.Errorf("another plan in the folder: %v, want ErrOtherPlan", err)
	}
}

// Every preset is a valid plan, and the overrides change what they say.
func TestPresetsAndOverrides(t *testing.T) {
	for _, name := range Presets() {
		p, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for _, r := range p.Rows {
			if _, err := p.PretrainConfig(r, 1, t.TempDir(), t.TempDir()); err != nil {
				t.Errorf("%s, row %s: %v", name, r.Name, err)
			}
		}
	}
	p, _ := Preset(PresetCPUAblation)
	if err := (Overrides{Epochs: 7, Subset: -1, Seeds: 2, Rows: []string{"rocl-ip", "random-init"}, Width: 8, BatchSize: 32,
		EvalTrain: 100, EvalTest: 50, AutoAttackImages: 10, Note: "Data: a subset."}).Apply(&p); err != nil {
		t.Fatal(err)
	}
	if p.Scale.Epochs != 7 || p.Scale.Subset != 0 || len(p.Seeds) != 2 || len(p.Rows) != 2 || p.Rows[0].Name != "rocl-ip" ||
		p.Scale.Width != 8 || p.Scale.BatchSize != 32 || p.Eval.TrainSubset != 100 || p.Eval.TestSubset != 50 ||
		p.Eval.AutoAttackImages != 10 || !strings.HasSuffix(p.Purpose, " Data: a subset.") {
		t.Errorf("overridden plan: %+v", p)
	}
	if err := (Overrides{Rows: []string{"simclr"}}).Apply(&p); err == nil {
		t.Error("unknown row accepted")
	}
	if _, err := Preset("nope"); err == nil {
		t.Error("unknown preset accepted")
	}
}
