package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/core/tensors/numpy"
)

func init() {
	register("bench-ops", "time single convolutions and matmuls (forward and both gradients) against PyTorch", runBenchOps)
}

// Targets of issue 9 on the 2-core machine, in GFLOP/s (2 FLOP per multiply-add).
const (
	gemmTargetGFLOPs  = 100
	conv3TargetGFLOPs = 60
	checkRelTolerance = 1e-4 // float32 sums of up to 4608 products in another order
	defaultOpsGEMMs   = "1024x1024x1024,32768x576x64"
	defaultOpsCheck   = `stage2-3x3-s2|stage2-1x1-s2|proj1`
	defaultOpsMinTime = 0.2
)

// opSpec is one timed operation: a bias-free square-kernel convolution (NHWC input,
// [k,k,Cin,Cout] kernel, same stride and padding on both axes) or a matmul
// a [M,K] · b [K,N], and which pass: the forward result, the input gradient or the weight
// gradient for a given output gradient. Its JSON form is what bench/pytorch_ops.py reads.
type opSpec struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"` // conv | matmul
	Pass  string `json:"pass"` // fwd | dx | dw
	Width int    `json:"width,omitempty"`
	// Convolution.
	N      int `json:"n,omitempty"`
	H      int `json:"h,omitempty"`
	W      int `json:"w,omitempty"`
	Cin    int `json:"cin,omitempty"`
	Cout   int `json:"cout,omitempty"`
	K      int `json:"k,omitempty"`
	Stride int `json:"stride,omitempty"`
	Pad    int `json:"pad,omitempty"`
	// Matmul.
	M    int `json:"m,omitempty"`
	KDim int `json:"kdim,omitempty"`
	NDim int `json:"ndim,omitempty"`
}

func (s opSpec) id() string { return s.Name + "/" + s.Pass }

func (s opSpec) outHW() (int, int) {
	return (s.H+2*s.Pad-s.K)/s.Stride + 1, (s.W+2*s.Pad-s.K)/s.Stride + 1
}

// flop is the nominal work of the op, 2 per multiply-add; every pass of a convolution or
// matmul does the same number of multiply-adds.
func (s opSpec) flop() float64 {
	if s.Kind == "conv" {
		ho, wo := s.outHW()
		return 2 * float64(s.N*ho*wo) * float64(s.Cout*s.Cin*s.K*s.K)
	}
	return 2 * float64(s.M) * float64(s.KDim) * float64(s.NDim)
}

// target is issue 9's GFLOP/s target for the op (0: none): 100 for matmuls, 60 for 3×3
// convolutions (every pass).
func (s opSpec) target() float64 {
	switch {
	case s.Kind == "matmul":
		return gemmTargetGFLOPs
	case s.K == 3:
		return conv3TargetGFLOPs
	}
	return 0
}

func (s opSpec) shape() string {
	if s.Kind == "conv" {
		ho, wo := s.outHW()
		return fmt.Sprintf("%dx%dx%dx%d→%dx%dx%d k%d s%d", s.N, s.H, s.W, s.Cin, ho, wo, s.Cout, s.K, s.Stride)
	}
	return fmt.Sprintf("%dx%d·%dx%d", s.M, s.KDim, s.KDim, s.NDim)
}

