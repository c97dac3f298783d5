package layers

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

const (
	// DefaultBNMomentum is PyTorch's BatchNorm momentum: running = (1−m)·running + m·batch.
	DefaultBNMomentum = 0.1
	// DefaultBNEpsilon is PyTorch's BatchNorm epsilon.
	DefaultBNEpsilon = 1e-5

	// ParamBNFreezeStats is the graph parameter (bool) behind FreezeBNStats and
	// SetBNStatsUpdate: when true for a graph and scope, train-mode BatchNorm layers in that
	// scope and below normalise with batch statistics but leave their running statistics
	// untouched.
	ParamBNFreezeStats = "goacl_bn_freeze_stats"
)

// BN branch names of the official code: ACL's dual BN uses BranchNormal and BranchPGD,
// AdvCL's triple BN adds BranchPGDCE. Any name without "/" works as a branch.
const (
	// BranchNormal is the BN parameter set of clean views.
	BranchNormal = "normal"
	// BranchPGD is the BN parameter set of adversarial views (ACL, AdvCL's x_cl).
	BranchPGD = "pgd"
	// BranchPGDCE is AdvCL's BN parameter set of the pseudo-label adversary x_ce.
	BranchPGDCE = "pgd_ce"
)

// FreezeBNStats makes every train-mode BatchNorm built in graph g within ctx's scope
// (and below; pass the root context for the whole model) normalise with the batch
// statistics without updating its running statistics. Attacks that run the model in train
// mode inside a graph whose BN statistics must not move use it. Eval-mode layers are not
// affected (they use the running statistics anyway).
func FreezeBNStats(ctx *context.Context, g *graph.Graph) { SetBNStatsUpdate(ctx, g, false) }

// SetBNStatsUpdate chooses, for graph g within ctx's scope and below, whether train-mode
// BatchNorm layers update their running statistics (true, the default) or not (false).
// It must be called before the layers are built.
func SetBNStatsUpdate(ctx *context.Context, g *graph.Graph, update bool) {
	ctx.SetGraphParam(g, ParamBNFreezeStats, !update)
}

// BNStatsUpdating reports whether a BatchNorm built now in graph g within ctx's scope
// updates its running statistics: the context is in training mode for g and the
// statistics are not frozen. (A layer's own UpdateStats setting overrides the freeze
// switch, not the training mode.)
func BNStatsUpdating(ctx *context.Context, g *graph.Graph) bool {
	return ctx.IsTraining(g) && !context.GetGraphParamOr(ctx, g, ParamBNFreezeStats, false)
}

// BatchNormConfig builds a PyTorch-semantics batch normalisation; create it with
// NewBatchNorm and finish with Done.
type BatchNormConfig struct {
	ctx               *context.Context
	x                 *graph.Node
	branch            string
	momentum, epsilon float64
	update            *bool
}

// NewBatchNorm starts a batch normalisation of x over all axes but the last: [N,C]
// (BatchNorm1d) or NHWC [N,H,W,C] (BatchNorm2d). It behaves like PyTorch's BatchNorm with
// affine=True and track_running_stats=True:
//
//   - train mode (ctx.IsTraining(g)): y = (x−μ)/√(σ²+ε)·γ + β with the batch mean μ and
//     the biased batch variance σ², differentiated through μ and σ² (full gradient); then,
//     unless the statistics are frozen, running_mean ← (1−m)·running_mean + m·μ and
//     running_var ← (1−m)·running_var + m·σ²·n/(n−1) (unbiased), n = elements per channel;
//   - eval mode: the same formula with running_mean and running_var.
//
// Defaults: momentum 0.1, ε 1e-5, γ = 1, β = 0, running_mean = 0, running_var = 1. No
// num_batches_tracked is kept (it only matters for momentum=None in PyTorch).
//
// Variables ("gamma", "beta", "running_mean", "running_var", all [C]) live in ctx's scope,
// or in ctx.In(branch) when a Branch is set.
func NewBatchNorm(ctx *context.Context, x *graph.Node) *BatchNormConfig {
	return &BatchNormConfig{ctx: ctx, x: x, momentum: DefaultBNMomentum, epsilon: DefaultBNEpsilon}
}

// Branch selects the named parameter set of this BN call site: the variables go to
// the sub-scope branch, so 'normal', 'pgd' and 'pgd_ce' hold separate γ, β and running
// statistics while everything around them (convolutions, linear layers) is shared. An
// empty name (the default) is a single, unbranched BN whose variables sit directly in
// ctx's scope.
func (c *BatchNormConfig) Branch(name string) *BatchNormConfig { c.branch = name; return c }

// Momentum sets the running-statistics momentum (PyTorch convention); default 0.1.
func (c *BatchNormConfig) Momentum(m float64) *BatchNormConfig { c.momentum = m; return c }

// Epsilon sets ε; default 1e-5.
func (c *BatchNormConfig) Epsilon(eps float64) *BatchNormConfig { c.epsilon = eps; return c }

// UpdateStats forces, for this call only, whether train mode updates the running
// statistics, overriding FreezeBNStats/SetBNStatsUpdate. It has no effect in eval mode.
func (c *BatchNormConfig) UpdateStats(update bool) *BatchNormConfig { c.update = &update; return c }

