package pretrain

import (
	gocontext "context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/acl/train"
	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TrainState is the host state every pretraining checkpoint stores: where the run is
// (train.State: the next batch to train) and the method's host state (State.Save). Its
// JSON is that of the checkpoints written before the restructure.
type TrainState struct {
	train.State
	// Method holds method-specific host state (e.g. AdvCL's adaptive-α running mean).
	Method json.RawMessage `json:"method,omitempty"`
}

// Options are how a pretraining is run, beyond what it computes.
type Options struct {
	// Backend runs the graphs; nil means engine.NewForDevices(Config.Devices): engine.New()
	// for one device, with the XLA CPU plugin as many host devices as Config.Devices.
	Backend backends.Backend
	// Resume continues the run in the run directory from its newest checkpoint (from the
	// start when it has none yet). The folder must hold a run of the same training
	// (SameTraining; an error naming the first field that differs) or be the empty folder
	// of a run killed during its start-up; a missing folder is ErrNothingToResume.
	// Without Resume the folder must be missing or empty: a run there is ErrRunExists,
	// anything else ErrFolderNotEmpty, and nothing is written.
	Resume bool
	// Overwrite clears a run folder (everything in it: checkpoints, records, results) and
	// starts a new run there. It never clears a folder that holds no run.
	Overwrite bool
	// Progress receives the run's progress: a progress bar on a terminal, one line per
	// logged step otherwise; nil means none.
	Progress io.Writer
	// Warnings receives what a reader must not miss (a resume that skipped a damaged
	// checkpoint); nil means Progress. The same lines go into status.json's "warnings".
	Warnings io.Writer
}

// Result summarises a finished (or stopped) pretraining.
type Result struct {
	// RunDir is the run directory, Steps the steps trained in total (resumed legs
	// included) and FinalLoss the loss of the last step.
	RunDir    string
	Steps     int64
	FinalLoss float64
	// Stopped is true when the run stopped early (interrupted or MaxSteps) and can be
	// resumed.
	Stopped bool
	// AlreadyDone is true when Resume found the run already finished: nothing was trained
	// or rewritten.
	AlreadyDone bool
}

// ErrNonFinite is the error a run stops with when a loss becomes NaN or ±Inf, or a
// variable holds NaN or ±Inf when a checkpoint is due (the training loop's).
var ErrNonFinite = train.ErrNonFinite

// ErrImportedRun is wrapped by the error of a pretraining (fresh or resumed) into a run
// directory made by importing PyTorch weights: such a run holds the encoder alone, without
// projection heads, optimizer state or a training position, so it can be finetuned and
// evaluated but not trained on (Options.Overwrite replaces it).
var ErrImportedRun = errors.New("run directory holds imported weights")

// stepHook, when set (by tests only), sees each step's result and the model before the
// loop checks them, and may alter them (to force a non-finite loss or corrupt a variable
// deterministically).
var stepHook func(step int64, ctx *context.Context, loss *float64, terms map[string]float64)

// Pretrain runs (or resumes) the pretraining cfg describes into the run directory out:
// it validates cfg, the data and the folder before any work, then trains with the
// training loop of acl/train — metrics records every LogEvery steps, atomic checkpoints
// at each epoch end and every CheckpointEvery steps, a clean stop when ctx is cancelled
// or MaxSteps is reached (the run resumes exactly with Options.Resume). A NaN or infinite
// loss stops the run with the step and the loss terms recorded in status.json; the last
// good checkpoint stays, and no checkpoint is ever written from variables holding NaN or
// ±Inf. Any other error during training also marks status.json failed, with the error.
//
// With cfg.KNN set, the kNN monitor measures the encoder before the first step of a fresh
// run and after every KNN.Every epochs (records with "knn_accuracy" in metrics.jsonl,
// KNNCurve). A run of 0 epochs trains nothing: it stores the method's model as
// initialised (the step-0 checkpoint), the random-encoder baseline.
func Pretrain(ctx gocontext.Context, cfg Config, out string, opts Options) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.absolutePaths(); err != nil {
		return nil, err
	}
	backend, err := backendFor(opts.Backend, cfg.Devices)
	if err != nil {
		return nil, err
	}
	if err := checkMemory(&cfg, backend); err != nil {
		return nil, err
	}
	occ, entries, err := rundir.Examine(out)
	if err != nil {
		return nil, err
	}
	stored, err := checkFolder(out, occ, entries, opts)
	if err != nil {
		return nil, err
	}
	method, _ := MethodByName(cfg.Method)
	data, err := loadData(&cfg, method)
	if err != nil {
		return nil, err
	}
	if err := cfg.RecordData(); err != nil {
		return nil, err
	}
	if opts.Resume && stored != nil {
		if err := SameTraining(*stored, cfg); err != nil {
			return nil, fmt.Errorf("resuming %s: %w", out, err)
		}
	}
	run, err := rundir.Create(out)
	if err != nil {
		return nil, err
	}
	defer run.Close()
	if opts.Overwrite && occ == rundir.FolderRun {
		if err := run.Clear(); err != nil {
			return nil, err
		}
	}
	progress := train.NewProgress(opts.Progress)

	var start TrainState
	latest, skipped, ckErr := rundir.LatestCheckpoint(run.File(rundir.CheckpointsDir))
	var warnings []string
	if ckErr == nil && len(skipped) > 0 {
		// A resume may fall back to an older checkpoint, but never silently.
		for _, s := range skipped {
			warnings = append(warnings, fmt.Sprintf("skipping damaged checkpoint: %s; resuming from the older %s (step %d)", s, latest.Path, latest.Step))
		}
	}
	if ckErr == nil && opts.Resume && !latest.HeaderVerified() {
		warnings = append(warnings, fmt.Sprintf("%s is a format-v%d checkpoint (written before checkpoints covered their header): its data verifies, its step, state and variable names cannot be; the next checkpoints are written in the current format", latest.Path, latest.Format))
	}
	warn := opts.Warnings
	if warn == nil {
		warn = opts.Progress
	}
	if warn != nil {
		for _, w := range warnings {
			fmt.Fprintf(warn, "warning: %s\n", w)
		}
	}
	switch {
	case ckErr == nil && !opts.Resume:
		return nil, fmt.Errorf("%w: %s (newest: step %d): resume it, or choose another run directory", ErrRunExists, out, latest.Step)
	case ckErr != nil && !errors.Is(ckErr, rundir.ErrNoCheckpoint):
		return nil, ckErr
	case ckErr != nil && len(skipped) > 0:
		// Checkpoint files exist but none verifies: never restart from scratch over them.
		return nil, fmt.Errorf("run directory %s holds checkpoints but none is valid (%s): move %s away to start the run over, or choose another run directory",
			out, strings.Join(skipped, "; "), run.File(rundir.CheckpointsDir))
	case ckErr == nil:
		if err := json.Unmarshal(latest.State, &start); err != nil {
			return nil, fmt.Errorf("resuming %s: checkpoint state: %w", latest.Path, err)
		}
		if start.Epoch >= cfg.Epochs {
			// Already finished: report it and touch nothing (config, provenance, status).
			res := &Result{RunDir: out, Steps: start.Step, AlreadyDone: true}
			if l, err := run.FinalLoss(); err == nil {
				res.FinalLoss = l
			}
			return res, nil
		}
	default:
		latest = nil
	}
	if err := run.WriteJSON(rundir.ConfigFile, cfg); err != nil {
		return nil, err
	}
	var notes []string
	if len(skipped) > 0 {
		notes = append(notes, "skipped damaged: "+strings.Join(skipped, "; "))
	}
	if latest != nil && !latest.HeaderVerified() {
		notes = append(notes, fmt.Sprintf("%s: format v%d, header not verifiable", latest.Path, latest.Format))
	}
	if moved := dataMoved(stored, &cfg); moved != "" && latest != nil {
		notes = append(notes, moved)
	}
	prov, err := writeProvenance(run, backend, max(cfg.Devices, 1), latest, start.Step, notes)
	if err != nil {
		return nil, err
	}
	// Running from here on (the step's graph is built next, which can take a while): a
	// second interrupt during it marks this status interrupted (rundir.InterruptWriters).
	startStatus := rundir.Status{State: rundir.StateRunning, Step: start.Step, Epoch: start.Epoch, Warnings: warnings}
	if latest != nil {
		startStatus.Checkpoint = latest.Path
	}
	if err := run.SetStatus(startStatus); err != nil {
		return nil, err
	}
	step, state, err := NewStep(&cfg, data.pseudoLabelSets())
	if err != nil {
		return nil, err
	}
	schedule, _ := cfg.Schedule.Build() // nil for a run of 0 epochs, which never trains
	optimizer, _ := optim.New(cfg.Optimizer)

	mctx := context.New().Checked(false)
	if err := mctx.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		return nil, err
	}
	ckpts := &train.Checkpoints{Dir: run.File(rundir.CheckpointsDir), Every: int64(cfg.CheckpointEvery), Keep: cfg.KeepCheckpoints,
		State: func(st train.State) (any, error) {
			saved, err := state.Save()
			return TrainState{State: st, Method: saved}, err
		}}
	if latest != nil {
		if err := latest.Restore(mctx, rundir.RestoreOptions{}); err != nil {
			return nil, err
		}
		if err := state.Load(start.Method); err != nil {
			return nil, fmt.Errorf("resuming %s: %w", latest.Path, err)
		}
		if err := run.TruncateMetrics(start.Step); err != nil {
			return nil, err
		}
		ckpts.Last = latest.Path
		progress.Printf("resuming %s from step %d (epoch %d, batch %d)\n", out, start.Step, start.Epoch+1, start.Batch)
	} else if err := run.TruncateMetrics(0); err != nil {
		// A fresh start (possibly after a kill before the first checkpoint): the records
		// of the earlier attempt describe steps that are trained again.
		return nil, err
	}
	scalars := stepScalars(&cfg, step, state)
	monitor, err := newKNNMonitor(&cfg, backend, mctx, step, data.ds, run, progress)
	if err != nil {
		return nil, err
	}
	if latest == nil && (cfg.Epochs == 0 || monitor != nil) {
		// The model before its first step: what a run of 0 epochs stores, and the kNN
		// monitor's epoch 0.
		if err := initializeModel(backend, mctx, step, data, scalars); err != nil {
			return nil, err
		}
		if monitor.due(0) {
			if err := monitor.evaluate(train.State{}); err != nil {
				return nil, err
			}
		}
	}
	if cfg.Epochs == 0 {
		if err := saveInitialModel(run, mctx, &cfg, state, prov); err != nil {
			return nil, err
		}
		progress.Printf("0 epochs: stored the model as initialised (the random-encoder baseline) in %s\n", out)
		return &Result{RunDir: out}, nil
	}
	loop := &train.Loop{
		Name: "pretrain " + cfg.RunName(), Backend: backend, Model: mctx, Step: step.Build,
		Devices: cfg.Devices, Optimizer: optimizer, Schedule: schedule, Data: data, Epochs: cfg.Epochs, MaxSteps: cfg.MaxSteps,
		RunDir: run, LogEvery: cfg.LogEvery, Checkpoints: ckpts, Progress: progress, Warnings: warnings,
		Inputs: scalars,
		AfterStep: func(st train.State, r *train.Result) error {
			return state.AfterStep(st, r.Size, r.Terms)
		},
		EndEpoch: func(st train.State, _ train.Epoch) error {
			if !monitor.due(st.Epoch) {
				return nil
			}
			return monitor.evaluate(st)
		},
		Done: func(train.State) error {
			prov.End = time.Now().UTC()
			return run.WriteJSON(rundir.ProvenanceFile, prov)
		},
	}
	if stepHook != nil {
		loop.Inspect = func(st train.State, model *context.Context, r *train.Result) {
			stepHook(st.Step, model, &r.Loss, r.Terms)
		}
	}
	sum, err := loop.Run(ctx, start.State)
	res := &Result{RunDir: out, Steps: sum.Step, FinalLoss: sum.FinalLoss, Stopped: sum.Stopped != ""}
	return res, err
}

