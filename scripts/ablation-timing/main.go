// Command ablation-timing times the pieces of one row of notebook 4's ablation grid
// (acl.Notebook.AblationRuns) at the notebook's scale, through the same acl functions the
// notebook calls, with only the epoch counts reduced: pretraining (pretrain.Pretrain with the
// notebook's PretrainConfig, 1 epoch or -pretrain-steps steps), the linear probe
// (Notebook.Probe, as configured) and each finetuning mode (finetune.Finetune with
// Notebook.FinetuneConfig, 1 epoch: training, PGD-20 on the validation split, PGD-20 on
// the test split). For every piece it prints wall and process CPU seconds and the load
// average, as JSON lines on stdout; progress goes to stderr. Results say nothing about
// accuracy. docs/results/ablation-cpu-grid.md shows how its numbers extrapolate.
//
//	ACL_NOTEBOOK_SCALE=cpu ACL_NOTEBOOK_RUNS=/tmp/ablation-timing \
//	  go run ./scripts/ablation-timing -method rocl -variant iphn -pieces pretrain,probe,finetune
package main

import (
	gocontext "context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ainfonce/goacl/acl"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/engine"
)

// sample is a point in time: wall clock and the process's CPU time (user + system).
type sample struct {
	wall time.Time
	cpu  float64
}

func now() sample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return sample{wall: time.Now(), cpu: tv(ru.Utime) + tv(ru.Stime)}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// recorder is a progress writer that samples the clocks at every line it receives.
type recorder struct {
	mu    sync.Mutex
	out   io.Writer
	lines []string
	marks []sample
}

func (r *recorder) Write(p []byte) (int, error) {
	s := now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		r.lines = append(r.lines, l)
		r.marks = append(r.marks, s)
	}
	return r.out.Write(p)
}

// record is one JSON line of output.
type record map[string]any

func emit(rec record) {
	b, _ := json.Marshal(rec)
	fmt.Println(string(b))
}

func secs(a, b sample) (wall, cpu float64) {
	return b.wall.Sub(a.wall).Seconds(), b.cpu - a.cpu
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ablation-timing:", err)
		os.Exit(1)
	}
}