// benchOpsShapes lists the ops: for each width W, the CIFAR ResNet-18 convolutions at
// batch n (stage 1 3×3 W→W at 32×32; stage 2's first 3×3 W→2W with stride 2, 32→16, and
// its 1×1 stride-2 shortcut; stage 3 3×3 4W→4W at 8×8; stage 4 3×3 8W→8W at 4×4) and
// RoCL's projector matmuls (n×8W·8W×2048, n×2048·2048×128), each forward, input gradient
// and weight gradient; then the forward of each extra GEMM.
func benchOpsShapes(widths []int, n int, gemms [][3]int) []opSpec {
	var ops []opSpec
	passes := []string{"fwd", "dx", "dw"}
	for _, w := range widths {
		convs := []opSpec{
			{Name: "stage1-3x3", H: 32, Cin: w, Cout: w, K: 3, Stride: 1, Pad: 1},
			{Name: "stage2-3x3-s2", H: 32, Cin: w, Cout: 2 * w, K: 3, Stride: 2, Pad: 1},
			{Name: "stage2-1x1-s2", H: 32, Cin: w, Cout: 2 * w, K: 1, Stride: 2, Pad: 0},
			{Name: "stage3-3x3", H: 8, Cin: 4 * w, Cout: 4 * w, K: 3, Stride: 1, Pad: 1},
			{Name: "stage4-3x3", H: 4, Cin: 8 * w, Cout: 8 * w, K: 3, Stride: 1, Pad: 1},
		}
		for _, c := range convs {
			for _, p := range passes {
				s := c
				s.Name, s.Kind, s.Pass, s.Width, s.N, s.W = fmt.Sprintf("w%d/%s", w, c.Name), "conv", p, w, n, c.H
				ops = append(ops, s)
			}
		}
		for _, mm := range []opSpec{{Name: "proj1", KDim: 8 * w, NDim: 2048}, {Name: "proj2", KDim: 2048, NDim: 128}} {
			for _, p := range passes {
				s := mm
				s.Name, s.Kind, s.Pass, s.Width, s.M = fmt.Sprintf("w%d/%s", w, mm.Name), "matmul", p, w, n
				ops = append(ops, s)
			}
		}
	}
	for _, g := range gemms {
		ops = append(ops, opSpec{Name: fmt.Sprintf("gemm-%dx%dx%d", g[0], g[1], g[2]), Kind: "matmul", Pass: "fwd", M: g[0], KDim: g[1], NDim: g[2]})
	}
	return ops
}

// opSide is one framework's timings of an op: Seconds and CPUSeconds hold one entry per
// round, each the time of one run (a sample of Reps runs divided by Reps).
type opSide struct {
	Reps       int       `json:"reps"`
	Seconds    []float64 `json:"seconds"`
	CPUSeconds []float64 `json:"cpu_seconds,omitempty"`
	// Medians over the rounds, and the GFLOP/s they give: wall, and per CPU-second (the
	// work done per second of CPU time of all the process's threads together).
	MedianSeconds    float64 `json:"median_seconds"`
	CPUMedianSeconds float64 `json:"cpu_median_seconds,omitempty"`
	GFLOPs           float64 `json:"gflops"`
	GFLOPsPerCPUSec  float64 `json:"gflop_per_cpu_second,omitempty"`
	// MinSeconds is the fastest round and BestGFLOPs its rate: on a loaded machine the
	// rounds where the side had the cores to itself.
	MinSeconds float64 `json:"min_seconds"`
	BestGFLOPs float64 `json:"best_round_gflops"`
}

func (s *opSide) summarize(flop float64) {
	s.MedianSeconds = median(s.Seconds)
	s.GFLOPs = flop / s.MedianSeconds / 1e9
	s.MinSeconds = slices.Min(s.Seconds)
	s.BestGFLOPs = flop / s.MinSeconds / 1e9
	if len(s.CPUSeconds) > 0 {
		s.CPUMedianSeconds = median(s.CPUSeconds)
		if s.CPUMedianSeconds > 0 {
			s.GFLOPsPerCPUSec = flop / s.CPUMedianSeconds / 1e9
		}
	}
}

// opResult is one op's line of the report.
type opResult struct {
	opSpec
	Shape string  `json:"shape"`
	GFLOP float64 `json:"gflop"`
	Go    *opSide `json:"go"`
	// GoGEMMWork is the GEMM work goacl's kernels did in one run (engine.GEMMFlops) over
	// the nominal FLOPs: 1 when no work is wasted (e.g. on zeros injected by a strided
	// convolution's input gradient).
	GoGEMMWork float64 `json:"go_gemm_work_over_nominal"`
	// PyTorch holds every variant (bench/pytorch_ops.py); PyTorchBest names the one with
	// the shortest median wall time, which the ratios use.
	PyTorch     map[string]*opSide `json:"pytorch,omitempty"`
	PyTorchBest string             `json:"pytorch_best,omitempty"`
	// Ratio is PyTorch's best GFLOP/s over goacl's (wall); CPURatio compares GFLOP per
	// CPU-second.
	Ratio    float64 `json:"ratio_pytorch_over_go,omitempty"`
	CPURatio float64 `json:"cpu_ratio_pytorch_over_go,omitempty"`
	// Target is issue 9's GFLOP/s target (0: none). CPUEquivGFLOPs is goacl's GFLOP per
	// CPU-second times the threads: what the threads would reach on cores of their own,
	// fully busy — an estimate for the idle machine when the shared one is loaded.
	Target         float64 `json:"target_gflops,omitempty"`
	CPUEquivGFLOPs float64 `json:"go_cpu_equivalent_gflops,omitempty"`
	MeetsTarget    *bool   `json:"meets_target_wall,omitempty"`
	MeetsTargetCPU *bool   `json:"meets_target_cpu_equivalent,omitempty"`
}

