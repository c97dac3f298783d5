package losses

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ainfonce/goacl/internal/golden"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestRoCLIPHalfTwoEqualsBase: RoCL-IP with α = ½, λ = 2 is baseline RoCL in value and
// gradient (spec §3.3, §11), and likewise IPHN against HN; checked on random features and,
// when present, on the golden RoCL baseline case.
func TestRoCLIPHalfTwoEqualsBase(t *testing.T) {
	type input struct {
		name string
		x    []float64
		dims []int
	}
	inputs := []input{{"random", randomData(3, 18*7), []int{18, 7}}}
	if dir, err := goldenDir(); err == nil {
		path := filepath.Join(dir, "rocl-base-b10-d16-16.json")
		if _, err := os.Stat(path); err == nil {
			c := readGolden(t, path)
			x, dims, _ := golden.Nested(c.Features)
			inputs = append(inputs, input{"golden rocl-base-b10-d16-16", x, dims})
		}
	}
	for _, in := range inputs {
		for _, pair := range [][2]Variant{{IP, Base}, {IPHN, HN}} {
			for _, q := range []Quirks{Official, Corrected} {
				cfg := DefaultConfig()
				cfg.Quirks, cfg.TauPlus = q, 0.12
				cfg.Variant, cfg.Alpha, cfg.Lambda = pair[0], 0.5, 2
				ipCfg := cfg
				cfg.Variant, cfg.Alpha, cfg.Lambda = pair[1], 0.2, 1
				baseCfg := cfg
				l1, g1 := lossAndGrad(t, func(x *graph.Node) *graph.Node { return RoCLNTXent(x, ipCfg) }, dtypes.Float64, in.x, in.dims...)
				l0, g0 := lossAndGrad(t, func(x *graph.Node) *graph.Node { return RoCLNTXent(x, baseCfg) }, dtypes.Float64, in.x, in.dims...)
				if relErr(l1, l0) > 1e-14 || maxRelErr(g1, g0) > 1e-14 {
					t.Errorf("%s %s(α=½,λ=2) vs %s [%s]: loss %.17g vs %.17g, grad rel %.3g",
						in.name, pair[0], pair[1], q, l1, l0, maxRelErr(g1, g0))
				}
			}
		}
	}
}

// TestHNReducesToMeanPositive: with β = 0, τ⁺ = 0 and no clamp, the HN per-pair losses
// equal the mean-positive InfoNCE (spec §3.4 note 5) in value and gradient, on RoCL's
// unshifted logits and AdvCL's max-shifted logits; and the full RoCL HN loss equals the
// RoCL sum of mean-positive terms. In the AdvCL layout this needs FixHNDenominator: the
// official column-wise denominator pairs each entry with its column's pos + Ng.
func TestHNReducesToMeanPositive(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Variant, cfg.Beta, cfg.TauPlus, cfg.NoClamp = HN, 0, 0, true
	const B, V, d = 4, 3, 6
	for _, layout := range []Layout{LayoutRoCL, LayoutAdvCL} {
		for _, q := range []Quirks{Official, FixHNDenominator, Corrected} {
			if layout == LayoutAdvCL && !q.Has(FixHNDenominator) {
				continue
			}
			c := cfg
			c.Quirks = q
			x := randomData(9, B*V*d)
			// Returns Σ over positives of w_rc·ℓ_rc (distinct weights) for HN and for the
			// mean-positive InfoNCE, so value and gradient of every positive entry are compared.
			build := func(hn bool) lossFn {
				return func(z *graph.Node) *graph.Node {
					var logits, shift *graph.Node
					if layout == LayoutRoCL {
						logits = RoCLSimilarity(z, c.Temperature)
					} else {
						logits, shift = SupConLogits(z, c.Temperature, false)
					}
					var ell *graph.Node
					if hn {
						ell = HardNegative(logits, shift, V, layout, c)
					} else {
						ell = MeanPositiveInfoNCE(logits, V)
					}
					m := buildMasks(z.Graph(), rowLayout{views: V, batch: B, advView: -1})
					w := graph.ConvertDType(graph.Iota(z.Graph(), ell.Shape(), 0), ell.DType())
					w = graph.Add(w, graph.MulScalar(graph.ConvertDType(graph.Iota(z.Graph(), ell.Shape(), 1), ell.DType()), 0.37))
					return graph.ReduceAllSum(masked(m.pos, graph.Mul(graph.AddScalar(w, 1), ell)))
				}
			}
			l1, g1 := lossAndGrad(t, build(true), dtypes.Float64, x, B*V, d)
			l0, g0 := lossAndGrad(t, build(false), dtypes.Float64, x, B*V, d)
			if relErr(l1, l0) > 1e-13 || maxRelErr(g1, g0) > 1e-12 {
				t.Errorf("%s [%s]: HN(β=0,τ⁺=0,no clamp) %.15g vs mean-positive %.15g, grad rel %.3g",
					layout, q, l1, l0, maxRelErr(g1, g0))
			}
		}
	}
	// Full RoCL loss: HN(β=0, τ⁺=0, no clamp) = (1/3B) Σ_i six mean-positive terms.
	x := randomData(10, 3*B*d)
	full, gFull := lossAndGrad(t, func(z *graph.Node) *graph.Node { return RoCLNTXent(z, cfg) }, dtypes.Float64, x, 3*B, d)
	ref, gRef := lossAndGrad(t, func(z *graph.Node) *graph.Node {
		ell := MeanPositiveInfoNCE(RoCLSimilarity(z, cfg.Temperature), 3)
		m := buildMasks(z.Graph(), rowLayout{views: 3, batch: B, advView: 2})
		return graph.DivScalar(graph.ReduceAllSum(masked(m.pos, ell)), 3*B)
	}, dtypes.Float64, x, 3*B, d)
	if relErr(full, ref) > 1e-13 || maxRelErr(gFull, gRef) > 1e-12 {
		t.Errorf("RoCL HN(β=0,τ⁺=0,no clamp) loss %.15g vs mean-positive RoCL %.15g", full, ref)
	}
}

