package layers

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Projection heads of the three base methods. Their input is the encoder feature h
// [N,D] (D = 8W, 512 for the paper's ResNet-18) and their layer sizes follow D where the
// official code uses 512. All linear layers are NewLinear: PyTorch's nn.Linear
// initialisation, U(±1/√fan_in) for weights and biases.

const (
	// RoCLProjectorScope is the scope of NewRoCLProjector's variables.
	RoCLProjectorScope = "projector"
	// AdvCLProjectorScope is the scope of NewAdvCLProjector's variables.
	AdvCLProjectorScope = "head_proj"
	// ACLProjectorScope is the scope of NewACLProjector's variables.
	ACLProjectorScope = "proj_head"
)

// AdvCLPseudoLabelClasses are the cluster counts of AdvCL's five pseudo-label heads
// fc_002, fc_010, fc_050, fc_100 and fc_500.
var AdvCLPseudoLabelClasses = []int{2, 10, 50, 100, 500}

// RoCLProjectorConfig builds RoCL's projector; create it with NewRoCLProjector.
type RoCLProjectorConfig struct {
	ctx         *context.Context
	h           *graph.Node
	hidden, out int
}

// NewRoCLProjector starts RoCL's projector (models/projector.py):
// Linear(D, 2048) → ReLU → Linear(2048, 128), with biases and no BN. Variables:
// projector/linear_1/{weights,biases}, projector/linear_2/{weights,biases}.
func NewRoCLProjector(ctx *context.Context, h *graph.Node) *RoCLProjectorConfig {
	return &RoCLProjectorConfig{ctx: ctx, h: h, hidden: 2048, out: 128}
}

// HiddenDim sets the hidden width; default 2048.
func (c *RoCLProjectorConfig) HiddenDim(n int) *RoCLProjectorConfig { c.hidden = n; return c }

// OutDim sets the output width; default 128.
func (c *RoCLProjectorConfig) OutDim(n int) *RoCLProjectorConfig { c.out = n; return c }

// Done returns the raw (unnormalised) projection [N, OutDim]; RoCL's loss normalises it.
func (c *RoCLProjectorConfig) Done() *graph.Node {
	ctx := c.ctx.In(RoCLProjectorScope)
	z := ReLU(NewLinear(ctx.In("linear_1"), c.h, c.hidden).Done())
	return NewLinear(ctx.In("linear_2"), z, c.out).Done()
}

// AdvCLProjectorConfig builds AdvCL's head_proj; create it with NewAdvCLProjector.
type AdvCLProjectorConfig struct {
	ctx         *context.Context
	h           *graph.Node
	hidden, out int
	normalize   bool
}

// NewAdvCLProjector starts AdvCL's head_proj
// (models/resnet_cifar_multibn_ensembleFC.py): Linear(D, D) → BatchNorm1d → ReLU →
// Linear(D, 128), then F.normalize. The BN is a single BN shared by every pass, whatever
// BN branch the encoder used. Variables: head_proj/fc1/{weights,biases},
// head_proj/bn/{gamma,beta,running_mean,running_var}, head_proj/fc2/{weights,biases}.
// (AdvCL's head_pred is computed but unused by its losses and is not provided.)
func NewAdvCLProjector(ctx *context.Context, h *graph.Node) *AdvCLProjectorConfig {
	return &AdvCLProjectorConfig{ctx: ctx, h: h, out: 128, normalize: true}
}

// HiddenDim sets the hidden width; default (0) is the input dimension D.
func (c *AdvCLProjectorConfig) HiddenDim(n int) *AdvCLProjectorConfig { c.hidden = n; return c }

// OutDim sets the output width; default 128.
func (c *AdvCLProjectorConfig) OutDim(n int) *AdvCLProjectorConfig { c.out = n; return c }

// Normalize sets whether the output is L2-normalised (F.normalize); default true.
func (c *AdvCLProjectorConfig) Normalize(normalize bool) *AdvCLProjectorConfig {
	c.normalize = normalize
	return c
}

