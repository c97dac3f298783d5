package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/ainfonce/goacl/acl/benchmark"
	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func init() {
	register("bench", "time the standard adversarial-contrastive step against the PyTorch and JAX peers", runBench)
}

// benchSide holds one framework's timings.
type benchSide struct {
	Framework    string         `json:"framework"`
	Info         map[string]any `json:"info,omitempty"`
	TrainSeconds []float64      `json:"train_seconds"`
	EvalSeconds  []float64      `json:"eval_seconds,omitempty"`
	// CPUSeconds is the process CPU time (all threads) of each timed train step: on a
	// machine shared with other jobs it shows the work done, whatever the wall clock.
	CPUSeconds []float64 `json:"cpu_seconds,omitempty"`
	LastLoss   float64   `json:"last_loss"`
	Summary    *sideStat `json:"summary,omitempty"`
}

type sideStat struct {
	TrainMedianSeconds float64 `json:"train_median_seconds"`
	TrainImagesPerSec  float64 `json:"train_images_per_sec"`
	TrainGFLOPs        float64 `json:"train_effective_gflops"`
	EvalMedianSeconds  float64 `json:"eval_median_seconds,omitempty"`
	EvalImagesPerSec   float64 `json:"eval_images_per_sec,omitempty"`
	EvalGFLOPs         float64 `json:"eval_effective_gflops,omitempty"`
	CPUMedianSeconds   float64 `json:"cpu_median_seconds,omitempty"`
}

// benchReport is what `acl bench -out` writes.
type benchReport struct {
	Command    string           `json:"command"`
	Start      time.Time        `json:"start"`
	Host       string           `json:"host"`
	CPU        string           `json:"cpu"`
	GoVersion  string           `json:"go_version"`
	Threads    int              `json:"threads"`
	Backend    string           `json:"backend"`
	Config     benchmark.Config `json:"config"`
	TrainGFLOP float64          `json:"train_step_nominal_gflop"`
	EvalGFLOP  float64          `json:"eval_batch_nominal_gflop"`
	Rounds     int              `json:"rounds"`
	Go         *benchSide       `json:"go"`
	PyTorch    *benchSide       `json:"pytorch,omitempty"`
	JAX        *benchSide       `json:"jax,omitempty"`
	// Baseline is the same Go step on -baseline's backend configuration.
	Baseline               *benchSide `json:"baseline,omitempty"`
	BaselineBackend        string     `json:"baseline_backend,omitempty"`
	SpeedupOverBaseline    float64    `json:"train_speedup_over_baseline,omitempty"`
	CPUSpeedupOverBaseline float64    `json:"train_cpu_speedup_over_baseline,omitempty"`
	// Ratios are PyTorch's images/s over Go's (how many times faster PyTorch is);
	// TrainCPURatio compares the CPU time per step instead of the wall time.
	TrainRatio    float64 `json:"train_ratio_pytorch_over_go,omitempty"`
	TrainCPURatio float64 `json:"train_cpu_time_ratio_go_over_pytorch,omitempty"`
	EvalRatio     float64 `json:"eval_ratio_pytorch_over_go,omitempty"`
	PyTorchMsg    string  `json:"pytorch_status,omitempty"`
	// The same ratios for the JAX peer (JAX's images/s over Go's; CPU time Go over JAX).
	TrainRatioJAX    float64 `json:"train_ratio_jax_over_go,omitempty"`
	TrainCPURatioJAX float64 `json:"train_cpu_time_ratio_go_over_jax,omitempty"`
	EvalRatioJAX     float64 `json:"eval_ratio_jax_over_go,omitempty"`
	JAXMsg           string  `json:"jax_status,omitempty"`
}

