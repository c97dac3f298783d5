package attack

import (
	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TRADESConfig configures TRADES (Zhang et al. 2019) as AdvCL's AFF uses it (trades.py,
// spec §5.1): the inner maximisation of KL(f(x) ‖ f(x')) and the outer loss weight β.
type TRADESConfig struct {
	// Beta weighs the robust KL term of the loss (6 in every AFF run).
	Beta     float64 `json:"beta"`
	Epsilon  float64 `json:"epsilon"`
	StepSize float64 `json:"step_size"`
	Steps    int     `json:"steps"`
	// StartStd is the standard deviation of the Gaussian start x + StartStd·N(0, I)
	// (0.001; the start is not clipped to [0,1], as in trades.py); 0 starts at x itself
	// (DynACL's trades_loss_dual).
	StartStd float64 `json:"start_std"`
}

// DefaultTRADES is AFF's TRADES: β = 6, 10 KL-ascent steps of 2/255 at ε = 8/255, start
// x + 0.001·N(0, I).
func DefaultTRADES() TRADESConfig {
	return TRADESConfig{Beta: 6, Epsilon: 8.0 / 255, StepSize: 2.0 / 255, Steps: 10, StartStd: 0.001}
}

// Validate returns a *field.Error naming the first invalid field.
func (c TRADESConfig) Validate() error {
	switch {
	case !(c.Beta >= 0):
		return field.Errorf("beta", "{beta} = %g: must be ≥ 0", c.Beta)
	case !(c.Epsilon >= 0):
		return field.Errorf("epsilon", "{epsilon} = %g: must be ≥ 0", c.Epsilon)
	case !(c.StepSize >= 0):
		return field.Errorf("step_size", "{step_size} = %g: must be ≥ 0", c.StepSize)
	case c.Steps < 0:
		return field.Errorf("steps", "{steps} = %d: must be ≥ 0", c.Steps)
	case !(c.StartStd >= 0):
		return field.Errorf("start_std", "{start_std} = %g: must be ≥ 0", c.StartStd)
	}
	return nil
}

// TRADESKL is Σ_i Σ_k p_ik (log p_ik − log q_ik) for target logits zp and input logits zq
// ([N,K]): PyTorch's KLDivLoss(size_average=False)(log_softmax(zq), softmax(zp)), the
// objective TRADESAdversary ascends and (divided by N) the robust term of TRADESLoss.
func TRADESKL(zp, zq *graph.Node) *graph.Node {
	logp := graph.LogSoftmax(zp, -1)
	logq := graph.LogSoftmax(zq, -1)
	return graph.ReduceAllSum(graph.Mul(graph.Exp(logp), graph.Sub(logp, logq)))
}

// TRADESAdversary returns TRADES's adversarial examples of x [N,H,W,C] in [0,1] for the
// model logits (which the caller builds in eval mode, as trades.py calls model.eval()):
// start x' = x + StartStd·N(0, I) (noise from ctx's RNG), then Steps times
// x' ← clip₀₁(Π_ε(x' + StepSize·sign ∇_{x'} KL(f(x) ‖ f(x')))) with the summed KL and the
// clean distribution f(x) held fixed. The result carries a stop-gradient.
func TRADESAdversary(ctx *context.Context, x *graph.Node, cfg TRADESConfig, logits func(x *graph.Node) *graph.Node) *graph.Node {
	return TRADESAdversaryFrom(ctx, x, logits(x), cfg, logits)
}

// TRADESAdversaryFrom is TRADESAdversary with the clean distribution's logits target given
// (held fixed): DynACL's dual-BN TRADES (utils.py trades_loss_dual) takes them from the
// clean BN branch while the adversary passes through the adversarial one.
func TRADESAdversaryFrom(ctx *context.Context, x, target *graph.Node, cfg TRADESConfig, logits func(x *graph.Node) *graph.Node) *graph.Node {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	target = graph.StopGradient(target)
	eps := graph.Scalar(x.Graph(), x.DType(), cfg.Epsilon)
	lo, hi := graph.Sub(x, eps), graph.Add(x, eps)
	adv := x
	if cfg.StartStd > 0 {
		adv = graph.Add(x, graph.MulScalar(ctx.RandomNormal(x.Graph(), x.Shape()), cfg.StartStd))
	}
	a := graph.Scalar(x.Graph(), x.DType(), cfg.StepSize)
	for range cfg.Steps {
		grad := graph.Gradient(TRADESKL(target, logits(adv)), adv)[0]
		adv = clip01(graph.Min(graph.Max(graph.Add(adv, graph.Mul(a, graph.Sign(grad))), lo), hi))
	}
	return graph.StopGradient(adv)
}

// TRADESLoss is the TRADES training loss CE(f(x), y) + β·(1/B)·KL_sum(f(x) ‖ f(x')) with
// mean cross-entropy, from the clean logits natural and the adversarial logits adv [B,K]
// (both built in train mode; the gradient flows through both, including the clean
// distribution in the KL, as in trades.py). It returns the loss and its two terms.
func TRADESLoss(natural, adv, labels *graph.Node, beta float64) (loss, ce, kl *graph.Node) {
	b := natural.Shape().Dimensions[0]
	ce = losses.CrossEntropy(natural, labels)
	kl = graph.DivScalar(TRADESKL(natural, adv), float64(b))
	return graph.Add(ce, graph.MulScalar(kl, beta)), ce, kl
}
