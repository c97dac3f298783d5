package losses

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ainfonce/goacl/internal/golden"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// refFeatures returns deterministic features for a reference case: unit rows for AdvCL,
// raw values for RoCL/ACL-DS. With tight, the views of an instance are small perturbations
// of one vector, so positives are very similar (this makes the HN clamp bind).
func refFeatures(rc refCase, seed uint64, tight bool) []float64 {
	n := rc.B * rc.V * rc.d
	x := randomData(seed, n)
	if tight {
		base := randomData(seed+1000, rc.B*rc.d)
		rows := rc.rows(x)
		for r, row := range rows {
			i := r % rc.B
			for k := range row {
				row[k] = base[i*rc.d+k] + 0.05*row[k]
			}
		}
	}
	if rc.layout == LayoutAdvCL {
		for _, row := range rc.rows(x) {
			nr := norm(row)
			for k := range row {
				row[k] /= nr
			}
		}
	}
	return x
}

func graphLoss(rc refCase) lossFn {
	return func(x *graph.Node) *graph.Node { return AInfoNCE(x, rc.layout, rc.cfg) }
}

func layoutCase(layout Layout, cfg Config) refCase {
	switch layout {
	case LayoutRoCL:
		return refCase{layout: layout, cfg: cfg, B: 4, V: 3, d: 5}
	case LayoutAdvCL:
		return refCase{layout: layout, cfg: cfg, B: 4, V: 4, d: 5}
	default:
		return refCase{layout: layout, cfg: cfg, B: 3, V: 4, d: 5}
	}
}

var allQuirkSettings = []Quirks{Official, Corrected, FixHNNormaliser, FixHNDenominator, FixClampFloor,
	FixBlockOverwrite, FixLambdaSquared, FixSelfSimilarity}

// TestReferenceMatchesGraph compares the graph losses with the plain-loop reference for
// every layout, variant and quirk setting (official, corrected and each flag alone), on
// loose and tight (clamp-binding) data, including λ ≠ 1 and t ≠ 0.5.
func TestReferenceMatchesGraph(t *testing.T) {
	for _, layout := range []Layout{LayoutRoCL, LayoutAdvCL, LayoutACLDS} {
		for _, v := range []Variant{Base, IP, HN, IPHN} {
			for _, q := range allQuirkSettings {
				for _, tight := range []bool{false, true} {
					cfg := DefaultConfig()
					cfg.Variant, cfg.Quirks = v, q
					cfg.Alpha, cfg.Lambda, cfg.Beta, cfg.TauPlus = 0.3, 1.3, 0.7, 0.2
					if tight {
						cfg.Temperature = 0.4
					}
					rc := layoutCase(layout, cfg)
					x := refFeatures(rc, 7, tight)
					want := rc.refLoss(x, x)
					got, _ := lossAndGrad(t, graphLoss(rc), dtypes.Float64, x, rc.dims()...)
					if e := relErr(got, want); !(e < 1e-12) {
						t.Errorf("%s %s %s tight=%v: graph %.15g vs reference %.15g (rel %.2g)",
							layout, v, q, tight, got, want, e)
					}
				}
			}
		}
	}
}

// TestCorrectedGradientMatchesReference checks the corrected mode's gradients (and the
// official ones) against central differences of the reference, which models each
// stop-gradient with a frozen copy of the features.
func TestCorrectedGradientMatchesReference(t *testing.T) {
	for _, layout := range []Layout{LayoutRoCL, LayoutAdvCL, LayoutACLDS} {
		for _, v := range []Variant{Base, IPHN} {
			for _, q := range []Quirks{Corrected, Official} {
				cfg := DefaultConfig()
				cfg.Variant, cfg.Quirks = v, q
				cfg.Alpha, cfg.Lambda, cfg.Beta, cfg.TauPlus = 0.3, 1.3, 0.7, 0.2
				rc := layoutCase(layout, cfg)
				rc.B = 3
				x := refFeatures(rc, 11, true)
				_, g := lossAndGrad(t, graphLoss(rc), dtypes.Float64, x, rc.dims()...)
				want := rc.refGrad(x, 1e-6)
				if e := maxRelErr(g, want); !(e < 1e-7) {
					t.Errorf("%s %s %s: gradient max rel err %.3g vs reference finite differences", layout, v, q, e)
				}
			}
		}
	}
}

