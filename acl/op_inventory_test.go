package acl

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ainfonce/goacl/acl/benchmark"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/train"

	"github.com/ainfonce/goacl/acl/optim"

	"github.com/ainfonce/goacl/acl/attack"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/internal/optrace"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// The op inventory: which backend ops (backends.OpType) the project's real graphs emit on
// the goacl backend. Every graph is built and compiled (PreCompile), never run, so the
// test is cheap. TestOpInventoryCovered fails when a graph emits an op that
// engine/conformance_test.go does not compare between goacl and the stock simplego
// backend (optrace.Covered); ACL_WRITE_OP_INVENTORY=1 also rewrites
// docs/results/op-inventory.md.

// opInventoryCommand regenerates docs/results/op-inventory.md.
const opInventoryCommand = "ACL_WRITE_OP_INVENTORY=1 go test ./acl/ -run TestOpInventoryCovered -count=1"

// Sizes of the traced graphs: small (op types do not depend on them), but the full
// structure (every ResNet stage, both attack loops, every BN branch).
const (
	invWidth = 2
	invBatch = 4
)

// invTensor returns a zero tensor of dtype and dims (values are never used: graphs are
// only compiled).
func invTensor(dtype dtypes.DType, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	switch dtype {
	case dtypes.Int32:
		return tensors.FromFlatDataAndDimensions(make([]int32, n), dims...)
	case dtypes.Float64:
		return tensors.FromFlatDataAndDimensions(make([]float64, n), dims...)
	}
	return tensors.FromFlatDataAndDimensions(make([]float32, n), dims...)
}

// invImages is a batch of b zero images of CIFAR's shape.
func invImages(b int) *tensors.Tensor { return invTensor(dtypes.Float32, b, 32, 32, 3) }

// traceExec compiles e for args (without running it) and adds the ops of its graphs.
func traceExec(t testing.TB, inv *optrace.Inventory, name string, e *context.Exec, args ...any) {
	t.Helper()
	if err := e.PreCompile(args...); err != nil {
		t.Fatalf("%s: compiling: %v", name, err)
	}
	traceCompiled(t, inv, name, e)
}

// traceCompiled adds the ops of the graphs e has already compiled (or run).
func traceCompiled(t testing.TB, inv *optrace.Inventory, name string, e *context.Exec) {
	t.Helper()
	gs, err := optrace.ExecGraphs(e)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(gs) == 0 {
		t.Fatalf("%s: no graph was compiled", name)
	}
	for i, g := range gs {
		ops, err := optrace.GraphOps(g, false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n := name
		if len(gs) > 1 {
			n = fmt.Sprintf("%s#%d", name, i)
		}
		inv.Add(n, ops)
	}
}

// traceMethodStep compiles the pretraining step of cfg exactly as Pretrain builds it
// (pretrain.Step.Build through the training loop's train.Loop.BuildStep: the method's
// step in train mode, then the optimizer's update), with inputs of the shapes Pretrain
// feeds: the used views, AdvCL's pseudo labels (one [B] int32 per granularity), the class
// labels of the supervised baseline ([B] int32) and the step scalars ([n] float32).
func traceMethodStep(t testing.TB, inv *optrace.Inventory, backend backends.Backend, name string, cfg pretrain.Config) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	step, _, err := pretrain.NewStep(&cfg, len(datasets.PseudoLabelGranularities))
	if err != nil {
		t.Fatal(err)
	}
	optimizer, err := optim.New(cfg.Optimizer)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New().Checked(false)
	if err := ctx.SetRNGStateFromSeed(1); err != nil {
		t.Fatal(err)
	}
	loop := &train.Loop{Step: step.Build, Optimizer: optimizer}
	exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, inputs []*graph.Node) []*graph.Node {
		outs, _ := loop.BuildStep(ctx, inputs)
		return outs
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	var args []any
	for _, sh := range step.InputShapes(cfg.BatchSize, 32) {
		args = append(args, invTensor(sh.DType, sh.Dimensions...))
	}
	traceExec(t, inv, name, exec, args...)
}