// stepScalars returns the loop's Inputs hook feeding the method state's step scalars as
// one [n] float32 tensor (nil when the method has none).
func stepScalars(cfg *Config, step *Step, state State) func(st train.State) ([]any, error) {
	if len(step.ScalarNames) == 0 {
		return nil
	}
	return func(st train.State) ([]any, error) {
		vals, err := state.Scalars(st)
		if err != nil {
			return nil, err
		}
		if len(vals) != len(step.ScalarNames) {
			return nil, fmt.Errorf("method %s returned %d step scalars for %d names %v", cfg.Method, len(vals), len(step.ScalarNames), step.ScalarNames)
		}
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		return []any{tensors.FromFlatDataAndDimensions(f, len(f))}, nil
	}
}

// backendFor returns the backend of a pretraining over devices: b, or when b is nil the
// process's (engine.NewForDevices: with the XLA CPU plugin, one host device per device
// asked for). A backend that cannot run that many devices is an error of the field
// devices, before any work.
func backendFor(b backends.Backend, devices int) (backends.Backend, error) {
	if b == nil {
		var err error
		if b, err = engine.NewForDevices(devices); err != nil {
			return nil, err
		}
	}
	if err := engine.CheckDevices(b, devices); err != nil {
		return nil, field.Errorf("devices", "{devices} = %d: %v", devices, err)
	}
	return b, nil
}

