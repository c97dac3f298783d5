package finetune

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ainfonce/goacl/acl/field"
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
	// reads the pretraining checkpoint the run finished with (PretrainedCheckpoint).
	Finetuned Mode
	// Checkpoint, when set, names the pretraining checkpoint to read instead (a path
	// relative to the run directory, or absolute): the user's explicit choice.
	Checkpoint string
	// Branch is the encoder BN branch a pretraining checkpoint is read with: BranchAuto
	// for the method's (ProtocolBranch), "" for a single BN, or a branch name. Ignored
	// with Finetuned (the finetuning's own branch) and with All.
	Branch string
	// NaturalBranch, when set, is a second BN branch whose variables are restored too
	// (DynACL's dual-BN AFF, Config.NaturalBranch).
	NaturalBranch string
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
	// NaturalBranch is a second branch restored for DynACL's dual-BN AFF ("" for none).
	NaturalBranch string
	// Checkpoint is the checkpoint restored, Ctx the context holding its variables and
	// Backend the backend they live on.
	Checkpoint *rundir.Checkpoint
	Ctx        *context.Context
	Backend    backends.Backend
	// EncoderLoad reports the strict encoder load of a pretraining checkpoint (nil with
	// All and Finetuned).
	EncoderLoad *EncoderLoad
	// Finetuning is the result of the finetuning the model comes from (Finetuned),
	// FinetuningSHA256 the sha256 of its result.json as read, and Classifier its
	// classifier (encoder and head).
	Finetuning       *Result
	FinetuningSHA256 string
	Classifier       *Classifier

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
// chooses which checkpoint: the one the pretraining finished with (PretrainedCheckpoint:
// a damaged one is an error naming it, never replaced by an older one), the one
// opts.Checkpoint names, or with opts.Finetuned the one that finetuning selected. The encoder is
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
	if opts.Checkpoint != "" {
		m.Checkpoint, err = NamedCheckpoint(runDir, opts.Checkpoint)
	} else {
		m.Checkpoint, err = PretrainedCheckpoint(runDir)
	}
	if err != nil {
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
	m.NaturalBranch = opts.NaturalBranch
	if m.EncoderLoad, err = restoreEncoderStrict(backend, m.Ctx, m.Checkpoint, enc, m.Branch, m.NaturalBranch); err != nil {
		return nil, err
	}
	m.EncoderLoad.Chosen = "the checkpoint the run finished with"
	if opts.Checkpoint != "" {
		m.EncoderLoad.Chosen = "named by the user"
	}
	return m, nil
}

// PretrainedCheckpoint is the checkpoint Load reads a pretraining run's model from: the
// one the run finished with (or stopped at), as its status.json names it, or, where
// status.json names none (a run killed outright, or written by other tools), its newest
// checkpoint file. That file must verify: a damaged one is an error naming it, never
// silently replaced by an older one (finetune, eval, the table and the notebooks all ask
// here; name another checkpoint explicitly with LoadOptions.Checkpoint / NamedCheckpoint
// to use it). Code that only needs to know which checkpoint a run's model is (e.g. to key
// cached results) asks here too, so that the choice is made in one place.
func PretrainedCheckpoint(runDir string) (*rundir.Checkpoint, error) {
	dir := filepath.Join(runDir, rundir.CheckpointsDir)
	var st rundir.Status
	path := ""
	if data, err := os.ReadFile(filepath.Join(runDir, rundir.StatusFile)); err == nil && json.Unmarshal(data, &st) == nil && st.Checkpoint != "" {
		path = filepath.Join(dir, filepath.Base(st.Checkpoint))
	} else {
		files, err := rundir.CheckpointFiles(dir)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("run %s has no checkpoint in %s: %w", runDir, dir, rundir.ErrNoCheckpoint)
		}
		path = files[len(files)-1]
	}
	ckpt, err := rundir.ReadCheckpoint(path)
	if err != nil {
		return nil, field.Errorf("pretrained_checkpoint", "run %s: the checkpoint it finished with is unusable (%v); older checkpoints are not used in its place: name one explicitly with {pretrained_checkpoint} if you mean to use it", runDir, err)
	}
	return ckpt, nil
}

// NamedCheckpoint reads the checkpoint name of a pretraining run: a path relative to the
// run directory (e.g. checkpoints/ckpt-000000008.ckpt), or absolute, or relative to the
// current folder.
func NamedCheckpoint(runDir, name string) (*rundir.Checkpoint, error) {
	path := name
	if !filepath.IsAbs(name) {
		if _, err := os.Stat(filepath.Join(runDir, name)); err == nil {
			path = filepath.Join(runDir, name)
		}
	}
	return rundir.ReadCheckpoint(path)
}

