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

// The clip to [0,1] and the projection to the ε-ball are both clamps to intervals that
// overlap, so their order never changes an iterate: PGD in both orders gives bit-identical
// examples from the same random start (near the box edges too, with a non-linear
// objective whose gradient sign depends on the iterate). Clamping the random start is a
// real difference: it moves where the first gradient is taken.
func TestPGDOrderDoesNotMatter(t *testing.T) {
	const n = 512
	x := make([]float32, n)
	for i := range x {
		switch i % 4 {
		case 0:
			x[i] = float32(i%7) / 255 // at or near 0
		case 1:
			x[i] = 1 - float32(i%7)/255 // at or near 1
		default:
			x[i] = float32(i) / n
		}
	}
	run := func(cfg PGDConfig) []float32 {
		ctx := context.New()
		if err := ctx.SetRNGStateFromSeed(11); err != nil {
			t.Fatal(err)
		}
		exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, xn *graph.Node) *graph.Node {
			return PGD(ctx, []*graph.Node{xn}, cfg, func(advs []*graph.Node) *graph.Node {
				a := advs[0]
				return graph.ReduceAllSum(graph.Mul(graph.Sin(graph.MulScalar(a, 40)), graph.Cos(graph.MulScalar(a, 17))))
			})[0]
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Exec(tensors.FromValue(x))
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](out[0])
	}
	for _, clip := range []bool{false, true} {
		base := PGDConfig{Epsilon: 8.0 / 255, StepSize: 3.0 / 255, Steps: 10, RandomStart: true, ClipStart: clip}
		a, b := base, base
		a.Order, b.Order = ClipThenProject, ProjectThenClip
		ra, rb := run(a), run(b)
		for i := range ra {
			if ra[i] != rb[i] {
				t.Fatalf("clip start %v: image value %d: %v (clip then project) vs %v (project then clip)", clip, i, ra[i], rb[i])
			}
		}
	}
	clamped := run(PGDConfig{Epsilon: 8.0 / 255, StepSize: 3.0 / 255, Steps: 10, Order: ProjectThenClip, RandomStart: true, ClipStart: true})
	free := run(PGDConfig{Epsilon: 8.0 / 255, StepSize: 3.0 / 255, Steps: 10, Order: ProjectThenClip, RandomStart: true})
	differ := 0
	for i := range clamped {
		if clamped[i] != free[i] {
			differ++
		}
	}
	if differ == 0 {
		t.Error("clamping the random start changed nothing: the test objective does not tell the starts apart")
	}
}
