package pretrain

import (
	"fmt"
	"iter"
	"time"

	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/acl/train"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// initializeModel creates and initialises every variable of the method's model in mctx
// exactly as the first training step would: it builds the step's forward pass and loss
// (training mode, as train.Loop.BuildStep does) on inputs shaped like the first batch,
// without compiling it, and runs the variables' initialisers in the order the build
// created them. The optimizer's state is left to the first step. Training from here gives
// the same weights as training from an empty context (tested), so the kNN monitor can
// measure the encoder before its first step, and a run of 0 epochs stores the model as
// initialised.
func initializeModel(backend backends.Backend, mctx *context.Context, step *Step, d *data, scalars func(train.State) ([]any, error)) (err error) {
	next, stop := iter.Pull2(d.Epoch(0, 0))
	batch, berr, ok := next()
	stop()
	if !ok || berr != nil {
		return fmt.Errorf("initialising the model: first batch: %v", berr)
	}
	args := batch.Inputs
	if scalars != nil {
		extra, err := scalars(train.State{StepsPerEpoch: d.BatchesPerEpoch()})
		if err != nil {
			return err
		}
		args = append(append([]any(nil), args...), extra...)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("initialising the model: %v", r)
		}
	}()
	g := graph.NewGraph(backend, "initial_model")
	defer g.Finalize()
	params := make([]*graph.Node, len(args))
	for i, a := range args {
		t, ok := a.(*tensors.Tensor)
		if !ok {
			return fmt.Errorf("initialising the model: step input %d is a %T, not a tensor", i, a)
		}
		params[i] = graph.Parameter(g, fmt.Sprintf("input_%d", i), t.Shape())
	}
	layers.InMode(mctx, g, true, true, func() { step.Build(mctx, params) })
	return mctx.InitializeVariables(backend, nil)
}

// saveInitialModel finishes a run of 0 epochs: the initialised model as the step-0
// checkpoint (train state: nothing trained), then status done. It is the random-encoder
// baseline of a method's architecture.
func saveInitialModel(run *rundir.Dir, mctx *context.Context, cfg *Config, state State, prov rundir.Provenance) error {
	saved, err := state.Save()
	if err != nil {
		return err
	}
	path, err := rundir.SaveCheckpoint(mctx, run.File(rundir.CheckpointsDir), 0, TrainState{Method: saved}, cfg.KeepCheckpoints)
	if err != nil {
		return err
	}
	prov.End = time.Now().UTC()
	if err := run.WriteJSON(rundir.ProvenanceFile, prov); err != nil {
		return err
	}
	return run.SetStatus(rundir.Status{State: rundir.StateDone, Checkpoint: path})
}
