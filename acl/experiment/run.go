package experiment

import (
	gocontext "context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/eval"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/backends"
)

// Files of a runs folder besides the run directories.
const (
	// PlanFile is the plan the folder's runs belong to.
	PlanFile = "plan.json"
	// LedgerFile holds one line per piece leg run (wall and CPU time, load, outcome).
	LedgerFile = "pieces.jsonl"
	// InvocationsFile holds one line per Run that ran a piece: the command line, the
	// machine, the time.
	InvocationsFile = "invocations.jsonl"
)

// Options are how Run runs a plan, beyond what it computes.
type Options struct {
	// Backend runs the graphs (nil: engine.New()).
	Backend backends.Backend
	// DataDir is the data set's folder (required); PseudoLabelDir AdvCL's pseudo labels
	// ("": advcl-pseudo-labels next to DataDir, as pretrain.Preset finds them).
	DataDir, PseudoLabelDir string
	// Progress receives the pieces' progress (nil: none).
	Progress io.Writer
	// Command is the command line the report quotes (nil: os.Args).
	Command []string
}

// Piece kinds: the units of work Run skips once finished.
const (
	PiecePretrain   = "pretrain"
	PieceFinetune   = "finetune"
	PieceAutoAttack = "autoattack"
)

// Leg is one run of a piece, as the ledger records it: a piece resumed after an
// interruption has several legs (a leg killed outright is not recorded).
type Leg struct {
	// Row, Seed and Piece identify the piece (Mode for finetunings and attacks).
	Row   string        `json:"row"`
	Seed  uint64        `json:"seed"`
	Piece string        `json:"piece"`
	Mode  finetune.Mode `json:"mode,omitempty"`
	// Start is when the leg began; Wall and CPU its wall-clock and process CPU seconds
	// (CPU 0 where the system does not report it); Load1Start and Load1End the 1-minute
	// load average around it (-1 where unknown).
	Start      time.Time `json:"start"`
	Wall       float64   `json:"wall_seconds"`
	CPU        float64   `json:"cpu_seconds"`
	Load1Start float64   `json:"load1_start"`
	Load1End   float64   `json:"load1_end"`
	// Outcome is "done", "interrupted" or the error.
	Outcome string `json:"outcome"`
}

// Invocation is one Run of a runs folder: its command line and machine.
type Invocation struct {
	// Time is when it started, Command its command line, Machine where it ran.
	Time    time.Time `json:"time"`
	Command []string  `json:"command"`
	Machine Machine   `json:"machine"`
}

// ErrOtherPlan is wrapped by Run's error when the runs folder holds another plan's runs.
var ErrOtherPlan = errors.New("the runs folder holds another plan")

// Run runs every piece of plan that is not finished into the runs folder runs: for each
// seed, each row's pretraining (resumed from its newest checkpoint when interrupted; a run
// that stopped on a non-finite loss is recorded as failed and skipped, with its
// finetunings), its finetunings (Plan.FinetuneConfig; redone when the stored one has
// another configuration) and, for the first Eval.AutoAttackSeeds seeds, AutoAttack of the
// SLF classifier. Finished pieces are skipped, so rerunning the same command continues
// where the last one stopped; seeds go outermost, so that an early stop leaves whole
// seeds. Each leg's wall and CPU time and the load go to the ledger. Cancelling ctx stops
// at the next step of the current piece (resumable).
func Run(ctx gocontext.Context, plan Plan, runs string, opts Options) error {
	if err := plan.Validate(); err != nil {
		return err
	}
	if opts.DataDir == "" {
		return fmt.Errorf("experiment %s: no data folder", plan.Name)
	}
	if err := claimFolder(plan, runs); err != nil {
		return err
	}
	if opts.Backend == nil {
		var err error
		if opts.Backend, err = engine.New(); err != nil {
			return err
		}
	}
	cmd := opts.Command
	if cmd == nil {
		cmd = os.Args
	}
	// The invocation is recorded with the first piece it runs: a Run that finds everything
	// finished (a notebook reading the experiment) leaves the runs folder as it was.
	r := &runner{plan: &plan, runs: runs, opts: opts,
		invocation: &Invocation{Time: time.Now().UTC(), Command: cmd, Machine: DescribeMachine(engine.Describe(opts.Backend))}}
	total := len(plan.Seeds) * len(plan.Rows)
	i := 0
	for si, seed := range plan.Seeds {
		for _, row := range plan.Rows {
			i++
			r.say("== [%d/%d] %s, seed %d\n", i, total, row.Name, seed)
			if err := r.row(ctx, row, seed, si < plan.Eval.AutoAttackSeeds); err != nil {
				return fmt.Errorf("experiment %s, %s seed %d: %w", plan.Name, row.Name, seed, err)
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("experiment %s stopped during %s seed %d (%w): rerun the same command to continue", plan.Name, row.Name, seed, err)
			}
		}
	}
	return nil
}