// TestReferenceMatchesGolden validates the reference itself on the shared golden values.
func TestReferenceMatchesGolden(t *testing.T) {
	dir, err := goldenDir()
	if err != nil {
		t.Skip(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Skip("no golden cases (TestGolden reports this)")
	}
	for _, path := range files {
		c := readGolden(t, path)
		layout, cfg, err := c.config()
		if err != nil {
			t.Fatal(err)
		}
		x, _, err := golden.Nested(c.Features)
		if err != nil {
			t.Fatal(err)
		}
		rc := refCase{layout: layout, cfg: cfg, B: c.Batch, V: c.Views, d: c.Dim}
		if got := rc.refLoss(x, x); relErr(got, c.Loss) > 1e-12 {
			t.Errorf("%s: reference %.15g vs golden %.15g", filepath.Base(path), got, c.Loss)
		}
	}
}

func readGolden(t *testing.T, path string) goldenCase {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c goldenCase
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEachQuirkIsActive shows that each Fix flag, alone, changes the loss on a case where
// its quirk is active, so the official default and the corrected mode really differ.
func TestEachQuirkIsActive(t *testing.T) {
	type qc struct {
		flag    Quirks
		layout  Layout
		variant Variant
		lambda  float64
		tight   bool
		tiny    bool // one row with a norm below 1e-4 (ACL's cosine clamp)
	}
	cases := []qc{
		{FixHNNormaliser, LayoutAdvCL, HN, 1, false, false},
		{FixHNNormaliser, LayoutRoCL, HN, 1, false, false},
		{FixHNDenominator, LayoutAdvCL, HN, 1, false, false},
		{FixClampFloor, LayoutAdvCL, HN, 1, true, false},
		{FixClampFloor, LayoutRoCL, IPHN, 1, true, false},
		{FixBlockOverwrite, LayoutAdvCL, Base, 1, false, false},
		{FixBlockOverwrite, LayoutAdvCL, HN, 1, false, false},
		{FixLambdaSquared, LayoutAdvCL, Base, 1.5, false, false},
		{FixSelfSimilarity, LayoutACLDS, Base, 1, false, true},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s/%s/%s", c.flag, c.layout, c.variant)
		cfg := DefaultConfig()
		cfg.Variant, cfg.Lambda, cfg.TauPlus = c.variant, c.lambda, 0.3
		if c.tight {
			cfg.Temperature = 0.4 // so the corrected floor (t) differs from the hard-coded 0.5
		}
		rc := layoutCase(c.layout, cfg)
		x := refFeatures(rc, 5, c.tight)
		if c.tiny {
			for k := range rc.d {
				x[k] *= 1e-6
			}
		}
		off, _ := lossAndGrad(t, graphLoss(rc), dtypes.Float64, x, rc.dims()...)
		rc.cfg.Quirks = c.flag
		on, _ := lossAndGrad(t, graphLoss(rc), dtypes.Float64, x, rc.dims()...)
		rc.cfg.Quirks = Corrected
		all, _ := lossAndGrad(t, graphLoss(rc), dtypes.Float64, x, rc.dims()...)
		if !(relErr(on, off) > 1e-6) {
			t.Errorf("%s: the flag does not change the loss (official %.12g, fixed %.12g)", name, off, on)
		}
		t.Logf("%-40s official %.10g  this fix %.10g  corrected %.10g", name, off, on, all)
	}
}

// TestGoldenNeedsEachQuirk checks that the golden values really exercise the quirks: with
// a single Fix flag set, the cases where that quirk is active no longer match.
func TestGoldenNeedsEachQuirk(t *testing.T) {
	dir, err := goldenDir()
	if err != nil {
		t.Skip(err)
	}
	needs := map[string][]Quirks{
		"advcl-hn-b6-d8-03.json":    {FixHNNormaliser, FixHNDenominator, FixBlockOverwrite},
		"advcl-hn-b10-d16-13.json":  {FixClampFloor}, // the only golden case where the official floor binds
		"advcl-base-b6-d8-00.json":  {FixBlockOverwrite},
		"rocl-hn-b6-d8-08.json":     {FixHNNormaliser},
		"advcl-iphn-b6-d8-05.json":  {FixHNNormaliser, FixHNDenominator},
		"advcl-hn-b10-d16-14.json":  {FixHNNormaliser, FixHNDenominator, FixBlockOverwrite},
		"rocl-iphn-b10-d16-19.json": {FixHNNormaliser},
	}
	for file, flags := range needs {
		path := filepath.Join(dir, file)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("golden case %s missing", file)
		}
		c := readGolden(t, path)
		layout, cfg, err := c.config()
		if err != nil {
			t.Fatal(err)
		}
		x, dims, _ := golden.Nested(c.Features)
		for _, f := range flags {
			cfg.Quirks = f
			got, _ := lossAndGrad(t, func(n *graph.Node) *graph.Node { return AInfoNCE(n, layout, cfg) }, dtypes.Float64, x, dims...)
			e := relErr(got, c.Loss)
			t.Logf("%-26s with %-18s: loss %.12g vs golden %.12g (rel %.2e)", file, f, got, c.Loss, e)
			if e < 1e-9 {
				t.Errorf("%s: setting %s alone still matches the golden loss: the quirk is not exercised", file, f)
			}
		}
	}
}
