package finetune

import (
	"bytes"
	gocontext "context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/internal/hostval"
	"github.com/ainfonce/goacl/acl/internal/testrun"
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/layers"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// tinyFinetuneConfig is mode at toy scale: 64 training images, 32 validation and 32
// test images, batch 32, epochs epochs.
func tinyFinetuneConfig(t *testing.T, run string, mode Mode, epochs int) Config {
	t.Helper()
	r, err := rundir.Open(run)
	if err != nil {
		t.Fatal(err)
	}
	var pre pretrain.Config
	if err := r.ReadJSON(rundir.ConfigFile, &pre); err != nil {
		t.Fatal(err)
	}
	cfg, err := DefaultConfig(&pre, mode, ProtocolAdvCL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ScaleEpochs(epochs)
	cfg.BatchSize, cfg.TrainSubset, cfg.ValSize, cfg.TestSubset, cfg.EvalBatch = 32, 64, 32, 32, 32
	return cfg
}

// readCheckpointValues returns the float32 values of the stored variables whose key has
// prefix.
func readCheckpointValues(t *testing.T, path, prefix string) map[string][]float32 {
	t.Helper()
	ckpt, err := rundir.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, v := range ckpt.Variables {
		if !strings.HasPrefix(v.Key(), prefix) {
			continue
		}
		tt, err := ckpt.Tensor(v)
		if err != nil {
			t.Fatal(err)
		}
		out[v.Key()] = tensors.MustCopyFlatData[float32](tt)
	}
	return out
}

// SLF, ALF and AFF at toy scale: each writes a complete result folder with RA ≤ SA, SLF
// and ALF leave the encoder (weights and BN statistics) exactly as pretrained while AFF
// changes it, and a rerun with the same seed reproduces SLF bit for bit.
func TestFinetuneModes(t *testing.T) {
	run := testrun.Pretrained(t)
	pre, _, err := rundir.LatestCheckpoint(filepath.Join(run, rundir.CheckpointsDir))
	if err != nil {
		t.Fatal(err)
	}
	pretrained := readCheckpointValues(t, pre.Path, "/smallcnn/")
	for _, mode := range Modes {
		epochs := map[Mode]int{SLF: 2, ALF: 1, AFF: 1}[mode]
		cfg := tinyFinetuneConfig(t, run, mode, epochs)
		res, err := Finetune(gocontext.Background(), run, cfg, Options{Backend: testBackend(t)})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if res.Test.Images != 32 || res.TrainImages != 64 || res.ValImages != 32 {
			t.Errorf("%s: %d test, %d train, %d validation images; want 32, 64, 32", mode, res.Test.Images, res.TrainImages, res.ValImages)
		}
		if res.Test.Robust > res.Test.Clean || res.Test.Clean > 1 || res.Test.Robust < 0 {
			t.Errorf("%s: SA %g, RA %g: want 0 ≤ RA ≤ SA ≤ 1", mode, res.Test.Clean, res.Test.Robust)
		}
		if res.SelectedEpoch < 1 || res.SelectedEpoch > epochs || res.Config.Branch != "" || res.EncoderLoad == nil || res.EncoderLoad.Loaded == 0 {
			t.Errorf("%s: selected epoch %d, branch %q, encoder load %+v", mode, res.SelectedEpoch, res.Config.Branch, res.EncoderLoad)
		}
		r, _ := rundir.Open(filepath.Join(run, Dir(mode)))
		var st rundir.Status
		if err := r.ReadJSON(rundir.StatusFile, &st); err != nil || st.State != "done" {
			t.Errorf("%s: status %+v, %v", mode, st, err)
		}
		if m, err := r.ReadMetrics(); err != nil || len(m) != epochs || m[0]["val_robust_accuracy"] == nil {
			t.Errorf("%s: %d metric records (%v), want one per epoch with the validation RA", mode, len(m), err)
		}
		tuned := readCheckpointValues(t, filepath.Join(run, res.Checkpoint), "/smallcnn/")
		changed := 0
		for k, v := range tuned {
			if !slices.Equal(v, pretrained[k]) {
				changed++
			}
		}
		if mode == AFF && changed == 0 {
			t.Errorf("AFF left every encoder variable unchanged")
		}
		if mode != AFF && changed != 0 {
			t.Errorf("%s changed %d encoder variables; the encoder must stay frozen", mode, changed)
		}
	}

	// Same seed, same result: rerun SLF (refused without Force) and compare.
	first, err := os.ReadFile(filepath.Join(run, Dir(SLF), ResultFile))
	if err != nil {
		t.Fatal(err)
	}
	var res1 Result
	if err := json.Unmarshal(first, &res1); err != nil {
		t.Fatal(err)
	}
	ckpt1, _ := os.ReadFile(filepath.Join(run, res1.Checkpoint))
	cfg := tinyFinetuneConfig(t, run, SLF, 2)
	if _, err := Finetune(gocontext.Background(), run, cfg, Options{Backend: testBackend(t)}); !errors.Is(err, ErrFinetuningExists) {
		t.Fatalf("second SLF without Force: want ErrFinetuningExists, got %v", err)
	}
	res2, err := Finetune(gocontext.Background(), run, cfg, Options{Backend: testBackend(t), Force: true})
	if err != nil {
		t.Fatal(err)
	}
	ckpt2, _ := os.ReadFile(filepath.Join(run, res2.Checkpoint))
	if res2.Test != res1.Test || res2.SelectedEpoch != res1.SelectedEpoch || res2.SelectionRobust != res1.SelectionRobust || !bytes.Equal(ckpt1, ckpt2) {
		t.Errorf("same seed, different SLF: %+v epoch %d vs %+v epoch %d (checkpoints equal: %v)", res1.Test, res1.SelectedEpoch, res2.Test, res2.SelectedEpoch, bytes.Equal(ckpt1, ckpt2))
	}

	t.Run("attacks", func(t *testing.T) { checkAttacksOnTrainedModel(t, run) })
}

// checkAttacksOnTrainedModel runs the evaluation PGD (both orders), ALF's training PGD and
// AFF's TRADES against the SLF-finetuned model of run: every adversarial example lies in
// the ε-ball and [0,1] and raises its attack's loss on average; the evaluator gives RA ≤
// SA, RA = SA at ε = 0, the same numbers for the same seed, and leaves the model's RNG
// state as it found it.
func checkAttacksOnTrainedModel(t *testing.T, run string) {
	m, err := Load(testBackend(t), run, LoadOptions{Finetuned: SLF})
	if err != nil {
		t.Fatal(err)
	}
	clf := m.Classifier
	test, err := TestSplit(m.Config.Dataset, m.Config.DataDir, 16, 5)
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, test.Len())
	for i := range idx {
		idx[i] = i
	}
	pix, labels, err := test.Float32Batch(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := clf.Ctx.SetRNGStateFromSeed(9); err != nil {
		t.Fatal(err)
	}
	type attackCase struct {
		name string
		eps  float64
		make func(ctx *context.Context, x, y *graph.Node) *graph.Node
		loss func(ctx *context.Context, x, adv, y *graph.Node) (*graph.Node, *graph.Node)
	}
	ce := func(ctx *context.Context, x, adv, y *graph.Node) (*graph.Node, *graph.Node) {
		return losses.CrossEntropy(clf.Logits(ctx, x), y), losses.CrossEntropy(clf.Logits(ctx, adv), y)
	}
	pgd := func(cfg attack.PGDConfig) func(ctx *context.Context, x, y *graph.Node) *graph.Node {
		return func(ctx *context.Context, x, y *graph.Node) *graph.Node {
			return attack.PGD(ctx, []*graph.Node{x}, cfg, func(advs []*graph.Node) *graph.Node {
				return graph.ReduceAllSum(attack.PerExampleAttackLoss(attack.LossCE, clf.Logits(ctx, advs[0]), y, nil))
			})[0]
		}
	}
	trades := attack.DefaultTRADES()
	attacks := []attackCase{
		{"eval PGD-20 (AdvCL)", attack.PGD20().Epsilon, pgd(attack.PGD20()), ce},
		{"eval PGD-20 (RoCL)", attack.PGD20RoCL().Epsilon, pgd(attack.PGD20RoCL()), ce},
		{"ALF training PGD", m.Finetuning.Config.TrainAttack.Epsilon, pgd(m.Finetuning.Config.TrainAttack), ce},
		{"AFF TRADES", trades.Epsilon,
			func(ctx *context.Context, x, y *graph.Node) *graph.Node {
				return attack.TRADESAdversary(ctx, x, trades, func(z *graph.Node) *graph.Node { return clf.Logits(ctx, z) })
			},
			func(ctx *context.Context, x, adv, y *graph.Node) (*graph.Node, *graph.Node) {
				zx := clf.Logits(ctx, x)
				return graph.ScalarZero(x.Graph(), x.DType()), attack.TRADESKL(zx, clf.Logits(ctx, adv))
			}},
	}
	for _, a := range attacks {
		exec, err := context.NewExec(clf.Backend, clf.Ctx, func(ctx *context.Context, x, y *graph.Node) []*graph.Node {
			var adv, before, after *graph.Node
			layers.InMode(ctx, x.Graph(), false, false, func() {
				adv = a.make(ctx, x, y)
				before, after = a.loss(ctx, x, adv, y)
			})
			return []*graph.Node{adv, before, after}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Exec(tensors.FromFlatDataAndDimensions(pix, test.Len(), 32, 32, 3), labels)
		if err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
		adv := tensors.MustCopyFlatData[float32](out[0])
		worst := 0.0
		for i, v := range adv {
			if v < 0 || v > 1 {
				t.Fatalf("%s: adversarial value %g outside [0,1]", a.name, v)
			}
			worst = math.Max(worst, math.Abs(float64(v)-float64(pix[i])))
		}
		if worst > a.eps+1e-6 {
			t.Errorf("%s: |x' − x|∞ = %g exceeds ε = %g", a.name, worst, a.eps)
		}
		before, after := hostval.Scalar(out[1]), hostval.Scalar(out[2])
		if !(after > before) {
			t.Errorf("%s: the attack did not raise its loss (%g → %g)", a.name, before, after)
		}
	}

	rng := func() []uint64 {
		v := clf.Ctx.GetVariableByScopeAndName(context.RootScope, context.RNGStateVariableName)
		val, _ := v.Value()
		return tensors.MustCopyFlatData[uint64](val)
	}
	stateBefore := rng()
	ev, err := NewPGDEvaluator(clf, attack.PGD20(), 1, 8, 42)
	if err != nil {
		t.Fatal(err)
	}
	a1, err := ev.Evaluate(test)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := ev.Evaluate(test)
	if *a1 != *a2 {
		t.Errorf("same seed, different evaluation: %+v vs %+v", a1, a2)
	}
	if a1.Robust > a1.Clean {
		t.Errorf("RA %g > SA %g", a1.Robust, a1.Clean)
	}
	if !slices.Equal(stateBefore, rng()) {
		t.Error("Evaluate changed the model's RNG state")
	}
	zero := attack.PGD20()
	zero.Epsilon = 0
	ev0, _ := NewPGDEvaluator(clf, zero, 2, 16, 42)
	a0, err := ev0.Evaluate(test)
	if err != nil {
		t.Fatal(err)
	}
	if a0.Robust != a0.Clean || a0.Clean != a1.Clean {
		t.Errorf("ε = 0: RA %g, SA %g; want RA = SA = %g", a0.Robust, a0.Clean, a1.Clean)
	}
}
