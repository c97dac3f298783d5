package acl

import (
	"fmt"
	"math"

	"github.com/ainfonce/goacl/acl/report"
	"github.com/ainfonce/goacl/datasets"
)

// EpsilonStudy attacks the representation of x (x = target) at each radius in epsilons
// ([0,1] pixel units) with steps PGD steps of 2.5·ε/steps (WithRadius of the run's
// attack: its order and random start), all from the same seed.
func (p *Pretrained) EpsilonStudy(x datasets.ViewBatch, epsilons []float64, steps int, seed uint64) ([]*InstanceAttackResult, error) {
	out := make([]*InstanceAttackResult, 0, len(epsilons))
	for _, eps := range epsilons {
		res, err := p.InstanceAttack(x, x, p.Config.Attack.WithRadius(eps, steps), seed)
		if err != nil {
			return nil, fmt.Errorf("ε = %g: %w", eps, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// TrajectoryPlot draws each attack's objective against the PGD step (one series per ε).
func TrajectoryPlot(results []*InstanceAttackResult) (*report.LinePlot, error) {
	p := &report.LinePlot{Title: "PGD trajectories: attack objective per step", XLabel: "PGD step", YLabel: "contrastive objective (batch mean)", LegendLeft: true}
	for _, r := range results {
		xs := make([]float64, len(r.Trajectory))
		for i := range xs {
			xs[i] = float64(i)
		}
		if err := p.Add(fmt.Sprintf("ε = %g/255", roundTo(255*r.Attack.Epsilon, 3)), xs, r.Trajectory); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// EpsilonPlot draws the mean feature cosine (clean vs attacked) against ε, in 1/255 units.
func EpsilonPlot(results []*InstanceAttackResult) (*report.LinePlot, error) {
	p := &report.LinePlot{Title: "effect of ε on the representation", XLabel: "ε (×1/255)", YLabel: "mean cosine(h(x), h(x_adv))", YMin: 0, YMax: 1}
	var xs, ys []float64
	for _, r := range results {
		xs = append(xs, roundTo(255*r.Attack.Epsilon, 3))
		ys = append(ys, r.MeanFeatureCosine())
	}
	if err := p.Add("feature cosine", xs, ys); err != nil {
		return nil, err
	}
	return p, nil
}

// EpsilonTable lists the attacks: ε, steps, step size, objective at the start and at the
// end, the largest perturbation and the mean feature cosine.
func EpsilonTable(results []*InstanceAttackResult) *report.HTMLTable {
	t := report.NewHTMLTable("attack-epsilon", "Instance-wise PGD at several radii",
		"ε (×1/255)", "steps", "step size (×1/255)", "objective at start", "objective at end", "max |δ| (×1/255)", "mean feature cosine")
	for _, r := range results {
		_ = t.AddRow(report.HTMLNumber(roundTo(255*r.Attack.Epsilon, 3), "%g"), report.HTMLNumber(float64(r.Attack.Steps), "%g"),
			report.HTMLNumber(255*r.Attack.StepSize, "%.3f"), report.HTMLNumber(r.Trajectory[0], "%.4f"), report.HTMLNumber(r.FinalObjective(), "%.4f"),
			report.HTMLNumber(255*r.MaxPerturbation, "%.3f"), report.HTMLNumber(r.MeanFeatureCosine(), "%.4f"))
	}
	return t
}

// roundTo rounds v to digits decimals.
func roundTo(v float64, digits int) float64 {
	f := math.Pow(10, float64(digits))
	return math.Round(v*f) / f
}
