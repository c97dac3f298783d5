package acl

import (
	"fmt"

	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/acl/report"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// HNPoint is NegativeWeights summarised for one HN setting.
type HNPoint struct {
	// Beta and TauPlus are HN's β and τ⁺ (spec §3.4).
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
func HNBetaPlot(base HNPoint, points []HNPoint) (*report.LinePlot, error) {
	p := &report.LinePlot{Title: "HN: relative weight of a negative vs its similarity", XLabel: "cosine similarity of the negative pair", YLabel: "weight / row mean", LegendLeft: true}
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
func HNTable(name, caption string, base HNPoint, points []HNPoint) *report.HTMLTable {
	t := report.NewHTMLTable(name, caption, "β", "τ⁺", "quirks", "total negative weight / base", "adversarial negatives' share", "clamped rows")
	for _, pt := range points {
		_ = t.AddRow(report.HTMLNumber(pt.Beta, "%g"), report.HTMLNumber(pt.TauPlus, "%g"), report.HTMLText(pt.Quirks.String()), report.HTMLNumber(pt.TotalWeight/base.TotalWeight, "%.4f"),
			report.HTMLNumber(pt.AdvShare, "%.4f"), report.HTMLNumber(pt.ClampedRows, "%.4f"))
	}
	t.AddNote(fmt.Sprintf("Base loss: adversarial negatives' share %.4f, no clamp. Weight of a negative pair = ∂L/∂S (S the similarity logit).", base.AdvShare))
	return t
}

// HNTauPlot draws, against τ⁺, the total negative weight relative to the base loss and
// the fraction of rows where the clamp floor binds.
func HNTauPlot(base HNPoint, points []HNPoint) (*report.LinePlot, error) {
	p := &report.LinePlot{Title: "HN: effect of τ+", XLabel: "τ+", YLabel: "value", LegendLeft: true}
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
