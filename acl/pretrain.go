package acl

import (
	gocontext "context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TrainState is the trainer's host-side state, saved with every checkpoint: where the run
// is (the next batch to train) and any method state that lives outside the graph.
type TrainState struct {
	// Epoch and Batch locate the next batch to train (Batch counts from 0 in the epoch).
	Epoch int `json:"epoch"`
	Batch int `json:"batch"`
	// Step is the number of optimizer steps done.
	Step int64 `json:"step"`
	// StepsPerEpoch is the number of batches of an epoch.
	StepsPerEpoch int `json:"steps_per_epoch"`
	// Method holds method-specific host state (e.g. AdvCL's adaptive-α running mean).
	Method json.RawMessage `json:"method,omitempty"`
}

// PretrainOptions are how a pretraining is run, beyond what it computes.
type PretrainOptions struct {
	// Backend runs the graphs; nil means engine.New().
	Backend backends.Backend
	// Resume continues from the newest checkpoint of the run directory. Without it, a
	// run directory that already holds checkpoints is an error (nothing is overwritten).
	Resume bool
	// Progress receives one human-readable line per logged step; nil means none.
	Progress io.Writer
}

// PretrainResult summarises a finished (or stopped) pretraining.
type PretrainResult struct {
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

// ErrNonFinite is wrapped by the error Pretrain returns when a loss becomes NaN or ±Inf,
// or when a variable holds NaN or ±Inf at checkpoint time.
var ErrNonFinite = errors.New("non-finite loss")

// stepHook, when set (by tests only), runs after each training step with the step number,
// the model's context and the step's loss and terms, which it may alter (to force a
// non-finite loss or corrupt a variable deterministically).
var stepHook func(step int64, ctx *context.Context, loss *float64, terms map[string]float64)

// trainData is what the loop draws from.
type trainData struct {
	ds     *datasets.Dataset
	loader *datasets.Loader
	used   []int
	pseudo *datasets.PseudoLabels
}

// loaderConfig is the loader setting of a pretraining: shuffled, seeded, full batches.
func loaderConfig(cfg *PretrainConfig) datasets.LoaderConfig {
	return datasets.LoaderConfig{BatchSize: cfg.BatchSize, Seed: cfg.Seed, Shuffle: true, DropLast: true}
}

// Pretrain runs (or resumes) the pretraining cfg describes into the run directory out:
// it validates cfg and the folder before any work, then trains epoch by epoch, logging
// metrics, checkpointing atomically, and stopping cleanly when ctx is cancelled (the
// interrupted run resumes exactly with Resume). A NaN or infinite loss stops the run with
// the step and the loss terms recorded in status.json; the last good checkpoint stays,
// and no checkpoint is ever written from variables holding NaN or ±Inf. Any other error
// during training also marks status.json failed, with the error.
func Pretrain(ctx gocontext.Context, cfg PretrainConfig, out string, opts PretrainOptions) (*PretrainResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	method, _ := MethodByName(cfg.Method)
	data, err := loadTrainData(&cfg, method)
	if err != nil {
		return nil, err
	}
	run, err := rundir.Create(out)
	if err != nil {
		return nil, err
	}
	defer run.Close()

	var state TrainState
	latest, skipped, ckErr := rundir.LatestCheckpoint(run.File(rundir.CheckpointsDir))
	for _, s := range skipped {
		progressf(opts.Progress, "warning: skipping damaged checkpoint: %s\n", s)
	}
	switch {
	case ckErr == nil && !opts.Resume:
		return nil, fmt.Errorf("run directory %s already holds checkpoints (newest: step %d): pass -resume to continue it, or choose another -out", out, latest.Step)
	case ckErr != nil && !errors.Is(ckErr, rundir.ErrNoCheckpoint):
		return nil, ckErr
	case ckErr != nil && len(skipped) > 0:
		// Checkpoint files exist but none verifies: never restart from scratch over them.
		return nil, fmt.Errorf("run directory %s holds checkpoints but none is valid (%s): move %s away to start the run over, or choose another -out",
			out, strings.Join(skipped, "; "), run.File(rundir.CheckpointsDir))
	case ckErr == nil:
		var stored PretrainConfig
		if err := run.ReadJSON(rundir.ConfigFile, &stored); err != nil {
			return nil, fmt.Errorf("resuming %s: %w", out, err)
		}
		if err := sameTraining(stored, cfg); err != nil {
			return nil, fmt.Errorf("resuming %s: %w", out, err)
		}
		if err := json.Unmarshal(latest.State, &state); err != nil {
			return nil, fmt.Errorf("resuming %s: checkpoint state: %w", latest.Path, err)
		}
		if state.Epoch >= cfg.Epochs {
			// Already finished: report it and touch nothing (config, provenance, status).
			res := &PretrainResult{RunDir: out, Steps: state.Step, AlreadyDone: true}
			if mets, err := run.ReadMetrics(); err == nil && len(mets) > 0 {
				if l, ok := mets[len(mets)-1]["loss"].(float64); ok {
					res.FinalLoss = l
				}
			}
			return res, nil
		}
	default:
		latest = nil
	}
	if err := run.WriteJSON(rundir.ConfigFile, cfg); err != nil {
		return nil, err
	}

	backend := opts.Backend
	if backend == nil {
		if backend, err = engine.New(); err != nil {
			return nil, err
		}
	}
	prov := rundir.CollectProvenance(engine.Describe(backend))
	if latest != nil {
		var old rundir.Provenance
		if run.ReadJSON(rundir.ProvenanceFile, &old) == nil {
			prov.Start = old.Start
			resume := fmt.Sprintf("%s at step %d", time.Now().UTC().Format(time.RFC3339), state.Step)
			if len(skipped) > 0 {
				resume += fmt.Sprintf(" (skipped damaged: %s)", strings.Join(skipped, "; "))
			}
			prov.Resumes = append(old.Resumes, resume)
		}
	}
	if err := run.WriteJSON(rundir.ProvenanceFile, prov); err != nil {
		return nil, err
	}

	state.StepsPerEpoch = data.loader.NumBatches()
	encoder, err := EncoderFor(&cfg)
	if err != nil {
		return nil, err
	}
	schedule, _ := cfg.Schedule.Build()
	optimizer, _ := optim.New(cfg.Optimizer)

	mctx := context.New().Checked(false)
	if err := mctx.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		return nil, err
	}
	if latest != nil {
		if err := latest.Restore(mctx, rundir.RestoreOptions{}); err != nil {
			return nil, err
		}
		if err := run.TruncateMetrics(state.Step); err != nil {
			return nil, err
		}
		progressf(opts.Progress, "resuming %s from step %d (epoch %d, batch %d)\n", out, state.Step, state.Epoch+1, state.Batch)
	} else if err := run.TruncateMetrics(0); err != nil {
		// A fresh start (possibly after a kill before the first checkpoint): the records
		// of the earlier attempt describe steps that are trained again.
		return nil, err
	}
	var scalarNames []string
	provider, hasScalars := method.(ScalarProvider)
	if hasScalars {
		scalarNames = provider.ScalarNames(&cfg)
		hasScalars = len(scalarNames) > 0
	}
	metricNames := []string{}
	stepExec, err := context.NewExec(backend, mctx, func(ctx *context.Context, inputs []*graph.Node) []*graph.Node {
		g := inputs[0].Graph()
		in := &StepInputs{Config: &cfg, Encoder: encoder, Scalars: map[string]*graph.Node{}}
		nViews := len(data.used)
		in.Views = inputs[:nViews]
		rest := inputs[nViews:]
		if data.pseudo != nil {
			in.PseudoLabels = rest[:len(data.pseudo.K)]
			rest = rest[len(data.pseudo.K):]
		}
		if hasScalars {
			for i, name := range scalarNames {
				in.Scalars[name] = graph.Squeeze(graph.Slice(rest[0], graph.AxisElem(i)))
			}
		}
		var outs *StepOutputs
		inMode(ctx, g, true, true, func() { outs = method.BuildStep(ctx, in) })
		optimizer.UpdateGraph(ctx, g, outs.Loss)
		names := make([]string, 0, len(outs.Metrics))
		for n := range outs.Metrics {
			names = append(names, n)
		}
		sort.Strings(names)
		metricNames = names
		res := []*graph.Node{outs.Loss}
		for _, n := range names {
			res = append(res, graph.ConvertDType(outs.Metrics[n], dtypes.Float64))
		}
		return res
	})
	if err != nil {
		return nil, err
	}
	defer stepExec.Finalize()
	if err := run.SetStatus(rundir.Status{State: "running", Step: state.Step, Epoch: state.Epoch}); err != nil {
		return nil, err
	}

	res := &PretrainResult{RunDir: out, Steps: state.Step}
	lastCkpt := ""
	if latest != nil {
		lastCkpt = latest.Path
	}
	keptMsg := func() string {
		if lastCkpt == "" {
			return "no checkpoint was written yet"
		}
		return "last good checkpoint kept: " + lastCkpt
	}
	// fail marks the run failed with err (after training started) and returns err.
	fail := func(err error) error {
		_ = run.SetStatus(rundir.Status{State: "failed", Reason: err.Error(), Step: state.Step, Epoch: state.Epoch, Checkpoint: lastCkpt})
		return err
	}
	// saveCkpt writes a checkpoint of the current state, unless a variable holds NaN or
	// ±Inf (an update that overflowed): then the run fails and the last good checkpoint
	// stays the newest.
	saveCkpt := func() error {
		if bad := nonFiniteVariables(mctx); len(bad) > 0 {
			reason := fmt.Sprintf("after step %d (epoch %d, batch %d) %d variables hold NaN or ±Inf: %s; checkpoint not written; %s",
				state.Step, state.Epoch+1, state.Batch, len(bad), strings.Join(bad, ", "), keptMsg())
			return fail(fmt.Errorf("%w: %s", ErrNonFinite, reason))
		}
		path, err := rundir.SaveCheckpoint(mctx, run.File(rundir.CheckpointsDir), state.Step, state, cfg.KeepCheckpoints)
		if err != nil {
			return fail(err)
		}
		lastCkpt = path
		return nil
	}
	lastLog := time.Now()
	imagesSinceLog := 0
	// Batches are built ahead by the loader's workers while the step runs; stopPrefetch
	// ends the current epoch's workers on every exit path.
	stopPrefetch := func() {}
	defer func() { stopPrefetch() }()
	observer, observes := method.(StepObserver)
	epochViewer, viewsChange := method.(EpochViewer)
	for state.Epoch < cfg.Epochs {
		if viewsChange {
			// The loader only holds the data set and the view list: rebuilding it is free,
			// and batches depend only on (seed, epoch, batch), so resume stays exact.
			if data.loader, err = datasets.NewLoader(data.ds, epochViewer.EpochViews(&cfg, state.Epoch), loaderConfig(&cfg)); err != nil {
				return res, fail(err)
			}
		}
		nb := data.loader.NumBatches()
		next, stop := iter.Pull2(data.loader.EpochFrom(gocontext.Background(), state.Epoch, state.Batch))
		stopPrefetch = stop
		for state.Batch < nb {
			if err := ctx.Err(); err != nil {
				if err := saveCkpt(); err != nil {
					return res, err
				}
				res.Stopped = true
				_ = run.SetStatus(rundir.Status{State: "interrupted", Reason: "stopped by the user; resume with -resume", Step: state.Step, Epoch: state.Epoch, Checkpoint: lastCkpt})
				return res, nil
			}
			if cfg.MaxSteps > 0 && state.Step >= cfg.MaxSteps {
				if err := saveCkpt(); err != nil {
					return res, err
				}
				res.Stopped = true
				_ = run.SetStatus(rundir.Status{State: "stopped", Reason: fmt.Sprintf("max_steps %d reached; resume with a larger -max-steps", cfg.MaxSteps), Step: state.Step, Epoch: state.Epoch, Checkpoint: lastCkpt})
				return res, nil
			}
			batch, err, ok := next()
			if !ok {
				return res, fail(fmt.Errorf("loader: epoch %d ended before batch %d of %d", state.Epoch+1, state.Batch, nb))
			}
			if err != nil {
				return res, fail(err)
			}
			args, err := stepArgs(batch, data, hasScalars, func() ([]float64, error) {
				vals, err := provider.Scalars(&cfg, &state)
				if err == nil && len(vals) != len(scalarNames) {
					err = fmt.Errorf("method %s returned %d step scalars for %d names %v", cfg.Method, len(vals), len(scalarNames), scalarNames)
				}
				return vals, err
			})
			if err != nil {
				return res, fail(err)
			}
			lr := schedule.LearningRate(state.Epoch, state.Batch, nb)
			if err := optim.SetLearningRate(mctx, lr); err != nil {
				return res, fail(err)
			}
			t0 := time.Now()
			outs, err := stepExec.Exec(args...)
			if err != nil {
				return res, fail(fmt.Errorf("step %d (epoch %d, batch %d): %w", state.Step+1, state.Epoch+1, state.Batch, err))
			}
			stepTime := time.Since(t0)
			loss := scalarFloat(outs[0])
			terms := map[string]float64{}
			for i, n := range metricNames {
				terms[n] = scalarFloat(outs[1+i])
			}
			state.Step++
			state.Batch++
			if stepHook != nil {
				stepHook(state.Step, mctx, &loss, terms)
			}
			res.Steps, res.FinalLoss = state.Step, loss
			imagesSinceLog += batch.Size()
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				reason := fmt.Sprintf("loss is %v at step %d (epoch %d, batch %d); terms %v; %s", loss, state.Step, state.Epoch+1, state.Batch-1, terms, keptMsg())
				_ = run.LogMetrics(map[string]any{"step": state.Step, "epoch": state.Epoch, "loss": fmt.Sprint(loss), "terms": jsonSafe(terms), "lr": lr})
				_ = run.SetStatus(rundir.Status{State: "failed", Reason: reason, Step: state.Step, Epoch: state.Epoch,
					Loss: fmt.Sprint(loss), Terms: jsonSafe(terms), Checkpoint: lastCkpt})
				return res, fmt.Errorf("%w: %s", ErrNonFinite, reason)
			}
			if observes {
				if err := observer.AfterStep(&cfg, &state, batch.Size(), terms); err != nil {
					return res, fail(fmt.Errorf("step %d (epoch %d, batch %d): %w", state.Step, state.Epoch+1, state.Batch-1, err))
				}
			}
			if state.Step%int64(cfg.LogEvery) == 0 || state.Batch == nb {
				elapsed := time.Since(lastLog).Seconds()
				rec := map[string]any{"step": state.Step, "epoch": state.Epoch, "batch": state.Batch, "loss": loss,
					"lr": lr, "images_per_sec": float64(imagesSinceLog) / elapsed, "step_seconds": stepTime.Seconds()}
				for k, v := range terms {
					rec[k] = v
				}
				if err := run.LogMetrics(rec); err != nil {
					return res, fail(err)
				}
				progressf(opts.Progress, "epoch %d/%d batch %d/%d step %d  loss %.4f  lr %.4g  %.1f img/s\n",
					state.Epoch+1, cfg.Epochs, state.Batch, nb, state.Step, loss, lr, float64(imagesSinceLog)/elapsed)
				lastLog, imagesSinceLog = time.Now(), 0
			}
			if state.Batch == nb {
				state.Epoch++
				state.Batch = 0
				if err := saveCkpt(); err != nil {
					return res, err
				}
				break
			} else if cfg.CheckpointEvery > 0 && state.Step%int64(cfg.CheckpointEvery) == 0 {
				if err := saveCkpt(); err != nil {
					return res, err
				}
			}
		}
		stop()
		stopPrefetch = func() {}
	}
	prov.End = time.Now().UTC()
	if err := run.WriteJSON(rundir.ProvenanceFile, prov); err != nil {
		return res, fail(err)
	}
	return res, run.SetStatus(rundir.Status{State: "done", Step: state.Step, Epoch: state.Epoch, Checkpoint: lastCkpt})
}