func runBench(args []string) int {
	fs := flag.NewFlagSet("acl bench", flag.ContinueOnError)
	width := fs.Int("width", 16, "ResNet-18 base width W")
	batch := fs.Int("batch", 16, "images per step (each gives two views and an adversarial view)")
	steps := fs.Int("steps", 2, "timed train steps per framework per round")
	evals := fs.Int("eval-batches", 1, "timed PGD-20 evaluation batches per framework per round (0: none)")
	rounds := fs.Int("rounds", 3, "rounds; each times every side in turn (order rotating) so all see the same machine load")
	threads := fs.Int("threads", 0, "threads for Go and PyTorch: GOMAXPROCS and torch.set_num_threads (0: all cores)")
	peers := fs.String("peer", "pytorch", "peers timed against Go, comma-separated: pytorch, jax (or none)")
	python := fs.String("pytorch", "auto", "python interpreter with torch for the PyTorch peer; auto: /usr/bin/python3 or python3 if torch imports; none: no PyTorch peer")
	script := fs.String("pytorch-script", "bench/pytorch_step.py", "the PyTorch peer script")
	device := fs.String("pytorch-device", "cpu", "device of the PyTorch peer: cpu or cuda (the Go side follows GOMLX_BACKEND)")
	jaxPython := fs.String("jax-python", "auto", "python interpreter with jax for the JAX peer; auto: .cache/jax-venv/bin/python (scripts/install-jax.sh) or python3 if jax imports")
	jaxScript := fs.String("jax-script", "bench/jax_step.py", "the JAX peer script")
	out := fs.String("out", "", "write the full report (every timing, configuration, versions) as JSON to this file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the timed Go train steps to this file")
	baseline := fs.String("baseline", "", "also time the Go step on this backend configuration (e.g. goacl:kernels=simplego, the engine before the fast kernels), interleaved")
	parity := fs.String("parity", "", "instead of timing: check that the PyTorch peer computes the same losses as Go (no random start), with files in this folder")
	seed := fs.Uint64("seed", 1, "seed of weights, batch and attack starts")
	attackSteps := fs.Int("attack-steps", 5, "PGD steps of the training attack (the standard workload: 5)")
	deviceCheck := fs.Bool("device-check", false, "instead of timing: run a tiny convolution + matmul graph on the backend (GOMLX_BACKEND) and compare it with the pure-Go backend")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *steps < 1 || *rounds < 1 || *evals < 0 {
		fmt.Fprintln(os.Stderr, "acl bench: -steps and -rounds must be ≥ 1 and -eval-batches ≥ 0")
		return 2
	}
	if *threads > 0 {
		runtime.GOMAXPROCS(*threads)
	}
	nThreads := runtime.GOMAXPROCS(0)
	cfg := benchmark.Default(*width, *batch)
	cfg.Seed = *seed
	cfg.AttackSteps = *attackSteps
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "acl bench:", err)
		return 2
	}
	usePyTorch, useJAX, err := parsePeers(*peers)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl bench:", err)
		return 2
	}
	if *python == "none" {
		usePyTorch = false
	}
	// A PyTorch interpreter or script named on the command line is checked before any Go
	// work (the parity check used to fail on it only after the Go side had run).
	if (usePyTorch || *parity != "") && *python != "auto" && !*deviceCheck {
		if err := checkPeer(*python, *script); err != nil {
			fmt.Fprintln(os.Stderr, "acl bench:", err)
			return 2
		}
	}
	backend, err := engine.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl bench:", err)
		return 1
	}
	if *deviceCheck {
		return runDeviceCheck(backend)
	}
	// The step's memory is estimated before anything is built: -width 100000 used to end
	// in Go's out-of-memory fatal error.
	need, err := cfg.StepMemory()
	if err == nil {
		err = engine.CheckMemory(backend, need, fmt.Sprintf("the step of ResNet-18 width %d, batch %d", cfg.Width, cfg.Batch))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "acl bench: %v; use a smaller -width or -batch\n", err)
		return 2
	}
	if *parity != "" {
		if useJAX {
			return runJAXParity(backend, cfg, *parity, *jaxPython, *jaxScript)
		}
		return runParity(backend, cfg, *parity, *python, *script, *device, nThreads)
	}

	rep := &benchReport{
		Command: "acl bench " + strings.Join(args, " "), Start: time.Now().UTC(), CPU: cpuModel(),
		GoVersion: runtime.Version(), Threads: nThreads, Backend: engine.Describe(backend), Config: cfg,
		TrainGFLOP: cfg.TrainFLOPs() / 1e9, EvalGFLOP: cfg.EvalFLOPs() / 1e9, Rounds: *rounds,
	}
	rep.Host, _ = os.Hostname()
	if engine.IsPureGo(backend) {
		if err := engine.KernelsStatus(); err != nil {
			fmt.Println("note:", err)
		}
	}
	fmt.Printf("acl bench: ResNet-18 width %d, batch %d: PGD-%d + 3-view NT-Xent + SGD step (%.1f GFLOP nominal), PGD-%d eval (%.1f GFLOP)\n",
		cfg.Width, cfg.Batch, cfg.AttackSteps, rep.TrainGFLOP, cfg.EvalSteps, rep.EvalGFLOP)
	fmt.Printf("go: %s, %s, %d threads\n", runtime.Version(), rep.Backend, nThreads)

	var peer, jaxPeer *torchPeer
	if usePyTorch {
		peer, err = startTorchPeer(*python, *script, *device, cfg, nThreads)
		if err != nil {
			rep.PyTorchMsg = err.Error()
			fmt.Println("pytorch: not run:", err)
			if *python != "auto" {
				return 1
			}
		} else {
			defer peer.close()
			rep.PyTorch = &benchSide{Framework: "pytorch", Info: peer.info}
			fmt.Printf("pytorch: %v\n", peer.info)
		}
	}
	if useJAX {
		// Asked for by name: a JAX peer that cannot start is an error.
		if jaxPeer, err = startJAXPeer(*jaxPython, *jaxScript, cfg); err != nil {
			return benchFail(fmt.Errorf("-peer jax: %w", err))
		}
		defer jaxPeer.close()
		rep.JAX = &benchSide{Framework: "jax", Info: jaxPeer.info}
		fmt.Printf("jax: %v\n", jaxPeer.info)
	}

	goRun, err := newGoRunner(backend, cfg, "goacl", "go")
	if err != nil {
		return benchFail(err)
	}
	defer goRun.step.Finalize()
	rep.Go = goRun.side
	runners := []sideRunner{goRun}
	var baseRun *goRunner
	if *baseline != "" {
		bb, err := engine.NewWithConfig(*baseline)
		if err != nil {
			return benchFail(fmt.Errorf("-baseline: %w", err))
		}
		if baseRun, err = newGoRunner(bb, cfg, "goacl-baseline", "baseline"); err != nil {
			return benchFail(err)
		}
		defer baseRun.step.Finalize()
		rep.Baseline, rep.BaselineBackend = baseRun.side, engine.Describe(bb)
		fmt.Printf("baseline: %s\n", rep.BaselineBackend)
		runners = append(runners, baseRun)
	}
	if peer != nil {
		runners = append(runners, &peerRunner{label: "pytorch", peer: peer, side: rep.PyTorch})
	}
	if jaxPeer != nil {
		runners = append(runners, &peerRunner{label: "jax", peer: jaxPeer, side: rep.JAX})
	}
	// Warm-up (untimed): compiles the Go and JAX graphs and lets PyTorch allocate.
	for _, r := range runners {
		t0 := time.Now()
		if err := r.warmUp(*evals > 0); err != nil {
			return benchFail(err)
		}
		note := ""
		if _, isGo := r.(*goRunner); isGo || r.name() == "jax" {
			note = ", graph compilation included"
		}
		fmt.Printf("%s: warm-up %.1f s%s\n", r.name(), time.Since(t0).Seconds(), note)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return benchFail(err)
		}
		goRun.profile = f
	}
	defer goRun.stopProfile()
	// Rounds: every side runs its steps in turn, the order rotating from round to round,
	// so that all of them see the same (shared, drifting) machine load.
	for r := range *rounds {
		fmt.Printf("round %d/%d:", r+1, *rounds)
		for i := range runners {
			run := runners[(i+r)%len(runners)]
			if err := run.train(*steps); err != nil {
				return benchFail(err)
			}
			if err := run.eval(*evals); err != nil {
				return benchFail(err)
			}
		}
		for _, run := range runners {
			s := run.sideOf()
			fmt.Printf("  %s train %s eval %s", run.name(), fmtTimes(lastN(s.TrainSeconds, *steps)), fmtTimes(lastN(s.EvalSeconds, *evals)))
		}
		fmt.Println()
	}
	goRun.stopProfile()
	for _, run := range runners {
		s := run.sideOf()
		s.Summary = summarize(s, cfg)
		st := s.Summary
		fmt.Printf("%-8s train %.3f s/step (median), %.3g img/s, %.3g effective GFLOP/s", run.name()+":", st.TrainMedianSeconds, st.TrainImagesPerSec, st.TrainGFLOPs)
		if st.CPUMedianSeconds > 0 {
			fmt.Printf("; CPU time %.3g s/step, %.3g GFLOP per CPU-second", st.CPUMedianSeconds, rep.TrainGFLOP/st.CPUMedianSeconds)
		}
		if st.EvalMedianSeconds > 0 {
			fmt.Printf("; eval %.3f s/batch, %.3g img/s", st.EvalMedianSeconds, st.EvalImagesPerSec)
		}
		fmt.Println()
	}
	gs := rep.Go.Summary
	if rep.Baseline != nil {
		bs := rep.Baseline.Summary
		rep.SpeedupOverBaseline = bs.TrainMedianSeconds / gs.TrainMedianSeconds
		if gs.CPUMedianSeconds > 0 && bs.CPUMedianSeconds > 0 {
			rep.CPUSpeedupOverBaseline = bs.CPUMedianSeconds / gs.CPUMedianSeconds
		}
		fmt.Printf("go vs baseline (%s): train step %.3g× faster (wall), %.3g× less CPU time\n", *baseline, rep.SpeedupOverBaseline, rep.CPUSpeedupOverBaseline)
	}
	if rep.PyTorch != nil {
		ps := rep.PyTorch.Summary
		rep.TrainRatio = ps.TrainImagesPerSec / gs.TrainImagesPerSec
		fmt.Printf("train: go %.3g img/s, pytorch %.3g img/s, ratio %.3g (pytorch/go)\n", gs.TrainImagesPerSec, ps.TrainImagesPerSec, rep.TrainRatio)
		if ps.CPUMedianSeconds > 0 && gs.CPUMedianSeconds > 0 {
			rep.TrainCPURatio = gs.CPUMedianSeconds / ps.CPUMedianSeconds
			fmt.Printf("train CPU time per step: go %.3g s, pytorch %.3g s, ratio %.3g (go/pytorch)\n", gs.CPUMedianSeconds, ps.CPUMedianSeconds, rep.TrainCPURatio)
		}
		if *evals > 0 {
			rep.EvalRatio = ps.EvalImagesPerSec / gs.EvalImagesPerSec
			fmt.Printf("eval PGD-%d: go %.3g img/s, pytorch %.3g img/s, ratio %.3g (pytorch/go)\n", cfg.EvalSteps, gs.EvalImagesPerSec, ps.EvalImagesPerSec, rep.EvalRatio)
		}
	}
	if rep.JAX != nil {
		js := rep.JAX.Summary
		rep.TrainRatioJAX = js.TrainImagesPerSec / gs.TrainImagesPerSec
		fmt.Printf("train: go %.3g img/s, jax %.3g img/s, ratio %.3g (jax/go)\n", gs.TrainImagesPerSec, js.TrainImagesPerSec, rep.TrainRatioJAX)
		if js.CPUMedianSeconds > 0 && gs.CPUMedianSeconds > 0 {
			rep.TrainCPURatioJAX = gs.CPUMedianSeconds / js.CPUMedianSeconds
			fmt.Printf("train CPU time per step: go %.3g s, jax %.3g s, ratio %.3g (go/jax)\n", gs.CPUMedianSeconds, js.CPUMedianSeconds, rep.TrainCPURatioJAX)
		}
		if *evals > 0 {
			rep.EvalRatioJAX = js.EvalImagesPerSec / gs.EvalImagesPerSec
			fmt.Printf("eval PGD-%d: go %.3g img/s, jax %.3g img/s, ratio %.3g (jax/go)\n", cfg.EvalSteps, gs.EvalImagesPerSec, js.EvalImagesPerSec, rep.EvalRatioJAX)
		}
	}
	if rep.PyTorch == nil && rep.JAX == nil {
		why := rep.PyTorchMsg
		if why == "" {
			why = "-peer none"
		}
		fmt.Printf("train: go %.3g img/s (no peer figure: %s)\n", gs.TrainImagesPerSec, why)
		if *evals > 0 {
			fmt.Printf("eval PGD-%d: go %.3g img/s\n", cfg.EvalSteps, gs.EvalImagesPerSec)
		}
	}
	if *out != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return benchFail(err)
		}
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return benchFail(err)
		}
		fmt.Println("report written to", *out)
	}
	return 0
}

