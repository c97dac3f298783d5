package acl

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ainfonce/goacl/acl/pretrain"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/attack"

	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// ClassifierScope is the variable scope of the classifier's linear head.
const ClassifierScope = "classifier"

// Classifier is the finetuned model of the evaluation protocol (spec §5.1): a pretrained
// encoder, run with one BN branch, followed by Linear(D, classes) on its features. Its
// variables live in Ctx: the encoder's under the encoder's scope (only the chosen branch's
// BN parameters), the head's under /classifier/.
type Classifier struct {
	// Encoder is the pretrained encoder as RunEncoder builds it (for ACL and DynACL runs
	// with the ImageNet input normalisation inside).
	Encoder layers.Encoder
	// Branch is the encoder BN branch every pass uses: "" for single-BN encoders (RoCL),
	// "pgd" for the dual/triple-BN methods (AdvCL's load_BN_checkpoint keeps BN index 1,
	// 'pgd'; ACL and DynACL finetune their adversarial branch too).
	Branch     string
	NumClasses int
	Ctx        *context.Context
	Backend    backends.Backend
}

// Logits builds the classifier's forward pass on images x [N,H,W,C] in [0,1] and returns
// the logits [N, NumClasses]. Any input normalisation is the encoder's own (EncoderFor),
// so attacks perturb and clip the [0,1] pixels. Train or eval mode (BN) comes from ctx and
// the graph, as everywhere (see inMode).
func (c *Classifier) Logits(ctx *context.Context, x *graph.Node) *graph.Node {
	h := c.Encoder.Features(ctx, x, c.Branch)
	return layers.NewLinear(ctx.InAbsPath("/"+ClassifierScope), h, c.NumClasses).Done()
}

// SetEncoderTrainable marks the encoder's variables trainable or frozen (SLF and ALF
// freeze the encoder; AFF trains everything). BN running statistics stay non-trainable.
func (c *Classifier) SetEncoderTrainable(trainable bool) {
	scope := layers.EncoderScope(c.Encoder)
	for v := range c.Ctx.IterVariables() {
		if !strings.HasPrefix(v.ScopeAndName(), scope) {
			continue
		}
		if strings.HasPrefix(v.Name(), "running_") {
			v.SetTrainable(false)
			continue
		}
		v.SetTrainable(trainable)
	}
}

// modelKeys returns the keys of every variable build creates in a fresh context when built
// (not run) on a 2-image 32×32×3 batch in eval mode. A graph-building panic is returned as
// an error.
func modelKeys(backend backends.Backend, build func(ctx *context.Context, x *graph.Node)) (keys []string, err error) {
	keys, _, err = modelVariables(backend, build)
	return keys, err
}

// modelVariables is modelKeys with each variable's shape (dimensions) by key.
func modelVariables(backend backends.Backend, build func(ctx *context.Context, x *graph.Node)) (keys []string, dims map[string][]int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("building the model: %v", r)
		}
	}()
	scratch := context.New().Checked(false)
	g := graph.NewGraph(backend, "model_variables")
	defer g.Finalize()
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 32, 32, 3))
	scratch.SetTraining(g, false)
	build(scratch, x)
	dims = map[string][]int{}
	for v := range scratch.IterVariables() {
		keys = append(keys, v.ScopeAndName())
		dims[v.ScopeAndName()] = v.Shape().Dimensions
	}
	sort.Strings(keys)
	return keys, dims, nil
}

// bnVariableNames are the variable names a BatchNorm creates; only these may exist in
// several branches.
var bnVariableNames = []string{"gamma", "beta", "running_mean", "running_var"}

