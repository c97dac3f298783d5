package acl

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ainfonce/goacl/acl/report"

	"github.com/ainfonce/goacl/acl/pretrain"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/losses"
)

// SweepParam names an A-InfoNCE hyperparameter a sensitivity sweep varies.
type SweepParam string

// The swept hyperparameters (spec §3.3, §3.4). α and λ are swept on the IP variant, β and
// τ⁺ on the HN variant; the other hyperparameters keep their official values.
const (
	SweepAlpha   SweepParam = "alpha"
	SweepLambda  SweepParam = "lambda"
	SweepBeta    SweepParam = "beta"
	SweepTauPlus SweepParam = "tau-plus"
)

// Variant returns the variant a parameter is swept on: "ip" for α and λ, "hn" for β and τ⁺.
func (p SweepParam) Variant() string {
	if p == SweepAlpha || p == SweepLambda {
		return losses.IP.String()
	}
	return losses.HN.String()
}

// Symbol returns the parameter's symbol (α, λ, β, τ⁺).
func (p SweepParam) Symbol() string {
	switch p {
	case SweepAlpha:
		return "α"
	case SweepLambda:
		return "λ"
	case SweepBeta:
		return "β"
	case SweepTauPlus:
		return "τ⁺"
	}
	return string(p)
}

// get and set read and write the parameter in a loss configuration.
func (p SweepParam) get(c *losses.Config) (float64, error) {
	switch p {
	case SweepAlpha:
		return c.Alpha, nil
	case SweepLambda:
		return c.Lambda, nil
	case SweepBeta:
		return c.Beta, nil
	case SweepTauPlus:
		return c.TauPlus, nil
	}
	return 0, fmt.Errorf("sweep parameter %q: use alpha, lambda, beta or tau-plus", p)
}

func (p SweepParam) set(c *losses.Config, v float64) error {
	switch p {
	case SweepAlpha:
		c.Alpha = v
	case SweepLambda:
		c.Lambda = v
	case SweepBeta:
		c.Beta = v
	case SweepTauPlus:
		c.TauPlus = v
	default:
		return fmt.Errorf("sweep parameter %q: use alpha, lambda, beta or tau-plus", p)
	}
	return nil
}

// Sweep is one sensitivity sweep: a parameter and the values it takes.
type Sweep struct {
	// Param is the swept parameter and Values the values it takes.
	Param  SweepParam `json:"param"`
	Values []float64  `json:"values"`
}

// SweepRun returns the run name and the pretraining configuration of one sweep point:
// the method's official configuration of the parameter's variant at the notebook's scale,
// shrunk to the scale's sweep subset and epochs, with the parameter set to value. Names
// encode every swept hyperparameter, so points shared by two sweeps (e.g. the official
// α, λ) are trained once.
func (nb *Notebook) SweepRun(method string, p SweepParam, value float64) (string, pretrain.Config, error) {
	cfg, err := nb.PretrainConfig(method, p.Variant())
	if err != nil {
		return "", cfg, err
	}
	if err := p.set(&cfg.Loss, value); err != nil {
		return "", cfg, err
	}
	if err := cfg.Loss.Validate(); err != nil {
		return "", cfg, fmt.Errorf("sweep %s = %g: %w", p, value, err)
	}
	s := nb.Settings
	if s.SweepSubset > 0 {
		cfg.Subset = s.SweepSubset
	}
	if s.SweepEpochs > 0 && s.SweepEpochs != cfg.Epochs {
		cfg.Epochs, cfg.Schedule.Epochs = s.SweepEpochs, s.SweepEpochs
		if cfg.Schedule.WarmEpochs >= cfg.Epochs {
			cfg.Schedule.WarmEpochs = 0
		}
	}
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	var name string
	if p.Variant() == losses.IP.String() {
		name = fmt.Sprintf("sweep-%s-ip-alpha%s-lambda%s", method, g(cfg.Loss.Alpha), g(cfg.Loss.Lambda))
	} else {
		name = fmt.Sprintf("sweep-%s-hn-beta%s-tau%s", method, g(cfg.Loss.Beta), g(cfg.Loss.TauPlus))
	}
	return name, cfg, nil
}

// SweepPoint is the outcome of one sweep point's run.
type SweepPoint struct {
	// Param is the swept parameter and Value the value of this point.
	Param SweepParam `json:"param"`
	Value float64    `json:"value"`
	// Official is true for the method's official value of the parameter.
	Official bool   `json:"official"`
	Run      string `json:"run"`
	// CleanAccuracy is the linear probe's clean test accuracy (SA of a probe, ∈ [0,1]).
	CleanAccuracy float64 `json:"clean_accuracy"`
	// FeatureCosine is the mean cosine between clean and attacked test features under the
	// run's own pretraining attack (Pretrained.RepresentationRobustness, ∈ [−1,1]).
	FeatureCosine float64 `json:"feature_cosine"`
	// FinalLoss is the last logged pretraining loss.
	FinalLoss float64 `json:"final_loss"`
}

