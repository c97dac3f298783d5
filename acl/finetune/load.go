package finetune

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// LoadOptions say which of a run's checkpoints Load restores, and how.
type LoadOptions struct {
	// Finetuned, when set, loads the checkpoint the finetuning of this mode selected (its
	// result.json names it): the encoder and the classifier head, strictly. Otherwise Load
	// reads the pretraining's newest valid checkpoint.
	Finetuned Mode
	// Branch is the encoder BN branch a pretraining checkpoint is read with: BranchAuto
	// for the method's (ProtocolBranch), "" for a single BN, or a branch name. Ignored
	// with Finetuned (the finetuning's own branch) and with All.
	Branch string
	// All restores every variable of the pretraining checkpoint as stored (projection
	// heads, optimizer state, RNG), not only the encoder's (loaded strictly): the whole
	// pretrained model, for analyses.
	All bool
	// Seed seeds the model context's RNG (a fresh head's initialisation, attacks).
	Seed uint64
	// DataDir, when set, is the folder Model.Data reads the run's data set from instead of
	// the run's data_dir (pretrain.Config.ResolveData: recorded as an override).
	DataDir string
}

// Model is a run's model as Load restores it: the run's configuration, the encoder built
// from it (pretrain.EncoderFor: the input normalisation is in config.json, not in the
// checkpoint), the checkpoint chosen and the variables restored into Ctx.
type Model struct {
	// RunDir is the pretraining run directory and Config its config.json; Encoder is built
	// from it and reads BN branch Branch ("" for a single BN).
	RunDir  string
	Config  *pretrain.Config
	Encoder layers.Encoder
	Branch  string
	// Checkpoint is the checkpoint restored, Ctx the context holding its variables and
	// Backend the backend they live on.
	Checkpoint *rundir.Checkpoint
	Ctx        *context.Context
	Backend    backends.Backend
	// EncoderLoad reports the strict encoder load of a pretraining checkpoint (nil with
	// All and Finetuned).
	EncoderLoad *EncoderLoad
	// Finetuning is the result of the finetuning the model comes from (Finetuned), and
	// Classifier its classifier (encoder and head).
	Finetuning *Result
	Classifier *Classifier

	dataOverride string
	data         *pretrain.DataSource
}

// Data returns the folder the run's data set is read from (resolved once): the run's
// data_dir, verified against the fingerprint the run recorded, or LoadOptions.DataDir
// (pretrain.Config.ResolveData). Everything that reads a loaded run's images asks here,
// and records the answer with its results. Load itself reads no data, so a model whose
// data is elsewhere still loads (exports, analyses of the weights).
func (m *Model) Data() (*pretrain.DataSource, error) {
	if m.data == nil {
		ds, err := m.Config.ResolveData(m.dataOverride)
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", m.RunDir, err)
		}
		m.data = ds
	}
	return m.data, nil
}

// ErrNotFinetuned is wrapped by Load's error when the run has no result of the
// finetuning asked for (finetune it first).
var ErrNotFinetuned = errors.New("no finetuning result")

// Load loads the model of the pretraining run directory runDir (backend nil:
// engine.New()). It is the one function that loads a run's model, and the one place that
// chooses which checkpoint: the pretraining's newest valid one (damaged newer files are
// skipped), or with opts.Finetuned the one that finetuning selected. The encoder is
// rebuilt from the run's config.json and loaded strictly: every variable its forward pass
// needs must be stored, and the checkpoint's encoder may hold nothing else but other BN
// branches' copies; otherwise the error lists the missing and unexpected variables (a
// random encoder is never evaluated silently).
func Load(backend backends.Backend, runDir string, opts LoadOptions) (*Model, error) {
	if backend == nil {
		var err error
		if backend, err = engine.New(); err != nil {
			return nil, err
		}
	}
	cfg, err := pretrain.ReadConfig(runDir)
	if err != nil {
		return nil, err
	}
	enc, err := pretrain.EncoderFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(runDir, rundir.ConfigFile), err)
	}
	m := &Model{RunDir: runDir, Config: cfg, Encoder: enc, Backend: backend, dataOverride: opts.DataDir}
	if opts.Finetuned != "" {
		return m, m.loadFinetuned(opts.Finetuned)
	}
	if m.Checkpoint, err = PretrainedCheckpoint(runDir); err != nil {
		return nil, err
	}
	m.Ctx = context.New().Checked(false)
	if err := m.Ctx.SetRNGStateFromSeed(int64(opts.Seed)); err != nil {
		return nil, err
	}
	if opts.All {
		return m, m.Checkpoint.Restore(m.Ctx, rundir.RestoreOptions{})
	}
	m.Branch = opts.Branch
	if m.Branch == BranchAuto {
		m.Branch = ProtocolBranch(cfg, m.Checkpoint, enc)
	}
	if m.EncoderLoad, err = restoreEncoderStrict(backend, m.Ctx, m.Checkpoint, enc, m.Branch); err != nil {
		return nil, err
	}
	return m, nil
}

