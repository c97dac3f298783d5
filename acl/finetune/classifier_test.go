package finetune

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/pretrain"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/attack"

	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// fakeMultiBNRun writes a run directory whose checkpoint holds a width-4 SmallCNN with BN
// branches 'normal' and 'pgd', a projector variable and, optionally, a stray encoder
// variable, the layout of an AdvCL/ACL run.
func fakeMultiBNRun(t *testing.T, stray bool) string {
	t.Helper()
	dir := t.TempDir()
	run, err := rundir.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	if err := run.WriteJSON(rundir.ConfigFile, pretrain.Config{Method: "fake-multibn", Variant: "base", Dataset: "cifar10", Encoder: "smallcnn", Width: 4}); err != nil {
		t.Fatal(err)
	}
	ctx := context.New().Checked(false)
	enc := layers.SmallCNN{Width: 4}
	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		ctx.SetTraining(x.Graph(), false)
		a := enc.Features(ctx, x, layers.BranchNormal)
		b := enc.Features(ctx, x, layers.BranchPGD)
		p := layers.NewLinear(ctx.In("projector"), b, 3).Done()
		out := graph.Add(graph.ReduceAllSum(a), graph.ReduceAllSum(p))
		if stray {
			out = graph.Add(out, graph.ReduceAllSum(ctx.In(layers.SmallCNNScope).In("extra").VariableWithValue("weights", []float32{1, 2}).ValueGraph(x.Graph())))
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Exec(tensors.FromShape(shapesF32(2, 32, 32, 3))); err != nil {
		t.Fatal(err)
	}
	if _, err := rundir.SaveCheckpoint(ctx, run.File(rundir.CheckpointsDir), 1, nil, 0); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Loading is strict: the protocol's branch loads, the other branches' BN copies are
// reported and dropped, a missing branch or a stray encoder variable is an error that
// names the variables.
func TestPretrainedClassifierStrictLoad(t *testing.T) {
	dir := fakeMultiBNRun(t, false)
	m, err := Load(testBackend(t), dir, LoadOptions{Branch: BranchAuto, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	clf, load := m.NewClassifier(10), m.EncoderLoad
	if clf.Branch != layers.BranchPGD || load.Branch != layers.BranchPGD {
		t.Errorf("auto branch = %q, want %q", clf.Branch, layers.BranchPGD)
	}
	// 4 convolutions + 4 BN × 4 variables of the pgd branch.
	if load.Loaded != 20 || len(load.OtherBranches) != 16 || load.NotEncoder != 3 {
		t.Errorf("load report %+v: want 20 loaded, 16 other-branch (normal) and 3 non-encoder variables (projector weights and biases, RNG state)", load)
	}
	for _, k := range load.OtherBranches {
		if !strings.Contains(k, "/normal/") {
			t.Errorf("other-branch variable %s is not of the normal branch", k)
		}
	}
	for v := range clf.Ctx.IterVariables() {
		if strings.Contains(v.ScopeAndName(), "/normal/") || strings.Contains(v.ScopeAndName(), "projector") {
			t.Errorf("variable %s was loaded; only the pgd branch of the encoder should be", v.ScopeAndName())
		}
	}
	// The single-BN reading of a multi-BN checkpoint lacks every unbranched BN variable.
	if _, err := Load(testBackend(t), dir, LoadOptions{Branch: ""}); err == nil ||
		!strings.Contains(err.Error(), "16 missing variables") || !strings.Contains(err.Error(), "/smallcnn/bn1/gamma") {
		t.Errorf("branch \"\" on a dual-BN run: want an error listing 16 missing variables, got %v", err)
	}
	stray := fakeMultiBNRun(t, true)
	if _, err := Load(testBackend(t), stray, LoadOptions{Branch: BranchAuto}); err == nil ||
		!strings.Contains(err.Error(), "1 unexpected variables [/smallcnn/extra/weights]") {
		t.Errorf("stray encoder variable: want an error naming it, got %v", err)
	}
}

// hostLoss is the host formula of an attack loss on one row of logits.
func hostLoss(kind string, z []float32, y, tg int) float64 {
	s := make([]float64, len(z))
	for i, v := range z {
		s[i] = float64(v)
	}
	sorted := append([]float64{}, s...)
	for i := range sorted { // descending
		for j := i + 1; j < len(sorted); j++ {
			if sorted[j] > sorted[i] {
				sorted[i], sorted[j] = sorted[j], sorted[i]
			}
		}
	}
	switch kind {
	case attack.LossCE:
		var sum float64
		for _, v := range s {
			sum += math.Exp(v)
		}
		return math.Log(sum) - s[y]
	case attack.LossDLR:
		other := math.Inf(-1)
		for i, v := range s {
			if i != y && v > other {
				other = v
			}
		}
		return -(s[y] - other) / (sorted[0] - sorted[2] + 1e-12)
	case attack.LossDLRTargeted:
		return -(s[y] - s[tg]) / (sorted[0] - (sorted[2]+sorted[3])/2 + 1e-12)
	case attack.LossMargin:
		return s[tg] - s[y]
	}
	return math.NaN()
}

// The classifier's oracle gives the attack losses of its own logits, and gradients that
// agree with finite differences of those losses along the gradient direction.
func TestClassifierOracle(t *testing.T) {
	ctx := context.New().Checked(false)
	if err := ctx.SetRNGStateFromSeed(3); err != nil {
		t.Fatal(err)
	}
	clf := &Classifier{Encoder: layers.SmallCNN{Width: 4}, NumClasses: 10, Ctx: ctx, Backend: testBackend(t)}
	o, err := clf.Oracle()
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*32*32*3)
	for i := range x {
		x[i] = r.Float32()
	}
	y := []int32{1, 5, 9}
	tg := []int32{2, 0, 4}
	logits, err := o.Logits(x, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(logits) != n*10 {
		t.Fatalf("%d logits, want %d", len(logits), n*10)
	}
	for _, kind := range []string{attack.LossCE, attack.LossDLR, attack.LossDLRTargeted, attack.LossMargin} {
		loss, grad, err := o.LossGrad(kind, x, n, y, tg)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		for i := range n {
			want := hostLoss(kind, logits[i*10:(i+1)*10], int(y[i]), int(tg[i]))
			if math.Abs(float64(loss[i])-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("%s: loss[%d] = %g, host formula on the oracle's logits %g", kind, i, loss[i], want)
			}
		}
		// Directional derivative along the gradient: (L(x+hg) − L(x−hg)) / 2h ≈ |g|².
		var g2 float64
		for _, g := range grad {
			g2 += float64(g) * float64(g)
		}
		h := 1e-2 / math.Sqrt(g2)
		plus, minus := make([]float32, len(x)), make([]float32, len(x))
		for i := range x {
			plus[i] = x[i] + float32(h)*grad[i]
			minus[i] = x[i] - float32(h)*grad[i]
		}
		lp, _, err := o.LossGrad(kind, plus, n, y, tg)
		if err != nil {
			t.Fatal(err)
		}
		lm, _, _ := o.LossGrad(kind, minus, n, y, tg)
		var fd float64
		for i := range n {
			fd += (float64(lp[i]) - float64(lm[i])) / (2 * h)
		}
		if math.Abs(fd-g2) > 0.05*g2 {
			t.Errorf("%s: finite difference %g along the gradient, |g|² = %g", kind, fd, g2)
		}
	}
	if _, _, err := o.LossGrad(attack.LossDLRTargeted, x, n, y, nil); err == nil {
		t.Error("targeted DLR without targets: want an error")
	}
	if _, _, err := o.LossGrad("hinge", x, n, y, tg); err == nil {
		t.Error("unknown loss: want an error")
	}
	if _, err := o.Logits(x[:10], n); err == nil {
		t.Error("short image buffer: want an error")
	}
}

func shapesF32(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }

// AFF's step moves the BN running statistics twice, as trades.py's two train-mode passes
// f(x), f(x′) do (Asym-AdvCL, Asym-RoCL and ACL alike): with ε = 0 and no start noise
// (x′ = x), the running mean after one AFF loss from zero is (1 − 0.9²)·μ, against 0.1·μ
// after one train-mode pass.
func TestAFFUpdatesBNStatisticsTwice(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 5))
	x := make([]float32, 4*32*32*3)
	for i := range x {
		x[i] = r.Float32()
	}
	y := []int32{0, 1, 2, 3}
	runningMean := func(build func(ctx *context.Context, clf *Classifier, x, y *graph.Node) *graph.Node) []float32 {
		ctx := context.New().Checked(false)
		if err := ctx.SetRNGStateFromSeed(1); err != nil {
			t.Fatal(err)
		}
		clf := &Classifier{Encoder: layers.SmallCNN{Width: 4}, NumClasses: 10, Ctx: ctx, Backend: testBackend(t)}
		exec, err := context.NewExec(clf.Backend, ctx, func(ctx *context.Context, x, y *graph.Node) *graph.Node { return build(ctx, clf, x, y) })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, 4, 32, 32, 3), y); err != nil {
			t.Fatal(err)
		}
		v := ctx.GetVariableByScopeAndName("/smallcnn/bn1", "running_mean")
		val, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](val)
	}
	once := runningMean(func(ctx *context.Context, clf *Classifier, x, y *graph.Node) *graph.Node {
		var z *graph.Node
		layers.InMode(ctx, x.Graph(), true, true, func() { z = clf.Logits(ctx, x) })
		return graph.ReduceAllSum(z)
	})
	cfg := attack.DefaultTRADES()
	cfg.Epsilon, cfg.StartStd = 0, 0
	aff := runningMean(func(ctx *context.Context, clf *Classifier, x, y *graph.Node) *graph.Node {
		loss, _ := AFFLoss(ctx, clf, cfg, x, y)
		return loss
	})
	for i := range once {
		want := float64(once[i]) / 0.1 * (1 - 0.9*0.9)
		if math.Abs(float64(aff[i])-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Fatalf("channel %d: running mean %g after AFF, want %g (two updates; one pass gives %g)", i, aff[i], want, once[i])
		}
	}
}