// Sensitivity trains (or reuses) every run of the notebook's sweeps for method and
// measures each: linear-probe clean accuracy (Settings.SweepProbe) and representation
// robustness on Settings.AttackImages test images. Every measurement is cached in its
// run directory, so calling it again only reads.
func (nb *Notebook) Sensitivity(method string, progress io.Writer) ([]SweepPoint, error) {
	var points []SweepPoint
	for _, sw := range nb.Settings.Sweeps {
		official, err := nb.PretrainConfig(method, sw.Param.Variant())
		if err != nil {
			return nil, err
		}
		ov, err := sw.Param.get(&official.Loss)
		if err != nil {
			return nil, err
		}
		for _, v := range sw.Values {
			name, cfg, err := nb.SweepRun(method, sw.Param, v)
			if err != nil {
				return nil, err
			}
			dir, err := nb.Pretrain(name, cfg, progress)
			if err != nil {
				return nil, err
			}
			pt, err := nb.measureSweepPoint(dir, progress)
			if err != nil {
				return nil, err
			}
			pt.Param, pt.Value, pt.Official, pt.Run = sw.Param, v, v == ov, name
			points = append(points, pt)
		}
	}
	return points, nil
}

// measureSweepPoint probes a run and measures its representation robustness (both cached).
func (nb *Notebook) measureSweepPoint(dir string, progress io.Writer) (SweepPoint, error) {
	var pt SweepPoint
	pr, err := nb.Probe(dir, nb.Settings.SweepProbe, nil)
	if err != nil {
		return pt, err
	}
	rob, err := nb.RepresentationRobustness(dir)
	if err != nil {
		return pt, err
	}
	loss, err := FinalLoss(dir)
	if err != nil {
		return pt, err
	}
	say(progress, "%s: probe clean accuracy %.2f%%, feature cosine under attack %.3f\n", filepath.Base(dir), 100*pr.TestAccuracy, rob.MeanFeatureCosine())
	pt.CleanAccuracy, pt.FeatureCosine, pt.FinalLoss = pr.TestAccuracy, rob.MeanFeatureCosine(), loss
	return pt, nil
}

// RepresentationRobustness returns Pretrained.RepresentationRobustness of a run on
// Settings.AttackImages test images (seed 1), cached in the run's
// results/notebook-robustness.json.
func (nb *Notebook) RepresentationRobustness(runDir string) (*InstanceAttackResult, error) {
	key := struct {
		Images int    `json:"images"`
		Seed   uint64 `json:"seed"`
	}{nb.Settings.AttackImages, 1}
	return cachedResult(runDir, "notebook-robustness.json", key, func() (*InstanceAttackResult, error) {
		m, err := nb.Pretrained(runDir)
		if err != nil {
			return nil, err
		}
		return m.RepresentationRobustness(key.Images, key.Seed)
	})
}

// FinalLoss returns the last pretraining loss logged in a run's metrics.jsonl.
func FinalLoss(runDir string) (float64, error) {
	run, err := rundir.Open(runDir)
	if err != nil {
		return 0, err
	}
	recs, err := run.ReadMetrics()
	if err != nil {
		return 0, err
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if v, ok := recs[i]["loss"].(float64); ok {
			return v, nil
		}
	}
	return math.NaN(), fmt.Errorf("run %s: no loss logged in %s", runDir, rundir.MetricsFile)
}

// SensitivityPlot draws one parameter's sweep: probe clean accuracy and feature cosine
// under attack against the parameter's value.
func SensitivityPlot(points []SweepPoint, p SweepParam) (*report.LinePlot, error) {
	var xs, acc, cos []float64
	for _, pt := range points {
		if pt.Param == p {
			xs = append(xs, pt.Value)
			acc = append(acc, pt.CleanAccuracy)
			cos = append(cos, pt.FeatureCosine)
		}
	}
	if len(xs) == 0 {
		return nil, fmt.Errorf("sensitivity plot: no points for %s", p)
	}
	// The plot font has no superscript plus; YMax leaves headroom for the legend.
	sym := strings.ReplaceAll(p.Symbol(), "⁺", "+")
	pl := &report.LinePlot{Title: fmt.Sprintf("sensitivity to %s (%s variant)", sym, p.Variant()), XLabel: sym, YLabel: "value", YMin: 0, YMax: 1.3}
	if err := pl.Add("probe clean accuracy", xs, acc); err != nil {
		return nil, err
	}
	if err := pl.Add("feature cosine under attack", xs, cos); err != nil {
		return nil, err
	}
	return pl, nil
}

// SensitivityTable lists the sweep points: parameter, value (official marked), run,
// probe clean accuracy, feature cosine under attack and final pretraining loss.
func SensitivityTable(points []SweepPoint, scale NotebookScale) *report.HTMLTable {
	t := report.NewHTMLTable("sensitivity", fmt.Sprintf("Sensitivity sweeps at scale %s", scale),
		"parameter", "value", "run", "probe clean accuracy", "feature cosine under attack", "final loss")
	for _, pt := range points {
		v := report.HTMLNumber(pt.Value, "%g")
		if pt.Official {
			v.Text += " (official)"
		}
		_ = t.AddRow(report.HTMLText(pt.Param.Symbol()), v, report.HTMLText(pt.Run), report.HTMLPercent(pt.CleanAccuracy),
			report.HTMLNumber(pt.FeatureCosine, "%.4f"), report.HTMLNumber(pt.FinalLoss, "%.4f"))
	}
	t.AddNote("Probe clean accuracy: linear probe on frozen features (clean images). Feature cosine: mean cosine between clean and attacked test features under the run's own pretraining attack (1 = unmoved); a label-free robustness measure, not the paper's robust accuracy.")
	return t
}