// writeProvenance writes provenance.json for a start or, when resuming from latest, keeps
// the original start time and appends the resume with its notes (damaged checkpoints
// skipped, a v1 checkpoint, a moved data folder). The backend's description says on how
// many devices this leg of the run trains; a resume records its device count, and the
// previous leg's backend when it changed.
func writeProvenance(run *rundir.Dir, backend backends.Backend, devices int, latest *rundir.Checkpoint, step int64, notes []string) (rundir.Provenance, error) {
	desc := engine.Describe(backend)
	if devices > 1 {
		desc = fmt.Sprintf("%s, data-parallel over %d devices", desc, devices)
	}
	prov := rundir.CollectProvenance(desc)
	if latest != nil {
		var old rundir.Provenance
		if run.ReadJSON(rundir.ProvenanceFile, &old) == nil {
			prov.Start = old.Start
			resume := fmt.Sprintf("%s at step %d on %d device(s)", time.Now().UTC().Format(time.RFC3339), step, devices)
			if old.Backend != "" && old.Backend != prov.Backend {
				resume += fmt.Sprintf(" (until then: %s)", old.Backend)
			}
			if len(notes) > 0 {
				resume += fmt.Sprintf(" (%s)", strings.Join(notes, "; "))
			}
			prov.Resumes = append(old.Resumes, resume)
		}
	}
	return prov, run.WriteJSON(rundir.ProvenanceFile, prov)
}