// sameTraining reports whether a resumed run's configuration computes the same training
// as the stored one (MaxSteps, logging and checkpoint cadence may change).
func sameTraining(stored, now PretrainConfig) error {
	norm := func(c PretrainConfig) string {
		c.MaxSteps, c.LogEvery, c.CheckpointEvery, c.KeepCheckpoints = 0, 0, 0, 0
		b, _ := json.Marshal(c)
		return string(b)
	}
	if norm(stored) != norm(now) {
		return fmt.Errorf("the configuration differs from the stored config.json (only -max-steps, -log-every and checkpoint settings may change on resume)")
	}
	return nil
}

// loadTrainData loads the training split, applies the subset and builds the loader with
// the method's views (and AdvCL's pseudo labels when the method asks for them).
func loadTrainData(cfg *PretrainConfig, m Method) (*trainData, error) {
	// A missing or empty folder is filled from the official archive where the network
	// allows; otherwise the error says which folder to fill and how.
	if err := datasets.Ensure(cfg.Dataset, cfg.DataDir); err != nil {
		return nil, fmt.Errorf("-data: %w", err)
	}
	var ds *datasets.Dataset
	var err error
	switch cfg.Dataset {
	case datasets.CIFAR10:
		ds, err = datasets.LoadCIFAR10Split(cfg.DataDir, datasets.Train)
	case datasets.CIFAR100:
		ds, err = datasets.LoadCIFAR100Split(cfg.DataDir, datasets.Train)
	}
	if err != nil {
		return nil, err
	}
	if cfg.Subset > 0 {
		if cfg.Subset > ds.Len() {
			return nil, fmt.Errorf("-subset = %d is larger than the %d training images of %s", cfg.Subset, ds.Len(), cfg.Dataset)
		}
		ds = ds.Subset(cfg.Subset, cfg.Seed)
	}
	views, used := m.Views(cfg)
	if ev, ok := m.(EpochViewer); ok {
		views = ev.EpochViews(cfg, 0)
	}
	loader, err := datasets.NewLoader(ds, views, loaderConfig(cfg))
	if err != nil {
		return nil, err
	}
	td := &trainData{ds: ds, loader: loader, used: used}
	if pl, ok := m.(PseudoLabelUser); ok && pl.NeedsPseudoLabels() {
		if cfg.PseudoLabelDir == "" {
			return nil, fmt.Errorf("-pseudo-labels: method %s needs the AdvCL pseudo-label folder (pseudo_train_{2,10,50,100,500}.npy)", cfg.Method)
		}
		if td.pseudo, err = datasets.LoadPseudoLabels(cfg.PseudoLabelDir, datasets.Train); err != nil {
			return nil, fmt.Errorf("-pseudo-labels: %w", err)
		}
	}
	return td, nil
}