// sideRunner is one framework (or backend) being timed.
type sideRunner interface {
	name() string
	sideOf() *benchSide
	warmUp(eval bool) error
	train(n int) error
	eval(n int) error
}

// goRunner times benchmark.Step on one backend.
type goRunner struct {
	label   string
	short   string
	side    *benchSide
	step    *benchmark.Step
	profile *os.File
	started bool
}

func newGoRunner(b backends.Backend, cfg benchmark.Config, label, short string) (*goRunner, error) {
	step, err := benchmark.NewStep(b, cfg)
	if err != nil {
		return nil, err
	}
	return &goRunner{label: label, short: short, side: &benchSide{Framework: label, Info: map[string]any{"backend": engine.Describe(b)}}, step: step}, nil
}

func (g *goRunner) name() string       { return g.short }
func (g *goRunner) sideOf() *benchSide { return g.side }

func (g *goRunner) warmUp(eval bool) error {
	if _, err := g.step.TrainStep(); err != nil {
		return err
	}
	if eval {
		_, err := g.step.EvalBatch()
		return err
	}
	return nil
}

func (g *goRunner) train(n int) error {
	if g.profile != nil && !g.started {
		if err := pprof.StartCPUProfile(g.profile); err != nil {
			return err
		}
		g.started = true
	}
	for range n {
		c0, t0 := processCPUSeconds(), time.Now()
		loss, err := g.step.TrainStep()
		if err != nil {
			return err
		}
		g.side.TrainSeconds = append(g.side.TrainSeconds, time.Since(t0).Seconds())
		if c := processCPUSeconds(); c > 0 {
			g.side.CPUSeconds = append(g.side.CPUSeconds, c-c0)
		}
		g.side.LastLoss = loss
	}
	return nil
}