// PretrainedCheckpoint is the checkpoint Load reads a pretraining run's model from: the
// newest one of runDir that verifies (damaged newer files are skipped). Code that only
// needs to know which checkpoint a run's model is (e.g. to key cached results) asks here,
// so that the choice is made in one place.
func PretrainedCheckpoint(runDir string) (*rundir.Checkpoint, error) {
	ckpt, skipped, err := rundir.LatestCheckpoint(filepath.Join(runDir, rundir.CheckpointsDir))
	switch {
	case err != nil && len(skipped) == 0:
		return nil, fmt.Errorf("run %s has no checkpoint file in %s (not trained yet?): %w", runDir, filepath.Join(runDir, rundir.CheckpointsDir), err)
	case err != nil:
		return nil, fmt.Errorf("run %s has no usable checkpoint (%s): %w", runDir, strings.Join(skipped, "; "), err)
	}
	return ckpt, nil
}

// loadFinetuned restores the classifier the mode finetuning selected (Finetune's
// result.json) into m.
func (m *Model) loadFinetuned(mode Mode) error {
	run, err := rundir.Open(m.RunDir)
	if err != nil {
		return err
	}
	var res Result
	if err := run.ReadJSON(filepath.Join(Dir(mode), ResultFile), &res); err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%w: run %s has no %s finetuning (%s): finetune it first", ErrNotFinetuned, m.RunDir, mode, run.File(Dir(mode), ResultFile))
		}
		return err
	}
	if m.Checkpoint, err = rundir.ReadCheckpoint(run.File(res.Checkpoint)); err != nil {
		return err
	}
	clf, err := restoreClassifier(m.Backend, m.Checkpoint, m.Encoder, res.Config.Branch, res.NumClasses)
	if err != nil {
		return err
	}
	m.Branch, m.Ctx, m.Finetuning, m.Classifier = clf.Branch, clf.Ctx, &res, clf
	return nil
}

// NewClassifier puts a fresh linear head of numClasses outputs, initialised like
// nn.Linear from the context's RNG, on the model's encoder and BN branch; it shares the
// model's context.
func (m *Model) NewClassifier(numClasses int) *Classifier {
	return &Classifier{Encoder: m.Encoder, Branch: m.Branch, NumClasses: numClasses, Ctx: m.Ctx, Backend: m.Backend}
}

// bnVariableNames are the variable names a BatchNorm creates; only these may exist in
// several branches.
var bnVariableNames = []string{"gamma", "beta", "running_mean", "running_var"}

// EncoderLoad reports what a strict encoder load took from a pretraining checkpoint.
type EncoderLoad struct {
	// Checkpoint is the file loaded, Step its training step, Branch the BN branch read.
	Checkpoint string `json:"checkpoint"`
	Step       int64  `json:"step"`
	Branch     string `json:"branch"`
	// Loaded is the number of encoder variables restored.
	Loaded int `json:"loaded"`
	// OtherBranches lists the stored BN variables of the branches the protocol drops
	// (e.g. AdvCL's 'normal' and 'pgd_ce').
	OtherBranches []string `json:"other_branches,omitempty"`
	// NotEncoder counts the stored variables outside the encoder (projection heads,
	// optimizer state), which finetuning does not use.
	NotEncoder int `json:"not_encoder"`
}

