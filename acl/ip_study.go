package acl

import (
	"fmt"

	"github.com/ainfonce/goacl/acl/report"

	"github.com/ainfonce/goacl/acl/internal/hostval"
	"github.com/ainfonce/goacl/acl/losses"

	"github.com/ainfonce/goacl/datasets"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The studies of notebook 2 ("the asymmetric InfoNCE on real embeddings"), on the
// features of a trained run: here what IP's α does to the gradient reaching clean and
// adversarial rows (losses.AnalyzePairs); hn_study.go what HN's β and τ⁺ do to the weights
// of the negatives (losses.NegativeWeights).

// PairFeatures returns the RoCL-layout features [3B, d] (float64) of B =
// Settings.AnalysisBatch training images of a run: projections of [x¹; x²; x^adv] with
// x^adv made by the run's own attack (Pretrained.InstanceAttack with the run's attack,
// seed 7), as the training loss sees them. The features are cached in the run's
// results/notebook-pair-features.json.
func (nb *Notebook) PairFeatures(runDir string) (*tensors.Tensor, error) {
	const seed = 7
	key := struct {
		Batch int    `json:"batch"`
		Seed  uint64 `json:"seed"`
	}{nb.Settings.AnalysisBatch, seed}
	rows, err := cachedResult(runDir, "notebook-pair-features.json", key, func() ([][]float64, error) {
		m, err := nb.Pretrained(runDir)
		if err != nil {
			return nil, err
		}
		b, err := m.ViewBatch(datasets.Train, key.Batch, seed)
		if err != nil {
			return nil, err
		}
		x1, err := b.View("x1")
		if err != nil {
			return nil, err
		}
		x2, err := b.View("x2")
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
	// Alpha are the α values; for each, CleanShare is the share of the whole loss's
	// gradient norm reaching the clean rows, CrossCleanShare the same for the
	// clean/adversarial pairs alone, and Loss the loss value.
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
func (c *ShareCurve) Plot() (*report.LinePlot, error) {
	p := &report.LinePlot{Title: "IP: share of the gradient reaching the clean rows", XLabel: "α", YLabel: "clean share of the gradient norm", YMin: 0, YMax: 1, LegendLeft: true}
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
func (c *ShareCurve) Table() *report.HTMLTable {
	t := report.NewHTMLTable("ip-shares", "IP on real embeddings: clean rows' share of the gradient norm",
		"α", "clean share (clean/adv pairs)", "clean share (whole loss)", "loss")
	for i, a := range c.Alpha {
		_ = t.AddRow(report.HTMLNumber(a, "%g"), report.HTMLNumber(c.CrossCleanShare[i], "%.4f"), report.HTMLNumber(c.CleanShare[i], "%.4f"), report.HTMLNumber(c.Loss[i], "%.4f"))
	}
	t.AddNote(fmt.Sprintf("Base loss: clean share %.4f for the clean/adv pairs, %.4f for the whole loss.", c.BaseCrossCleanShare, c.BaseCleanShare))
	return t
}
