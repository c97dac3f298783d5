package finetune

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/attack"

	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// ClassifierScope is the variable scope of the classifier's linear head.
const ClassifierScope = "classifier"

// Classifier is the finetuned model of the evaluation protocol (spec §5.1): a pretrained
// encoder, run with one BN branch, followed by Linear(D, classes) on its features. Its
// variables live in Ctx: the encoder's under the encoder's scope (only the chosen branch's
// BN parameters), the head's under /classifier/.
type Classifier struct {
	// Encoder is the pretrained encoder as pretrain.EncoderFor builds it (for ACL and
	// DynACL runs with the ImageNet input normalisation inside).
	Encoder layers.Encoder
	// Branch is the encoder BN branch every pass uses: "" for single-BN encoders (RoCL),
	// "pgd" for the dual/triple-BN methods (AdvCL's load_BN_checkpoint keeps BN index 1,
	// 'pgd'; ACL and DynACL finetune their adversarial branch too).
	Branch string
	// NaturalBranch, when set, is a second BN branch the model holds for the clean pass of
	// DynACL's dual-BN AFF (Config.NaturalBranch); evaluation always uses Branch.
	NaturalBranch string
	NumClasses    int
	Ctx           *context.Context
	Backend       backends.Backend
}

// Logits builds the classifier's forward pass on images x [N,H,W,C] in [0,1] and returns
// the logits [N, NumClasses]. Any input normalisation is the encoder's own (EncoderFor),
// so attacks perturb and clip the [0,1] pixels. Train or eval mode (BN) comes from ctx and
// the graph, as everywhere (see layers.InMode).
func (c *Classifier) Logits(ctx *context.Context, x *graph.Node) *graph.Node {
	return c.LogitsWith(ctx, x, c.Branch)
}

// LogitsWith is Logits with the encoder's BN branch given (the same head): DynACL's
// dual-BN AFF passes clean images through NaturalBranch.
func (c *Classifier) LogitsWith(ctx *context.Context, x *graph.Node, branch string) *graph.Node {
	h := c.Encoder.Features(ctx, x, branch)
	return layers.NewLinear(ctx.InAbsPath("/"+ClassifierScope), h, c.NumClasses).Done()
}

// ZeroHead creates the head's variables with zero weights and biases (Config.HeadInit
// zero: ACL's and DynACL's "zero init fc") before the first graph is built, instead of
// nn.Linear's random initialisation.
func (c *Classifier) ZeroHead() {
	head := c.Ctx.InAbsPath("/" + ClassifierScope)
	dim := c.Encoder.FeatureDim()
	head.VariableWithValue("weights", tensors.FromFlatDataAndDimensions(make([]float32, dim*c.NumClasses), dim, c.NumClasses))
	head.VariableWithValue("biases", tensors.FromFlatDataAndDimensions(make([]float32, c.NumClasses), c.NumClasses))
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

// classifierKeys lists the variables of c's forward pass (encoder with c.Branch and head),
// and of the NaturalBranch pass when c has one.
func (c *Classifier) classifierKeys() ([]string, error) {
	return modelKeys(c.Backend, func(ctx *context.Context, x *graph.Node) {
		c.Logits(ctx, x)
		if c.NaturalBranch != "" {
			c.Encoder.Features(ctx, x, c.NaturalBranch)
		}
	})
}

// restoreClassifier restores a finetuned classifier's encoder (branch, and natural when
// set) and head from ckpt into a fresh context, strictly: every variable of the forward pass must be stored, and no
// other encoder or head variable may be (optimizer state and RNG are ignored). enc must
// be the pretraining run's encoder as pretrain.EncoderFor builds it: the checkpoint does
// not record the input normalisation.
func restoreClassifier(backend backends.Backend, ckpt *rundir.Checkpoint, enc layers.Encoder, branch, natural string, numClasses int) (*Classifier, error) {
	c := &Classifier{Encoder: enc, Branch: branch, NaturalBranch: natural, NumClasses: numClasses, Ctx: context.New().Checked(false), Backend: backend}
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

// Oracle returns the attack.Oracle of c for the host-driven attacks (AutoAttack, APGD):
// a GraphOracle over c.Logits on 32×32×3 images, every graph in eval mode (BN with
// running statistics, nothing updated), one executable per loss kind, batches padded to
// powers of two.
func (c *Classifier) Oracle() (*attack.GraphOracle, error) {
	return attack.NewGraphOracle(c.Backend, c.Ctx, c.Logits, c.NumClasses, 32, 32, 3)
}