func run() error {
	method := flag.String("method", "rocl", "grid method (acl.AblationMethods)")
	variant := flag.String("variant", "iphn", "A-InfoNCE variant (acl.AblationVariants)")
	pieces := flag.String("pieces", "pretrain,probe,finetune", "comma-separated: pretrain, probe, finetune")
	modes := flag.String("modes", "slf,alf,aff", "finetuning modes to time")
	steps := flag.Int64("pretrain-steps", 0, "stop pretraining after this many steps (0: one full epoch)")
	name := flag.String("name", "", "run directory name under the notebook's runs folder (default <method>-<variant>-timing)")
	flag.Parse()

	nb, err := acl.OpenNotebook()
	if err != nil {
		return err
	}
	backend, err := nb.Backend()
	if err != nil {
		return err
	}
	if *name == "" {
		*name = fmt.Sprintf("%s-%s-timing", *method, *variant)
	}
	dir := nb.RunDir(*name)
	want := strings.Split(*pieces, ",")
	base := record{"scale": nb.Scale, "method": *method, "variant": *variant, "backend": engine.Describe(backend)}
	with := func(extra record) record {
		r := record{}
		for k, v := range base {
			r[k] = v
		}
		for k, v := range extra {
			r[k] = v
		}
		return r
	}

	if slices.Contains(want, "pretrain") {
		cfg, err := nb.PretrainConfig(*method, *variant)
		if err != nil {
			return err
		}
		full := cfg.Epochs
		cfg.Epochs = 1 // the schedule stays the full run's (cfg.Schedule.Epochs)
		cfg.LogEvery = 1
		cfg.MaxSteps = *steps
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		rec := &recorder{out: os.Stderr}
		load0, s0 := loadAvg(), now()
		res, err := pretrain.Pretrain(gocontext.Background(), cfg, dir, pretrain.Options{Backend: backend, Progress: rec})
		s1 := now()
		if err != nil {
			return err
		}
		wall, cpu := secs(s0, s1)
		run, err := rundir.Open(dir)
		if err != nil {
			return err
		}
		metrics, err := run.ReadMetrics()
		if err != nil {
			return err
		}
		var stepSecs []float64
		for _, m := range metrics {
			if v, ok := m["step_seconds"].(float64); ok {
				stepSecs = append(stepSecs, v)
			}
		}
		// CPU per step after the first (which compiles the step graph): from the samples
		// the progress lines took, one per step.
		var stepCPU []float64
		for i := 1; i < len(rec.marks); i++ {
			stepCPU = append(stepCPU, rec.marks[i].cpu-rec.marks[i-1].cpu)
		}
		emit(with(record{"piece": "pretrain", "steps": res.Steps, "batch": cfg.BatchSize, "subset": cfg.Subset,
			"encoder": fmt.Sprintf("%s/%d", cfg.Encoder, cfg.Width), "full_epochs": full,
			"wall_s": wall, "cpu_s": cpu, "step_seconds": stepSecs, "step_cpu_s_after_first": stepCPU,
			"first_step_wall_s": rec.marks[0].wall.Sub(s0.wall).Seconds(), "first_step_cpu_s": rec.marks[0].cpu - s0.cpu,
			"load_before": load0, "load_after": loadAvg()}))
	}

	if slices.Contains(want, "probe") {
		pc := nb.Settings.Probe
		load0, s0 := loadAvg(), now()
		pr, err := nb.Probe(dir, pc, os.Stderr)
		s1 := now()
		if err != nil {
			return err
		}
		wall, cpu := secs(s0, s1)
		emit(with(record{"piece": "probe", "probe": pc, "train_images": pr.TrainImages, "test_images": pr.TestImages,
			"wall_s": wall, "cpu_s": cpu, "load_before": load0, "load_after": loadAvg()}))
	}

	if slices.Contains(want, "finetune") {
		for _, m := range strings.Split(*modes, ",") {
			mode, err := finetune.ParseMode(m)
			if err != nil {
				return err
			}
			cfg, err := nb.FinetuneConfig(dir, mode)
			if err != nil {
				return err
			}
			full := cfg.Epochs
			cfg.Epochs = 1 // milestones stay the full run's
			rec := &recorder{out: os.Stderr}
			load0, s0 := loadAvg(), now()
			res, err := finetune.Finetune(gocontext.Background(), dir, cfg, finetune.Options{Backend: backend, Force: true, Progress: rec})
			s1 := now()
			if err != nil {
				return err
			}
			if len(rec.marks) < 2 {
				return fmt.Errorf("finetune %s: expected an epoch line and a result line, got %q", mode, rec.lines)
			}
			// Lines: the epoch's (after training and the validation PGD-20), then the
			// result's (after the test PGD-20 of the selected checkpoint).
			epoch, final := rec.marks[len(rec.marks)-2], rec.marks[len(rec.marks)-1]
			fdir, err := rundir.Open(filepath.Join(dir, finetune.Dir(mode)))
			if err != nil {
				return err
			}
			metrics, err := fdir.ReadMetrics()
			if err != nil || len(metrics) == 0 {
				return fmt.Errorf("finetune %s: metrics: %v", mode, err)
			}
			trainWall, _ := metrics[0]["train_seconds"].(float64)
			wall, cpu := secs(s0, s1)
			epochWall, epochCPU := secs(s0, epoch)
			testWall, testCPU := secs(epoch, final)
			// epoch_*: setup + training + validation PGD-20; test_eval_*: restoring the
			// selected checkpoint + test PGD-20.
			emit(with(record{"piece": "finetune", "mode": mode, "full_epochs": full, "batch": cfg.BatchSize,
				"train_images": res.TrainImages, "val_images": res.ValImages, "test_images": res.Test.Images,
				"eval_batch": cfg.EvalBatch, "attack": res.AttackLabel, "train_attack_steps": cfg.TrainAttack.Steps,
				"trades_steps": cfg.TRADES.Steps, "wall_s": wall, "cpu_s": cpu, "train_wall_s": trainWall,
				"epoch_wall_s": epochWall, "epoch_cpu_s": epochCPU, "test_eval_wall_s": testWall, "test_eval_cpu_s": testCPU,
				"load_before": load0, "load_after": loadAvg()}))
		}
	}
	return nil
}