func (g *goRunner) eval(n int) error {
	for range n {
		t0 := time.Now()
		if _, err := g.step.EvalBatch(); err != nil {
			return err
		}
		g.side.EvalSeconds = append(g.side.EvalSeconds, time.Since(t0).Seconds())
	}
	return nil
}

// stopProfile ends the CPU profile (profiles only cover the timed steps of this side,
// and the other sides' steps while it waits, which cost it nothing).
func (g *goRunner) stopProfile() {
	if g.started {
		pprof.StopCPUProfile()
		g.started = false
		_ = g.profile.Close()
		g.profile = nil
	}
}

// peerRunner times a peer script (PyTorch or JAX) through its serve protocol.
type peerRunner struct {
	label string
	peer  *torchPeer
	side  *benchSide
}

func (t *peerRunner) name() string       { return t.label }
func (t *peerRunner) sideOf() *benchSide { return t.side }

func (t *peerRunner) warmUp(eval bool) error {
	if _, err := t.peer.run("train", 1); err != nil {
		return err
	}
	if eval {
		_, err := t.peer.run("eval", 1)
		return err
	}
	return nil
}

func (t *peerRunner) train(n int) error {
	r, err := t.peer.run("train", n)
	if err != nil {
		return err
	}
	t.side.TrainSeconds = append(t.side.TrainSeconds, r.Seconds...)
	t.side.CPUSeconds = append(t.side.CPUSeconds, r.CPUSeconds...)
	t.side.LastLoss = r.Value
	return nil
}