// Done creates (or reuses) the variables and returns the normalised x.
func (c *BatchNormConfig) Done() *graph.Node {
	x := c.x
	g := x.Graph()
	if x.Rank() < 2 {
		panic(fmt.Errorf("layers.BatchNorm: want input [N,...,C] of rank ≥ 2, got shape %s (scope %s)", x.Shape(), c.ctx.Scope()))
	}
	ctx := c.ctx
	if c.branch != "" {
		ctx = ctx.In(c.branch)
	}
	ch := x.Shape().Dimensions[x.Rank()-1]
	vshape := shapes.Make(x.DType(), ch)
	gamma := ctx.WithInitializer(initializers.One).VariableWithShape("gamma", vshape)
	beta := ctx.WithInitializer(initializers.Zero).VariableWithShape("beta", vshape)
	runMean := ctx.WithInitializer(initializers.Zero).VariableWithShape("running_mean", vshape).SetTrainable(false)
	runVar := ctx.WithInitializer(initializers.One).VariableWithShape("running_var", vshape).SetTrainable(false)
	gammaN, betaN := gamma.ValueGraph(g), beta.ValueGraph(g)

	if !ctx.IsTraining(g) {
		return bnApply(x, runMean.ValueGraph(g), runVar.ValueGraph(g), gammaN, betaN, c.epsilon)
	}
	n := x.Shape().Size() / ch
	if n < 2 {
		panic(fmt.Errorf("layers.BatchNorm: train mode needs more than 1 value per channel, got shape %s (scope %s)", x.Shape(), ctx.Scope()))
	}
	y, mean, variance := bnTrain(x, gammaN, betaN, c.epsilon)
	update := !context.GetGraphParamOr(ctx, g, ParamBNFreezeStats, false)
	if c.update != nil {
		update = *c.update
	}
	if update {
		m := c.momentum
		mean, variance = graph.StopGradient(mean), graph.StopGradient(variance)
		unbiased := graph.MulScalar(variance, float64(n)/float64(n-1))
		runMean.SetValueGraph(graph.Add(graph.MulScalar(runMean.ValueGraph(g), 1-m), graph.MulScalar(mean, m)))
		runVar.SetValueGraph(graph.Add(graph.MulScalar(runVar.ValueGraph(g), 1-m), graph.MulScalar(unbiased, m)))
	}
	return y
}

// channelShape returns the dims [1,…,1,C] that broadcast a per-channel vector against x.
func channelShape(x *graph.Node) []int {
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[x.Rank()-1] = x.Shape().Dimensions[x.Rank()-1]
	return dims
}

// The normalisation is computed as PyTorch's CPU kernel does, y = x·scale + shift with the
// per-channel scale = γ·(1/√(σ²+ε)) and shift = β − μ·scale ([C] each), rather than
// (x−μ)/√(σ²+ε)·γ + β: the same function with different rounding, in two full-size passes
// instead of four (one of them a division). Its autodiff graph is smaller too: a BN with
// its gradient makes 13 full-size passes instead of 18 in train mode, 4 instead of 7 in
// eval mode (on the goacl backend; passes_test.go's TestBatchNormGraphPasses counts
// them). That matters on the pure-Go backend, where each pass over the activations is
// memory-bound; XLA fuses either form, so the form is the same on every backend. (Rsqrt
// has no gradient in GoMLX, hence Div/Sqrt, at per-channel size.)

// bnApply normalises x with the given per-channel mean and variance ([C]) and applies
// γ and β.
func bnApply(x, mean, variance, gamma, beta *graph.Node, eps float64) *graph.Node {
	dims := channelShape(x)
	return bnAffine(x, graph.Reshape(mean, dims...), graph.Reshape(variance, dims...), gamma, beta, eps)
}

// bnAffine returns x·scale + shift for mean and variance of shape [1,…,1,C] and γ, β of
// shape [C].
func bnAffine(x, mean, variance, gamma, beta *graph.Node, eps float64) *graph.Node {
	dims := channelShape(x)
	invStd := graph.Reciprocal(graph.Sqrt(graph.AddScalar(variance, eps)))
	scale := graph.Mul(invStd, graph.Reshape(gamma, dims...))
	shift := graph.Sub(graph.Reshape(beta, dims...), graph.Mul(mean, scale))
	return graph.Add(graph.Mul(x, scale), shift)
}

// bnTrain normalises x with its own batch statistics over all axes but the last and
// returns the output with the batch mean and the biased batch variance ([C] each). The
// gradient flows through the statistics. The variance is the mean of squared deviations
// from the mean (two passes, as PyTorch), not E[x²]−μ², which loses precision in float32
// when |μ| ≫ σ.
func bnTrain(x, gamma, beta *graph.Node, eps float64) (y, mean, variance *graph.Node) {
	axes := make([]int, x.Rank()-1)
	for i := range axes {
		axes[i] = i
	}
	meanK := graph.ReduceAndKeep(x, graph.ReduceMean, axes...)
	varK := graph.ReduceAndKeep(graph.Square(graph.Sub(x, meanK)), graph.ReduceMean, axes...)
	y = bnAffine(x, meanK, varK, gamma, beta, eps)
	ch := x.Shape().Dimensions[x.Rank()-1]
	return y, graph.Reshape(meanK, ch), graph.Reshape(varK, ch)
}

// InMode builds fn with graph g marked as training (or not) and with train-mode BatchNorm
// updating its running statistics (or not), and restores both switches afterwards.
// Training mode is a per-graph parameter read at graph-building time, so one graph can
// hold an eval-mode attack and a train-mode loss: the methods build their attacks inside
// InMode(ctx, g, false, false, …) and their loss inside InMode(ctx, g, true, true, …).
func InMode(ctx *context.Context, g *graph.Graph, training, updateBNStats bool, fn func()) {
	prevTraining := ctx.IsTraining(g)
	prevFrozen := context.GetGraphParamOr(ctx, g, ParamBNFreezeStats, false)
	ctx.SetTraining(g, training)
	SetBNStatsUpdate(ctx, g, updateBNStats)
	defer func() {
		ctx.SetTraining(g, prevTraining)
		SetBNStatsUpdate(ctx, g, !prevFrozen)
	}()
	fn()
}