// opCheck is the agreement of goacl and one PyTorch variant on one op's result: the
// largest absolute difference over the largest absolute PyTorch value.
type opCheck struct {
	Op          string  `json:"op"`
	Variant     string  `json:"variant"`
	MaxRelDiff  float64 `json:"max_abs_diff_over_max_abs"`
	Tolerance   float64 `json:"tolerance"`
	OK          bool    `json:"ok"`
	GoMaxAbs    float64 `json:"go_max_abs"`
	ElementsCmp int     `json:"elements"`
}

// opsReport is what `acl bench-ops -out` writes.
type opsReport struct {
	Command     string            `json:"command"`
	Provenance  rundir.Provenance `json:"provenance"`
	CPU         string            `json:"cpu"`
	Threads     int               `json:"threads"`
	Backend     string            `json:"backend"`
	GEMMKernels []string          `json:"gemm_kernels"`
	Batch       int               `json:"batch"`
	Widths      []int             `json:"widths"`
	Rounds      int               `json:"rounds"`
	MinTime     float64           `json:"min_sample_seconds"`
	LoadAvg     []string          `json:"loadavg_start_end"`
	PyTorch     map[string]any    `json:"pytorch,omitempty"`
	PyTorchMsg  string            `json:"pytorch_status,omitempty"`
	Ops         []*opResult       `json:"ops"`
	Checks      []opCheck         `json:"checks,omitempty"`
	Misses      []string          `json:"misses,omitempty"`
}