func (t *peerRunner) eval(n int) error {
	if n == 0 {
		return nil
	}
	r, err := t.peer.run("eval", n)
	if err != nil {
		return err
	}
	t.side.EvalSeconds = append(t.side.EvalSeconds, r.Seconds...)
	return nil
}

func benchFail(err error) int {
	fmt.Fprintln(os.Stderr, "acl bench:", err)
	return 1
}

func summarize(s *benchSide, cfg benchmark.Config) *sideStat {
	st := &sideStat{TrainMedianSeconds: median(s.TrainSeconds)}
	st.TrainImagesPerSec = float64(cfg.Batch) / st.TrainMedianSeconds
	st.TrainGFLOPs = cfg.TrainFLOPs() / st.TrainMedianSeconds / 1e9
	if len(s.EvalSeconds) > 0 {
		st.EvalMedianSeconds = median(s.EvalSeconds)
		st.EvalImagesPerSec = float64(cfg.Batch) / st.EvalMedianSeconds
		st.EvalGFLOPs = cfg.EvalFLOPs() / st.EvalMedianSeconds / 1e9
	}
	if len(s.CPUSeconds) > 0 {
		st.CPUMedianSeconds = median(s.CPUSeconds)
	}
	return st
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func lastN(v []float64, n int) []float64 { return v[max(0, len(v)-n):] }

func fmtTimes(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.3fs", x)
	}
	return strings.Join(parts, " ")
}

