package losses

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestAnalyzePairs: the per-pair terms sum to the loss, are non-zero only on positive
// pairs, the cross-pair gradient of IP at α = 0 has no clean share, and float32 works.
func TestAnalyzePairs(t *testing.T) {
	b := testBackend(t)
	for _, layout := range []Layout{LayoutRoCL, LayoutAdvCL, LayoutACLDS} {
		for _, v := range []Variant{Base, IP, HN, IPHN} {
			cfg := DefaultConfig()
			cfg.Variant, cfg.Alpha, cfg.Quirks = v, 0, Corrected
			rc := layoutCase(layout, cfg)
			x := refFeatures(rc, 13, false)
			rep, err := AnalyzePairs(b, tensors.FromFlatDataAndDimensions(x, rc.dims()...), layout, cfg)
			if err != nil {
				t.Fatalf("%s %s: %v", layout, v, err)
			}
			sum, R := 0.0, len(rep.Terms)
			for r := range R {
				for c := range R {
					sum += rep.Terms[r][c]
					samePair := r != c && r%rc.B == c%rc.B
					if !samePair && rep.Terms[r][c] != 0 {
						t.Errorf("%s %s: non-positive pair (%d,%d) has term %g", layout, v, r, c, rep.Terms[r][c])
					}
				}
			}
			if want := rc.refLoss(x, x); math.Abs(rep.Loss-want) > 1e-12*math.Abs(want) || math.Abs(sum-rep.Loss) > 1e-12*math.Abs(want) {
				t.Errorf("%s %s: report loss %.15g, Σ terms %.15g, reference %.15g", layout, v, rep.Loss, sum, want)
			}
			nAdv := 0
			for _, a := range rep.RowIsAdv {
				if a {
					nAdv++
				}
			}
			if wantAdv := map[Layout]int{LayoutRoCL: rc.B, LayoutAdvCL: rc.B, LayoutACLDS: 2 * rc.B}[layout]; nAdv != wantAdv {
				t.Errorf("%s: %d adversarial rows, want %d", layout, nAdv, wantAdv)
			}
			if v.HasIP() && (rep.CrossCleanShare() != 0 || !(rep.CrossAdvGradNorm > 0)) {
				t.Errorf("%s %s α=0: cross clean share %g (adv norm %g)", layout, v, rep.CrossCleanShare(), rep.CrossAdvGradNorm)
			}
			if !(rep.CleanShare() > 0 && rep.CleanShare() < 1) || !(rep.CrossLoss > 0 && rep.CrossLoss < rep.Loss) {
				t.Errorf("%s %s: clean share %g, cross loss %g of %g", layout, v, rep.CleanShare(), rep.CrossLoss, rep.Loss)
			}
			t.Logf("%-5s %-4s loss %.5f cross %.5f | grad share clean %.3f | cross-pair grad share clean %.3f",
				layout, v, rep.Loss, rep.CrossLoss, rep.CleanShare(), rep.CrossCleanShare())
		}
	}
	// float32 input.
	cfg := DefaultConfig()
	rc := layoutCase(LayoutRoCL, cfg)
	x := refFeatures(rc, 3, false)
	f := make([]float32, len(x))
	for i := range x {
		f[i] = float32(x[i])
	}
	rep, err := AnalyzePairs(b, tensors.FromFlatDataAndDimensions(f, rc.dims()...), LayoutRoCL, cfg)
	if err != nil || math.Abs(rep.Loss-rc.refLoss(x, x)) > 1e-5 {
		t.Errorf("float32 AnalyzePairs: %v, loss %v", err, rep)
	}
	// Errors instead of panics.
	cfg.Temperature = 0
	if _, err := AnalyzePairs(b, tensors.FromFlatDataAndDimensions(x, rc.dims()...), LayoutRoCL, cfg); err == nil ||
		!strings.Contains(err.Error(), "temperature") {
		t.Errorf("invalid config: %v", err)
	}
	cfg = DefaultConfig()
	if _, err := AnalyzePairs(b, tensors.FromFlatDataAndDimensions(x, 4, 15), LayoutRoCL, cfg); err == nil {
		t.Error("wrong shape: want an error")
	}
	// PairTerms as a graph function sums to AInfoNCE.
	outs := evalNodes(t, func(xs []*graph.Node) []*graph.Node {
		return []*graph.Node{graph.ReduceAllSum(PairTerms(xs[0], LayoutRoCL, cfg)), AInfoNCE(xs[0], LayoutRoCL, cfg)}
	}, tensors.FromFlatDataAndDimensions(x, rc.dims()...))
	if math.Abs(outs[0][0]-outs[1][0]) > 1e-13 {
		t.Errorf("Σ PairTerms %.15g vs AInfoNCE %.15g", outs[0][0], outs[1][0])
	}
}
