package acl

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ainfonce/goacl/acl/attack"

	"github.com/ainfonce/goacl/acl/losses"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// AdvCL is Fan et al.'s AdvCL (NeurIPS 2021) with the A-InfoNCE variants of Asym-AdvCL
// (spec §4.2; Asym-AdvCL pretraining_advCL.py):
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
//     uses batch statistics and every pass of every step (the 'normal' passes of x⁽¹⁾,
//     x⁽²⁾, x^HFC included) updates running statistics, as the official code does.
//     L_con is the plain SupCon (AttackObjective "plain", `--attack_ori`) or the training
//     criterion without the IP stop-gradient mixing ("training": the official
//     `criterion(features, stop_grad=False)`, i.e. HN kept, IP's α ignored);
//   - loss: AdvCLSupCon over [x^cl, x⁽¹⁾, x⁽²⁾, x^HFC] (variant from the config) +
//     CEWeight·(1/5)Σ_k CE_mean(f_k(x^ce), y_k) (label −1 ignored);
//   - adaptive α (AdaptiveAlpha set, IP variants): each step the encoder features of x^o
//     and x^cl are taken without gradient through 'normal' in train mode (updating its
//     running statistics, as the official no_grad passes do), d_t is their mean
//     pairwise distance (F.pairwise_distance, ε = 1e-6), and α_t follows AdaptiveAlpha.
//
// Adaptive α is computed in the step graph: the host feeds d̄ and the warm-up flag
// (ScalarProvider), the graph applies AdaptiveAlpha's formula to the d_t of the same step
// and returns d_t, and AfterStep feeds d_t to AdaptiveAlpha.Observe. The AdaptiveAlpha
// state lives in TrainState.Method, so checkpoints carry it and resume is exact.
//
// Not computed, because nothing reads them: the projection of x^ce and AdvCL's head_pred
// (the official code computes both; their only effect there is on the running statistics
// of head BNs that no evaluation uses).
type AdvCL struct{}

const advclName = "advcl"

func init() { RegisterMethod(AdvCL{}) }

// AdaptiveAlphaConfig configures AdvCL-IP's adaptive α (spec §3.3): E_w warm-up epochs
// (`--stop_grad_adaptive`, ≥ 0) and d_min (`--d_min`); α₀ is losses.Config.Alpha
// (`--stpg_degree`).
type AdaptiveAlphaConfig struct {
	WarmupEpochs int     `json:"warmup_epochs"`
	DMin         float64 `json:"d_min"`
}

// FinetuneBranch is the BN branch evaluations read: AdvCL's evaluation converts the pretrained model keeping BN index 1 = 'pgd' (load_BN_checkpoint, spec §5.1).
func (AdvCL) FinetuneBranch() string { return layers.BranchPGD }

// Name implements Method.
func (AdvCL) Name() string { return advclName }

// Views implements Method: x⁽¹⁾, x⁽²⁾, x^o and x^HFC, all used.
func (AdvCL) Views(*PretrainConfig) ([]datasets.View, []int) {
	return datasets.AdvCLViews(), []int{0, 1, 2, 3}
}

// NeedsPseudoLabels implements PseudoLabelUser: AdvCL trains five pseudo-label heads.
func (AdvCL) NeedsPseudoLabels() bool { return true }

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

// ValidateConfig checks AdvCL's own settings.
func (AdvCL) ValidateConfig(c *PretrainConfig) error {
	if c.PseudoLabelDir == "" {
		hint := ""
		if d := DefaultPseudoLabelDir(c.DataDir, c.Dataset); d != "" {
			hint = fmt.Sprintf(" (the default %s does not exist)", d)
		}
		return fmt.Errorf("-pseudo-labels: AdvCL needs the folder of its pseudo labels pseudo_train_{2,10,50,100,500}.npy%s; pass -pseudo-labels DIR (e.g. ../shared/datasets/advcl-pseudo-labels/cifar-10)", hint)
	}
	if st, err := os.Stat(c.PseudoLabelDir); err != nil || !st.IsDir() {
		return fmt.Errorf("-pseudo-labels %s: not a folder; it must hold pseudo_train_{2,10,50,100,500}.npy", c.PseudoLabelDir)
	}
	if c.AdaptiveAlpha != nil {
		if !c.Loss.Variant.HasIP() {
			return fmt.Errorf("adaptive α (-adaptive-warmup) needs an IP variant (ip or iphn), not %s; pass -adaptive-warmup -1", c.Variant)
		}
		if _, err := losses.NewAdaptiveAlpha(c.Loss.Alpha, c.AdaptiveAlpha.WarmupEpochs, c.AdaptiveAlpha.DMin); err != nil {
			return fmt.Errorf("-alpha/-adaptive-warmup/-d-min: %w", err)
		}
	}
	return nil
}

