package acl

import (
	"fmt"

	"github.com/ainfonce/goacl/acl/internal/hostval"
	"github.com/ainfonce/goacl/acl/losses"

	"github.com/ainfonce/goacl/datasets"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// This file holds the analyses of notebook 2 ("the asymmetric InfoNCE on real
// embeddings"): what IP's α does to the gradient reaching clean and adversarial rows, and
// what HN's β and τ⁺ do to the weights of the negatives, each evaluated with the loss
// functions themselves (AnalyzePairs, NegativeWeights) on the features of a trained run.

// PairFeatures returns the RoCL-layout features [3B, d] (float64) of B =
// Settings.AnalysisBatch training images of a run: projections of [x¹; x²; x^adv] with
// x^adv made by the run's own attack (RunModel.InstanceAttack with the run's attack,
// seed 7), as the training loss sees them. The features are cached in the run's
// results/notebook-pair-features.json.
func (nb *Notebook) PairFeatures(runDir string) (*tensors.Tensor, error) {
	const seed = 7
	key := struct {
		Batch int    `json:"batch"`
		Seed  uint64 `json:"seed"`
	}{nb.Settings.AnalysisBatch, seed}
	rows, err := cachedResult(runDir, "notebook-pair-features.json", key, func() ([][]float64, error) {
		m, err := nb.loadRunModel(runDir)
		if err != nil {
			return nil, err
		}
		b, err := m.ViewBatch(datasets.Train, key.Batch, seed)
		if err != nil {
			return nil, err
		}
		x1, err := BatchView(b, "x1")
		if err != nil {
			return nil, err
		}
		x2, err := BatchView(b, "x2")
		if err != nil {
			return nil, err
		}
		res, err := m.InstanceAttack(x1, x2, m.Config.Attack, seed)
		if err != nil {
			return nil, err
		}
		flat, err := hostval.Float64s(res.Features)
		if err != nil {
			return nil, err
		}
		dims := res.Features.Shape().Dimensions
		out := make([][]float64, dims[0])
		for r := range out {
			out[r] = flat[r*dims[1] : (r+1)*dims[1]]
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("run %s: empty pair features", runDir)
	}
	flat := make([]float64, 0, len(rows)*len(rows[0]))
	for _, r := range rows {
		flat = append(flat, r...)
	}
	return tensors.FromFlatDataAndDimensions(flat, len(rows), len(rows[0])), nil
}

// ShareCurve is IP's gradient routing as α varies (spec §3.3): for each α, the share of
// the gradient norm reaching the clean rows, for the whole loss and for the
// clean/adversarial pairs alone, with the Base loss as reference.
type ShareCurve struct {
	Alpha           []float64 `json:"alpha"`
	CleanShare      []float64 `json:"clean_share"`
	CrossCleanShare []float64 `json:"cross_clean_share"`
	Loss            []float64 `json:"loss"`
	// BaseCleanShare and BaseCrossCleanShare are the Base variant's shares.
	BaseCleanShare, BaseCrossCleanShare float64
}

// IPShareCurve evaluates AnalyzePairs on features for cfg with Variant IP and each α
// (λ, t and the quirks from cfg), and for the Base variant.
func IPShareCurve(backend backends.Backend, features *tensors.Tensor, layout losses.Layout, cfg losses.Config, alphas []float64) (*ShareCurve, error) {
	c := &ShareCurve{}
	base := cfg
	base.Variant = losses.Base
	rep, err := losses.AnalyzePairs(backend, features, layout, base)
	if err != nil {
		return nil, err
	}
	c.BaseCleanShare, c.BaseCrossCleanShare = rep.CleanShare(), rep.CrossCleanShare()
	for _, a := range alphas {
		ip := cfg
		ip.Variant, ip.Alpha = losses.IP, a
		rep, err := losses.AnalyzePairs(backend, features, layout, ip)
		if err != nil {
			return nil, fmt.Errorf("α = %g: %w", a, err)
		}
		c.Alpha = append(c.Alpha, a)
		c.CleanShare = append(c.CleanShare, rep.CleanShare())
		c.CrossCleanShare = append(c.CrossCleanShare, rep.CrossCleanShare())
		c.Loss = append(c.Loss, rep.Loss)
	}
	return c, nil
}

// Plot draws the clean rows' shares against α, with the Base shares as flat references.
func (c *ShareCurve) Plot() (*LinePlot, error) {
	p := &LinePlot{Title: "IP: share of the gradient reaching the clean rows", XLabel: "α", YLabel: "clean share of the gradient norm", YMin: 0, YMax: 1, LegendLeft: true}
	flat := func(v float64) []float64 {
		out := make([]float64, len(c.Alpha))
		for i := range out {
			out[i] = v
		}
		return out
	}
	for _, s := range []struct {
		name string
		y    []float64
	}{
		{"IP, clean/adv pairs", c.CrossCleanShare},
		{"IP, whole loss", c.CleanShare},
		{"base, clean/adv pairs", flat(c.BaseCrossCleanShare)},
		{"base, whole loss", flat(c.BaseCleanShare)},
	} {
		if err := p.Add(s.name, c.Alpha, s.y); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Table lists the curve: α, the two clean shares and the loss.
func (c *ShareCurve) Table() *HTMLTable {
	t := NewHTMLTable("ip-shares", "IP on real embeddings: clean rows' share of the gradient norm",
		"α", "clean share (clean/adv pairs)", "clean share (whole loss)", "loss")
	for i, a := range c.Alpha {
		_ = t.AddRow(HTMLNumber(a, "%g"), HTMLNumber(c.CrossCleanShare[i], "%.4f"), HTMLNumber(c.CleanShare[i], "%.4f"), HTMLNumber(c.Loss[i], "%.4f"))
	}
	t.AddNote(fmt.Sprintf("Base loss: clean share %.4f for the clean/adv pairs, %.4f for the whole loss.", c.BaseCrossCleanShare, c.BaseCleanShare))
	return t
}

// HNPoint is NegativeWeights summarised for one HN setting.
type HNPoint struct {
	Beta, TauPlus float64
	// Quirks are the loss's quirk settings (Official or Corrected).
	Quirks losses.Quirks
	// TotalWeight, AdvShare and ClampedRows are NegativeReport's summaries.
	TotalWeight, AdvShare, ClampedRows float64
	// Centres and RelWeight are WeightByCosine's bins.
	Centres, RelWeight []float64
}

// HNWeightStudy evaluates NegativeWeights on features for the Base variant (β, τ⁺ =
// NaN in its point) and for cfg with Variant HN at each (β, τ⁺) pair given, binning the
// negatives into bins cosine bins.
func HNWeightStudy(backend backends.Backend, features *tensors.Tensor, cfg losses.Config, settings [][2]float64, bins int) (base HNPoint, points []HNPoint, err error) {
	summarise := func(c losses.Config) (HNPoint, error) {
		rep, err := losses.NegativeWeights(backend, features, c)
		if err != nil {
			return HNPoint{}, err
		}
		pt := HNPoint{Beta: c.Beta, TauPlus: c.TauPlus, Quirks: c.Quirks, TotalWeight: rep.TotalWeight(), AdvShare: rep.AdvNegativeShare(), ClampedRows: rep.ClampedRows()}
		pt.Centres, pt.RelWeight = rep.WeightByCosine(bins)
		return pt, nil
	}
	b := cfg
	b.Variant = losses.Base
	if base, err = summarise(b); err != nil {
		return base, nil, err
	}
	for _, s := range settings {
		c := cfg
		c.Variant, c.Beta, c.TauPlus = losses.HN, s[0], s[1]
		pt, err := summarise(c)
		if err != nil {
			return base, nil, fmt.Errorf("β = %g, τ⁺ = %g: %w", s[0], s[1], err)
		}
		points = append(points, pt)
	}
	return base, points, nil
}

// HNBetaPlot draws the mean relative weight of the negatives against their cosine
// similarity, for the base loss and each HN point (labelled by β and τ⁺).
func HNBetaPlot(base HNPoint, points []HNPoint) (*LinePlot, error) {
	p := &LinePlot{Title: "HN: relative weight of a negative vs its similarity", XLabel: "cosine similarity of the negative pair", YLabel: "weight / row mean", LegendLeft: true}
	if err := p.Add("base", base.Centres, base.RelWeight); err != nil {
		return nil, err
	}
	for _, pt := range points {
		name := fmt.Sprintf("HN β=%g τ+=%g", pt.Beta, pt.TauPlus)
		if pt.Quirks != losses.Official {
			name += " (corrected)"
		}
		if err := p.Add(name, pt.Centres, pt.RelWeight); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// HNTable lists HN points: β, τ⁺, the quirk setting, the total negative weight relative to the base loss,
// the adversarial negatives' share of it and the fraction of clamped rows.
func HNTable(name, caption string, base HNPoint, points []HNPoint) *HTMLTable {
	t := NewHTMLTable(name, caption, "β", "τ⁺", "quirks", "total negative weight / base", "adversarial negatives' share", "clamped rows")
	for _, pt := range points {
		_ = t.AddRow(HTMLNumber(pt.Beta, "%g"), HTMLNumber(pt.TauPlus, "%g"), HTMLText(pt.Quirks.String()), HTMLNumber(pt.TotalWeight/base.TotalWeight, "%.4f"),
			HTMLNumber(pt.AdvShare, "%.4f"), HTMLNumber(pt.ClampedRows, "%.4f"))
	}
	t.AddNote(fmt.Sprintf("Base loss: adversarial negatives' share %.4f, no clamp. Weight of a negative pair = ∂L/∂S (S the similarity logit).", base.AdvShare))
	return t
}

// HNTauPlot draws, against τ⁺, the total negative weight relative to the base loss and
// the fraction of rows where the clamp floor binds.
func HNTauPlot(base HNPoint, points []HNPoint) (*LinePlot, error) {
	p := &LinePlot{Title: "HN: effect of τ+", XLabel: "τ+", YLabel: "value", LegendLeft: true}
	var taus, total, clamped []float64
	for _, pt := range points {
		taus = append(taus, pt.TauPlus)
		total = append(total, pt.TotalWeight/base.TotalWeight)
		clamped = append(clamped, pt.ClampedRows)
	}
	if err := p.Add("total negative weight / base", taus, total); err != nil {
		return nil, err
	}
	if err := p.Add("fraction of clamped rows", taus, clamped); err != nil {
		return nil, err
	}
	return p, nil
}
