package pretrain

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/acl/train"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// AdvCL is Fan et al.'s AdvCL (NeurIPS 2021) with the A-InfoNCE variants of Asym-AdvCL
// (spec §4.2; Asym-AdvCL pretraining_advCL.py), configuration name "advcl":
//
//   - views: two strong augmentations x⁽¹⁾, x⁽²⁾, the weak view x^o and its high-frequency
//     component x^HFC (datasets.AdvCLViews), plus the ClusterFit pseudo labels y_k of
//     the five granularities k ∈ {2, 10, 50, 100, 500};
//   - BN branches (triple BN, layers.BranchNormal/BranchPGD/BranchPGDCE): x⁽¹⁾, x⁽²⁾,
//     x^HFC through 'normal', the contrastive adversary x^cl through 'pgd', the
//     pseudo-label adversary x^ce through 'pgd_ce'; head_proj's BN is shared;
//   - attack: two copies of x^o, each with its own uniform start (no clip of the start),
//     ascend jointly L_con([x^cl, x⁽¹⁾, x⁽²⁾, x^HFC]) + CEWeight·(1/5)Σ_k CE_sum(f_k(x^ce), y_k)
//     for Attack.Steps sign steps, project then clip; the model stays in TRAIN mode, so BN
//     uses batch statistics and every pass of every step updates running statistics, as
//     the official code does. L_con is the plain SupCon (AttackObjective "plain",
//     `--attack_ori`) or the training criterion without the IP stop-gradient mixing
//     ("training": the official `criterion(features, stop_grad=False)`, HN kept);
//   - loss: losses.AdvCLSupCon over [x^cl, x⁽¹⁾, x⁽²⁾, x^HFC] (variant from the config) +
//     CEWeight·(1/5)Σ_k CE_mean(f_k(x^ce), y_k) (label −1 ignored);
//   - adaptive α (AdaptiveAlpha set, IP variants): each step the encoder features of x^o
//     and x^cl are taken without gradient through 'normal' in train mode, d_t is their mean
//     pairwise distance and α_t follows losses.AdaptiveAlpha, computed in the graph from
//     the host's d̄ and warm-up flag (the method's State), which then observes d_t; the
//     state is saved with every checkpoint, so resume is exact;
//   - schedule: AdvCLCosine ("advcl-cosine"), optimizer SGD.
//
// Not computed, because nothing reads them: the projection of x^ce and AdvCL's head_pred
// (the official code computes both; their only effect there is on the running statistics
// of head BNs that no evaluation uses).
type AdvCL struct{}

const advclName = "advcl"

// AdaptiveAlphaConfig configures AdvCL-IP's adaptive α (spec §3.3): E_w warm-up epochs
// (`--stop_grad_adaptive`, ≥ 0) and d_min (`--d_min`); α₀ is losses.Config.Alpha
// (`--stpg_degree`). It is AdvCL's section of Config ("adaptive_alpha").
type AdaptiveAlphaConfig struct {
	// WarmupEpochs is E_w, the epochs α stays α₀; DMin is d_min, the floor of the
	// normalised distance d̄ (spec §3.3).
	WarmupEpochs int     `json:"warmup_epochs"`
	DMin         float64 `json:"d_min"`
}

// method names the method that reads this section of a Config.
func (*AdaptiveAlphaConfig) method() string { return advclName }

// DefaultAdaptiveDMin is d_min of the official CIFAR-10 scripts (0.5 on CIFAR-100).
const DefaultAdaptiveDMin = 0.4

// Name implements Method.
func (AdvCL) Name() string { return advclName }

