package train

import (
	gocontext "context"
	"fmt"
	"iter"
	"time"

	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// Loop describes one training: the model and its step, the data, the schedule and what to
// do around the steps. Fill it and call Run (see the package documentation for the order
// of a step). Zero hooks do nothing.
type Loop struct {
	// Name labels the progress bar (e.g. "pretrain", "slf", "probe").
	Name string
	// Backend runs the step; Model holds the variables (weights, optimizer state, RNG).
	Backend backends.Backend
	Model   *context.Context
	// Step builds the forward pass and loss of one batch from the step's inputs (the
	// batch's, then those of Inputs). The loop builds it once per input shape, in training
	// mode with BatchNorm statistics updating (layers.InMode(ctx, g, true, true, …)); a
	// step that needs other modes for some passes sets them itself.
	Step func(ctx *context.Context, inputs []*graph.Node) Outputs
	// Devices, when more than 1, runs each step over that many devices of Backend (an XLA
	// backend): the batch split along its first axis, which Devices must divide, the
	// variables and host inputs replicated, and the result that of one device with the
	// whole batch (see devices.go). 0 or 1: one device.
	Devices int
	// Optimizer builds the update of the trainable variables from the loss.
	Optimizer optimizers.Interface
	// Schedule gives each step's learning rate (optim.SetLearningRate before the step).
	Schedule optim.Schedule
	// Data yields the batches; Epochs is how many epochs the run trains in all.
	Data   Data
	Epochs int
	// MaxSteps stops the run once this many steps are done in all (0: no limit), with
	// status "stopped"; it can be resumed with a larger limit.
	MaxSteps int64

	// Inputs, when set, returns host values appended to each step's inputs, computed just
	// before the step (a method's per-step scalars, from its host state).
	Inputs func(st State) ([]any, error)
	// Inspect, when set, sees every step's result before the loop checks it, and may
	// change it: fault-injection tests force a non-finite loss or corrupt a variable of
	// model with it.
	Inspect func(st State, model *context.Context, r *Result)
	// AfterStep, when set, runs after every step whose loss is finite (st is the state
	// after the step): per-step host state (AdvCL's adaptive α), monitors.
	AfterStep func(st State, r *Result) error
	// EndEpoch, when set, runs after each epoch's last step (and its checkpoint):
	// per-epoch evaluation and model selection, periodic monitors.
	EndEpoch func(st State, e Epoch) error
	// Done, when set, runs once the last epoch is trained, before the loop marks the run
	// done: final evaluations, result files. Its error fails the run.
	Done func(st State) error

	// RunDir, when set, is the run directory whose status.json the loop keeps, and where it
	// appends a metrics record every LogEvery steps and at each epoch end (LogEvery > 0).
	RunDir   *rundir.Dir
	LogEvery int
	// Warnings are written into every status.json the loop writes (e.g. a resume that
	// skipped a damaged checkpoint), so that no reader of the run misses them.
	Warnings []string
	// Checkpoints, when set, saves checkpoints at each epoch end, every Every steps and
	// when the run stops early.
	Checkpoints *Checkpoints
	// Progress reports the run (nil: nothing).
	Progress *Progress
}

// Run trains from state start (the zero State for a fresh run; a checkpoint's State to
// resume) until Epochs are done, ctx is cancelled or MaxSteps is reached. An error after
// training started marks status.json failed with it (non-finite losses with the step,
// loss and terms) and is returned with the summary so far.
func (l *Loop) Run(ctx gocontext.Context, start State) (*Summary, error) {
	st := start
	st.StepsPerEpoch = l.Data.BatchesPerEpoch()
	sum := &Summary{State: st}
	if l.Checkpoints != nil {
		sum.Checkpoint = l.Checkpoints.Last
	}
	step, err := l.compileStep()
	if err != nil {
		return sum, err
	}
	defer step.exec.Finalize()
	if err := l.setStatus(rundir.Status{State: rundir.StateRunning, Step: st.Step, Epoch: st.Epoch}); err != nil {
		return sum, err
	}
	// fail marks the run failed with err and returns it.
	fail := func(err error) (*Summary, error) {
		l.Progress.finish()
		sum.State = st
		_ = l.setStatus(rundir.Status{State: rundir.StateFailed, Reason: err.Error(), Step: st.Step, Epoch: st.Epoch, Checkpoint: sum.Checkpoint})
		return sum, err
	}
	// stopEarly checkpoints and marks the run interrupted or stopped.
	stopEarly := func(state, reason string) (*Summary, error) {
		if err := l.saveCheckpoint(st, sum); err != nil {
			return fail(err)
		}
		l.Progress.finish()
		sum.State, sum.Stopped = st, state
		_ = l.setStatus(rundir.Status{State: state, Reason: reason, Step: st.Step, Epoch: st.Epoch, Checkpoint: sum.Checkpoint})
		return sum, nil
	}
	total := int64(l.Epochs) * int64(st.StepsPerEpoch)
	if l.MaxSteps > 0 {
		total = min(total, l.MaxSteps)
	}
	l.Progress.start(l.Name, st.Step, total)
	lastLog, imagesSinceLog := time.Now(), 0
	// Batches are built ahead by the loader's workers while the step runs; stopData ends
	// the current epoch's workers on every exit path.
	stopData := func() {}
	defer func() { stopData() }()
	for st.Epoch < l.Epochs {
		nb := st.StepsPerEpoch
		next, stop := iter.Pull2(l.Data.Epoch(st.Epoch, st.Batch))
		stopData = stop
		epoch := Epoch{Index: st.Epoch, Terms: map[string]float64{}}
		epochStart := time.Now()
		for st.Batch < nb {
			if err := ctx.Err(); err != nil {
				return stopEarly(rundir.StateInterrupted, l.resumeHint("stopped by the user"))
			}
			if l.RunDir != nil {
				// A run folder (or its metrics log) deleted or replaced under the run stops
				// it here, before another step's work is lost.
				if err := l.RunDir.Check(); err != nil {
					return fail(err)
				}
			}
			if l.MaxSteps > 0 && st.Step >= l.MaxSteps {
				return stopEarly(rundir.StateStopped, fmt.Sprintf("max_steps %d reached; %s", l.MaxSteps,
					"resumable from its newest checkpoint with a larger max_steps"))
			}
			batch, err, ok := next()
			if !ok {
				return fail(fmt.Errorf("data: epoch %d ended before batch %d of %d", st.Epoch+1, st.Batch, nb))
			}
			if err != nil {
				return fail(err)
			}
			var host []any
			if l.Inputs != nil {
				if host, err = l.Inputs(st); err != nil {
					return fail(fmt.Errorf("step %d (epoch %d, batch %d): %w", st.Step+1, st.Epoch+1, st.Batch, err))
				}
			}
			r := &Result{LR: l.Schedule.LearningRate(st.Epoch, st.Batch, nb), Size: batch.Size, Terms: map[string]float64{}}
			if err := optim.SetLearningRate(l.Model, r.LR); err != nil {
				return fail(err)
			}
			t0 := time.Now()
			outs, err := step.run(batch.Inputs, host)
			if err != nil {
				return fail(fmt.Errorf("step %d (epoch %d, batch %d): %w", st.Step+1, st.Epoch+1, st.Batch, err))
			}
			r.Seconds = time.Since(t0).Seconds()
			r.Loss = scalar(outs[0])
			for i, n := range *step.names {
				r.Terms[n] = scalar(outs[1+i])
			}
			st.Step++
			st.Batch++
			if l.Inspect != nil {
				l.Inspect(st, l.Model, r)
			}
			sum.State, sum.FinalLoss = st, r.Loss
			imagesSinceLog += r.Size
			if !r.finite() {
				return l.failNonFinite(st, r, sum)
			}
			if l.AfterStep != nil {
				if err := l.AfterStep(st, r); err != nil {
					return fail(fmt.Errorf("step %d (epoch %d, batch %d): %w", st.Step, st.Epoch+1, st.Batch-1, err))
				}
			}
			epoch.Steps++
			epoch.Loss += r.Loss
			for n, v := range r.Terms {
				epoch.Terms[n] += v
			}
			epoch.LR = r.LR
			if l.LogEvery > 0 && (st.Step%int64(l.LogEvery) == 0 || st.Batch == nb) {
				elapsed := time.Since(lastLog).Seconds()
				if err := l.logStep(st, r, float64(imagesSinceLog)/elapsed); err != nil {
					return fail(err)
				}
				lastLog, imagesSinceLog = time.Now(), 0
			}
			l.Progress.step(l.Name, st.Step, r.Loss)
			if st.Batch == nb {
				break
			}
			if l.Checkpoints != nil && l.Checkpoints.Every > 0 && st.Step%l.Checkpoints.Every == 0 {
				if err := l.saveCheckpoint(st, sum); err != nil {
					return fail(err)
				}
			}
		}
		stop()
		stopData = func() {}
		epoch.Seconds = time.Since(epochStart).Seconds()
		st.Epoch++
		st.Batch = 0
		sum.State = st
		if err := l.saveCheckpoint(st, sum); err != nil {
			return fail(err)
		}
		if l.EndEpoch != nil {
			if epoch.Steps > 0 {
				epoch.Loss /= float64(epoch.Steps)
				for n := range epoch.Terms {
					epoch.Terms[n] /= float64(epoch.Steps)
				}
			}
			if err := l.EndEpoch(st, epoch); err != nil {
				return fail(err)
			}
		}
	}
	l.Progress.finish()
	if l.Done != nil {
		if err := l.Done(st); err != nil {
			return fail(err)
		}
	}
	return sum, l.setStatus(rundir.Status{State: rundir.StateDone, Step: st.Step, Epoch: st.Epoch, Checkpoint: sum.Checkpoint})
}

// failNonFinite stops the run on a non-finite loss: the step's record (with the
// non-finite values as strings) when records are kept, status.json failed with the step,
// loss and terms, and ErrNonFinite.
func (l *Loop) failNonFinite(st State, r *Result, sum *Summary) (*Summary, error) {
	l.Progress.finish()
	reason := fmt.Sprintf("loss is %v at step %d (epoch %d, batch %d); terms %v", r.Loss, st.Step, st.Epoch+1, st.Batch-1, r.Terms)
	if l.Checkpoints != nil {
		reason += "; " + l.keptMessage(sum)
	}
	if l.RunDir != nil && l.LogEvery > 0 {
		_ = l.RunDir.LogMetrics(map[string]any{"step": st.Step, "epoch": st.Epoch, "loss": fmt.Sprint(r.Loss), "terms": JSONSafe(r.Terms), "lr": r.LR})
	}
	_ = l.setStatus(rundir.Status{State: rundir.StateFailed, Reason: reason, Step: st.Step, Epoch: st.Epoch,
		Loss: fmt.Sprint(r.Loss), Terms: JSONSafe(r.Terms), Checkpoint: sum.Checkpoint})
	return sum, fmt.Errorf("%w: %s", ErrNonFinite, reason)
}

// logStep appends the step's metrics record and prints its progress line.
func (l *Loop) logStep(st State, r *Result, imagesPerSec float64) error {
	if l.RunDir != nil {
		rec := map[string]any{"step": st.Step, "epoch": st.Epoch, "batch": st.Batch, "loss": r.Loss,
			"lr": r.LR, "images_per_sec": imagesPerSec, "step_seconds": r.Seconds}
		for k, v := range r.Terms {
			rec[k] = v
		}
		if err := l.RunDir.LogMetrics(rec); err != nil {
			return err
		}
	}
	if !l.Progress.IsTerminal() {
		l.Progress.Printf("epoch %d/%d batch %d/%d step %d  loss %.4f  lr %.4g  %.1f img/s\n",
			st.Epoch+1, l.Epochs, st.Batch, st.StepsPerEpoch, st.Step, r.Loss, r.LR, imagesPerSec)
	}
	return nil
}

// resumeHint completes the reason of an interruption with whether the run can resume.
func (l *Loop) resumeHint(what string) string {
	if l.Checkpoints == nil {
		return what + "; not resumable: run it again"
	}
	return what + "; resumable from its newest checkpoint"
}

func (l *Loop) setStatus(s rundir.Status) error {
	if l.RunDir == nil {
		return nil
	}
	s.Warnings = l.Warnings
	return l.RunDir.SetStatus(s)
}

// keptMessage says which checkpoint a failed run keeps.
func (l *Loop) keptMessage(sum *Summary) string {
	if sum.Checkpoint == "" {
		return "no checkpoint was written yet"
	}
	return "last good checkpoint kept: " + sum.Checkpoint
}

// Printf reports one line on the loop's progress (above the bar on a terminal).
func (l *Loop) Printf(format string, args ...any) { l.Progress.Printf(format, args...) }