// cpuModel returns the CPU model name from /proc/cpuinfo, or GOARCH.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}

// torchPeer is a running bench/pytorch_step.py --serve.
type torchPeer struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr *bytes.Buffer
	info   map[string]any
}

type torchResult struct {
	Kind       string    `json:"kind"`
	Seconds    []float64 `json:"seconds"`
	CPUSeconds []float64 `json:"cpu_seconds"`
	Value      float64   `json:"value"`
	Error      string    `json:"error"`
}

// checkPeer checks that the interpreter -pytorch names can be run and the peer script
// exists, without starting them.
func checkPeer(pythonFlag, script string) error {
	python, err := findPython(pythonFlag)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath(python); err != nil {
		return fmt.Errorf("-pytorch %s: %w", python, err)
	}
	if _, err := os.Stat(script); err != nil {
		return fmt.Errorf("-pytorch-script %s: %w (run from the repository root or pass the path)", script, err)
	}
	return nil
}

// findPython resolves -pytorch: auto tries /usr/bin/python3 then python3 on PATH.
func findPython(flagValue string) (string, error) {
	if flagValue != "auto" {
		return flagValue, nil
	}
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			if exec.Command(path, "-c", "import torch").Run() == nil {
				return path, nil
			}
		}
	}
	return "", errors.New("no python3 with torch found (Debian: apt-get install python3-torch; or pass -pytorch /path/to/python)")
}

func startTorchPeer(pythonFlag, script, device string, cfg benchmark.Config, threads int) (*torchPeer, error) {
	return startPeer(pythonFlag, script, "--serve", "--width", fmt.Sprint(cfg.Width), "--batch", fmt.Sprint(cfg.Batch),
		"--attack-steps", fmt.Sprint(cfg.AttackSteps), "--eval-steps", fmt.Sprint(cfg.EvalSteps),
		"--threads", fmt.Sprint(threads), "--device", device, "--seed", fmt.Sprint(cfg.Seed))
}

// startPeer starts a PyTorch peer script (python resolved by findPython from -pytorch)
// with args, in torchEnv, and reads its first line, which must be a JSON object with
// "ready": true (kept as the peer's info, with the interpreter and OMP_WAIT_POLICY
// added). `acl bench` and `acl bench-ops` talk to their peers through it (the JAX peer
// through startPeerWith, with its own interpreter).
func startPeer(pythonFlag, script string, args ...string) (*torchPeer, error) {
	python, err := findPython(pythonFlag)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("-pytorch-script %s: %w (run from the repository root or pass the path)", script, err)
	}
	return startPeerWith(python, script, args...)
}

// startPeerWith starts the peer script with the interpreter python (see startPeer).
func startPeerWith(python, script string, args ...string) (*torchPeer, error) {
	cmd := exec.Command(python, append([]string{script}, args...)...)
	cmd.Env = torchEnv()
	p := &torchPeer{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = io.MultiWriter(p.stderr, os.Stderr)
	var err error
	if p.in, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", python, err)
	}
	p.out = bufio.NewScanner(stdout)
	p.out.Buffer(make([]byte, 1<<20), 1<<24)
	if !p.out.Scan() {
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s %s did not start: %s", python, script, strings.TrimSpace(tail(p.stderr.String(), 600)))
	}
	if err := json.Unmarshal(p.out.Bytes(), &p.info); err != nil || p.info["ready"] != true {
		p.close()
		return nil, fmt.Errorf("unexpected first line from the peer %s: %q", script, p.out.Text())
	}
	p.info["python"] = python
	p.info["OMP_WAIT_POLICY"] = envValue(cmd.Env, "OMP_WAIT_POLICY")
	return p, nil
}