// Preset implements Method: AdvCL's official settings (spec §4.2, §4.4: Asym-AdvCL
// shell/{cifar10,cifar100}/*.sh). AdvCL's loop runs epochs 0..401 of a 400-epoch cosine
// and its scripts evaluate epoch_400.ckpt, written after 401 epochs; the preset trains the
// 400 epochs the schedule is laid out for (401 epochs with the same schedule match the
// evaluated checkpoint).
func (AdvCL) Preset(cfg *Config) {
	cfg.Epochs, cfg.BatchSize = 400, 512
	cfg.Attack = attack.PGDConfig{Epsilon: 8.0 / 255, StepSize: 2.0 / 255, Steps: 5, Order: attack.ProjectThenClip, RandomStart: true}
	cfg.CEWeight = 0.2
	cfg.Optimizer = optim.Config{Kind: optim.SGD, Momentum: 0.9, WeightDecay: 1e-4}
	cfg.PseudoLabelDir = ""
	if d := DefaultPseudoLabelDir(cfg.DataDir, cfg.Dataset); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			cfg.PseudoLabelDir = d
		}
	}
	c10 := cfg.Dataset == datasets.CIFAR10
	lr := 0.5
	cfg.AttackObjective = "training" // no --attack_ori
	adaptive := func() *AdaptiveAlphaConfig {
		if c10 {
			return &AdaptiveAlphaConfig{WarmupEpochs: 30, DMin: DefaultAdaptiveDMin}
		}
		return &AdaptiveAlphaConfig{WarmupEpochs: 20, DMin: 0.5}
	}
	switch cfg.Loss.Variant {
	case losses.IP:
		if c10 {
			lr, cfg.Loss.Alpha, cfg.Loss.Lambda = 1.0, 0.2, 1.2
		} else {
			lr, cfg.Loss.Alpha, cfg.Loss.Lambda = 2.0, 0.3, 1.5
		}
		cfg.AdaptiveAlpha = adaptive()
	case losses.HN:
		cfg.AttackObjective = "plain"
		cfg.Loss.Beta = 1
		if c10 {
			lr, cfg.Loss.TauPlus = 1.2, 0.12
		} else {
			lr, cfg.Loss.TauPlus = 2.0, 0.01
		}
	case losses.IPHN:
		cfg.AttackObjective = "plain"
		lr, cfg.Loss.Beta = 2.0, 1
		if c10 {
			cfg.Loss.Alpha, cfg.Loss.Lambda, cfg.Loss.TauPlus = 0.2, 0.7, 0.1
		} else {
			cfg.Loss.Alpha, cfg.Loss.Lambda, cfg.Loss.TauPlus = 0.3, 1.5, 0.01
		}
		cfg.AdaptiveAlpha = adaptive()
	}
	cfg.Schedule = optim.ScheduleConfig{Kind: "advcl-cosine", Base: lr, WarmEpochs: 10, WarmFrom: 0.01}
}

// Rescale implements Method: adaptive α's warm-up shrinks with the run but keeps at least
// one epoch to measure d̄ and, from 2 epochs on, leaves at least one epoch after it; and
// AdvCL warms its learning rate up only for batches larger than 256
// (pretraining_advCL.py: args.warm).
func (AdvCL) Rescale(cfg *Config, frac float64) {
	if a := cfg.AdaptiveAlpha; a != nil {
		a.WarmupEpochs = max(1, min(int(math.Round(float64(a.WarmupEpochs)*frac)), cfg.Epochs-1))
	}
	if cfg.BatchSize <= 256 {
		cfg.Schedule.WarmEpochs = 0
	}
}

// DefaultPseudoLabelDir is where Preset looks for AdvCL's pseudo labels when none are
// given: the folder advcl-pseudo-labels/<cifar-10|cifar-100> next to the data folder
// (the layout of ../shared/datasets).
func DefaultPseudoLabelDir(dataDir, dataset string) string {
	sub := map[string]string{datasets.CIFAR10: "cifar-10", datasets.CIFAR100: "cifar-100"}[dataset]
	if sub == "" || dataDir == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(filepath.Clean(dataDir)), "advcl-pseudo-labels", sub)
}