// restoreEncoderStrict restores into ctx exactly the encoder variables that enc's forward
// pass with branch needs, from ckpt. It fails, listing them, when any needed variable is
// missing from the checkpoint or when the checkpoint's encoder scope holds a variable that
// is neither needed nor another branch's copy of a needed BN variable (spec §8.1: the
// official AdvCL finetune silently loads nothing on one GPU; we never do).
func restoreEncoderStrict(backend backends.Backend, ctx *context.Context, ckpt *rundir.Checkpoint, enc layers.Encoder, branch string) (*EncoderLoad, error) {
	expected, dims, err := modelVariables(backend, func(ctx *context.Context, x *graph.Node) { enc.Features(ctx, x, branch) })
	if err != nil {
		return nil, fmt.Errorf("encoder %s, branch %q: %w", enc, branch, err)
	}
	want := map[string]bool{}
	for _, k := range expected {
		want[k] = true
	}
	scope := layers.EncoderScope(enc)
	report := &EncoderLoad{Checkpoint: ckpt.Path, Step: ckpt.Step, Branch: branch, Loaded: len(expected)}
	stored := map[string]bool{}
	var unexpected, misshapen []string
	for _, v := range ckpt.Variables {
		key := v.Key()
		if !strings.HasPrefix(key, scope) {
			report.NotEncoder++
			continue
		}
		stored[key] = true
		if want[key] {
			if !slices.Equal(v.Dims, dims[key]) {
				misshapen = append(misshapen, fmt.Sprintf("%s %v (model %v)", key, v.Dims, dims[key]))
			}
			continue
		}
		if otherBranchOf(key, branch, want) {
			report.OtherBranches = append(report.OtherBranches, key)
			continue
		}
		unexpected = append(unexpected, key)
	}
	var missing []string
	for _, k := range expected {
		if !stored[k] {
			missing = append(missing, k)
		}
	}
	if len(misshapen) > 0 {
		return nil, fmt.Errorf("checkpoint %s does not fit encoder %s (different architecture or width?): %d variables have other shapes: %v",
			ckpt.Path, enc, len(misshapen), misshapen)
	}
	if len(missing) > 0 || len(unexpected) > 0 {
		sort.Strings(unexpected)
		hint := ""
		if len(missing) > 0 && branch != "" {
			hint = fmt.Sprintf(" (a single-BN run, e.g. RoCL, has no %q branch: read it with branch \"\")", branch)
		} else if len(missing) > 0 {
			hint = " (a multi-BN run, e.g. AdvCL or ACL, is read with branch pgd)"
		}
		return nil, fmt.Errorf("checkpoint %s does not fit encoder %s with BN branch %q: %d missing variables %v; %d unexpected variables %v%s",
			ckpt.Path, enc, branch, len(missing), missing, len(unexpected), unexpected, hint)
	}
	if err := ckpt.Restore(ctx, rundir.RestoreOptions{Only: expected, Expected: expected}); err != nil {
		return nil, err
	}
	sort.Strings(report.OtherBranches)
	return report, nil
}

// otherBranchOf reports whether key is a BN variable of a branch other than branch whose
// counterpart in branch is one of want: its branch path segment replaced by branch
// (removed when branch is "") gives a wanted key.
func otherBranchOf(key, branch string, want map[string]bool) bool {
	parts := strings.Split(key, context.ScopeSeparator)
	if !slices.Contains(bnVariableNames, parts[len(parts)-1]) {
		return false
	}
	for i := 1; i < len(parts)-1; i++ {
		var alt []string
		alt = append(alt, parts[:i]...)
		if branch != "" {
			alt = append(alt, branch)
		}
		alt = append(alt, parts[i+1:]...)
		if want[strings.Join(alt, context.ScopeSeparator)] {
			return true
		}
	}
	return false
}

// hasBranch reports whether ckpt's encoder variables include BN branch name.
func hasBranch(ckpt *rundir.Checkpoint, enc layers.Encoder, name string) bool {
	scope := layers.EncoderScope(enc)
	for _, v := range ckpt.Variables {
		if strings.HasPrefix(v.Key(), scope) && strings.Contains(v.Key(), "/"+name+"/") {
			return true
		}
	}
	return false
}

// ProtocolBranch returns the encoder BN branch the evaluation protocol reads from a
// pretraining run: its method's (pretrain.Evaluation.Branch: "pgd" for AdvCL, ACL and
// DynACL, spec §5.1; "" for RoCL's single BN), or, for a method this build does not know,
// "pgd" when the checkpoint's encoder has a 'pgd' branch and "" when it has none.
func ProtocolBranch(cfg *pretrain.Config, ckpt *rundir.Checkpoint, enc layers.Encoder) string {
	if m, err := pretrain.MethodByName(cfg.Method); err == nil {
		return m.Evaluation(cfg).Branch
	}
	if hasBranch(ckpt, enc, layers.BranchPGD) {
		return layers.BranchPGD
	}
	return ""
}
