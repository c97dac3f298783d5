package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/benchmark"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/train"
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
	method := fs.String("method", "rocl", "method: "+strings.Join(pretrain.MethodNames(), "|"))
	variant := fs.String("variant", "base", "A-InfoNCE variant: base|ip|hn|iphn")
	width := fs.Int("width", 16, "ResNet-18 base width W")
	batch := fs.Int("batch", 16, "images per step")
	encoder := fs.String("encoder", "resnet18", "encoder: resnet18|smallcnn")
	graphName := fs.String("graph", graphStep, "graph: step (the method's pretraining step), eval (PGD-20 evaluation), bench (acl bench's standard step)")
	compile := fs.Bool("compile", false, "also compile the program with XLA and print the compile time (not run)")
	out := fs.String("stablehlo", "", "also write the StableHLO program to this file")
	run := fs.String("run", "", "instead: compile the StableHLO file FILE (e.g. -stablehlo's, or JAX's from bench/jax_step.py --stablehlo) and time it on the XLA backend")
	reps := fs.Int("reps", 5, "with -run: timed runs after one untimed run")
	if code, ok := parseFlags(fs, args); !ok {
		return code
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
		if prog, err = recordBench(rec, benchmark.Default(*width, *batch)); err != nil {
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
func censusConfig(method, variant, encoder string, width, batch int) (pretrain.Config, error) {
	cfg, err := pretrain.Preset(method, variant, pretrain.ScalePaper, "")
	if err != nil {
		return cfg, err
	}
	cfg.Encoder, cfg.Width, cfg.BatchSize = encoder, width, batch
	return cfg, nil
}

// recordStep builds the pretraining step graph of cfg's method exactly as pretrain.Pretrain
// does (pretrain.NewStep's builder under train.Loop.BuildStep: the method's BuildStep in
// train mode, then the optimizer's update) and records its program.
func recordStep(rec *hlo.Recorder, cfg pretrain.Config) (*hlo.Program, error) {
	step, _, err := pretrain.NewStep(&cfg, len(datasets.PseudoLabelGranularities))
	if err != nil {
		return nil, err
	}
	opt, err := optim.New(cfg.Optimizer)
	if err != nil {
		return nil, err
	}
	var inputs []any
	for _, sh := range step.InputShapes(cfg.BatchSize, 32) {
		inputs = append(inputs, tensors.FromShape(sh))
	}
	ctx := context.New().Checked(false)
	if err := optim.SetLearningRate(ctx, 0.1); err != nil {
		return nil, err
	}
	loop := &train.Loop{Step: step.Build, Optimizer: opt}
	exec, err := context.NewExec(rec, ctx, func(ctx *context.Context, in []*graph.Node) []*graph.Node {
		outs, _ := loop.BuildStep(ctx, in)
		return outs
	})
	if err != nil {
		return nil, err
	}
	return recorded(rec, exec.PreCompile(inputs...), "the "+cfg.Method+" step")
}

// recordEval builds the PGD-20 robust-accuracy graph of finetune.NewPGDEvaluator for a
// classifier on cfg's encoder (BN branch pgd for the dual-BN methods) and records it.
func recordEval(rec *hlo.Recorder, cfg pretrain.Config) (*hlo.Program, error) {
	enc, err := pretrain.EncoderFor(&cfg)
	if err != nil {
		return nil, err
	}
	branch := layers.BranchPGD
	if cfg.Method == "rocl" {
		branch = ""
	}
	ctx := context.New().Checked(false)
	clf := &finetune.Classifier{Encoder: enc, Branch: branch, NumClasses: 10, Ctx: ctx, Backend: rec}
	atk := attack.PGD20()
	exec, err := context.NewExec(rec, ctx, func(ctx *context.Context, x, y *graph.Node) []*graph.Node {
		g := x.Graph()
		ctx.SetTraining(g, false)
		layers.SetBNStatsUpdate(ctx, g, false)
		clean := graph.ArgMax(clf.Logits(ctx, x), -1, dtypes.Int32)
		advX := attack.PGD(ctx, []*graph.Node{x}, atk, func(advs []*graph.Node) *graph.Node {
			return graph.ReduceAllSum(attack.PerExampleAttackLoss(attack.LossCE, clf.Logits(ctx, advs[0]), y, nil))
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
func recordBench(rec *hlo.Recorder, cfg benchmark.Config) (*hlo.Program, error) {
	s, err := benchmark.NewStep(rec, cfg)
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
