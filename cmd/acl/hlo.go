package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/ainfonce/goacl/acl"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/engine/hlo"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func init() {
	register("hlo", "print the op census of a step graph as XLA receives it (StableHLO)", runHLO)
}

// Graphs `acl hlo -graph` builds.
const (
	graphStep  = "step"  // a method's pretraining step: attack, loss, optimizer update
	graphEval  = "eval"  // the PGD-20 robust evaluation of a classifier on the method's encoder
	graphBench = "bench" // the standard benchmark step of acl bench (docs/performance.md)
)

func runHLO(args []string) int {
	fs := flag.NewFlagSet("acl hlo", flag.ContinueOnError)
	method := fs.String("method", "rocl", "method: "+strings.Join(acl.MethodNames(), "|"))
	variant := fs.String("variant", "base", "A-InfoNCE variant: base|ip|hn|iphn")
	width := fs.Int("width", 16, "ResNet-18 base width W")
	batch := fs.Int("batch", 16, "images per step")
	encoder := fs.String("encoder", "resnet18", "encoder: resnet18|smallcnn")
	graphName := fs.String("graph", graphStep, "graph: step (the method's pretraining step), eval (PGD-20 evaluation), bench (acl bench's standard step)")
	compile := fs.Bool("compile", false, "also compile the program with XLA and print the compile time (not run)")
	out := fs.String("stablehlo", "", "also write the StableHLO program to this file")
	run := fs.String("run", "", "instead: compile the StableHLO file FILE (e.g. -stablehlo's, or JAX's from bench/jax_step.py --stablehlo) and time it on the XLA backend")
	reps := fs.Int("reps", 5, "with -run: timed runs after one untimed run")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *run != "" {
		return runStableHLOFile(*run, *reps)
	}
	if *width < 1 || *batch < 2 {
		fmt.Fprintln(os.Stderr, "acl hlo: -width must be ≥ 1 and -batch ≥ 2")
		return 2
	}
	mode := hlo.CaptureOnly
	if *compile {
		mode = hlo.CompileOnly
	}
	rec, err := newRecorder(mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl hlo:", err)
		return 1
	}
	var prog *hlo.Program
	switch *graphName {
	case graphStep, graphEval:
		cfg, err := censusConfig(*method, *variant, *encoder, *width, *batch)
		if err != nil {
			fmt.Fprintln(os.Stderr, "acl hlo:", err)
			return 2
		}
		if *graphName == graphStep {
			prog, err = recordStep(rec, cfg)
		} else {
			prog, err = recordEval(rec, cfg)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "acl hlo:", err)
			return 1
		}
	case graphBench:
		if prog, err = recordBench(rec, acl.DefaultBenchConfig(*width, *batch)); err != nil {
			fmt.Fprintln(os.Stderr, "acl hlo:", err)
			return 1
		}
	default:
		fmt.Fprintf(os.Stderr, "acl hlo: -graph %q: use step, eval or bench\n", *graphName)
		return 2
	}
	if *out != "" {
		if err := os.WriteFile(*out, []byte(prog.Text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "acl hlo:", err)
			return 1
		}
		fmt.Printf("StableHLO written to %s\n", *out)
	}
	if *compile {
		fmt.Printf("graph build (GoMLX, StableHLO): %.2f s; XLA compile: %.2f s (%s)\n", prog.BuildSeconds, prog.CompileSeconds, engine.Describe(rec.Backend))
	}
	if err := prog.Census().Write(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "acl hlo:", err)
		return 1
	}
	return 0
}

// runStableHLOFile compiles and times a StableHLO file on the XLA backend.
func runStableHLOFile(file string, reps int) int {
	text, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl hlo: -run:", err)
		return 2
	}
	rec, err := newRecorder(hlo.CaptureOnly)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl hlo:", err)
		return 1
	}
	t, err := hlo.TimeStableHLO(rec.Backend, text, max(reps, 1))
	if err != nil {
		fmt.Fprintf(os.Stderr, "acl hlo: -run %s: %v\n", file, err)
		return 1
	}
	wall, cpu := t.Median()
	fmt.Printf("%s on %s: %d inputs, XLA compile %.2f s, run %.3f s (median of %d; CPU %.3f s)\n",
		file, engine.Describe(rec.Backend), t.Inputs, t.CompileSeconds, wall, len(t.RunSeconds), cpu)
	return 0
}

// newRecorder wraps the XLA backend: GOMLX_BACKEND when it names XLA, otherwise xla:cpu.
func newRecorder(mode hlo.Mode) (*hlo.Recorder, error) {
	config := os.Getenv(backends.ConfigEnvVar)
	if !engine.IsXLAConfig(config) {
		config = "xla:cpu"
	}
	b, err := engine.NewWithConfig(config)
	if err != nil {
		return nil, err
	}
	return hlo.NewRecorder(b, mode)
}

// censusConfig is the paper preset of method/variant with the census's encoder, width and
// batch (the graph's structure does not depend on the data or the schedule).
func censusConfig(method, variant, encoder string, width, batch int) (acl.PretrainConfig, error) {
	cfg, err := acl.Preset(method, variant, acl.ScalePaper, "")
	if err != nil {
		return cfg, err
	}
	cfg.Encoder, cfg.Width, cfg.BatchSize = encoder, width, batch
	return cfg, nil
}