// sharesFor evaluates GradientShares for a layout's test features.
func sharesFor(t *testing.T, layout Layout, cfg Config, x []float64, dims []int) (c, a, cc, ca float64) {
	t.Helper()
	outs := evalNodes(t, func(xs []*graph.Node) []*graph.Node {
		c, a, cc, ca := GradientShares(xs[0], layout, cfg)
		return []*graph.Node{c, a, cc, ca}
	}, tensors.FromFlatDataAndDimensions(x, dims...))
	return outs[0][0], outs[1][0], outs[2][0], outs[3][0]
}

// TestAlphaZeroRoutesCrossGradientToAdversarialRows: with α = 0 the clean/adversarial
// pairs send gradient only to the adversarial rows, and the clean rows' share of the
// cross-pair gradient is linear in α (spec §3.3, §11). For IPHN this holds once the HN
// normaliser and denominator are row-wise: the official column-wise quirks let gradient
// reach the clean rows through their own rows' normalisers (checked too).
func TestAlphaZeroRoutesCrossGradientToAdversarialRows(t *testing.T) {
	for _, layout := range []Layout{LayoutRoCL, LayoutAdvCL, LayoutACLDS} {
		for _, v := range []Variant{IP, IPHN} {
			for _, q := range []Quirks{Official, Corrected} {
				cfg := DefaultConfig()
				cfg.Variant, cfg.Quirks, cfg.Lambda = v, q, 1.4
				rc := layoutCase(layout, cfg)
				x := refFeatures(rc, 21, false)
				name := fmt.Sprintf("%s %s [%s]", layout, v, q)
				cfg.Alpha = 0
				_, _, cc0, ca0 := sharesFor(t, layout, cfg, x, rc.dims())
				cfg.Alpha = 0.25
				_, _, cc1, _ := sharesFor(t, layout, cfg, x, rc.dims())
				cfg.Alpha = 0.5
				_, _, cc2, _ := sharesFor(t, layout, cfg, x, rc.dims())
				leaks := v == IPHN && q == Official
				t.Logf("%-28s α=0: cross grad clean %.3g adv %.3g; clean at α=.25 %.4g, α=.5 %.4g", name, cc0, ca0, cc1, cc2)
				if !(ca0 > 0) {
					t.Errorf("%s: no cross-pair gradient on the adversarial rows at α=0", name)
				}
				if leaks {
					if !(cc0 > 0) {
						t.Errorf("%s: expected the official HN quirks to leak cross gradient to clean rows", name)
					}
					continue
				}
				if cc0 != 0 {
					t.Errorf("%s: α=0 cross-pair gradient reaches the clean rows (norm %.3g)", name, cc0)
				}
				if math.Abs(cc2/cc1-2) > 1e-9 {
					t.Errorf("%s: clean cross gradient not linear in α: %.6g at α=.25, %.6g at α=.5", name, cc1, cc2)
				}
			}
		}
	}
}

// permuteInstances permutes the instances of a layout's flat features.
func permuteInstances(rc refCase, x []float64, perm []int) []float64 {
	out := make([]float64, len(x))
	src, dst := rc.rows(x), rc.rows(out)
	for r := range src {
		v, i := r/rc.B, r%rc.B
		copy(dst[v*rc.B+perm[i]], src[r])
	}
	return out
}