// Done returns the projection [N, OutDim], unit-norm rows unless Normalize(false).
func (c *AdvCLProjectorConfig) Done() *graph.Node {
	checkFeatures("NewAdvCLProjector", c.h)
	hidden := c.hidden
	if hidden == 0 {
		hidden = c.h.Shape().Dimensions[1]
	}
	ctx := c.ctx.In(AdvCLProjectorScope)
	z := NewLinear(ctx.In("fc1"), c.h, hidden).Done()
	z = ReLU(NewBatchNorm(ctx.In("bn"), z).Done())
	z = NewLinear(ctx.In("fc2"), z, c.out).Done()
	if c.normalize {
		z = L2Normalize(z)
	}
	return z
}

// AdvCLPseudoLabelHeads returns the logits of AdvCL's pseudo-label heads on the encoder
// feature h [N,D]: one Linear(D, k) with bias per k in classes (default
// AdvCLPseudoLabelClasses), in order. Variables: fc_002/{weights,biases}, fc_010/…, named
// fmt.Sprintf("fc_%03d", k) like AdvCL's modules.
func AdvCLPseudoLabelHeads(ctx *context.Context, h *graph.Node, classes ...int) []*graph.Node {
	checkFeatures("AdvCLPseudoLabelHeads", h)
	if len(classes) == 0 {
		classes = AdvCLPseudoLabelClasses
	}
	logits := make([]*graph.Node, len(classes))
	for i, k := range classes {
		logits[i] = NewLinear(ctx.Inf("fc_%03d", k), h, k).Done()
	}
	return logits
}

// ACLProjectorConfig builds ACL's proj_head; create it with NewACLProjector.
type ACLProjectorConfig struct {
	ctx      *context.Context
	h        *graph.Node
	branch   string
	twoLayer bool
}

// NewACLProjector starts ACL's proj_head (models/resnet_multi_bn.py at its latest
// commit, --twoLayerProj off): fc1 Linear(D,D) with bias → BN → ReLU → fc2 Linear(D,D)
// without bias → BN → ReLU → fc3 Linear(D,D) without bias → BN, output [N,D] (no final
// ReLU, no normalisation). Every BN is branch-aware like the backbone's (ACL's dual BN
// 'normal'/'pgd'). Variables: proj_head/fc1/{weights,biases}, proj_head/fc2/weights,
// proj_head/fc3/weights, proj_head/bn{1,2,3}/[branch/]….
func NewACLProjector(ctx *context.Context, h *graph.Node) *ACLProjectorConfig {
	return &ACLProjectorConfig{ctx: ctx, h: h}
}

// Branch selects the BN parameter set of this pass ("" = unbranched).
func (c *ACLProjectorConfig) Branch(name string) *ACLProjectorConfig { c.branch = name; return c }

// TwoLayer drops fc3/bn3 (ACL's --twoLayerProj): fc1 → BN → ReLU → fc2 → BN.
func (c *ACLProjectorConfig) TwoLayer(twoLayer bool) *ACLProjectorConfig {
	c.twoLayer = twoLayer
	return c
}

// Done returns the projection [N,D].
func (c *ACLProjectorConfig) Done() *graph.Node {
	checkFeatures("NewACLProjector", c.h)
	d := c.h.Shape().Dimensions[1]
	ctx := c.ctx.In(ACLProjectorScope)
	bn := func(name string, v *graph.Node) *graph.Node {
		return NewBatchNorm(ctx.In(name), v).Branch(c.branch).Done()
	}
	z := bn("bn1", NewLinear(ctx.In("fc1"), c.h, d).Done())
	z = bn("bn2", NewLinear(ctx.In("fc2"), ReLU(z), d).Bias(false).Done())
	if !c.twoLayer {
		z = bn("bn3", NewLinear(ctx.In("fc3"), ReLU(z), d).Bias(false).Done())
	}
	return z
}

func checkFeatures(who string, h *graph.Node) {
	if h.Rank() != 2 {
		panic(fmt.Errorf("layers.%s: want features [N,D], got shape %s", who, h.Shape()))
	}
}