func runBenchOps(args []string) int {
	fs := flag.NewFlagSet("acl bench-ops", flag.ContinueOnError)
	widthsFlag := fs.String("widths", "16,64", "comma-separated ResNet-18 base widths W whose convolution and projector shapes are timed")
	batch := fs.Int("batch", 32, "images per batch (the N of the convolutions, the M of the projector matmuls)")
	gemmsFlag := fs.String("gemms", defaultOpsGEMMs, "comma-separated extra GEMMs MxKxN timed forward (\"\": none)")
	rounds := fs.Int("rounds", 3, "rounds; in each, every op is timed once on each side, which side goes first alternating, so both see the same machine load")
	minTime := fs.Float64("min-time", defaultOpsMinTime, "seconds of one sample: each side repeats an op as many times as its warm-up says this takes")
	threads := fs.Int("threads", 0, "threads for both frameworks: GOMAXPROCS and torch.set_num_threads (0: all cores)")
	python := fs.String("pytorch", "auto", "python interpreter with torch for the peer; auto: /usr/bin/python3 or python3 if torch imports; none: goacl only")
	script := fs.String("pytorch-script", "bench/pytorch_ops.py", "the PyTorch peer script")
	only := fs.String("only", "", "time only the ops whose name/pass matches this regular expression (e.g. 'w64/stage1-3x3/dw')")
	check := fs.String("check", defaultOpsCheck, "compare goacl's and PyTorch's results on the ops whose name matches this regular expression (\"\": none)")
	out := fs.String("out", "", "write the full report (every timing, versions, command) as JSON to this file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of goacl's timed runs (all rounds, all selected ops) to this file")
	seed := fs.Uint64("seed", 1, "seed of the operands")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "acl bench-ops: "+format+"\n", a...)
		return 2
	}
	widths, err := parseInts(*widthsFlag)
	if err != nil || len(widths) == 0 {
		return fail("-widths %q: want comma-separated positive integers, e.g. 16,64", *widthsFlag)
	}
	gemms, err := parseGEMMs(*gemmsFlag)
	if err != nil {
		return fail("-gemms %q: %v (want e.g. 1024x1024x1024,32768x576x64)", *gemmsFlag, err)
	}
	if *batch < 1 || *rounds < 1 || *minTime < 0 {
		return fail("-batch and -rounds must be ≥ 1 and -min-time ≥ 0")
	}
	onlyRe, err := regexp.Compile(*only)
	if err != nil {
		return fail("-only: %v", err)
	}
	checkRe, err := regexp.Compile(*check)
	if err != nil {
		return fail("-check: %v", err)
	}
	var ops []opSpec
	for _, s := range benchOpsShapes(widths, *batch, gemms) {
		if onlyRe.MatchString(s.id()) {
			ops = append(ops, s)
		}
	}
	if len(ops) == 0 {
		return fail("-only %q matches no op (names look like w16/stage1-3x3/fwd, w64/proj1/dw, gemm-1024x1024x1024/fwd)", *only)
	}
	if *threads > 0 {
		runtime.GOMAXPROCS(*threads) // before engine.New: the GEMM's workers follow it
	}
	nThreads := runtime.GOMAXPROCS(0)
	backend, err := engine.New()
	if err != nil {
		return opsFail(err)
	}
	rep := &opsReport{
		Command: "acl bench-ops " + strings.Join(args, " "), Provenance: rundir.CollectProvenance(engine.Describe(backend)),
		CPU: cpuModel(), Threads: nThreads, Backend: engine.Describe(backend), GEMMKernels: engine.GEMMKernels(),
		Batch: *batch, Widths: widths, Rounds: *rounds, MinTime: *minTime, LoadAvg: []string{loadAvg()},
	}
	if engine.IsPureGo(backend) {
		if err := engine.KernelsStatus(); err != nil {
			fmt.Println("note:", err)
		}
	}
	fmt.Printf("acl bench-ops: %d ops, batch %d, widths %v, %d rounds, samples of ≥ %.2g s\n", len(ops), *batch, widths, *rounds, *minTime)
	fmt.Printf("go: %s, %s, GEMM kernels %v, %d threads; load average %s\n", runtime.Version(), rep.Backend, rep.GEMMKernels, nThreads, rep.LoadAvg[0])

	var peer *torchPeer
	if *python != "none" {
		peer, err = startPeer(*python, *script, "--serve", "--threads", fmt.Sprint(nThreads), "--seed", fmt.Sprint(*seed))
		if err != nil {
			rep.PyTorchMsg = err.Error()
			fmt.Println("pytorch: not run:", err)
			if *python != "auto" {
				return 1
			}
		} else {
			defer peer.close()
			rep.PyTorch = peer.info
			fmt.Printf("pytorch: %v\n", peer.info)
		}
	}

	// Value checks first: the comparison is only meaningful if both compute the same.
	checksOK := true
	if peer != nil && *check != "" {
		for _, s := range ops {
			if !checkRe.MatchString(s.Name) {
				continue
			}
			cs, err := checkOp(backend, peer, s, *seed)
			if err != nil {
				return opsFail(fmt.Errorf("checking %s: %w", s.id(), err))
			}
			for _, c := range cs {
				status := "ok"
				if !c.OK {
					status, checksOK = "MISMATCH", false
				}
				fmt.Printf("check %-26s %-15s max|Δ|/max|y| %.2g  %s\n", c.Op, c.Variant, c.MaxRelDiff, status)
			}
			rep.Checks = append(rep.Checks, cs...)
		}
	}

	// Warm-up and calibration (untimed): compiles the Go graphs, lets PyTorch create its
	// primitives, and sets each side's repetitions per sample.
	t0 := time.Now()
	goOps := make([]*goOp, len(ops))
	for i, s := range ops {
		res := &opResult{opSpec: s, Shape: s.shape(), GFLOP: s.flop() / 1e9, Go: &opSide{}, Target: s.target()}
		rep.Ops = append(rep.Ops, res)
		g, err := newGoOp(backend, s, *seed)
		if err != nil {
			return opsFail(fmt.Errorf("%s: %w", s.id(), err))
		}
		defer g.finalize()
		goOps[i] = g
		work, err := g.prepare(*minTime)
		if err != nil {
			return opsFail(fmt.Errorf("%s on goacl: %w", s.id(), err))
		}
		res.Go.Reps, res.GoGEMMWork = g.reps, work/s.flop()
		if peer != nil {
			var ans struct {
				Reps  map[string]int `json:"reps"`
				Error string         `json:"error"`
			}
			if err := peer.request(opsRequest("prepare", s, map[string]any{"min_time": *minTime}), &ans); err != nil {
				return opsFail(err)
			}
			if ans.Error != "" {
				return opsFail(fmt.Errorf("pytorch peer, %s: %s", s.id(), ans.Error))
			}
			res.PyTorch = map[string]*opSide{}
			for v, n := range ans.Reps {
				res.PyTorch[v] = &opSide{Reps: n}
			}
		}
	}
	fmt.Printf("warm-up and calibration: %.1f s (graph compilation included)\n", time.Since(t0).Seconds())

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return opsFail(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return opsFail(err)
		}
		// Only goacl's runs are profiled: the process sleeps while the peer works.
		defer pprof.StopCPUProfile()
	}
	for r := range *rounds {
		t0 := time.Now()
		for i, s := range ops {
			res := rep.Ops[i]
			goFirst := (r+i)%2 == 0
			for side := range 2 {
				if (side == 0) == goFirst {
					sec, cpu, err := goOps[i].sample()
					if err != nil {
						return opsFail(fmt.Errorf("%s on goacl: %w", s.id(), err))
					}
					res.Go.Seconds = append(res.Go.Seconds, sec)
					if cpu > 0 {
						res.Go.CPUSeconds = append(res.Go.CPUSeconds, cpu)
					}
				} else if peer != nil {
					if err := torchSample(peer, s, res.PyTorch); err != nil {
						return opsFail(err)
					}
				}
			}
		}
		fmt.Printf("round %d/%d: %.1f s\n", r+1, *rounds, time.Since(t0).Seconds())
	}
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	rep.LoadAvg = append(rep.LoadAvg, loadAvg())
	for _, res := range rep.Ops {
		res.summarize(nThreads)
		if res.MeetsTarget != nil && !*res.MeetsTarget {
			rep.Misses = append(rep.Misses, fmt.Sprintf("%s: %.3g GFLOP/s wall (%.3g CPU-equivalent) < %.0f (%.0f%% of the target)",
				res.id(), res.Go.GFLOPs, res.CPUEquivGFLOPs, res.Target, 100*res.Go.GFLOPs/res.Target))
		}
	}
	printOpsTable(os.Stdout, rep)
	if *out != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return opsFail(err)
		}
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return opsFail(err)
		}
		fmt.Println("report written to", *out)
	}
	if !checksOK {
		fmt.Fprintln(os.Stderr, "acl bench-ops: goacl and PyTorch results differ beyond the tolerance (see the checks above)")
		return 1
	}
	return 0
}