// claimFolder creates the runs folder with the plan, or checks that the plan it holds is
// this one.
func claimFolder(plan Plan, runs string) error {
	if err := os.MkdirAll(runs, 0o755); err != nil {
		return fmt.Errorf("runs folder: %w", err)
	}
	want, err := json.MarshalIndent(plan, "", "  ")
	if err != nil {
		return err
	}
	file := filepath.Join(runs, PlanFile)
	have, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.WriteFile(file, append(want, '\n'), 0o644)
	case err != nil:
		return err
	}
	var stored Plan
	if err := json.Unmarshal(have, &stored); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	norm, _ := json.MarshalIndent(stored, "", "  ")
	if string(norm) != string(want) {
		return fmt.Errorf("%w: %s holds plan %q with other settings than plan %q asks for; choose another runs folder (or remove this one)", ErrOtherPlan, file, stored.Name, plan.Name)
	}
	return nil
}

// runner runs the pieces of one Run.
type runner struct {
	plan *Plan
	runs string
	opts Options
	// invocation is this Run's command line, written to InvocationsFile before its first
	// leg (nil once written).
	invocation *Invocation
}

func (r *runner) say(format string, args ...any) {
	if r.opts.Progress != nil {
		fmt.Fprintf(r.opts.Progress, format, args...)
	}
}

// row runs the pieces of one row and seed.
func (r *runner) row(ctx gocontext.Context, row Row, seed uint64, autoattack bool) error {
	dir := RunDir(r.runs, row, seed)
	cfg, err := r.plan.PretrainConfig(row, seed, r.opts.DataDir, r.opts.PseudoLabelDir)
	if err != nil {
		return err
	}
	state, err := pretrainState(dir)
	if err != nil {
		return err
	}
	switch state {
	case rundir.StateFailed:
		r.say("%s seed %d: pretraining failed earlier (see %s); skipped with its evaluation\n", row.Name, seed, filepath.Join(dir, rundir.StatusFile))
		return nil
	case rundir.StateDone:
		r.say("%s seed %d: pretraining done\n", row.Name, seed)
	default:
		err := r.leg(Leg{Row: row.Name, Seed: seed, Piece: PiecePretrain}, func() error {
			// Resume a run the folder holds (interrupted, with or without a checkpoint yet);
			// start one in a missing or empty folder.
			occ, _, err := rundir.Examine(dir)
			if err != nil {
				return err
			}
			res, err := pretrain.Pretrain(ctx, cfg, dir, pretrain.Options{Backend: r.opts.Backend, Resume: occ == rundir.FolderRun, Progress: r.opts.Progress})
			if err == nil && res.Stopped {
				// Only a cancelled context stops a plan's pretraining (it sets no max_steps).
				return fmt.Errorf("pretraining stopped at step %d: %w", res.Steps, ctx.Err())
			}
			return err
		})
		if errors.Is(err, pretrain.ErrNonFinite) {
			r.say("%s seed %d: pretraining failed: %v; the report shows it as failed\n", row.Name, seed, err)
			return nil
		}
		if err != nil {
			return err
		}
	}
	for _, mode := range r.plan.Eval.Modes {
		if err := r.finetune(ctx, row, seed, dir, &cfg, mode); err != nil || ctx.Err() != nil {
			return err
		}
	}
	if autoattack && r.plan.Eval.AutoAttack != "" {
		return r.autoAttack(row, seed, dir)
	}
	return nil
}

// pretrainState is the state in a run directory's status.json ("" when it has none).
func pretrainState(dir string) (string, error) {
	run, err := rundir.Open(dir)
	if err != nil {
		return "", nil // not started
	}
	var st rundir.Status
	if err := run.ReadJSON(rundir.StatusFile, &st); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	return st.State, nil
}