// Scalar names fed by AdvCL's ScalarProvider.
const (
	scalarMeanDistance = "adaptive_mean_distance" // d̄
	scalarInWarmup     = "adaptive_in_warmup"     // 1 during the E_w warm-up epochs
)

// ScalarNames implements ScalarProvider: d̄ and the warm-up flag when α is adaptive.
func (AdvCL) ScalarNames(cfg *PretrainConfig) []string {
	if cfg.AdaptiveAlpha == nil {
		return nil
	}
	return []string{scalarMeanDistance, scalarInWarmup}
}

// Scalars implements ScalarProvider from the AdaptiveAlpha state in st.Method.
func (AdvCL) Scalars(cfg *PretrainConfig, st *TrainState) ([]float64, error) {
	if cfg.AdaptiveAlpha == nil {
		return nil, nil
	}
	a, err := advclAlphaState(cfg, st)
	if err != nil {
		return nil, err
	}
	warm := 0.0
	if a.InWarmup(st.Epoch) {
		warm = 1
	}
	return []float64{a.Mean(), warm}, nil
}

// advclHostState is what AdvCL keeps in TrainState.Method.
type advclHostState struct {
	AdaptiveAlpha *losses.AdaptiveAlpha `json:"adaptive_alpha"`
}

// advclAlphaState decodes the AdaptiveAlpha state of st (a fresh one before the first
// step) and checks that it belongs to cfg's parameters.
func advclAlphaState(cfg *PretrainConfig, st *TrainState) (*losses.AdaptiveAlpha, error) {
	if len(st.Method) == 0 {
		return losses.NewAdaptiveAlpha(cfg.Loss.Alpha, cfg.AdaptiveAlpha.WarmupEpochs, cfg.AdaptiveAlpha.DMin)
	}
	var hs advclHostState
	if err := json.Unmarshal(st.Method, &hs); err != nil || hs.AdaptiveAlpha == nil {
		return nil, fmt.Errorf("AdvCL host state %q: want the adaptive-α state (%v)", st.Method, err)
	}
	a := hs.AdaptiveAlpha
	if a.Alpha0 != cfg.Loss.Alpha || a.WarmupEpochs != cfg.AdaptiveAlpha.WarmupEpochs || a.DMin != cfg.AdaptiveAlpha.DMin {
		return nil, fmt.Errorf("AdvCL host state: adaptive α (α₀ %g, E_w %d, d_min %g) differs from the configuration (%g, %d, %g)",
			a.Alpha0, a.WarmupEpochs, a.DMin, cfg.Loss.Alpha, cfg.AdaptiveAlpha.WarmupEpochs, cfg.AdaptiveAlpha.DMin)
	}
	return a, nil
}

// AfterStep implements StepObserver: it feeds the step's d_t to AdaptiveAlpha.Observe.
func (AdvCL) AfterStep(cfg *PretrainConfig, st *TrainState, batchSize int, terms map[string]float64) error {
	if cfg.AdaptiveAlpha == nil {
		return nil
	}
	a, err := advclAlphaState(cfg, st)
	if err != nil {
		return err
	}
	d, ok := terms[advclDistanceTerm]
	if !ok {
		return fmt.Errorf("AdvCL: the step did not return %q", advclDistanceTerm)
	}
	a.Observe(st.Epoch, d, batchSize)
	b, err := json.Marshal(advclHostState{AdaptiveAlpha: a})
	if err != nil {
		return err
	}
	st.Method = b
	return nil
}

const (
	advclDistanceTerm = "distance"
	advclAlphaTerm    = "alpha"
)

// advclAttackLoss is the contrastive criterion the attack ascends: plain SupCon
// (`--attack_ori`) or the training criterion without the IP mixing (the official
// `criterion(features, stop_grad=False)`: HN kept, λ kept).
func advclAttackLoss(cfg *PretrainConfig) losses.Config {
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
	inMode(ctx, g, true, true, func() {
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
