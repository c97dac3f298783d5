package attack

import (
	"github.com/ainfonce/goacl/acl/field"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// PGDOrder is the order in which one PGD iteration clips to the image range and projects
// to the ε-ball, as each official attack writes it. The order does not change the result:
// both are coordinate-wise clamps to intervals that always overlap (the clean x lies in
// [0,1] and in [x−ε, x+ε]), and clamping to one interval then to an overlapping one is
// clamping to their intersection, whichever comes first (TestPGDOrderDoesNotMatter).
// What does differ between the official attacks is whether the random start is clamped
// to [0,1] (PGDConfig.ClipStart). The field is kept so that records name the official
// code's order.
type PGDOrder string

const (
	// ClipThenProject is RoCL's order (attack_lib.py): x ← Π_ε(clip₀₁(x + a·sign ∇)).
	ClipThenProject PGDOrder = "clip-then-project"
	// ProjectThenClip is the order of AdvCL, ACL and the finetuning/evaluation attacks:
	// x ← clip₀₁(Π_ε(x + a·sign ∇)).
	ProjectThenClip PGDOrder = "project-then-clip"
)

// PGDConfig configures an L∞ projected-gradient-ascent attack (Madry et al.).
type PGDConfig struct {
	// Epsilon is the L∞ radius ε, StepSize the step a of x ← x + a·sign ∇, Steps their
	// number, Order whether a step clips to [0,1] before or after projecting on the ball
	// (recorded as the official code writes it; the result is the same either way).
	Epsilon  float64  `json:"epsilon"`
	StepSize float64  `json:"step_size"`
	Steps    int      `json:"steps"`
	Order    PGDOrder `json:"order"`
	// RandomStart adds U(−ε, ε) noise before the first step (every official attack does).
	RandomStart bool `json:"random_start"`
	// ClipStart clamps the random start to [0,1] (RoCL's attack_lib.py, used by its
	// pretraining and robustness_test.py, does; AdvCL, ACL, DynACL and RoCL's own
	// rocl_finetune.py do not, so their first gradient is taken at pixels up to ε outside
	// [0,1]). Unlike Order, this changes the attack.
	ClipStart bool `json:"clip_start"`
}

// MaxPGDSteps bounds PGDConfig.Steps: the attack is unrolled in the step's graph, so its
// steps are built and compiled before anything runs, and a huge count keeps a process
// busy before its first step, where an interruption is noticed (measured on the 2-core
// machine, SmallCNN width 4: 200 steps start in ≈ 5 s, 1,000 in ≈ 110 s, 100,000 never
// within 12 minutes). The official attacks use at most 20 (training 5–10, evaluation
// PGD-20), ten times less; AutoAttack's APGD runs on the host and is not bounded here.
const MaxPGDSteps = 200

// Validate returns a *field.Error naming the first invalid field (epsilon, step_size,
// steps, order) and its allowed range: ε and the step in [0, 1] (images are in [0,1]: a
// larger radius or step is the whole image range), 0 ≤ steps ≤ MaxPGDSteps.
func (c PGDConfig) Validate() error {
	switch {
	case !(c.Epsilon >= 0 && c.Epsilon <= 1):
		return field.Errorf("epsilon", "{epsilon} = %g: must be in [0, 1] (an L∞ radius on [0,1] images; 8/255 = 0.0314 is the protocols')", c.Epsilon)
	case !(c.StepSize >= 0 && c.StepSize <= 1):
		return field.Errorf("step_size", "{step_size} = %g: must be in [0, 1] (2/255 = 0.00784 is the protocols')", c.StepSize)
	case c.Steps < 0 || c.Steps > MaxPGDSteps:
		return field.Errorf("steps", "{steps} = %d: must be in [0, %d] (the attack is unrolled in the graph)", c.Steps, MaxPGDSteps)
	case c.Order != ClipThenProject && c.Order != ProjectThenClip:
		return field.Errorf("order", "{order} %q: use %q or %q", c.Order, ClipThenProject, ProjectThenClip)
	}
	return nil
}

// WithRadius returns the attack with radius eps and the given number of steps, keeping
// the order and the random start, with Madry et al.'s step size 2.5·eps/steps.
func (c PGDConfig) WithRadius(eps float64, steps int) PGDConfig {
	c.Epsilon, c.Steps = eps, steps
	c.StepSize = 0
	if steps > 0 {
		c.StepSize = 2.5 * eps / float64(steps)
	}
	return c
}

// PGD returns adversarial versions of the inputs xs (images in [0,1]) that jointly ascend
// objective, each input with its own random start: Steps sign-gradient steps of StepSize,
// each followed by the projection to the ε-ball around the clean input and the clip to
// [0,1] (in cfg.Order, which gives the same result either way). The loop is unrolled in
// the graph (XLA fuses the whole attack); the random starts come from ctx's RNG state, so
// a checkpointed run replays them exactly, and take the same values whether the step runs
// on one device or is split over several (random.go).
// Only the gradient with respect to the inputs is built, and the results carry a
// stop-gradient, so the caller's training gradient never flows through the attack.
// Whatever the objective does to variables (e.g. BN running statistics in train mode, as
// AdvCL's attack does) is chained through the steps.
func PGD(ctx *context.Context, xs []*graph.Node, cfg PGDConfig, objective func(advs []*graph.Node) *graph.Node) []*graph.Node {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	advs := make([]*graph.Node, len(xs))
	lo, hi := make([]*graph.Node, len(xs)), make([]*graph.Node, len(xs))
	for i, x := range xs {
		eps := graph.Scalar(x.Graph(), x.DType(), cfg.Epsilon)
		lo[i], hi[i] = graph.Sub(x, eps), graph.Add(x, eps)
		adv := x
		if cfg.RandomStart {
			u := uniformStart(ctx, x.Graph(), x.Shape()) // [0,1), the same on any number of devices
			noise := graph.Mul(graph.AddScalar(graph.MulScalar(u, 2), -1), eps)
			adv = graph.Add(x, noise)
			if cfg.ClipStart {
				adv = clip01(adv)
			}
		}
		advs[i] = adv
	}
	for step := 0; step < cfg.Steps; step++ {
		loss := objective(advs)
		grads := graph.Gradient(loss, advs...)
		for i, adv := range advs {
			a := graph.Scalar(adv.Graph(), adv.DType(), cfg.StepSize)
			next := graph.Add(adv, graph.Mul(a, graph.Sign(grads[i])))
			if cfg.Order == ClipThenProject {
				next = graph.Min(graph.Max(clip01(next), lo[i]), hi[i])
			} else {
				next = clip01(graph.Min(graph.Max(next, lo[i]), hi[i]))
			}
			advs[i] = next
		}
	}
	// graph.Gradient treats a StopGradient node as having no gradient, so the stop is
	// applied only to the results: the attack's inner gradients depend on the weights.
	for i := range advs {
		advs[i] = graph.StopGradient(advs[i])
	}
	return advs
}

func clip01(x *graph.Node) *graph.Node {
	return graph.Clip(x, graph.ScalarZero(x.Graph(), x.DType()), graph.ScalarOne(x.Graph(), x.DType()))
}