// torchEnv is the environment of the PyTorch peer: ours, with OMP_WAIT_POLICY=PASSIVE
// unless set. OpenMP's default spin-waiting collapses when the cores are shared (a
// descheduled thread stalls its team at every barrier: 5–30× slower steps measured on the
// project's shared 2-core machine); passive waiting is PyTorch's best setting there.
func torchEnv() []string {
	env := os.Environ()
	if _, ok := os.LookupEnv("OMP_WAIT_POLICY"); !ok {
		env = append(env, "OMP_WAIT_POLICY=PASSIVE")
	}
	return env
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

func (p *torchPeer) run(kind string, n int) (*torchResult, error) {
	var r torchResult
	if err := p.request(fmt.Sprintf("%s %d", kind, n), &r); err != nil {
		return nil, err
	}
	if r.Error != "" {
		return nil, fmt.Errorf("pytorch peer: %s", r.Error)
	}
	return &r, nil
}

// request sends one command line to the peer and decodes its one-line JSON answer into v.
func (p *torchPeer) request(line string, v any) error {
	if _, err := fmt.Fprintln(p.in, line); err != nil {
		return fmt.Errorf("pytorch peer: %w", err)
	}
	if !p.out.Scan() {
		return fmt.Errorf("pytorch peer exited: %s", strings.TrimSpace(tail(p.stderr.String(), 600)))
	}
	if err := json.Unmarshal(p.out.Bytes(), v); err != nil {
		return fmt.Errorf("pytorch peer: bad answer %q: %w", p.out.Text(), err)
	}
	return nil
}

func (p *torchPeer) close() {
	_, _ = fmt.Fprintln(p.in, "quit")
	_ = p.in.Close()
	_ = p.cmd.Wait()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// runParity exports the Go weights, batch and losses and has the PyTorch peer recompute
// them (benchmark.Step.ExportParity, pytorch_step.py --parity).
func runParity(b backends.Backend, cfg benchmark.Config, dir, pythonFlag, script, device string, threads int) int {
	cfg.NoRandomStart = true
	backend := engine.Describe(b)
	step, err := benchmark.NewStep(b, cfg)
	if err != nil {
		return benchFail(err)
	}
	defer step.Finalize()
	m, err := step.ExportParity(dir, 2, backend)
	if err != nil {
		return benchFail(err)
	}
	fmt.Printf("go (%s): losses %v\n", backend, m.Losses)
	python, err := findPython(pythonFlag)
	if err != nil {
		return benchFail(err)
	}
	cmd := exec.Command(python, script, "--parity", dir, "--threads", fmt.Sprint(threads), "--device", device)
	cmd.Env = torchEnv()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return benchFail(fmt.Errorf("parity check failed: %w", err))
	}
	return 0
}

// runDeviceCheck runs a small convolution and matmul (and a gradient) on backend and on
// the pure-Go backend and compares them: the first thing to run on a new machine or
// plugin.
func runDeviceCheck(b backends.Backend) int {
	fmt.Println("device check on", engine.Describe(b))
	ref, err := engine.NewWithConfig(engine.PureGoName)
	if err != nil {
		return benchFail(err)
	}
	fn := func(x, k *graph.Node) (*graph.Node, *graph.Node) {
		y := engine.Conv2D(x, k, 2, 1)                 // [2,4,4,8]
		z := graph.Reshape(y, 2, 4*4*8)                // [2,128]
		m := graph.MatMul(z, graph.Transpose(z, 0, 1)) // [2,2]
		loss := graph.ReduceAllSum(graph.Mul(m, m))
		return m, graph.Gradient(loss, x)[0]
	}
	x := tensors.FromShape(shapes.Make(dtypes.Float32, 2, 8, 8, 3))
	k := tensors.FromShape(shapes.Make(dtypes.Float32, 3, 3, 3, 8))
	tensors.MutableFlatData(x, func(v []float32) {
		for i := range v {
			v[i] = float32(i%7)/7 - 0.4
		}
	})
	tensors.MutableFlatData(k, func(v []float32) {
		for i := range v {
			v[i] = float32(i%5)/5 - 0.45
		}
	})
	run := func(be backends.Backend) ([][]float32, error) {
		e, err := graph.NewExec(be, fn)
		if err != nil {
			return nil, err
		}
		xc, err := x.LocalClone()
		if err != nil {
			return nil, err
		}
		kc, err := k.LocalClone()
		if err != nil {
			return nil, err
		}
		outs, err := e.Exec(xc, kc)
		if err != nil {
			return nil, err
		}
		res := make([][]float32, len(outs))
		for i, o := range outs {
			res[i] = tensors.MustCopyFlatData[float32](o)
		}
		return res, nil
	}
	t0 := time.Now()
	got, err := run(b)
	if err != nil {
		return benchFail(fmt.Errorf("device check: the graph failed on %s: %w", b, err))
	}
	fmt.Printf("device check: compiled and ran in %.2f s\n", time.Since(t0).Seconds())
	want, err := run(ref)
	if err != nil {
		return benchFail(err)
	}
	worst := 0.0
	for i := range want {
		scale := 1e-6
		for _, v := range want[i] {
			scale = max(scale, math.Abs(float64(v)))
		}
		for j := range want[i] {
			worst = max(worst, math.Abs(float64(got[i][j]-want[i][j]))/scale)
		}
	}
	// TF32 matmuls/convolutions on recent GPUs round to ~1e-3.
	if worst > 1e-2 || math.IsNaN(worst) {
		return benchFail(fmt.Errorf("device check: results differ from the pure-Go backend by %.3g (relative)", worst))
	}
	fmt.Printf("device check ok: largest relative difference from the pure-Go backend %.2g\n", worst)
	return 0
}

// parsePeers reads -peer: a comma-separated list of pytorch and jax, or none.
func parsePeers(v string) (pytorch, jax bool, err error) {
	for _, p := range strings.Split(v, ",") {
		switch strings.TrimSpace(p) {
		case "pytorch":
			pytorch = true
		case "jax":
			jax = true
		case "none", "":
		default:
			return false, false, fmt.Errorf("-peer %q: use pytorch, jax, both comma-separated (pytorch,jax) or none", v)
		}
	}
	return pytorch, jax, nil
}

// findJAXPython resolves -jax-python: auto tries the virtual environment that
// scripts/install-jax.sh makes (.cache/jax-venv next to the script's bench/ folder), then
// python3 on PATH, keeping the first that imports jax.
func findJAXPython(flagValue, script string) (string, error) {
	if flagValue != "auto" {
		return flagValue, nil
	}
	venv := filepath.Join(filepath.Dir(filepath.Dir(script)), ".cache", "jax-venv", "bin", "python")
	for _, p := range []string{venv, "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			if exec.Command(path, "-c", "import jax").Run() == nil {
				return path, nil
			}
		}
	}
	return "", errors.New("no python with jax found: run `bash scripts/install-jax.sh` (installs jax and jaxlib from PyPI into .cache/jax-venv) or pass -jax-python /path/to/python")
}

