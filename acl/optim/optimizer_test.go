package optim

import (
	"math"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// refStep applies one update of the given rule to w and buf (float64, in place), with
// the gradient g, following the PyTorch code each rule documents.
func refStep(kind Kind, cfg Config, lr float64, w, buf, g []float64) {
	norm := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x * x
		}
		return math.Sqrt(s)
	}
	wn, gn := norm(w), norm(g)
	switch kind {
	case SGD:
		for i := range w {
			buf[i] = cfg.Momentum*buf[i] + g[i] + cfg.WeightDecay*w[i]
			w[i] -= lr * buf[i]
		}
	case LARSTorchLARS:
		trust := 1.0
		if wn > 0 && gn > 0 {
			trust = wn / (gn + cfg.WeightDecay*wn + cfg.Eps) * cfg.TrustCoef
		}
		for i := range w {
			d := (g[i] + cfg.WeightDecay*w[i]) * trust
			buf[i] = cfg.Momentum*buf[i] + d
			w[i] -= lr * buf[i]
		}
	case LARSACL:
		trust := cfg.TrustCoef * wn / (gn + cfg.WeightDecay*wn)
		if wn < 1e-15 || gn < 1e-15 {
			trust = 1
		}
		for i := range w {
			buf[i] = cfg.Momentum*buf[i] + lr*trust*(g[i]+cfg.WeightDecay*w[i])
			w[i] -= buf[i]
		}
	}
}

func TestOptimizersMatchPyTorchRules(t *testing.T) {
	backend, err := engine.New()
	if err != nil {
		t.Fatal(err)
	}
	configs := []Config{
		{Kind: SGD, Momentum: 0.9, WeightDecay: 1e-2},
		{Kind: LARSTorchLARS, Momentum: 0.9, WeightDecay: 1e-2, TrustCoef: 1e-3, Eps: 1e-8},
		{Kind: LARSACL, Momentum: 0.9, WeightDecay: 1e-2, TrustCoef: 1e-3},
	}
	c := []float64{0.5, -1.5, 2.0, 0.25}
	w0 := []float64{1.0, -2.0, 0.5, 3.0}
	lrs := []float64{0.125, 0.5, 0.0625} // exact in the float32 learning-rate variable
	for _, cfg := range configs {
		opt, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.New()
		exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, cn *graph.Node) *graph.Node {
			w := ctx.In("model").VariableWithValue("w", w0).ValueGraph(cn.Graph())
			// loss = Σ c·w + ½Σ w²: gradient c + w, which changes between steps.
			loss := graph.Add(graph.ReduceAllSum(graph.Mul(w, cn)), graph.MulScalar(graph.ReduceAllSum(graph.Square(w)), 0.5))
			opt.UpdateGraph(ctx, cn.Graph(), loss)
			return loss
		})
		if err != nil {
			t.Fatal(err)
		}
		w := append([]float64(nil), w0...)
		buf := make([]float64, len(w))
		for step, lr := range lrs {
			if err := SetLearningRate(ctx, lr); err != nil {
				t.Fatal(err)
			}
			if _, err := exec.Exec(tensors.FromValue(c)); err != nil {
				t.Fatalf("%s step %d: %v", cfg.Kind, step, err)
			}
			g := make([]float64, len(w))
			for i := range g {
				g[i] = c[i] + w[i]
			}
			refStep(cfg.Kind, cfg, lr, w, buf, g)
			got := tensors.MustCopyFlatData[float64](ctx.GetVariableByScopeAndName("/model", "w").MustValue())
			for i := range w {
				if math.Abs(got[i]-w[i]) > 1e-12*math.Max(1, math.Abs(w[i])) {
					t.Fatalf("%s step %d: w[%d] = %.15g, want %.15g", cfg.Kind, step, i, got[i], w[i])
				}
			}
		}
	}
}

func TestOptimizerConfigValidation(t *testing.T) {
	bad := []Config{
		{Kind: "adamw"},
		{Kind: SGD, Momentum: 1.2},
		{Kind: SGD, WeightDecay: -1},
		{Kind: LARSACL, Momentum: 0.9},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("config %+v: want an error", c)
		}
	}
}

// The generic schedules: step decay at the finetuning milestones, and an unknown kind or a
// bad base rate rejected naming the field.
func TestGenericSchedules(t *testing.T) {
	step := StepDecay{Base: 0.1, Milestones: []int{15, 20}, Gamma: 0.1}
	for epoch, want := range map[int]float64{0: 0.1, 14: 0.1, 15: 0.01, 19: 0.01, 20: 0.001, 24: 0.001} {
		if got := step.LearningRate(epoch, 0, 1); math.Abs(got-want) > 1e-15 {
			t.Errorf("step decay epoch %d: %g, want %g", epoch, got, want)
		}
	}
	if _, err := (ScheduleConfig{Kind: "cosine-ish", Base: 1}).Build(); err == nil || !strings.HasPrefix(err.Error(), "kind ") {
		t.Errorf("unknown schedule kind: want an error naming kind, got %v", err)
	}
	if _, err := (ScheduleConfig{Kind: "constant", Base: 0}).Build(); err == nil || !strings.HasPrefix(err.Error(), "base = 0") {
		t.Errorf("base 0: want an error naming base, got %v", err)
	}
	if s, err := (ScheduleConfig{Kind: "constant", Base: 0.3}).Build(); err != nil || s.LearningRate(7, 1, 2) != 0.3 {
		t.Errorf("constant: %v, %v", s, err)
	}
}
