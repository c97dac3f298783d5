package attack

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/internal/gradcheck"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Tiny GoMLX classifiers for the attack tests (usable by every test of the package).

// testLinear is the linear classifier z = W·vec(x) + b, W [K][D] row-major.
type testLinear struct {
	W     []float32
	B     []float32
	K     int
	Shape ImageShape
}

// newTestLinear draws W ~ N(0, scale²/D)·… and b = 0 from seed.
func newTestLinear(seed uint64, k int, shape ImageShape, scale float64) testLinear {
	rng := rand.New(rand.NewPCG(seed, 11))
	d := shape.Size()
	m := testLinear{W: make([]float32, k*d), B: make([]float32, k), K: k, Shape: shape}
	for i := range m.W {
		m.W[i] = float32(rng.NormFloat64() * scale / math.Sqrt(float64(d)))
	}
	return m
}

func (m testLinear) logitsFn(ctx *context.Context, x *graph.Node) *graph.Node {
	g := x.Graph()
	n, d := x.Shape().Dimensions[0], m.Shape.Size()
	w := graph.Const(g, tensors.FromFlatDataAndDimensions(m.W, m.K, d))
	z := graph.Dot(graph.Reshape(x, n, d), graph.Transpose(w, 0, 1))
	return graph.Add(z, graph.InsertAxes(graph.Const(g, m.B), 0))
}

// logits computes z on the host in float64.
func (m testLinear) logits(x []float32) []float64 {
	d := m.Shape.Size()
	z := make([]float64, m.K)
	for c := range m.K {
		z[c] = float64(m.B[c])
		for j := range d {
			z[c] += float64(m.W[c*d+j]) * float64(x[j])
		}
	}
	return z
}

