package train

import (
	"fmt"
	"strings"

	"github.com/ainfonce/goacl/acl/rundir"
)

// Checkpoints says how a Loop checkpoints: where, how often besides each epoch end, how
// many to keep, and the host state saved with each one.
type Checkpoints struct {
	// Dir is the checkpoint folder (a run directory's checkpoints/).
	Dir string
	// Every saves a checkpoint every Every steps too (0: at epoch ends only).
	Every int64
	// Keep is how many checkpoints are kept (0: all).
	Keep int
	// State returns the host state saved with the checkpoint of state st (nil: st itself).
	// To resume, it must hold st (pretraining's TrainState embeds it).
	State func(st State) (any, error)
	// Last is the newest checkpoint already there ("" when none): a resumed run's, named by
	// failure messages until the loop writes a newer one.
	Last string
}

// saveCheckpoint writes a checkpoint of st when checkpoints are kept, unless a variable
// holds NaN or ±Inf (an update that overflowed): then it returns an ErrNonFinite error
// naming the variables, and the previous checkpoint stays the newest.
func (l *Loop) saveCheckpoint(st State, sum *Summary) error {
	c := l.Checkpoints
	if c == nil {
		return nil
	}
	if bad := NonFiniteVariables(l.Model); len(bad) > 0 {
		return fmt.Errorf("%w: after step %d (epoch %d, batch %d) %d variables hold NaN or ±Inf: %s; checkpoint not written; %s",
			ErrNonFinite, st.Step, st.Epoch+1, st.Batch, len(bad), strings.Join(bad, ", "), l.keptMessage(sum))
	}
	if l.RunDir != nil {
		if err := l.RunDir.Check(); err != nil {
			return err
		}
	}
	var state any = st
	if c.State != nil {
		var err error
		if state, err = c.State(st); err != nil {
			return err
		}
	}
	path, err := rundir.SaveCheckpoint(l.Model, c.Dir, st.Step, state, c.Keep)
	if err != nil {
		return err
	}
	sum.Checkpoint = path
	return nil
}