// startJAXPeer starts bench/jax_step.py --serve for cfg.
func startJAXPeer(pythonFlag, script string, cfg benchmark.Config) (*torchPeer, error) {
	python, err := findJAXPython(pythonFlag, script)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("-jax-script %s: %w (run from the repository root or pass the path)", script, err)
	}
	return startPeerWith(python, script, "--serve", "--width", fmt.Sprint(cfg.Width), "--batch", fmt.Sprint(cfg.Batch),
		"--attack-steps", fmt.Sprint(cfg.AttackSteps), "--eval-steps", fmt.Sprint(cfg.EvalSteps), "--seed", fmt.Sprint(cfg.Seed))
}

// runJAXParity exports the Go weights, batch and losses and has the JAX peer recompute
// them (benchmark.Step.ExportParity, jax_step.py --parity).
func runJAXParity(b backends.Backend, cfg benchmark.Config, dir, pythonFlag, script string) int {
	cfg.NoRandomStart = true
	backend := engine.Describe(b)
	step, err := benchmark.NewStep(b, cfg)
	if err != nil {
		return benchFail(err)
	}
	defer step.Finalize()
	m, err := step.ExportParity(dir, 2, backend)
	if err != nil {
		return benchFail(err)
	}
	fmt.Printf("go (%s): losses %v\n", backend, m.Losses)
	python, err := findJAXPython(pythonFlag, script)
	if err != nil {
		return benchFail(err)
	}
	cmd := exec.Command(python, script, "--parity", dir)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return benchFail(fmt.Errorf("JAX parity check failed: %w", err))
	}
	return 0
}