// buildOpInventory builds and compiles every graph the project runs, on backend (a
// simplego-based one: "goacl"):
//   - the benchmark workload (benchmark.NewStep: ResNet-18 + RoCL projector, PGD attack in
//     eval mode, 3-view NT-Xent in train mode with BN statistics, SGD with momentum and
//     weight decay; the PGD-CE evaluation; the initialiser);
//   - one pretraining step of every method × variant (base, IP, HN, IP+HN) with the
//     paper preset (ResNet-18, its optimizer, schedule and attack) and with the smoke
//     preset (SmallCNN);
//   - the linear probe's step and prediction;
//   - the finetuning step of SLF, ALF and AFF (TRADES) and the PGD evaluator;
//   - the AutoAttack oracle's logits and loss-gradient graphs for every attack loss.
func buildOpInventory(t testing.TB, backend backends.Backend) *optrace.Inventory {
	t.Helper()
	inv := optrace.NewInventory()

	// Benchmark workload.
	bcfg := benchmark.Default(invWidth, invBatch)
	bcfg.AttackSteps, bcfg.EvalSteps = 2, 2
	bs, err := benchmark.NewStep(backend, bcfg)
	if err != nil {
		t.Fatal(err)
	}
	// The training graph last: it creates the optimizer's variables, which only its own
	// execution initialises.
	bs.Graphs(func(name string, e *context.Exec, args ...any) { traceExec(t, inv, "bench/"+name, e, args...) })
	bs.Finalize()

	// Pretraining steps.
	for _, preset := range []string{pretrain.ScalePaper, pretrain.ScaleSmoke} {
		for _, method := range pretrain.MethodNames() {
			m, _ := pretrain.MethodByName(method)
			for _, variant := range m.Variants() {
				cfg, err := pretrain.Preset(method, variant, preset, t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				if method == "advcl" {
					cfg.PseudoLabelDir = t.TempDir() // only checked for presence; nothing is read
				}
				cfg.BatchSize = invBatch
				if preset == pretrain.ScalePaper {
					cfg.Width = invWidth
				}
				traceMethodStep(t, inv, backend, fmt.Sprintf("pretrain/%s/%s-%s", preset, method, variant), cfg)
			}
		}
	}

	// Linear probe (finetune/probe.go builds these two graphs on encoder features).
	enc := layers.SmallCNN{Width: invWidth}
	{
		cfg, err := pretrain.Preset("rocl", "base", pretrain.ScaleSmoke, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Width = invWidth
		penc, err := pretrain.EncoderFor(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		fctx := context.New().Checked(false)
		feats, err := context.NewExec(backend, fctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
			ctx.SetTraining(x.Graph(), false)
			return penc.Features(ctx, x, "")
		})
		if err != nil {
			t.Fatal(err)
		}
		traceExec(t, inv, "probe/features", feats, invImages(invBatch))
		dim := penc.FeatureDim()
		step, predict := probeExecsForTrace(t, backend, dim, 10)
		// Compiling a graph that updates variables resets them (context.Exec hands their
		// buffers over): the updating graph goes last in each context.
		traceExec(t, inv, "probe/predict", predict, invTensor(dtypes.Float32, invBatch, dim))
		traceExec(t, inv, "probe/step", step, invTensor(dtypes.Float32, invBatch, dim), invTensor(dtypes.Int32, invBatch))
	}

	// Finetuning steps (finetune.Loss through the training loop, as Finetune builds them)
	// and the PGD evaluator.
	for _, mode := range finetune.Modes {
		pre, err := pretrain.Preset("rocl", "base", pretrain.ScaleSmoke, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		fc, err := finetune.DefaultConfig(&pre, mode, finetune.ProtocolAdvCL)
		if err != nil {
			t.Fatal(err)
		}
		fc.TrainAttack.Steps, fc.EvalAttack.Steps = 2, 2
		clf := &finetune.Classifier{Encoder: enc, NumClasses: 10, Ctx: context.New().Checked(false), Backend: backend}
		if err := clf.Ctx.SetRNGStateFromSeed(1); err != nil {
			t.Fatal(err)
		}
		if mode == finetune.SLF {
			ev, err := finetune.NewPGDEvaluator(clf, fc.EvalAttack, 1, invBatch, 1)
			if err != nil {
				t.Fatal(err)
			}
			traceExec(t, inv, "eval/pgd", ev.Exec(), invImages(invBatch), invTensor(dtypes.Int32, invBatch))
			ev.Exec().Finalize()
		}
		optimizer, err := optim.New(fc.Optimizer)
		if err != nil {
			t.Fatal(err)
		}
		loop := &train.Loop{Optimizer: optimizer, Step: func(ctx *context.Context, in []*graph.Node) train.Outputs {
			loss, terms := finetune.Loss(ctx, clf, &fc, in[0], in[1])
			return train.Outputs{Loss: loss, Terms: terms}
		}}
		step, err := context.NewExec(backend, clf.Ctx, func(ctx *context.Context, inputs []*graph.Node) []*graph.Node {
			outs, _ := loop.BuildStep(ctx, inputs)
			return outs
		})
		if err != nil {
			t.Fatal(err)
		}
		traceExec(t, inv, "finetune/"+string(mode), step, invImages(invBatch), invTensor(dtypes.Int32, invBatch))
		step.Finalize()
	}

	// AutoAttack's oracle: its graphs are built lazily by the calls, which run them once
	// on two images (SmallCNN width 2: milliseconds).
	{
		octx := context.New().Checked(false)
		o, err := attack.NewGraphOracle(backend, octx, func(ctx *context.Context, x *graph.Node) *graph.Node {
			return layers.NewLinear(ctx.In("head"), enc.Features(ctx, x, ""), 10).Done()
		}, 10, 32, 32, 3)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 2*32*32*3)
		y, tg := []int32{1, 2}, []int32{3, 4}
		if _, err := o.Logits(x, 2); err != nil {
			t.Fatal(err)
		}
		traceCompiled(t, inv, "autoattack/logits", o.Executables()["logits"])
		for _, kind := range []string{attack.LossCE, attack.LossDLR, attack.LossDLRTargeted, attack.LossMargin} {
			if _, _, _, err := o.LossGradLogits(kind, x, 2, y, tg); err != nil {
				t.Fatal(err)
			}
			traceCompiled(t, inv, "autoattack/"+kind, o.Executables()[kind])
		}
	}
	return inv
}

// probeExecsForTrace builds LinearProbe's two graphs (finetune/probe.go: the SGD step on
// the cross-entropy of a zero-initialised linear head through the training loop, and the
// arg-max prediction).
func probeExecsForTrace(t testing.TB, backend backends.Backend, dim, numClasses int) (step, predict *context.Exec) {
	t.Helper()
	lctx := context.New().Checked(false)
	opt, err := optim.New(optim.Config{Kind: optim.SGD, Momentum: 0.9, WeightDecay: 5e-4})
	if err != nil {
		t.Fatal(err)
	}
	logits := func(ctx *context.Context, f *graph.Node) *graph.Node {
		c := ctx.In("probe").WithInitializer(initializers.Zero)
		w := c.VariableWithShape("weights", shapes.Make(f.DType(), dim, numClasses)).ValueGraph(f.Graph())
		b := c.VariableWithShape("biases", shapes.Make(f.DType(), numClasses)).ValueGraph(f.Graph())
		return graph.Add(graph.MatMul(f, w), graph.InsertAxes(b, 0))
	}
	loop := &train.Loop{Optimizer: opt, Step: func(ctx *context.Context, in []*graph.Node) train.Outputs {
		return train.Outputs{Loss: losses.CrossEntropy(logits(ctx, in[0]), in[1])}
	}}
	if step, err = context.NewExec(backend, lctx, func(ctx *context.Context, inputs []*graph.Node) []*graph.Node {
		outs, _ := loop.BuildStep(ctx, inputs)
		return outs
	}); err != nil {
		t.Fatal(err)
	}
	if predict, err = context.NewExec(backend, lctx, func(ctx *context.Context, f *graph.Node) *graph.Node {
		return graph.ArgMax(logits(ctx, f), -1, dtypes.Int32)
	}); err != nil {
		t.Fatal(err)
	}
	return step, predict
}

// TestOpInventoryCovered traces every graph of the project on the goacl backend and
// requires each op they emit to be covered by the engine's conformance test, so that a
// graph that starts using a new op fails here until a conformance case compares it.
func TestOpInventoryCovered(t *testing.T) {
	// Traced without fusion: the inventory lists the ops the graphs are made of. With
	// fusion (the default) chains of the elementwise ones among them run inside fused
	// nodes, which engine's TestFusionMatchesUnfused compares with the unfused ops.
	backend, err := engine.NewWithConfig(engine.PureGoName + ":fusion=off")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	inv := buildOpInventory(t, backend)
	elapsed := time.Since(start)
	t.Logf("%d graphs, %d op types, built in %.1fs", len(inv.Graphs), len(inv.Entries), elapsed.Seconds())
	covered := map[backends.OpType]bool{}
	for _, op := range optrace.Covered {
		covered[op] = true
	}
	var missing []string
	for _, op := range inv.Types() {
		if !covered[op] {
			var in []string
			for g := range inv.Entries[op].In {
				in = append(in, g)
			}
			sort.Strings(in)
			if len(in) > 3 {
				in = append(in[:3], "…")
			}
			missing = append(missing, fmt.Sprintf("%s (in %s)", op, strings.Join(in, ", ")))
		}
	}
	if len(missing) > 0 {
		t.Errorf("ops emitted by the project's graphs but not covered by engine/conformance_test.go "+
			"(add a conformance case and list the op in internal/optrace.Covered): %s", strings.Join(missing, "; "))
	}
	// The inventory must see the ops every one of these graphs is known to need, or the
	// tracer has gone blind (e.g. GoMLX changed and GraphOps reads nothing).
	for _, op := range []backends.OpType{backends.OpTypeConvGeneral, backends.OpTypeDotGeneral,
		backends.OpTypeRNGBitGenerator, backends.OpTypeReduceSum, backends.OpTypeMax} {
		if inv.Entries[op] == nil {
			t.Errorf("inventory lacks %s: the tracer is not seeing the graphs", op)
		}
	}
	if os.Getenv("ACL_WRITE_OP_INVENTORY") == "1" {
		writeOpInventory(t, inv, elapsed)
	}
}
