package attack

import (
	"math"
	"testing"

	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// On a linear objective Σ w·x the L∞ worst case is clip₀₁(x + ε·sign(w)); PGD with enough
// steps must reach it exactly, in both orders, and never leave the ε-ball or [0,1].
func TestPGDReachesLinearWorstCase(t *testing.T) {
	backend, err := engine.New()
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{0.0, 0.5, 0.99, 1.0, 0.3, 0.02}
	w := []float64{-1, 2, 1, 1, -0.5, -3}
	const eps = 8.0 / 255
	for _, order := range []PGDOrder{ClipThenProject, ProjectThenClip} {
		cfg := PGDConfig{Epsilon: eps, StepSize: 2.0 / 255, Steps: 10, Order: order, RandomStart: true, ClipStart: order == ClipThenProject}
		ctx := context.New()
		if err := ctx.SetRNGStateFromSeed(7); err != nil {
			t.Fatal(err)
		}
		exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, xn, wn *graph.Node) *graph.Node {
			return PGD(ctx, []*graph.Node{xn}, cfg, func(advs []*graph.Node) *graph.Node {
				return graph.ReduceAllSum(graph.Mul(advs[0], wn))
			})[0]
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Exec(tensors.FromValue(x), tensors.FromValue(w))
		if err != nil {
			t.Fatal(err)
		}
		adv := tensors.MustCopyFlatData[float64](out[0])
		for i := range x {
			want := math.Min(1, math.Max(0, x[i]+eps*math.Copysign(1, w[i])))
			if math.Abs(adv[i]-want) > 1e-12 {
				t.Errorf("%s: adv[%d] = %g, want the worst case %g", order, i, adv[i], want)
			}
			if adv[i] < 0 || adv[i] > 1 || math.Abs(adv[i]-x[i]) > eps+1e-12 {
				t.Errorf("%s: adv[%d] = %g leaves [0,1] or the ε-ball around %g", order, i, adv[i], x[i])
			}
		}
	}
}

func TestPGDConfigValidation(t *testing.T) {
	for _, c := range []PGDConfig{
		{Epsilon: -1, Order: ProjectThenClip},
		{Epsilon: 0.03, StepSize: -1, Order: ProjectThenClip},
		{Epsilon: 0.03, Steps: -2, Order: ProjectThenClip},
		{Epsilon: 0.03, Order: "sideways"},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
}
