package optim

import (
	"fmt"
	"math"
	"strings"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// Kind names one of the update rules the official methods use.
type Kind string

const (
	// SGD is PyTorch's torch.optim.SGD with momentum (dampening 0, no Nesterov) and coupled
	// L2 weight decay: d = g + wd·w; buf = m·buf + d; w -= lr·buf. AdvCL pretraining and
	// every finetuning use it.
	SGD Kind = "sgd"
	// LARSTorchLARS is kakaobrain/torchlars wrapping SGD(momentum, wd), as RoCL uses it:
	// trust = η‖w‖/(‖g‖ + wd‖w‖ + ε) (1 when ‖w‖ = 0 or ‖g‖ = 0); d = (g + wd·w)·trust;
	// then SGD with momentum and wd = 0: buf = m·buf + d; w -= lr·buf.
	LARSTorchLARS Kind = "lars-torchlars"
	// LARSACL is ACL's own LARS (optimizer/lars.py of the ACL repository): trust =
	// η‖w‖/(‖g‖ + wd‖w‖) (1 when either norm < 1e-15), and the learning rate enters the
	// momentum buffer: buf = m·buf + lr·trust·(g + wd·w); w -= buf. A learning-rate change
	// therefore acts on new gradients only, unlike LARSTorchLARS.
	LARSACL Kind = "lars-acl"
)

// Config holds an optimizer's hyperparameters (a run's config.json "optimizer"). The
// learning rate is not part of it: it lives in a context variable the training loop sets
// from the host before each step, from a Schedule.
type Config struct {
	// Kind is the optimizer (SGD or LARS), Momentum its heavy-ball momentum and WeightDecay
	// its L2 weight decay (coupled, added to the gradient as PyTorch does).
	Kind        Kind    `json:"kind"`
	Momentum    float64 `json:"momentum"`
	WeightDecay float64 `json:"weight_decay"`
	// TrustCoef is LARS's η (1e-3 in RoCL and ACL); unused by SGD.
	TrustCoef float64 `json:"trust_coef,omitempty"`
	// Eps is torchlars' ε in the trust-ratio denominator (1e-8 in RoCL); unused otherwise.
	Eps float64 `json:"eps,omitempty"`
}

// Validate returns a *field.Error naming the first invalid field (kind, momentum,
// weight_decay, trust_coef, eps) and its allowed range.
func (c Config) Validate() error {
	switch c.Kind {
	case SGD, LARSTorchLARS, LARSACL:
	default:
		return field.Errorf("kind", "{kind} %q unknown: use one of %s, %s, %s", c.Kind, SGD, LARSTorchLARS, LARSACL)
	}
	if !(c.Momentum >= 0 && c.Momentum < 1) {
		return field.Errorf("momentum", "{momentum} = %g: must be in [0, 1)", c.Momentum)
	}
	if !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0) {
		return field.Errorf("weight_decay", "{weight_decay} = %g: must be ≥ 0", c.WeightDecay)
	}
	if c.Kind != SGD && (!(c.TrustCoef > 0) || math.IsInf(c.TrustCoef, 0)) {
		return field.Errorf("trust_coef", "{trust_coef} = %g: LARS needs η > 0 (1e-3 in RoCL and ACL)", c.TrustCoef)
	}
	if !(c.Eps >= 0) || math.IsInf(c.Eps, 0) {
		return field.Errorf("eps", "{eps} = %g: must be ≥ 0", c.Eps)
	}
	return nil
}

// Optimizer implements GoMLX's optimizers.Interface for the three update rules above. Its
// momentum buffers are context variables under /optimizers/momentum/... (the scope every
// checkpoint written so far uses), so checkpoints carry them and a resumed run continues
// exactly.
type Optimizer struct {
	cfg Config
}

var _ optimizers.Interface = (*Optimizer)(nil)

// New validates cfg and returns the optimizer.
func New(cfg Config) (*Optimizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Optimizer{cfg: cfg}, nil
}

// Config returns the optimizer's hyperparameters.
func (o *Optimizer) Config() Config { return o.cfg }

const momentumScope = "/" + optimizers.Scope + "/momentum"

// UpdateGraph builds one update of every trainable variable used by g from the gradient
// of loss, and increments the global step. It implements optimizers.Interface.
func (o *Optimizer) UpdateGraph(ctx *context.Context, g *graph.Graph, loss *graph.Node) {
	if !loss.Shape().IsScalar() {
		panic(fmt.Sprintf("optim.Optimizer: loss must be a scalar, got %s", loss.Shape()))
	}
	grads := ctx.BuildTrainableVariablesGradientsGraph(loss)
	lr := LearningRateVar(ctx, loss.DType()).ValueGraph(g)
	optimizers.IncrementGlobalStepGraph(ctx, g, loss.DType())
	i := 0
	for v := range ctx.IterVariables() {
		if !v.Trainable || !v.InUseByGraph(g) {
			continue
		}
		grad := grads[i]
		i++
		w := v.ValueGraph(g)
		lrV := graph.ConvertDType(lr, w.DType())
		buf := o.momentumVar(ctx, v)
		newW, newBuf := o.step(w, grad, buf.ValueGraph(g), lrV)
		v.SetValueGraph(newW)
		buf.SetValueGraph(newBuf)
	}
	if i != len(grads) {
		panic(fmt.Sprintf("optim.Optimizer: %d gradients for %d trainable variables", len(grads), i))
	}
}