// loadFinetuned restores the classifier the mode finetuning selected (Finetune's
// result.json) into m; the selected checkpoint must be the one the result recorded (its
// sha256).
func (m *Model) loadFinetuned(mode Mode) error {
	run, err := rundir.Open(m.RunDir)
	if err != nil {
		return err
	}
	resPath := run.File(Dir(mode), ResultFile)
	data, err := os.ReadFile(resPath)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%w: run %s has no %s finetuning (%s): finetune it first", ErrNotFinetuned, m.RunDir, mode, resPath)
		}
		return err
	}
	var res Result
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("%s: %w", resPath, err)
	}
	sum := sha256.Sum256(data)
	m.FinetuningSHA256 = hex.EncodeToString(sum[:])
	if m.Checkpoint, err = rundir.ReadCheckpoint(run.File(res.Checkpoint)); err != nil {
		return err
	}
	if res.CheckpointSHA256 != "" && res.CheckpointSHA256 != m.Checkpoint.SHA256 {
		return fmt.Errorf("%s: the selected checkpoint %s has sha256 %s, not the %s the finetuning recorded: it was replaced since; finetune again",
			resPath, m.Checkpoint.Path, m.Checkpoint.SHA256, res.CheckpointSHA256)
	}
	clf, err := restoreClassifier(m.Backend, m.Checkpoint, m.Encoder, res.Config.Branch, res.Config.NaturalBranch, res.NumClasses)
	if err != nil {
		return err
	}
	m.Branch, m.Ctx, m.Finetuning, m.Classifier = clf.Branch, clf.Ctx, &res, clf
	return nil
}

// ResultSHA256 is the sha256 of the result.json of mode's finetuning of a run: what an
// evaluation record names the finetuning it evaluated by.
func ResultSHA256(runDir string, mode Mode) (string, error) {
	data, err := os.ReadFile(filepath.Join(runDir, Dir(mode), ResultFile))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// NewClassifier puts a fresh linear head of numClasses outputs, initialised like
// nn.Linear from the context's RNG, on the model's encoder and BN branch (and natural
// branch); it shares the model's context.
func (m *Model) NewClassifier(numClasses int) *Classifier {
	return &Classifier{Encoder: m.Encoder, Branch: m.Branch, NaturalBranch: m.NaturalBranch, NumClasses: numClasses, Ctx: m.Ctx, Backend: m.Backend}
}

// bnVariableNames are the variable names a BatchNorm creates; only these may exist in
// several branches.
var bnVariableNames = []string{"gamma", "beta", "running_mean", "running_var"}

// EncoderLoad reports what a strict encoder load took from a pretraining checkpoint.
type EncoderLoad struct {
	// Checkpoint is the file loaded, Step its training step, SHA256 the file's checksum
	// (the exact weights), Chosen why this checkpoint (the run's final one, or named by
	// the user) and Branch the BN branch read (NaturalBranch a second one, if any).
	Checkpoint    string `json:"checkpoint"`
	Step          int64  `json:"step"`
	SHA256        string `json:"sha256"`
	Chosen        string `json:"chosen,omitempty"`
	Branch        string `json:"branch"`
	NaturalBranch string `json:"natural_branch,omitempty"`
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
// pass with branch (and with natural, when set) needs, from ckpt. It fails, listing them, when any needed variable is
// missing from the checkpoint or when the checkpoint's encoder scope holds a variable that
// is neither needed nor another branch's copy of a needed BN variable (spec §8.1: the
// official AdvCL finetune silently loads nothing on one GPU; we never do).
func restoreEncoderStrict(backend backends.Backend, ctx *context.Context, ckpt *rundir.Checkpoint, enc layers.Encoder, branch, natural string) (*EncoderLoad, error) {
	expected, dims, err := modelVariables(backend, func(ctx *context.Context, x *graph.Node) {
		enc.Features(ctx, x, branch)
		if natural != "" {
			enc.Features(ctx, x, natural)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("encoder %s, branch %q: %w", enc, branch, err)
	}
	want := map[string]bool{}
	for _, k := range expected {
		want[k] = true
	}
	scope := layers.EncoderScope(enc)
	report := &EncoderLoad{Checkpoint: ckpt.Path, Step: ckpt.Step, SHA256: ckpt.SHA256, Branch: branch, NaturalBranch: natural, Loaded: len(expected)}
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