// stepArgs turns a batch into the step graph's inputs: the used views, then the pseudo
// labels (by source index), then the host scalars.
func stepArgs(b *datasets.Batch, data *trainData, hasScalars bool, scalars func() ([]float64, error)) ([]any, error) {
	var args []any
	for _, i := range data.used {
		v := b.Views[i]
		args = append(args, tensors.FromFlatDataAndDimensions(v.Data, v.N, v.H, v.W, v.C))
	}
	if data.pseudo != nil {
		for k := range data.pseudo.K {
			labels := make([]int32, b.Size())
			for i, src := range b.SourceIndices {
				labels[i] = data.pseudo.Labels[k][src]
			}
			args = append(args, tensors.FromFlatDataAndDimensions(labels, len(labels)))
		}
	}
	if hasScalars {
		vals, err := scalars()
		if err != nil {
			return nil, err
		}
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		args = append(args, tensors.FromFlatDataAndDimensions(f, len(f)))
	}
	return args, nil
}

// nonFiniteVariables lists the variables of ctx whose value holds a NaN or ±Inf (float32
// and float64 variables; at most 10 names, then a count).
func nonFiniteVariables(ctx *context.Context) []string {
	var bad []string
	n := 0
	ctx.EnumerateVariables(func(v *context.Variable) {
		if !v.HasValue() {
			return
		}
		t, err := v.Value()
		if err != nil {
			return
		}
		finite := true
		switch t.DType() {
		case dtypes.Float32:
			_ = tensors.ConstFlatData(t, func(xs []float32) {
				for _, x := range xs {
					if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
						finite = false
						return
					}
				}
			})
		case dtypes.Float64:
			_ = tensors.ConstFlatData(t, func(xs []float64) {
				for _, x := range xs {
					if math.IsNaN(x) || math.IsInf(x, 0) {
						finite = false
						return
					}
				}
			})
		}
		if !finite {
			if n++; n <= 10 {
				bad = append(bad, v.ScopeAndName())
			}
		}
	})
	sort.Strings(bad)
	if n > 10 {
		bad = append(bad, fmt.Sprintf("and %d more", n-10))
	}
	return bad
}

func scalarFloat(t *tensors.Tensor) float64 {
	switch t.DType() {
	case dtypes.Float32:
		return float64(tensors.MustCopyFlatData[float32](t)[0])
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](t)[0]
	}
	return math.NaN()
}

// jsonSafe turns non-finite values into strings, which encoding/json cannot write.
func jsonSafe(m map[string]float64) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			out[k] = fmt.Sprint(v)
		} else {
			out[k] = v
		}
	}
	return out
}

func progressf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}