// summarize fills the medians, the ratios and the target verdicts.
func (res *opResult) summarize(threads int) {
	flop := res.flop()
	res.Go.summarize(flop)
	res.CPUEquivGFLOPs = res.Go.GFLOPsPerCPUSec * float64(threads)
	var best *opSide
	for v, side := range res.PyTorch {
		if len(side.Seconds) == 0 {
			continue
		}
		side.summarize(flop)
		if best == nil || side.MedianSeconds < best.MedianSeconds || (side.MedianSeconds == best.MedianSeconds && v < res.PyTorchBest) {
			best, res.PyTorchBest = side, v
		}
	}
	if best != nil {
		res.Ratio = best.GFLOPs / res.Go.GFLOPs
		if best.GFLOPsPerCPUSec > 0 && res.Go.GFLOPsPerCPUSec > 0 {
			res.CPURatio = best.GFLOPsPerCPUSec / res.Go.GFLOPsPerCPUSec
		}
	}
	if res.Target > 0 {
		wall, cpu := res.Go.GFLOPs >= res.Target, res.CPUEquivGFLOPs >= res.Target
		res.MeetsTarget = &wall
		if res.Go.GFLOPsPerCPUSec > 0 {
			res.MeetsTargetCPU = &cpu
		}
	}
}

// torchSample has the peer time one sample of every variant of s.
func torchSample(peer *torchPeer, s opSpec, sides map[string]*opSide) error {
	var ans struct {
		Variants map[string]struct {
			Seconds    float64 `json:"seconds"`
			CPUSeconds float64 `json:"cpu_seconds"`
		} `json:"variants"`
		Error string `json:"error"`
	}
	if err := peer.request(opsRequest("time", s, nil), &ans); err != nil {
		return err
	}
	if ans.Error != "" {
		return fmt.Errorf("pytorch peer, %s: %s", s.id(), ans.Error)
	}
	for v, t := range ans.Variants {
		side := sides[v]
		if side == nil {
			return fmt.Errorf("pytorch peer, %s: variant %q was not prepared", s.id(), v)
		}
		side.Seconds = append(side.Seconds, t.Seconds)
		side.CPUSeconds = append(side.CPUSeconds, t.CPUSeconds)
	}
	return nil
}