// Validate implements Method: the pseudo-label folder, and adaptive α's settings.
func (AdvCL) Validate(c *Config) error {
	if c.PseudoLabelDir == "" {
		hint := ""
		if d := DefaultPseudoLabelDir(c.DataDir, c.Dataset); d != "" {
			hint = fmt.Sprintf(" (the default %s does not exist)", d)
		}
		return field.Errorf("pseudo_label_dir", "{pseudo_label_dir}: AdvCL needs the folder of its pseudo labels pseudo_train_{2,10,50,100,500}.npy%s; give {pseudo_label_dir} (e.g. ../shared/datasets/advcl-pseudo-labels/cifar-10)", hint)
	}
	if st, err := os.Stat(c.PseudoLabelDir); err != nil || !st.IsDir() {
		return field.Errorf("pseudo_label_dir", "{pseudo_label_dir} %s: not a folder; it must hold pseudo_train_{2,10,50,100,500}.npy", c.PseudoLabelDir)
	}
	if c.AdaptiveAlpha != nil {
		if !c.Loss.Variant.HasIP() {
			return field.Errorf("adaptive_alpha", "{adaptive_alpha}: adaptive α needs an IP variant (ip or iphn), not %s; turn it off", c.Variant)
		}
		if _, err := losses.NewAdaptiveAlpha(c.Loss.Alpha, c.AdaptiveAlpha.WarmupEpochs, c.AdaptiveAlpha.DMin); err != nil {
			return field.Errorf("adaptive_alpha", "{loss.alpha}/{adaptive_alpha.warmup_epochs}/{adaptive_alpha.d_min}: %v", err)
		}
	}
	return nil
}

// Inputs implements Method: x⁽¹⁾, x⁽²⁾, x^o and x^HFC, all used, and the pseudo labels.
func (AdvCL) Inputs(*Config, int) Inputs {
	return Inputs{Views: datasets.AdvCLViews(), Used: []int{0, 1, 2, 3}, PseudoLabels: true}
}

// Evaluation implements Method: AdvCL's evaluation converts the pretrained model keeping
// BN index 1 = 'pgd' (load_BN_checkpoint, spec §5.1); the A-InfoNCE scripts finetune the
// CIFAR-10 variants' SLF and ALF at 0.01, everything else at 0.1 (spec §4.4).
func (AdvCL) Evaluation(cfg *Config) Evaluation {
	ev := Evaluation{Branch: layers.BranchPGD, Protocol: advclName, LinearLR: LR{0.1, "spec §4.4/§5.2"}, FullLR: LR{0.1, "spec §4.4/§5.2"}}
	if cfg.Dataset == datasets.CIFAR10 && cfg.Variant != losses.Base.String() {
		ev.LinearLR = LR{0.01, "spec §4.4: AdvCL C10 variant SLF/ALF"}
	}
	return ev
}

// Names of the step scalars fed with adaptive α, and of its logged terms.
const (
	scalarMeanDistance = "adaptive_mean_distance" // d̄
	scalarInWarmup     = "adaptive_in_warmup"     // 1 during the E_w warm-up epochs
	advclDistanceTerm  = "distance"
	advclAlphaTerm     = "alpha"
)

// NewState implements Method: with adaptive α, the losses.AdaptiveAlpha of the run.
func (AdvCL) NewState(cfg *Config) (State, error) {
	if cfg.AdaptiveAlpha == nil {
		return NoState(), nil
	}
	a, err := losses.NewAdaptiveAlpha(cfg.Loss.Alpha, cfg.AdaptiveAlpha.WarmupEpochs, cfg.AdaptiveAlpha.DMin)
	if err != nil {
		return nil, err
	}
	return &advclState{alpha: a}, nil
}

// advclState is AdvCL's host state with adaptive α: the running mean d̄ of the warm-up
// distances. Checkpoints store it as {"adaptive_alpha": …} once a step has been observed.
type advclState struct {
	alpha    *losses.AdaptiveAlpha
	observed bool
}