func (m testLinear) oracle(t testing.TB) *GraphOracle {
	t.Helper()
	o, err := NewGraphOracle(testBackend(t), context.New().Checked(false), m.logitsFn, m.K, m.Shape.H, m.Shape.W, m.Shape.C)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// testMLP is a 2-layer ReLU perceptron with fixed random weights (graph constants).
type testMLP struct {
	W1, B1, W2, B2 []float32
	Hidden, K      int
	Shape          ImageShape
}

func newTestMLP(seed uint64, hidden, k int, shape ImageShape) testMLP {
	rng := rand.New(rand.NewPCG(seed, 12))
	d := shape.Size()
	m := testMLP{Hidden: hidden, K: k, Shape: shape,
		W1: make([]float32, d*hidden), B1: make([]float32, hidden), W2: make([]float32, hidden*k), B2: make([]float32, k)}
	for i := range m.W1 {
		m.W1[i] = float32(rng.NormFloat64() * 2 / math.Sqrt(float64(d)))
	}
	for i := range m.B1 {
		m.B1[i] = float32(rng.NormFloat64() * 0.5)
	}
	for i := range m.W2 {
		m.W2[i] = float32(rng.NormFloat64() * 2 / math.Sqrt(float64(hidden)))
	}
	return m
}

func (m testMLP) logitsFn(ctx *context.Context, x *graph.Node) *graph.Node {
	g := x.Graph()
	n, d := x.Shape().Dimensions[0], m.Shape.Size()
	h := graph.Dot(graph.Reshape(x, n, d), graph.Const(g, tensors.FromFlatDataAndDimensions(m.W1, d, m.Hidden)))
	h = layers.ReLU(graph.Add(h, graph.InsertAxes(graph.Const(g, m.B1), 0)))
	z := graph.Dot(h, graph.Const(g, tensors.FromFlatDataAndDimensions(m.W2, m.Hidden, m.K)))
	return graph.Add(z, graph.InsertAxes(graph.Const(g, m.B2), 0))
}

func (m testMLP) oracle(t testing.TB) *GraphOracle {
	t.Helper()
	o, err := NewGraphOracle(testBackend(t), context.New().Checked(false), m.logitsFn, m.K, m.Shape.H, m.Shape.W, m.Shape.C)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// testSmallCNNOracle is the project's SmallCNN encoder (width 4, BN in eval mode) with a
// linear head, randomly initialised from seed: the shape of the real evaluation model.
func testSmallCNNOracle(t testing.TB, seed int64, k int, shape ImageShape) *GraphOracle {
	t.Helper()
	ctx := context.New().Checked(false)
	if err := ctx.SetRNGStateFromSeed(seed); err != nil {
		t.Fatal(err)
	}
	enc := layers.SmallCNN{Width: 4}
	fn := func(ctx *context.Context, x *graph.Node) *graph.Node {
		h := enc.Features(ctx, x, "")
		return layers.NewLinear(ctx.In("head"), h, k).Done()
	}
	o, err := NewGraphOracle(testBackend(t), ctx, fn, k, shape.H, shape.W, shape.C)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// testImages draws n images uniform in [0,1].
func testImages(seed uint64, n int, shape ImageShape) []float32 {
	rng := rand.New(rand.NewPCG(seed, 13))
	x := make([]float32, n*shape.Size())
	for i := range x {
		x[i] = rng.Float32()
	}
	return x
}

// labelsFromModel labels each image with the model's prediction, except a fraction
// flipped to another class (so the clean accuracy is below 1).
func labelsFromModel(t testing.TB, o Oracle, x []float32, n int, flip float64, seed uint64) []int32 {
	t.Helper()
	pred, err := predict(o, x, n)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 14))
	k := o.NumClasses()
	for i := range pred {
		if rng.Float64() < flip {
			pred[i] = int32((int(pred[i]) + 1 + rng.IntN(k-1)) % k)
		}
	}
	return pred
}

// hostAttackLoss is the official formula of each loss on one row of logits, in float64,
// with its gradient with respect to the logits.
func hostAttackLoss(kind string, z []float64, y, tgt int) (float64, []float64) {
	k := len(z)
	order := make([]int, k)
	for i := range order {
		order[i] = i
	}
	for a := range k { // descending, ties to the lower index
		for b := a + 1; b < k; b++ {
			if z[order[b]] > z[order[a]] || (z[order[b]] == z[order[a]] && order[b] < order[a]) {
				order[a], order[b] = order[b], order[a]
			}
		}
	}
	g := make([]float64, k)
	switch kind {
	case LossCE:
		m := z[order[0]]
		s := 0.0
		for _, v := range z {
			s += math.Exp(v - m)
		}
		for i, v := range z {
			g[i] = math.Exp(v-m) / s
		}
		g[y]--
		return m + math.Log(s) - z[y], g
	case LossMargin:
		g[tgt], g[y] = 1, -1
		return z[tgt] - z[y], g
	case LossDLR:
		other := -1
		for _, i := range order {
			if i != y {
				other = i
				break
			}
		}
		num := z[y] - z[other]
		den := z[order[0]] - z[order[2]] + 1e-12
		g[y] -= 1 / den
		g[other] += 1 / den
		g[order[0]] += num / (den * den)
		g[order[2]] -= num / (den * den)
		return -num / den, g
	case LossDLRTargeted:
		num := z[y] - z[tgt]
		den := z[order[0]] - 0.5*(z[order[2]]+z[order[3]]) + 1e-12
		g[y] -= 1 / den
		g[tgt] += 1 / den
		g[order[0]] += num / (den * den)
		g[order[2]] -= 0.5 * num / (den * den)
		g[order[3]] -= 0.5 * num / (den * den)
		return -num / den, g
	}
	panic(kind)
}

// The four losses, in graph, match the official formulas, and their gradients with respect
// to the logits match finite differences (float64).
func TestPerExampleAttackLossFormulasAndGradients(t *testing.T) {
	b := testBackend(t)
	const n, k = 5, 6
	rng := rand.New(rand.NewPCG(1, 2))
	z := make([]float64, n*k)
	for i := range z {
		z[i] = rng.NormFloat64() * 2
	}
	y := []int32{0, 3, 5, 2, 1}
	tg := []int32{4, 1, 0, 2, 5} // row 3: target = label (loss 0 numerator)
	for _, kind := range []string{LossCE, LossDLR, LossDLRTargeted, LossMargin} {
		exec, err := graph.NewExec(b, func(zn, yn, tn *graph.Node) *graph.Node { return PerExampleAttackLoss(kind, zn, yn, tn) })
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Exec(tensors.FromFlatDataAndDimensions(z, n, k), tensors.FromValue(y), tensors.FromValue(tg))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		got := tensors.MustCopyFlatData[float64](out[0])
		for i := range n {
			want, _ := hostAttackLoss(kind, z[i*k:(i+1)*k], int(y[i]), int(tg[i]))
			if math.Abs(got[i]-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Errorf("%s row %d: loss %.12g, want %.12g", kind, i, got[i], want)
			}
		}
		res, err := gradcheck.Check(b, func(in []*graph.Node) *graph.Node {
			g := in[0].Graph()
			l := PerExampleAttackLoss(kind, in[0], graph.Const(g, y), graph.Const(g, tg))
			return graph.ReduceAllSum(graph.Mul(l, graph.Const(g, []float64{1, -2, 0.5, 3, -1})))
		}, 1e-6, tensors.FromFlatDataAndDimensions(append([]float64(nil), z...), n, k))
		if err != nil {
			t.Fatal(err)
		}
		if rel := res.RelErr()[0]; rel > 1e-6 {
			t.Errorf("%s: gradient relative error %.2g vs finite differences", kind, rel)
		}
	}
}

// GraphOracle on a linear model: logits, per-example losses and input gradients equal the
// host's (W-weighted logit gradients), for batch sizes that need padding and not.
func TestGraphOracleLinearModel(t *testing.T) {
	shape := ImageShape{H: 2, W: 3, C: 2}
	m := newTestLinear(3, 5, shape, 4)
	o := m.oracle(t)
	d := shape.Size()
	for _, n := range []int{1, 3, 4, 7} {
		x := testImages(uint64(n), n, shape)
		y := make([]int32, n)
		tg := make([]int32, n)
		for i := range y {
			y[i], tg[i] = int32(i%5), int32((i+2)%5)
		}
		zs, err := o.Logits(x, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{LossCE, LossDLR, LossDLRTargeted, LossMargin} {
			loss, grad, logits, err := o.LossGradLogits(kind, x, n, y, tg)
			if err != nil {
				t.Fatalf("n=%d %s: %v", n, kind, err)
			}
			for i := range n {
				z := m.logits(x[i*d : (i+1)*d])
				for c := range m.K {
					if math.Abs(float64(zs[i*m.K+c])-z[c]) > 1e-5 || logits[i*m.K+c] != zs[i*m.K+c] {
						t.Fatalf("n=%d image %d: logits %v, want %v", n, i, zs[i*m.K:(i+1)*m.K], z)
					}
				}
				want, gz := hostAttackLoss(kind, z, int(y[i]), int(tg[i]))
				if math.Abs(float64(loss[i])-want) > 1e-4*math.Max(1, math.Abs(want)) {
					t.Errorf("n=%d %s image %d: loss %g, want %g", n, kind, i, loss[i], want)
				}
				for j := range d {
					gx := 0.0
					for c := range m.K {
						gx += gz[c] * float64(m.W[c*d+j])
					}
					if math.Abs(float64(grad[i*d+j])-gx) > 1e-4*math.Max(1, math.Abs(gx)) {
						t.Fatalf("n=%d %s image %d: ∂loss/∂x[%d] = %g, want %g", n, kind, i, j, grad[i*d+j], gx)
					}
				}
			}
		}
	}
}

// The SmallCNN oracle runs BN in eval mode: a batch's logits do not depend on the other
// images in it (padding and subsets are exact), and nothing changes between calls.
func TestGraphOracleEvalModeIsPerExample(t *testing.T) {
	shape := ImageShape{H: 8, W: 8, C: 3}
	o := testSmallCNNOracle(t, 5, 10, shape)
	x := testImages(9, 5, shape)
	all, err := o.Logits(x, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		one, err := o.Logits(x[i*shape.Size():(i+1)*shape.Size()], 1)
		if err != nil {
			t.Fatal(err)
		}
		for c := range 10 {
			if d := math.Abs(float64(one[c] - all[i*10+c])); d > 1e-5 {
				t.Fatalf("image %d logit %d: %g alone, %g in a batch of 5", i, c, one[c], all[i*10+c])
			}
		}
	}
	again, err := o.Logits(x, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if again[i] != all[i] {
			t.Fatalf("logits changed between calls (BN statistics updated?)")
		}
	}
}

func TestGraphOracleErrors(t *testing.T) {
	shape := ImageShape{H: 2, W: 2, C: 1}
	o := newTestLinear(1, 3, shape, 1).oracle(t)
	x := make([]float32, 2*shape.Size())
	for _, tc := range []struct {
		kind    string
		x       []float32
		n       int
		y, tg   []int32
		wantSub string
	}{
		{"hinge", x, 2, []int32{0, 1}, nil, "unknown attack loss"},
		{LossDLRTargeted, x, 2, []int32{0, 1}, []int32{1, 2}, "at least 4 classes"},
		{LossCE, x[:3], 2, []int32{0, 1}, nil, "3 values for 2 images"},
		{LossCE, x, 2, []int32{0}, nil, "1 labels for 2 images"},
		{LossMargin, x, 2, []int32{0, 1}, nil, "needs 2 targets"},
		{LossCE, x, 2, []int32{0, 3}, nil, "outside [0,3)"},
	} {
		_, _, err := o.LossGrad(tc.kind, tc.x, tc.n, tc.y, tc.tg)
		if err == nil || !strings.Contains(err.Error(), tc.wantSub) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.kind, err, tc.wantSub)
		}
	}
	bad := func(ctx *context.Context, x *graph.Node) *graph.Node {
		return graph.Reshape(x, x.Shape().Dimensions[0], 4) // 4 "logits" instead of 3
	}
	ob, err := NewGraphOracle(testBackend(t), context.New().Checked(false), bad, 3, 2, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Logits(x, 2); err == nil || !strings.Contains(err.Error(), "want [") {
		t.Errorf("wrong logits shape: error %v", err)
	}
	if _, err := NewGraphOracle(testBackend(t), context.New(), bad, 1, 2, 2, 1); err == nil {
		t.Errorf("1 class: want an error")
	}
}

// AutoAttack queries subsets of every size (Square: one per query); padded or not, the
// oracle must not run out of GoMLX's per-executable graph cache (32 by default).
func TestGraphOracleManyBatchSizes(t *testing.T) {
	shape := ImageShape{H: 2, W: 2, C: 1}
	m := newTestLinear(5, 3, shape, 1)
	for _, pad := range []bool{true, false} {
		o := m.oracle(t)
		o.PadBatches = pad
		for n := 1; n <= 40; n++ {
			x := testImages(uint64(n), n, shape)
			z, err := o.Logits(x, n)
			if err != nil {
				t.Fatalf("pad=%v n=%d: %v", pad, n, err)
			}
			if want := m.logits(x[(n-1)*4:]); math.Abs(float64(z[len(z)-1])-want[2]) > 1e-5 {
				t.Fatalf("pad=%v n=%d: last logit %g, want %g", pad, n, z[len(z)-1], want[2])
			}
			if _, _, err := o.LossGrad(LossCE, x, n, make([]int32, n), nil); err != nil {
				t.Fatalf("pad=%v n=%d: %v", pad, n, err)
			}
		}
	}
}