// step returns the new weight and momentum buffer for one variable.
func (o *Optimizer) step(w, grad, buf, lr *graph.Node) (newW, newBuf *graph.Node) {
	c := o.cfg
	m := graph.Scalar(w.Graph(), w.DType(), c.Momentum)
	wd := graph.Scalar(w.Graph(), w.DType(), c.WeightDecay)
	decayed := graph.Add(grad, graph.Mul(wd, w)) // g + wd·w
	switch c.Kind {
	case SGD:
		newBuf = graph.Add(graph.Mul(m, buf), decayed)
		return graph.Sub(w, graph.Mul(lr, newBuf)), newBuf
	case LARSTorchLARS:
		wn, gn := l2Norm(w), l2Norm(grad)
		eps := graph.Scalar(w.Graph(), w.DType(), c.Eps)
		eta := graph.Scalar(w.Graph(), w.DType(), c.TrustCoef)
		trust := graph.Div(graph.Mul(eta, wn), graph.Add(graph.Add(gn, graph.Mul(wd, wn)), eps))
		zero := graph.ScalarZero(w.Graph(), w.DType())
		ok := graph.LogicalAnd(graph.GreaterThan(wn, zero), graph.GreaterThan(gn, zero))
		trust = graph.Where(ok, trust, graph.OnesLike(trust))
		newBuf = graph.Add(graph.Mul(m, buf), graph.Mul(decayed, trust))
		return graph.Sub(w, graph.Mul(lr, newBuf)), newBuf
	case LARSACL:
		wn, gn := l2Norm(w), l2Norm(grad)
		eta := graph.Scalar(w.Graph(), w.DType(), c.TrustCoef)
		tiny := graph.Scalar(w.Graph(), w.DType(), 1e-15)
		denom := graph.Add(gn, graph.Mul(wd, wn))
		small := graph.LogicalOr(graph.LessThan(wn, tiny), graph.LessThan(gn, tiny))
		// Guard the division so that the discarded branch never produces NaN.
		safeDenom := graph.Where(small, graph.OnesLike(denom), denom)
		trust := graph.Where(small, graph.OnesLike(denom), graph.Div(graph.Mul(eta, wn), safeDenom))
		newBuf = graph.Add(graph.Mul(m, buf), graph.Mul(graph.Mul(lr, trust), decayed))
		return graph.Sub(w, newBuf), newBuf
	}
	panic(fmt.Sprintf("optim.Optimizer: unknown kind %q", c.Kind))
}

// l2Norm is the Frobenius norm of x as a scalar.
func l2Norm(x *graph.Node) *graph.Node {
	return graph.Sqrt(graph.ReduceAllSum(graph.Square(x)))
}

// momentumVar returns the (zero-initialised, non-trainable) momentum buffer of v.
func (o *Optimizer) momentumVar(ctx *context.Context, v *context.Variable) *context.Variable {
	scope := strings.TrimSuffix(momentumScope+v.Scope(), context.ScopeSeparator)
	slotCtx := ctx.InAbsPath(scope).Checked(false).WithInitializer(initializers.Zero)
	return slotCtx.VariableWithShape(v.Name(), v.Shape()).SetTrainable(false)
}

// Clear deletes the momentum buffers. It implements optimizers.Interface.
func (o *Optimizer) Clear(ctx *context.Context) error {
	return ctx.InAbsPath(momentumScope).DeleteVariablesInScope()
}

// LearningRateVar returns the context variable holding the current learning rate
// (/optimizers/learning_rate), creating it at 0 with dtype if it does not exist yet.
// Schedules set it from the host with SetLearningRate, so changing it never recompiles a
// graph.
func LearningRateVar(ctx *context.Context, dtype dtypes.DType) *context.Variable {
	if v := ctx.InspectVariable("/"+optimizers.Scope, optimizers.ParamLearningRate); v != nil {
		return v
	}
	return optimizers.LearningRateVarWithValue(ctx, dtype, 0)
}

// SetLearningRate stores lr in the learning-rate variable of ctx (with the variable's
// dtype, float32 unless the graph was built in another dtype).
func SetLearningRate(ctx *context.Context, lr float64) error {
	v := LearningRateVar(ctx, dtypes.Float32)
	dtype := v.DType()
	t := tensors.FromShape(shapes.Make(dtype))
	switch dtype {
	case dtypes.Float32:
		tensors.MutableFlatData(t, func(f []float32) { f[0] = float32(lr) })
	case dtypes.Float64:
		tensors.MutableFlatData(t, func(f []float64) { f[0] = lr })
	default:
		return fmt.Errorf("learning-rate variable has dtype %s; want float32 or float64", dtype)
	}
	return v.SetValue(t)
}