func (s *advclState) ScalarNames() []string { return []string{scalarMeanDistance, scalarInWarmup} }

func (s *advclState) Scalars(st train.State) ([]float64, error) {
	warm := 0.0
	if s.alpha.InWarmup(st.Epoch) {
		warm = 1
	}
	return []float64{s.alpha.Mean(), warm}, nil
}

func (s *advclState) AfterStep(st train.State, batchSize int, terms map[string]float64) error {
	d, ok := terms[advclDistanceTerm]
	if !ok {
		return fmt.Errorf("AdvCL: the step did not return %q", advclDistanceTerm)
	}
	s.alpha.Observe(st.Epoch, d, batchSize)
	s.observed = true
	return nil
}

// advclSaved is the stored form of advclState.
type advclSaved struct {
	AdaptiveAlpha *losses.AdaptiveAlpha `json:"adaptive_alpha"`
}

func (s *advclState) Save() (json.RawMessage, error) {
	if !s.observed {
		return nil, nil
	}
	return json.Marshal(advclSaved{AdaptiveAlpha: s.alpha})
}

// Load restores the state, checking that it belongs to the configuration's parameters.
func (s *advclState) Load(saved json.RawMessage) error {
	if len(saved) == 0 {
		return nil
	}
	var hs advclSaved
	if err := json.Unmarshal(saved, &hs); err != nil || hs.AdaptiveAlpha == nil {
		return fmt.Errorf("AdvCL host state %q: want the adaptive-α state (%v)", saved, err)
	}
	a, b := hs.AdaptiveAlpha, s.alpha
	if a.Alpha0 != b.Alpha0 || a.WarmupEpochs != b.WarmupEpochs || a.DMin != b.DMin {
		return fmt.Errorf("AdvCL host state: adaptive α (α₀ %g, E_w %d, d_min %g) differs from the configuration (%g, %d, %g)",
			a.Alpha0, a.WarmupEpochs, a.DMin, b.Alpha0, b.WarmupEpochs, b.DMin)
	}
	s.alpha, s.observed = a, true
	return nil
}

// advclAttackLoss is the contrastive criterion the attack ascends: plain SupCon
// (`--attack_ori`) or the training criterion without the IP mixing (the official
// `criterion(features, stop_grad=False)`: HN kept, λ kept).
func advclAttackLoss(cfg *Config) losses.Config {
	l := cfg.Loss
	l.AlphaNode = nil
	if cfg.AttackObjective == "training" && l.Variant.HasHN() {
		l.Variant = losses.HN
	} else {
		l.Variant = losses.Base
	}
	return l
}

