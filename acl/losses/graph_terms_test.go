package losses

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The in-graph adaptive α must be the α AdaptiveAlpha.Observe returns on the host, on
// every branch of the formula (warm-up, d > d̄, d < d_min, interpolation, d̄ = d_min,
// non-finite d).
func TestAdaptiveAlphaGraphMatchesHost(t *testing.T) {
	a := &AdaptiveAlpha{Alpha0: 0.2, WarmupEpochs: 3, DMin: 0.4}
	cases := []struct{ d, mean, warm float64 }{
		{0.9, 1.0, 1}, {1.5, 1.0, 1}, // warm-up: α₀ whatever d
		{1.2, 1.0, 0}, {0.3, 1.0, 0}, {0.4, 1.0, 0}, {0.7, 1.0, 0}, {1.0, 1.0, 0}, {0.95, 1.0, 0},
		{0.4, 0.4, 0}, {math.NaN(), 1.0, 0}, {math.Inf(1), 1.0, 0}, {0.5, 0, 0},
	}
	for _, c := range cases {
		out := evalNodes(t, func(xs []*graph.Node) []*graph.Node {
			return []*graph.Node{AdaptiveAlphaGraph(a, xs[0], xs[1], xs[2])}
		}, tensors.FromScalar(c.d), tensors.FromScalar(c.mean), tensors.FromScalar(c.warm))[0][0]
		want := a.Alpha0
		if c.warm == 0 {
			b := *a
			b.SumD, b.Count = c.mean, 1
			want = b.Alpha(c.d)
		}
		if math.Abs(out-want) > 1e-12 {
			t.Errorf("d %g, d̄ %g, warm %g: graph α %g, host α %g", c.d, c.mean, c.warm, out, want)
		}
	}
}

// AdvCLPseudoLabelCE: summed (attack) and mean-over-labelled (training) cross-entropy
// averaged over the heads, label −1 ignored.
func TestAdvCLPseudoLabelCE(t *testing.T) {
	logits := [][]float64{{1, 2, 0.5}, {0, 0, 3}, {-1, 2, 2}} // 3 samples, 3 classes
	labels := []int32{2, -1, 1}
	flat := append(append(append([]float64{}, logits[0]...), logits[1]...), logits[2]...)
	nll := func(row []float64, y int) float64 {
		s := 0.0
		for _, v := range row {
			s += math.Exp(v)
		}
		return math.Log(s) - row[y]
	}
	sum := nll(logits[0], 2) + nll(logits[2], 1)
	for _, mean := range []bool{false, true} {
		out := evalNodes(t, func(xs []*graph.Node) []*graph.Node {
			// Two heads on the same logits and labels: the average equals one head.
			return []*graph.Node{AdvCLPseudoLabelCE([]*graph.Node{xs[0], xs[0]}, []*graph.Node{xs[1], xs[1]}, mean)}
		}, tensors.FromFlatDataAndDimensions(flat, 3, 3), tensors.FromFlatDataAndDimensions(labels, 3))[0][0]
		want := sum
		if mean {
			want = sum / 2
		}
		if math.Abs(out-want) > 1e-12 {
			t.Errorf("mean=%v: CE %g, want %g", mean, out, want)
		}
	}
	// CrossEntropy is the plain mean over all samples (no ignored label).
	out := evalNodes(t, func(xs []*graph.Node) []*graph.Node {
		return []*graph.Node{CrossEntropy(xs[0], xs[1])}
	}, tensors.FromFlatDataAndDimensions(flat, 3, 3), tensors.FromFlatDataAndDimensions([]int32{2, 0, 1}, 3))[0][0]
	if want := (nll(logits[0], 2) + nll(logits[1], 0) + nll(logits[2], 1)) / 3; math.Abs(out-want) > 1e-12 {
		t.Errorf("CrossEntropy %g, want %g", out, want)
	}
}