// EncoderLoad reports what a strict encoder load took from a pretraining checkpoint.
type EncoderLoad struct {
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
			hint = fmt.Sprintf(" (a single-BN run, e.g. RoCL, has no %q branch: use -branch \"\")", branch)
		} else if len(missing) > 0 {
			hint = " (a multi-BN run, e.g. AdvCL or ACL, needs -branch pgd)"
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
// pretraining run: the method's own choice when it implements
// interface{ FinetuneBranch() string }, otherwise "pgd" when the checkpoint's encoder has
// a 'pgd' branch (AdvCL, ACL, DynACL: spec §5.1 keeps BN index 1 = 'pgd') and "" (single
// BN, RoCL) when it has none.
func ProtocolBranch(cfg *pretrain.Config, ckpt *rundir.Checkpoint, enc layers.Encoder) string {
	if m, err := pretrain.MethodByName(cfg.Method); err == nil {
		if b, ok := m.(interface{ FinetuneBranch() string }); ok {
			return b.FinetuneBranch()
		}
	}
	if hasBranch(ckpt, enc, layers.BranchPGD) {
		return layers.BranchPGD
	}
	return ""
}

// PretrainedClassifier builds a classifier on the encoder of a pretraining run (its newest
// checkpoint), loaded strictly with the BN branch branch (auto: ProtocolBranch), and a
// fresh linear head initialised like nn.Linear from seed. The encoder is built by
// RunEncoder from the run's config.json, so an ACL or DynACL encoder keeps the ImageNet
// input normalisation it was trained with. The context's RNG is seeded with seed.
func PretrainedClassifier(backend backends.Backend, runDir string, branch *string, numClasses int, seed uint64) (*Classifier, *pretrain.Config, *EncoderLoad, error) {
	enc, cfg, err := RunEncoder(runDir)
	if err != nil {
		return nil, nil, nil, err
	}
	ckpt, skipped, err := rundir.LatestCheckpoint(filepath.Join(runDir, rundir.CheckpointsDir))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("run %s has no usable checkpoint (%v): %w", runDir, skipped, err)
	}
	b := ProtocolBranch(cfg, ckpt, enc)
	if branch != nil {
		b = *branch
	}
	ctx := context.New().Checked(false)
	if err := ctx.SetRNGStateFromSeed(int64(seed)); err != nil {
		return nil, nil, nil, err
	}
	load, err := restoreEncoderStrict(backend, ctx, ckpt, enc, b)
	if err != nil {
		return nil, nil, nil, err
	}
	return &Classifier{Encoder: enc, Branch: b, NumClasses: numClasses, Ctx: ctx, Backend: backend}, cfg, load, nil
}

// classifierKeys lists the variables of c's forward pass (encoder with c.Branch and head).
func (c *Classifier) classifierKeys() ([]string, error) {
	return modelKeys(c.Backend, func(ctx *context.Context, x *graph.Node) { c.Logits(ctx, x) })
}

// RestoreClassifier restores a finetuned classifier's encoder and head from ckpt into a
// fresh context, strictly: every variable of the forward pass must be stored, and no
// other encoder or head variable may be (optimizer state and RNG are ignored). enc must
// be the pretraining run's encoder as RunEncoder builds it: the checkpoint does not
// record the input normalisation.
func RestoreClassifier(backend backends.Backend, ckpt *rundir.Checkpoint, enc layers.Encoder, branch string, numClasses int) (*Classifier, error) {
	c := &Classifier{Encoder: enc, Branch: branch, NumClasses: numClasses, Ctx: context.New().Checked(false), Backend: backend}
	keys, err := c.classifierKeys()
	if err != nil {
		return nil, err
	}
	only := []string{layers.EncoderScope(enc), "/" + ClassifierScope + "/"}
	if err := ckpt.Restore(c.Ctx, rundir.RestoreOptions{Only: only, Expected: keys}); err != nil {
		return nil, err
	}
	return c, nil
}

// NewOracle returns the attack.Oracle of c for the host-driven attacks (AutoAttack,
// APGD): a GraphOracle over c.Logits on 32×32×3 images, every graph in eval mode (BN with
// running statistics, nothing updated), one executable per loss kind, batches padded to
// powers of two.
func NewOracle(c *Classifier) (*attack.GraphOracle, error) {
	return attack.NewGraphOracle(c.Backend, c.Ctx, c.Logits, c.NumClasses, 32, 32, 3)
}
