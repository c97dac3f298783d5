package eval

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Each evaluation-hygiene check fires on a model built to trip it, and none fires on an
// honest linear classifier: outputs with noise drawn at every pass (randomized), a softmax
// at the end (probabilities), an input whose gradient is cut (zero gradients).
func TestChecksFireOnTheirModels(t *testing.T) {
	shape := attack.ImageShape{H: 4, W: 4, C: 3}
	const n, k = 16, 10
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, n*shape.Size())
	for i := range x {
		x[i] = r.Float32()
	}
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(i % k)
	}
	linear := func(ctx *context.Context, x *graph.Node) *graph.Node {
		return layers.NewLinear(ctx.In("head"), graph.Reshape(x, x.Shape().Dimensions[0], -1), k).Done()
	}
	models := []struct {
		name, want string
		logits     func(ctx *context.Context, x *graph.Node) *graph.Node
	}{
		{"honest linear", "", linear},
		{"noisy", "randomized outputs", func(ctx *context.Context, x *graph.Node) *graph.Node {
			z := linear(ctx, x)
			return graph.Add(z, graph.MulScalar(ctx.RandomNormal(z.Graph(), z.Shape()), 0.5))
		}},
		{"softmax", "outputs are probabilities", func(ctx *context.Context, x *graph.Node) *graph.Node {
			return graph.Softmax(linear(ctx, x), -1)
		}},
		{"cut gradient", "zero gradients: 16 of 16", func(ctx *context.Context, x *graph.Node) *graph.Node {
			return linear(ctx, graph.StopGradient(x))
		}},
	}
	for _, m := range models {
		ctx := context.New().Checked(false)
		if err := ctx.SetRNGStateFromSeed(5); err != nil {
			t.Fatal(err)
		}
		o, err := attack.NewGraphOracle(testbackend.Get(t), ctx, m.logits, k, shape.H, shape.W, shape.C)
		if err != nil {
			t.Fatal(err)
		}
		warnings, err := Checks(o, x, y, n, shape)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		switch {
		case m.want == "" && len(warnings) > 0:
			t.Errorf("%s: unexpected warnings %q", m.name, warnings)
		case m.want != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], m.want)):
			t.Errorf("%s: warnings %q, want exactly one containing %q", m.name, warnings, m.want)
		}
	}
}

// A PGD-20 robust accuracy not above AutoAttack's on the same images of the same
// finetuning is flagged; records of other images or finetunings are not compared, and two
// zeros (every image broken) are not suspicious.
func TestCompareWithAutoAttack(t *testing.T) {
	rec := func(name string, robust int) *Record {
		return &Record{Mode: finetune.SLF, FinetuningSHA256: "abc", TestSubset: 100, Seed: 1,
			Attack:   attack.Settings{Name: name, Epsilon: 8.0 / 255},
			Accuracy: finetune.Accuracy{Images: 100, RobustCorrect: robust, Robust: float64(robust) / 100}}
	}
	if w := CompareWithAutoAttack(rec(attack.NamePGD20, 45), rec(attack.NameAutoAttack, 41)); w != "" {
		t.Errorf("PGD-20 above AutoAttack: unexpected warning %q", w)
	}
	for _, c := range [][2]int{{40, 41}, {41, 41}} {
		if w := CompareWithAutoAttack(rec(attack.NamePGD20, c[0]), rec(attack.NameAutoAttack, c[1])); !strings.Contains(w, "not above AutoAttack's") {
			t.Errorf("PGD-20 %d%% vs AutoAttack %d%%: warning %q", c[0], c[1], w)
		}
	}
	if w := CompareWithAutoAttack(rec(attack.NamePGD20, 0), rec(attack.NameAutoAttack, 0)); w != "" {
		t.Errorf("both 0: unexpected warning %q", w)
	}
	other := rec(attack.NameAutoAttack, 60)
	other.FinetuningSHA256 = "def"
	if w := CompareWithAutoAttack(rec(attack.NamePGD20, 40), other); w != "" {
		t.Errorf("another finetuning's AutoAttack: unexpected warning %q", w)
	}
	fewer := rec(attack.NameAutoAttack, 60)
	fewer.Accuracy.Images, fewer.TestSubset = 50, 50
	if w := CompareWithAutoAttack(rec(attack.NamePGD20, 40), fewer); w != "" {
		t.Errorf("AutoAttack on other images: unexpected warning %q", w)
	}
}