// opsRequest is one JSON command line of bench/pytorch_ops.py's protocol.
func opsRequest(cmd string, s opSpec, extra map[string]any) string {
	m := map[string]any{"cmd": cmd, "op": s}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// goOp is one op compiled as a GoMLX graph on the backend, with its operands on the
// device: engine.Conv2D or graph.Dot for the forward pass; for the gradients, graph.Gradient
// with respect to the input or the weights with the output's adjoint set to dy (a
// parameter), which simplego runs without the forward product (only nodes the output
// needs are executed): the graphs run the backward convolutions or matmuls and nothing else.
type goOp struct {
	spec   opSpec
	exec   *graph.Exec
	inputs []*tensors.Tensor
	args   []any // inputs, as Exec takes them
	reps   int
}

func newGoOp(backend backends.Backend, s opSpec, seed uint64) (*goOp, error) {
	xs, ws, ys := s.operandShapes()
	rng := rand.New(rand.NewPCG(seed, uint64(len(s.id()))))
	g := &goOp{spec: s}
	for _, shape := range []shapes.Shape{xs, ws, ys} {
		t := uniformTensor(shape, rng)
		if err := t.MaterializeOnDevice(backend, false, 0); err != nil {
			return nil, err
		}
		g.inputs = append(g.inputs, t)
	}
	if s.Pass == "fwd" {
		g.inputs = g.inputs[:2]
	}
	for _, t := range g.inputs {
		g.args = append(g.args, t)
	}
	var err error
	g.exec, err = graph.NewExec(backend, s.graphFn())
	return g, err
}

// operandShapes are the shapes of x (NHWC or [M,K]), the weights ([k,k,Cin,Cout] or
// [K,N]) and the forward output / output gradient.
func (s opSpec) operandShapes() (x, w, y shapes.Shape) {
	f := dtypes.Float32
	if s.Kind == "conv" {
		ho, wo := s.outHW()
		return shapes.Make(f, s.N, s.H, s.W, s.Cin), shapes.Make(f, s.K, s.K, s.Cin, s.Cout), shapes.Make(f, s.N, ho, wo, s.Cout)
	}
	return shapes.Make(f, s.M, s.KDim), shapes.Make(f, s.KDim, s.NDim), shapes.Make(f, s.M, s.NDim)
}

// graphFn is the op's graph function: (x, w) → y, or (x, w, dy) → dx or dw.
func (s opSpec) graphFn() func(in []*graph.Node) *graph.Node {
	fwd := func(x, w *graph.Node) *graph.Node {
		if s.Kind == "conv" {
			return engine.Conv2D(x, w, s.Stride, s.Pad)
		}
		return graph.Dot(x, w)
	}
	return func(in []*graph.Node) *graph.Node {
		x, w := in[0], in[1]
		if s.Pass == "fwd" {
			return fwd(x, w)
		}
		// The output gradient is dy itself: a custom gradient on the output replaces the
		// adjoint of the (never executed) sum, so no elementwise op seeds it.
		dy := in[2]
		y := graph.IdentityWithCustomGradient(fwd(x, w), func(_, _ *graph.Node) *graph.Node { return dy })
		loss := graph.ReduceAllSum(y)
		if s.Pass == "dx" {
			return graph.Gradient(loss, x)[0]
		}
		return graph.Gradient(loss, w)[0]
	}
}

// run executes the graph once and frees its result.
func (g *goOp) run() error {
	outs, err := g.exec.Exec(g.args...)
	for _, o := range outs {
		_ = o.FinalizeAll()
	}
	return err
}

// prepare compiles and runs the graph once, times three more runs to set reps from the
// fastest (one slow run on the shared machine would make every sample short), and returns
// the GEMM FLOPs goacl's kernels did in one run.
func (g *goOp) prepare(minTime float64) (float64, error) {
	if err := g.run(); err != nil {
		return 0, err
	}
	t, work := math.Inf(1), 0.0
	for range 3 {
		f0, t0 := engine.GEMMFlops(), time.Now()
		if err := g.run(); err != nil {
			return 0, err
		}
		t, work = min(t, time.Since(t0).Seconds()), float64(engine.GEMMFlops()-f0)
	}
	g.reps = max(1, min(100000, int(minTime/max(t, 1e-7))+1))
	return work, nil
}

// sample times reps runs and returns the wall and process CPU seconds per run.
func (g *goOp) sample() (float64, float64, error) {
	c0, t0 := processCPUSeconds(), time.Now()
	for range g.reps {
		if err := g.run(); err != nil {
			return 0, 0, err
		}
	}
	sec := time.Since(t0).Seconds() / float64(g.reps)
	cpu := 0.0
	if c := processCPUSeconds(); c > 0 {
		cpu = (c - c0) / float64(g.reps)
	}
	return sec, cpu, nil
}

func (g *goOp) finalize() {
	g.exec.Finalize()
	for _, t := range g.inputs {
		_ = t.FinalizeAll()
	}
}

func uniformTensor(shape shapes.Shape, rng *rand.Rand) *tensors.Tensor {
	t := tensors.FromShape(shape)
	tensors.MutableFlatData(t, func(v []float32) {
		for i := range v {
			v[i] = 2*rng.Float32() - 1
		}
	})
	return t
}

// checkOp runs s on goacl and in every PyTorch variant on the same operands (exchanged
// as .npy files in goacl's layouts) and compares the results.
func checkOp(backend backends.Backend, peer *torchPeer, s opSpec, seed uint64) ([]opCheck, error) {
	dir, err := os.MkdirTemp("", "acl-bench-ops-check-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	g, err := newGoOp(backend, s, seed)
	if err != nil {
		return nil, err
	}
	defer g.finalize()
	// The operands go to the files in all three roles, whatever the pass uses.
	xs, ws, ys := s.operandShapes()
	rng := rand.New(rand.NewPCG(seed, uint64(len(s.id()))))
	ops := []*tensors.Tensor{uniformTensor(xs, rng), uniformTensor(ws, rng), uniformTensor(ys, rng)}
	for i, name := range []string{"x.npy", "w.npy", "dy.npy"} {
		if err := numpy.ToNpyFile(ops[i], filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	args := make([]any, len(g.inputs))
	for i := range args {
		args[i] = ops[i]
	}
	outs, err := g.exec.Exec(args...)
	if err != nil {
		return nil, err
	}
	got := tensors.MustCopyFlatData[float32](outs[0])
	for _, o := range outs {
		_ = o.FinalizeAll()
	}
	var ans struct {
		Files map[string]string `json:"files"`
		Error string            `json:"error"`
	}
	if err := peer.request(opsRequest("check", s, map[string]any{"dir": dir}), &ans); err != nil {
		return nil, err
	}
	if ans.Error != "" {
		return nil, fmt.Errorf("pytorch peer: %s", ans.Error)
	}
	var res []opCheck
	for _, v := range sortedKeys(ans.Files) {
		t, err := numpy.FromNpyFile(ans.Files[v])
		if err != nil {
			return nil, err
		}
		want := tensors.MustCopyFlatData[float32](t)
		if len(want) != len(got) {
			return nil, fmt.Errorf("variant %s: %d values, goacl has %d", v, len(want), len(got))
		}
		scale, goMax, diff := 0.0, 0.0, 0.0
		for i := range want {
			scale = max(scale, math.Abs(float64(want[i])))
			goMax = max(goMax, math.Abs(float64(got[i])))
			diff = max(diff, math.Abs(float64(got[i]-want[i])))
		}
		rel := diff / max(scale, 1e-30)
		res = append(res, opCheck{Op: s.id(), Variant: v, MaxRelDiff: rel, Tolerance: checkRelTolerance,
			OK: rel <= checkRelTolerance && scale > 0, GoMaxAbs: goMax, ElementsCmp: len(want)})
	}
	return res, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// printOpsTable prints one line per op: goacl's and PyTorch's best median time and
// GFLOP/s (wall and per CPU-second), the ratio and the target verdict.
func printOpsTable(w *os.File, rep *opsReport) {
	fmt.Fprintf(w, "\n%-24s %-4s %-28s %7s | %9s %7s %7s %5s | %9s %7s %7s %-14s | %6s %6s | %s\n",
		"op", "pass", "shape", "GFLOP", "goacl ms", "GFLOP/s", "/CPU-s", "work", "torch ms", "GFLOP/s", "/CPU-s", "(variant)", "ratio", "CPU-r", "target")
	for _, r := range rep.Ops {
		torch := fmt.Sprintf("%9s %7s %7s %-14s", "-", "-", "-", "")
		if b := r.PyTorch[r.PyTorchBest]; b != nil {
			torch = fmt.Sprintf("%9.3f %7.1f %7.1f %-14s", 1e3*b.MedianSeconds, b.GFLOPs, b.GFLOPsPerCPUSec, r.PyTorchBest)
		}
		ratio := fmt.Sprintf("%6s %6s", "-", "-")
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%6.2f %6.2f", r.Ratio, r.CPURatio)
		}
		target := ""
		if r.MeetsTarget != nil {
			target = fmt.Sprintf("≥%.0f: wall %s, CPU-eq %.0f %s", r.Target, verdict(*r.MeetsTarget), r.CPUEquivGFLOPs, verdict(r.MeetsTargetCPU != nil && *r.MeetsTargetCPU))
		}
		fmt.Fprintf(w, "%-24s %-4s %-28s %7.4g | %9.3f %7.1f %7.1f %5.2f | %s | %s | %s\n",
			r.Name, r.Pass, r.Shape, r.GFLOP, 1e3*r.Go.MedianSeconds, r.Go.GFLOPs, r.Go.GFLOPsPerCPUSec, r.GoGEMMWork, torch, ratio, target)
	}
	fmt.Fprintf(w, "\nGFLOP/s = 2·MACs / median time over %d rounds; /CPU-s = per second of process CPU time (all threads); work = goacl's GEMM FLOPs / nominal;\n", rep.Rounds)
	fmt.Fprintf(w, "ratio = PyTorch's best variant over goacl (wall), CPU-r = the same per CPU-second; CPU-eq = goacl's GFLOP per CPU-second × %d threads.\n", rep.Threads)
	fmt.Fprintf(w, "load average: %s\n", strings.Join(rep.LoadAvg, " → "))
	if len(rep.Misses) > 0 {
		fmt.Fprintf(w, "\nbelow issue 9's targets (GEMM ≥ %d, 3×3 conv ≥ %d GFLOP/s, wall):\n", gemmTargetGFLOPs, conv3TargetGFLOPs)
		for _, m := range rep.Misses {
			fmt.Fprintln(w, "  "+m)
		}
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// loadAvg returns the first three fields of /proc/loadavg, or "".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("bad value %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// parseGEMMs parses "MxKxN,MxKxN" ("" gives none).
func parseGEMMs(s string) ([][3]int, error) {
	var out [][3]int
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		dims, err := parseInts(strings.ReplaceAll(strings.TrimSpace(f), "x", ","))
		if err != nil || len(dims) != 3 {
			return nil, fmt.Errorf("bad GEMM %q", f)
		}
		out = append(out, [3]int{dims[0], dims[1], dims[2]})
	}
	return out, nil
}

func opsFail(err error) int {
	fmt.Fprintln(os.Stderr, "acl bench-ops:", err)
	return 1
}