// finetune runs the mode finetuning of a run unless a finished one with the same
// configuration is there.
func (r *runner) finetune(ctx gocontext.Context, row Row, seed uint64, dir string, pre *pretrain.Config, mode finetune.Mode) error {
	cfg, err := r.plan.FinetuneConfig(pre, mode)
	if err != nil {
		return err
	}
	stored, err := readFinetune(dir, mode)
	if err != nil {
		return err
	}
	if stored != nil && finetune.SameConfig(stored.Config, cfg) {
		r.say("%s seed %d: %s done (SA %.2f%%, RA %.2f%%)\n", row.Name, seed, mode, 100*stored.Test.Clean, 100*stored.Test.Robust)
		return nil
	}
	if stored != nil {
		r.say("%s seed %d: the stored %s finetuning has other settings: redoing it\n", row.Name, seed, mode)
	}
	return r.leg(Leg{Row: row.Name, Seed: seed, Piece: PieceFinetune, Mode: mode}, func() error {
		_, err := finetune.Finetune(ctx, dir, cfg, finetune.Options{Backend: r.opts.Backend, Force: true, Progress: r.opts.Progress})
		return err
	})
}

// readFinetune reads a run's mode finetuning result (nil when there is none).
func readFinetune(dir string, mode finetune.Mode) (*finetune.Result, error) {
	var res finetune.Result
	err := readJSON(filepath.Join(dir, finetune.Dir(mode), finetune.ResultFile), &res)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// autoAttack runs the plan's AutoAttack on the SLF classifier of a run unless a record of
// it on the current finetuning, images and seed is there.
func (r *runner) autoAttack(row Row, seed uint64, dir string) error {
	e := r.plan.Eval
	ft, err := readFinetune(dir, finetune.SLF)
	if err != nil || ft == nil {
		return err
	}
	name, _ := attack.AutoAttackName(e.AutoAttack)
	rec, ok, err := eval.Read(dir, finetune.SLF, name)
	if err != nil {
		return err
	}
	if ok && rec.Checkpoint == ft.Checkpoint && rec.TestSubset == e.AutoAttackImages && rec.Seed == e.Seed {
		r.say("%s seed %d: AutoAttack done (RA %.2f%% on %d images)\n", row.Name, seed, 100*rec.Accuracy.Robust, rec.Accuracy.Images)
		return nil
	}
	return r.leg(Leg{Row: row.Name, Seed: seed, Piece: PieceAutoAttack, Mode: finetune.SLF}, func() error {
		rec, _, err := eval.AutoAttack(dir, finetune.SLF, e.AutoAttack, eval.Options{Backend: r.opts.Backend,
			TestSubset: e.AutoAttackImages, Seed: e.Seed}, r.opts.Progress)
		if err == nil {
			r.say("%s seed %d: AutoAttack (%s) RA %.2f%% on %d images\n", row.Name, seed, e.AutoAttack, 100*rec.Accuracy.Robust, rec.Accuracy.Images)
		}
		return err
	})
}

// leg runs fn as one leg of a piece and appends its times to the ledger.
func (r *runner) leg(l Leg, fn func() error) error {
	if r.invocation != nil {
		if err := appendJSONLine(filepath.Join(r.runs, InvocationsFile), r.invocation); err != nil {
			return err
		}
		r.invocation = nil
	}
	l.Start = time.Now().UTC()
	l.Load1Start = loadAverage()
	cpu0 := processCPUSeconds()
	err := fn()
	l.Wall = time.Since(l.Start).Seconds()
	l.CPU = processCPUSeconds() - cpu0
	l.Load1End = loadAverage()
	switch {
	case err == nil:
		l.Outcome = "done"
	case errors.Is(err, gocontext.Canceled):
		l.Outcome = "interrupted"
	default:
		l.Outcome = err.Error()
	}
	if werr := appendJSONLine(filepath.Join(r.runs, LedgerFile), l); werr != nil && err == nil {
		err = werr
	}
	return err
}

// appendJSONLine appends v as one JSON line to file.
func appendJSONLine(file string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readJSON reads a JSON file into v.
func readJSON(file string, v any) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}