// BuildStep implements Method.
func (AdvCL) BuildStep(ctx *context.Context, in *StepInputs) *StepOutputs {
	cfg := in.Config
	enc := in.Encoder
	x1, x2, xo, hfc := in.Views[0], in.Views[1], in.Views[2], in.Views[3]
	g := x1.Graph()
	project := func(x *Node, branch string) *Node {
		return layers.NewAdvCLProjector(ctx, enc.Features(ctx, x, branch)).Done()
	}
	heads := func(x *Node) []*Node {
		return layers.AdvCLPseudoLabelHeads(ctx, enc.Features(ctx, x, layers.BranchPGDCE))
	}
	// features stacks the contrastive adversary with fresh 'normal' passes of the clean
	// views, in the official order [adv, x1, x2, HFC], as [B, 4, d].
	features := func(zAdv *Node) *Node {
		z1 := project(x1, layers.BranchNormal)
		z2 := project(x2, layers.BranchNormal)
		zh := project(hfc, layers.BranchNormal)
		return Stack([]*Node{zAdv, z1, z2, zh}, 1)
	}
	attackLoss := advclAttackLoss(cfg)
	var advs []*Node
	layers.InMode(ctx, g, true, true, func() {
		advs = attack.PGD(ctx, []*Node{xo, xo}, cfg.Attack, func(a []*Node) *Node {
			zcl := project(a[0], layers.BranchPGD)
			logits := heads(a[1])
			con := losses.AdvCLSupCon(features(zcl), attackLoss)
			return Add(con, MulScalar(losses.AdvCLPseudoLabelCE(logits, in.PseudoLabels, false), cfg.CEWeight))
		})
	})
	xcl, xce := advs[0], advs[1]
	zcl := project(xcl, layers.BranchPGD)
	logits := heads(xce)
	feats := features(zcl)
	lossCfg := cfg.Loss
	metrics := map[string]*Node{}
	if cfg.AdaptiveAlpha != nil {
		hClean := StopGradient(enc.Features(ctx, xo, layers.BranchNormal))
		hAdv := StopGradient(enc.Features(ctx, xcl, layers.BranchNormal))
		d := losses.MeanPairwiseDistance(hClean, hAdv)
		params := losses.AdaptiveAlpha{Alpha0: cfg.Loss.Alpha, WarmupEpochs: cfg.AdaptiveAlpha.WarmupEpochs, DMin: cfg.AdaptiveAlpha.DMin}
		alpha := losses.AdaptiveAlphaGraph(&params, d, in.Scalars[scalarMeanDistance], in.Scalars[scalarInWarmup])
		lossCfg.AlphaNode = alpha
		metrics[advclDistanceTerm] = d
		metrics[advclAlphaTerm] = alpha
	}
	con := losses.AdvCLSupCon(feats, lossCfg)
	ce := losses.AdvCLPseudoLabelCE(logits, in.PseudoLabels, true)
	metrics["contrastive"] = con
	metrics["pseudo_ce"] = ce
	return &StepOutputs{Loss: Add(con, MulScalar(ce, cfg.CEWeight)), Metrics: metrics}
}

// AdvCLCosine is AdvCL's (SupContrast's) schedule: per epoch
// lr(e) = η_min + (lr − η_min)(1 + cos(π e/E))/2 with e = epoch+1 and η_min = lr·0.1³, and,
// when WarmEpochs > 0 (AdvCL warms up when the batch exceeds 256), a per-iteration linear
// warm-up during epochs e ≤ WarmEpochs from WarmFrom to lr(WarmEpochs)
// (pretraining_advCL.py: adjust_learning_rate / warmup_learning_rate). Schedule kind
// "advcl-cosine".
type AdvCLCosine struct {
	// Base is the peak learning rate, Epochs the training length, WarmEpochs the warm-up
	// length and WarmFrom the learning rate the warm-up starts from.
	Base       float64 `json:"base"`
	Epochs     int     `json:"epochs"`
	WarmEpochs int     `json:"warm_epochs"`
	WarmFrom   float64 `json:"warm_from"`
}

func (s AdvCLCosine) cosine(e int) float64 {
	etaMin := s.Base * 1e-3
	return etaMin + (s.Base-etaMin)*(1+math.Cos(math.Pi*float64(e)/float64(s.Epochs)))/2
}

// LearningRate implements optim.Schedule.
func (s AdvCLCosine) LearningRate(epoch, step, stepsPerEpoch int) float64 {
	e := epoch + 1
	if e <= s.WarmEpochs && stepsPerEpoch > 0 {
		p := float64(step+(e-1)*stepsPerEpoch) / float64(s.WarmEpochs*stepsPerEpoch)
		to := s.cosine(s.WarmEpochs)
		return s.WarmFrom + p*(to-s.WarmFrom)
	}
	return s.cosine(e)
}

func init() {
	optim.RegisterSchedule("advcl-cosine", func(c optim.ScheduleConfig) (optim.Schedule, error) {
		if err := c.CheckEpochs(false); err != nil {
			return nil, err
		}
		return AdvCLCosine{Base: c.Base, Epochs: c.Epochs, WarmEpochs: c.WarmEpochs, WarmFrom: c.WarmFrom}, nil
	})
}