// TestPermutationInvariance: permuting the instances (the same permutation in every view)
// leaves the loss unchanged and permutes the gradient, for every layout, variant and mode.
func TestPermutationInvariance(t *testing.T) {
	for _, layout := range []Layout{LayoutRoCL, LayoutAdvCL, LayoutACLDS} {
		for _, v := range []Variant{Base, IP, HN, IPHN} {
			for _, q := range []Quirks{Official, Corrected} {
				cfg := DefaultConfig()
				cfg.Variant, cfg.Quirks, cfg.Lambda, cfg.Alpha, cfg.TauPlus = v, q, 1.3, 0.3, 0.12
				rc := layoutCase(layout, cfg)
				perm := make([]int, rc.B)
				for i := range perm {
					perm[i] = (i*2 + 1) % rc.B
				}
				if rc.B%2 == 0 { // keep it a permutation
					for i := range perm {
						perm[i] = rc.B - 1 - i
					}
				}
				x := refFeatures(rc, 33, false)
				xp := permuteInstances(rc, x, perm)
				l0, g0 := lossAndGrad(t, graphLoss(rc), dtypes.Float64, x, rc.dims()...)
				l1, g1 := lossAndGrad(t, graphLoss(rc), dtypes.Float64, xp, rc.dims()...)
				if relErr(l1, l0) > 1e-12 || maxRelErr(g1, permuteInstances(rc, g0, perm)) > 1e-11 {
					t.Errorf("%s %s [%s]: permuted loss %.15g vs %.15g, grad rel %.3g", layout, v, q, l1, l0,
						maxRelErr(g1, permuteInstances(rc, g0, perm)))
				}
			}
		}
	}
}

// TestAdvCLIPAlphaZeroEqualsBaseValue: AdvCL-IP with α = 0, λ = 1 has the repo baseline's
// value (spec §11), the baseline including the official block overwrite.
func TestAdvCLIPAlphaZeroEqualsBaseValue(t *testing.T) {
	for _, pair := range [][2]Variant{{IP, Base}, {IPHN, HN}} {
		cfg := DefaultConfig()
		cfg.Variant, cfg.Alpha = pair[0], 0
		rc := layoutCase(LayoutAdvCL, cfg)
		x := refFeatures(rc, 4, false)
		ip, _ := lossAndGrad(t, graphLoss(rc), dtypes.Float64, x, rc.dims()...)
		rc.cfg.Variant = pair[1]
		base, _ := lossAndGrad(t, graphLoss(rc), dtypes.Float64, x, rc.dims()...)
		if relErr(ip, base) > 1e-13 {
			t.Errorf("AdvCL %s(α=0, λ=1) %.15g vs %s %.15g", pair[0], ip, pair[1], base)
		}
	}
}

// TestAlphaNodeMatchesScalar: a per-batch α fed as a graph parameter gives the same loss
// and gradient as the same α given as a float, in both layouts and in float32.
func TestAlphaNodeMatchesScalar(t *testing.T) {
	for _, layout := range []Layout{LayoutRoCL, LayoutAdvCL, LayoutACLDS} {
		for _, dt := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
			cfg := DefaultConfig()
			cfg.Variant, cfg.Alpha, cfg.Lambda = IPHN, 0.37, 1.2
			rc := layoutCase(layout, cfg)
			x := refFeatures(rc, 8, false)
			l0, g0 := lossAndGrad(t, graphLoss(rc), dt, x, rc.dims()...)
			exec, err := graph.NewExec(testBackend(t), func(z, alpha *graph.Node) (*graph.Node, *graph.Node) {
				c := cfg
				c.Alpha, c.AlphaNode = math.NaN(), alpha // Alpha must be ignored
				loss := AInfoNCE(z, layout, c)
				return loss, graph.Gradient(loss, z)[0]
			})
			if err != nil {
				t.Fatal(err)
			}
			var in *tensors.Tensor
			if dt == dtypes.Float64 {
				in = tensors.FromFlatDataAndDimensions(x, rc.dims()...)
			} else {
				f := make([]float32, len(x))
				for i := range x {
					f[i] = float32(x[i])
				}
				in = tensors.FromFlatDataAndDimensions(f, rc.dims()...)
			}
			outs, err := exec.Exec(in, 0.37) // α as a float64 scalar parameter
			if err != nil {
				t.Fatal(err)
			}
			l1, g1 := toF64(t, outs[0])[0], toF64(t, outs[1])
			tol := 1e-14
			if dt == dtypes.Float32 {
				tol = 1e-6
			}
			if relErr(l1, l0) > tol || maxRelErr(g1, g0) > tol {
				t.Errorf("%s %s: AlphaNode loss %.10g vs Alpha %.10g, grad rel %.3g", layout, dt, l1, l0, maxRelErr(g1, g0))
			}
		}
	}
}