// recordStep builds the pretraining step graph of cfg's method as acl.Pretrain does (the
// method's BuildStep in train mode, then the optimizer's update) and records its program.
func recordStep(rec *hlo.Recorder, cfg acl.PretrainConfig) (*hlo.Program, error) {
	m, err := acl.MethodByName(cfg.Method)
	if err != nil {
		return nil, err
	}
	enc, err := acl.EncoderFor(&cfg)
	if err != nil {
		return nil, err
	}
	opt, err := acl.NewOptimizer(cfg.Optimizer)
	if err != nil {
		return nil, err
	}
	_, used := m.Views(&cfg)
	var inputs []any
	for range used {
		inputs = append(inputs, tensors.FromShape(shapes.Make(dtypes.Float32, cfg.BatchSize, 32, 32, 3)))
	}
	nPseudo := 0
	if pl, ok := m.(acl.PseudoLabelUser); ok && pl.NeedsPseudoLabels() {
		nPseudo = len(datasets.PseudoLabelGranularities)
		for range nPseudo {
			inputs = append(inputs, tensors.FromShape(shapes.Make(dtypes.Int32, cfg.BatchSize)))
		}
	}
	var scalarNames []string
	if sp, ok := m.(acl.ScalarProvider); ok {
		scalarNames = sp.ScalarNames(&cfg)
	}
	if len(scalarNames) > 0 {
		inputs = append(inputs, tensors.FromShape(shapes.Make(dtypes.Float32, len(scalarNames))))
	}
	ctx := context.New().Checked(false)
	if err := acl.SetLearningRate(ctx, 0.1); err != nil {
		return nil, err
	}
	exec, err := context.NewExec(rec, ctx, func(ctx *context.Context, in []*graph.Node) []*graph.Node {
		g := in[0].Graph()
		si := &acl.StepInputs{Config: &cfg, Encoder: enc, Views: in[:len(used)], Scalars: map[string]*graph.Node{}}
		rest := in[len(used):]
		si.PseudoLabels, rest = rest[:nPseudo], rest[nPseudo:]
		for i, name := range scalarNames {
			si.Scalars[name] = graph.Squeeze(graph.Slice(rest[0], graph.AxisElem(i)))
		}
		ctx.SetTraining(g, true)
		layers.SetBNStatsUpdate(ctx, g, true)
		outs := m.BuildStep(ctx, si)
		opt.UpdateGraph(ctx, g, outs.Loss)
		res := []*graph.Node{outs.Loss}
		names := make([]string, 0, len(outs.Metrics))
		for n := range outs.Metrics {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			res = append(res, graph.ConvertDType(outs.Metrics[n], dtypes.Float64))
		}
		return res
	})
	if err != nil {
		return nil, err
	}
	return recorded(rec, exec.PreCompile(inputs...), "the "+cfg.Method+" step")
}

// recordEval builds the PGD-20 robust-accuracy graph of acl.NewPGDEvaluator for a
// classifier on cfg's encoder (BN branch pgd for the dual-BN methods) and records it.
func recordEval(rec *hlo.Recorder, cfg acl.PretrainConfig) (*hlo.Program, error) {
	enc, err := acl.EncoderFor(&cfg)
	if err != nil {
		return nil, err
	}
	branch := layers.BranchPGD
	if cfg.Method == "rocl" {
		branch = ""
	}
	ctx := context.New().Checked(false)
	clf := &acl.Classifier{Encoder: enc, Branch: branch, NumClasses: 10, Ctx: ctx, Backend: rec}
	attack := acl.EvalPGD20()
	exec, err := context.NewExec(rec, ctx, func(ctx *context.Context, x, y *graph.Node) []*graph.Node {
		g := x.Graph()
		ctx.SetTraining(g, false)
		layers.SetBNStatsUpdate(ctx, g, false)
		clean := graph.ArgMax(clf.Logits(ctx, x), -1, dtypes.Int32)
		advX := acl.PGD(ctx, []*graph.Node{x}, attack, func(advs []*graph.Node) *graph.Node {
			return graph.ReduceAllSum(acl.PerExampleAttackLoss(acl.LossCE, clf.Logits(ctx, advs[0]), y, nil))
		})[0]
		adv := graph.ArgMax(clf.Logits(ctx, advX), -1, dtypes.Int32)
		return []*graph.Node{graph.Equal(clean, y), graph.Equal(adv, y)}
	})
	if err != nil {
		return nil, err
	}
	x := tensors.FromShape(shapes.Make(dtypes.Float32, cfg.BatchSize, 32, 32, 3))
	y := tensors.FromShape(shapes.Make(dtypes.Int32, cfg.BatchSize))
	return recorded(rec, exec.PreCompile(x, y), "the PGD-20 evaluation")
}

// recordBench records the train graph of acl bench's standard step.
func recordBench(rec *hlo.Recorder, cfg acl.BenchConfig) (*hlo.Program, error) {
	s, err := acl.NewBenchStep(rec, cfg)
	if err != nil {
		return nil, err
	}
	defer s.Finalize()
	_, err = s.TrainStep()
	return recorded(rec, err, "the benchmark step")
}

// recorded returns the program the recorder holds after compiling what, where the
// recorder's own "not compiled / not run" error is the expected outcome.
func recorded(rec *hlo.Recorder, err error, what string) (*hlo.Program, error) {
	if err != nil && !errors.Is(err, hlo.ErrNotCompiled) && !errors.Is(err, hlo.ErrNotRun) &&
		!strings.Contains(err.Error(), hlo.ErrNotCompiled.Error()) && !strings.Contains(err.Error(), hlo.ErrNotRun.Error()) {
		return nil, fmt.Errorf("building %s: %w", what, err)
	}
	p := rec.Last()
	if p == nil {
		return nil, fmt.Errorf("building %s: no program was compiled", what)
	}
	return p, nil
}