// AnnealedACLDS at w = 1 is the loss helpers' ACL(DS) loss: ACLDSNTXent for Base and
// AInfoNCEACLDS for the variants; with w it weighs the streams ½[(2−w)·NT_c + w·NT_a].
func TestAnnealedACLDSMatchesLossHelpers(t *testing.T) {
	const B, d = 4, 5
	data := randomData(7, 4*B*d)
	for _, v := range []Variant{Base, IP, HN, IPHN} {
		cfg := DefaultConfig()
		cfg.Variant, cfg.Alpha, cfg.Lambda = v, 0.3, 1.4
		out := evalNodes(t, func(xs []*graph.Node) []*graph.Node {
			clean, adv := aclSplit(xs[0])
			w := graph.Scalar(clean.Graph(), clean.DType(), 1.5)
			var ref *graph.Node
			if v == Base {
				ref = ACLDSNTXent(clean, adv, cfg)
			} else {
				ref = AInfoNCEACLDS(clean, adv, cfg)
			}
			l1, _ := AnnealedACLDS(clean, adv, cfg, nil)
			lw, terms := AnnealedACLDS(clean, adv, cfg, w)
			manual := graph.MulScalar(graph.Add(graph.MulScalar(terms["clean"], 0.5), graph.MulScalar(terms["adv"], 1.5)), 0.5)
			if c, ok := terms["cross"]; ok {
				manual = graph.Add(manual, c)
			}
			return []*graph.Node{ref, l1, lw, manual}
		}, tensors.FromFlatDataAndDimensions(data, 4*B, d))
		if relErr(out[0][0], out[1][0]) > 1e-12 {
			t.Errorf("%s: AnnealedACLDS %g, loss helper %g", v, out[1][0], out[0][0])
		}
		if relErr(out[2][0], out[3][0]) > 1e-12 {
			t.Errorf("%s: AnnealedACLDS(w=1.5) %g, want %g", v, out[2][0], out[3][0])
		}
	}
}

// NegativeWeights of the base loss is the softmax weight of each negative (times the
// positives' share), and HN with a large β favours the hard negatives.
func TestNegativeWeightsBase(t *testing.T) {
	backend := testBackend(t)
	const B, d = 3, 5
	R := 3 * B
	rng := rand.New(rand.NewPCG(1, 2))
	z := make([]float64, R*d)
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	cfg := DefaultConfig()
	rep, err := NegativeWeights(backend, tensors.FromFlatDataAndDimensions(z, R, d), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for r := range R {
		den := 0.0
		for c := range R {
			if c != r {
				den += math.Exp(rep.Cosine[r][c] / cfg.Temperature)
			}
		}
		den += 1e-8
		for c := range R {
			if !rep.Negative[r][c] {
				if rep.Weight[r][c] != 0 {
					t.Errorf("weight on non-negative (%d,%d) = %g", r, c, rep.Weight[r][c])
				}
				continue
			}
			q := math.Exp(rep.Cosine[r][c]/cfg.Temperature) / den
			want := 0.0
			for p := range R {
				if p != r && p%B == r%B {
					qp := math.Exp(rep.Cosine[r][p]/cfg.Temperature) / den
					want += q * qp / (qp + 1e-8) / float64(R)
				}
			}
			if math.Abs(rep.Weight[r][c]-want) > 1e-9 {
				t.Errorf("weight (%d,%d) = %.12g, want %.12g", r, c, rep.Weight[r][c], want)
			}
		}
	}
	if s := rep.AdvNegativeShare(); !(s > 0 && s < 1) {
		t.Errorf("AdvNegativeShare = %g", s)
	}
	if rep.ClampedRows() != 0 {
		t.Errorf("base loss has clamped rows")
	}
	// HN with a large β puts more relative weight on the most similar negatives.
	hn := DefaultConfig()
	hn.Variant, hn.Beta, hn.TauPlus = HN, 4, 0
	rh, err := NegativeWeights(backend, tensors.FromFlatDataAndDimensions(z, R, d), hn)
	if err != nil {
		t.Fatal(err)
	}
	_, wb := rep.WeightByCosine(2)
	_, wh := rh.WeightByCosine(2)
	if !(wh[1]/wh[0] > wb[1]/wb[0]) {
		t.Errorf("HN β=4 does not favour hard negatives more than the base loss: %v vs %v", wh, wb)
	}
	if _, err := NegativeWeights(backend, tensors.FromFlatDataAndDimensions(z[:4*d], 4, d), cfg); err == nil {
		t.Errorf("4 rows accepted for the RoCL layout")
	}
}
