package losses

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// aclSplit returns the clean and adversarial halves of [4B, d] features.
func aclSplit(x *graph.Node) (clean, adv *graph.Node) {
	R := x.Shape().Dimensions[0]
	return graph.Slice(x, graph.AxisRange(0, R/2)), graph.Slice(x, graph.AxisRange(R/2, R))
}

// TestACLDSNTXentMatchesReference: ACL-DS's two-stream loss against the plain reference of
// VITA-Group utils.py:nt_xent, in both self-similarity modes, float64 and float32.
func TestACLDSNTXentMatchesReference(t *testing.T) {
	const B, d = 4, 6
	x := randomData(41, 4*B*d)
	rc := refCase{layout: LayoutACLDS, B: B, V: 4, d: d}
	rows := rc.rows(x)
	for _, q := range []Quirks{Official, Corrected} {
		cfg := DefaultConfig()
		cfg.Quirks = q
		want := 0.5 * (refACLNT(rows[:2*B], 0.5, q) + refACLNT(rows[2*B:], 0.5, q))
		for _, dt := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
			got, _ := lossAndGrad(t, func(z *graph.Node) *graph.Node {
				c, a := aclSplit(z)
				return ACLDSNTXent(c, a, cfg)
			}, dt, x, 4*B, d)
			tol := 1e-13
			if dt == dtypes.Float32 {
				tol = 1e-6
			}
			if relErr(got, want) > tol {
				t.Errorf("%s %s: ACLDSNTXent %.15g vs reference %.15g", q, dt, got, want)
			}
		}
	}
}

// TestAInfoNCEACLDSBase: the extension's Base cross term with λ = 1 is the 2-view NT-Xent
// of [x^v; a^v], so L = ACL-DS + ¼·Σ_v NT([x^v; a^v]); IP at α = ½ has the Base value.
func TestAInfoNCEACLDSBase(t *testing.T) {
	const B, d = 4, 6
	x := randomData(42, 4*B*d)
	cfg := DefaultConfig()
	ext, _ := lossAndGrad(t, func(z *graph.Node) *graph.Node {
		c, a := aclSplit(z)
		return AInfoNCEACLDS(c, a, cfg)
	}, dtypes.Float64, x, 4*B, d)
	want, _ := lossAndGrad(t, func(z *graph.Node) *graph.Node {
		c, a := aclSplit(z)
		total := ACLDSNTXent(c, a, cfg)
		for v := range 2 {
			xv := graph.Slice(c, graph.AxisRange(v*B, (v+1)*B))
			av := graph.Slice(a, graph.AxisRange(v*B, (v+1)*B))
			cross := ACLNTXent(graph.Concatenate([]*graph.Node{xv, av}, 0), cfg.Temperature, FixSelfSimilarity)
			total = graph.Add(total, graph.MulScalar(cross, 0.25))
		}
		return total
	}, dtypes.Float64, x, 4*B, d)
	if relErr(ext, want) > 1e-13 {
		t.Errorf("AInfoNCEACLDS Base %.15g vs ACL-DS + ¼ΣNT(cross) %.15g", ext, want)
	}
	for _, pair := range [][2]Variant{{IP, Base}, {IPHN, HN}} {
		c := cfg
		c.Variant, c.Alpha, c.Lambda = pair[0], 0.5, 1.7
		ip, _ := lossAndGrad(t, func(z *graph.Node) *graph.Node { return AInfoNCE(z, LayoutACLDS, c) }, dtypes.Float64, x, 4*B, d)
		c.Variant = pair[1]
		base, _ := lossAndGrad(t, func(z *graph.Node) *graph.Node { return AInfoNCE(z, LayoutACLDS, c) }, dtypes.Float64, x, 4*B, d)
		if relErr(ip, base) > 1e-13 {
			t.Errorf("ACL-DS %s(α=½) %.15g vs %s %.15g", pair[0], ip, pair[1], base)
		}
	}
}
