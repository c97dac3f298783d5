package pretrain

import (
	"fmt"
	"math"
	"strings"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/acl/train"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// DynACL is Luo, Wang & Wang's DynACL (ICLR 2023; spec §10; PKU-ML/DYNACL
// train_DynACL.py): ACL(DS) (see ACL) with an annealed augmentation strength and an
// annealed weight of the adversarial stream, configuration name "dynacl":
//
//   - views: two DynACLTransform(s) views, s = DynACLStrength (1 → weak as training goes,
//     recomputed every ReloadEvery epochs, as the official loader reload);
//   - model, attack: as ACL (dual BN in backbone and head, ImageNet input normalisation,
//     joint eval-mode PGD of both views through 'pgd' on the adversarial NT-Xent);
//   - loss: ½[(2 − w)·NT(clean) + w·NT(adv)] with w = DynACLAdvWeight (losses.AnnealedACLDS; the
//     IP/HN/IPHN variants add this project's A-InfoNCE cross term, spec §4.3);
//   - momentum encoder (DynACLConfig.MomentumEncoder, on in the presets as in the
//     official code, which the spec's summary omits): the first view of every pair goes
//     through the trained "online" encoder and head (scope DynACLOnlineScope), the second
//     through a key copy that is not trained but follows it, k ← m·k + (1 − m)·q after
//     each step's forward passes (m = 0.99, resnet18_momentum; BN running statistics
//     are each encoder's own). The key encoder lives in the usual encoder scope, so
//     the evaluations load it (finetune.LoadRun), as the official evaluation reads encoder_k.
//     Off, both views go through one encoder (ACL(DS) with DynACL's annealing).
//
// The learning rate follows DynACLCosine ("dynacl-cosine"): DynACL steps ACL's cosine
// scheduler once per epoch, not per iteration. The host state (NewState) feeds the step
// its epoch's w and s; it depends on the epoch only, so checkpoints store nothing more.
type DynACL struct{}

const dynaclName = "dynacl"

// DynACLOnlineScope is the scope of DynACL's trained (online) encoder and head when the
// momentum encoder is on; the key (momentum) encoder keeps the usual scopes.
const DynACLOnlineScope = "online"

// DynACLConfig holds DynACL's own settings (PKU-ML/DYNACL train_DynACL.py defaults in
// brackets).
type DynACLConfig struct {
	// ReloadEvery is the period, in epochs, of the strength updates and of the steps of
	// the adversarial weight (`--reload_frequency`, 50).
	ReloadEvery int `json:"reload_every"`
	// SwapParam scales the growth of the adversarial weight (`--swap_param`, 2/3).
	SwapParam float64 `json:"swap_param"`
	// MomentumEncoder sends the second view through a momentum (key) encoder
	// (resnet18_momentum, on) with EMA coefficient Momentum (m, 0.99).
	MomentumEncoder bool    `json:"momentum_encoder"`
	Momentum        float64 `json:"momentum,omitempty"`
}

// method names the method that reads this section of a Config.
func (*DynACLConfig) method() string { return dynaclName }

// DefaultMomentum is the key encoder's EMA coefficient m of the official code (0.99).
const DefaultMomentum = 0.99

// DynACLStrength is the augmentation strength of the 0-based epoch of a run of epochs
// epochs: s = 1 − (e_r − 1)/epochs with e_r the 1-based epoch of the latest reload
// (epochs 1, 1+R, 1+2R, …; R = reloadEvery), i.e. 1 − ⌊epoch/R⌋·R/epochs.
func DynACLStrength(epoch, epochs, reloadEvery int) float64 {
	return 1 - float64((epoch/reloadEvery)*reloadEvery)/float64(epochs)
}

// DynACLAdvWeight is the weight w of the adversarial stream in the 0-based epoch:
// w = min(1 + ⌊e/R⌋·(R/epochs)·swap, 2) with e = epoch+1 the official 1-based epoch
// (train_DynACL.py `weight_adv`). It steps at 1-based epochs R, 2R, …, one epoch before
// the strength does, as in the official code.
func DynACLAdvWeight(epoch, epochs, reloadEvery int, swap float64) float64 {
	e := epoch + 1
	return math.Min(1+float64(e/reloadEvery)*(float64(reloadEvery)/float64(epochs))*swap, 2)
}

// DynACLCosine is DynACL's learning-rate schedule: ACL's cosine_annealing LambdaLR with
// WarmEpochs warm-up steps, but stepped once per epoch (train_DynACL.py) and with
// DynACL's warm-up (step+1)/WarmEpochs. With e the 0-based epoch and m = Min/Base:
// lr = Base·(e+1)/WarmEpochs for e < WarmEpochs, then
// Base·(m + (1−m)·½(1 + cos(π(e − WarmEpochs)/(Epochs − WarmEpochs)))).
type DynACLCosine struct {
	// Base is the peak learning rate, Epochs the training length, WarmEpochs the warm-up
	// length and Min the final learning rate.
	Base       float64 `json:"base"`
	Epochs     int     `json:"epochs"`
	WarmEpochs int     `json:"warm_epochs"`
	Min        float64 `json:"min"`
}

// LearningRate implements optim.Schedule.
func (s DynACLCosine) LearningRate(epoch, _, _ int) float64 {
	if epoch < s.WarmEpochs {
		return s.Base * float64(epoch+1) / float64(s.WarmEpochs)
	}
	m := s.Min / s.Base
	return s.Base * (m + (1-m)*0.5*(1+math.Cos(float64(epoch-s.WarmEpochs)/float64(s.Epochs-s.WarmEpochs)*math.Pi)))
}

func init() {
	optim.RegisterSchedule("dynacl-cosine", func(c optim.ScheduleConfig) (optim.Schedule, error) {
		if err := c.CheckEpochs(true); err != nil {
			return nil, err
		}
		return DynACLCosine{Base: c.Base, Epochs: c.Epochs, WarmEpochs: c.WarmEpochs, Min: c.Min}, nil
	})
}

// Name implements Method.
func (DynACL) Name() string { return dynaclName }

// Preset implements Method: DynACL's official settings (spec §10; PKU-ML/DYNACL
// train_DynACL.py defaults): ACL(DS)'s, with the per-epoch schedule, the annealing period
// 50, swap 2/3 and the momentum encoder (m = 0.99).
func (DynACL) Preset(cfg *Config) {
	ACL{}.Preset(cfg)
	cfg.Schedule.Kind = "dynacl-cosine"
	cfg.DynACL = &DynACLConfig{ReloadEvery: 50, SwapParam: 2.0 / 3, MomentumEncoder: true, Momentum: DefaultMomentum}
}

// Rescale implements Method: the annealing keeps its number of steps per run (R/epochs
// stays 50/1000).
func (DynACL) Rescale(cfg *Config, frac float64) {
	if d := cfg.DynACL; d != nil {
		d.ReloadEvery = max(1, int(math.Round(float64(d.ReloadEvery)*frac)))
	}
}

// Inputs implements Method: the two views at the epoch's strength (the official loader
// is rebuilt every ReloadEvery epochs; batches stay a pure function of (seed, epoch,
// batch), so resume is exact).
func (DynACL) Inputs(cfg *Config, epoch int) Inputs {
	s := 1.0
	if d := cfg.DynACL; d != nil {
		s = DynACLStrength(epoch, cfg.Epochs, d.ReloadEvery)
	}
	return Inputs{Views: datasets.DynACLViews(s), Used: []int{0, 1}}
}

// Evaluation implements Method: DynACL evaluates the 'pgd' BN (--bnNameCnt 1, test_LF.py)
// of the key encoder; no official A-InfoNCE finetuning rate exists for it.
func (DynACL) Evaluation(*Config) Evaluation {
	lr := defaultFinetuneLR(dynaclName)
	return Evaluation{Branch: layers.BranchPGD, Protocol: dynaclName, LinearLR: lr, FullLR: lr}
}

// Validate implements Method: DynACL's own settings.
func (DynACL) Validate(c *Config) error {
	d := c.DynACL
	switch {
	case d == nil:
		return field.Errorf("dynacl", "{dynacl}: the DynACL settings are missing (start from pretrain.Preset)")
	case d.ReloadEvery < 1:
		return field.Errorf("dynacl.reload_every", "{dynacl.reload_every} = %d: must be ≥ 1 epoch", d.ReloadEvery)
	case !(d.SwapParam >= 0) || math.IsInf(d.SwapParam, 0):
		return field.Errorf("dynacl.swap_param", "{dynacl.swap_param} = %g: must be ≥ 0", d.SwapParam)
	case d.MomentumEncoder && !(d.Momentum >= 0 && d.Momentum < 1):
		return field.Errorf("dynacl.momentum", "{dynacl.momentum} = %g: the key encoder's EMA coefficient must be in [0, 1)", d.Momentum)
	}
	return nil
}

const (
	scalarAdvWeight = "dynacl_adv_weight"
	scalarStrength  = "dynacl_strength"
)

// NewState implements Method: the state feeds the adversarial weight w and (for the
// logs) the augmentation strength s of the step's epoch.
func (DynACL) NewState(cfg *Config) (State, error) { return dynaclState{cfg: cfg}, nil }

// dynaclState computes DynACL's step scalars from the epoch; it stores nothing.
type dynaclState struct {
	stateless
	cfg *Config
}

func (s dynaclState) ScalarNames() []string { return []string{scalarAdvWeight, scalarStrength} }

func (s dynaclState) Scalars(st train.State) ([]float64, error) {
	d := s.cfg.DynACL
	return []float64{
		DynACLAdvWeight(st.Epoch, s.cfg.Epochs, d.ReloadEvery, d.SwapParam),
		DynACLStrength(st.Epoch, s.cfg.Epochs, d.ReloadEvery),
	}, nil
}

// BuildStep implements Method.
func (DynACL) BuildStep(ctx *context.Context, in *StepInputs) *StepOutputs {
	cfg := in.Config
	w := in.Scalars[scalarAdvWeight]
	var out *StepOutputs
	if !cfg.DynACL.MomentumEncoder {
		out = aclDSStep(ctx, in, func(x *Node, branch string) *Node { return ACLEmbed(ctx, in.Encoder, x, branch) }, w)
	} else {
		out = dynaclMomentumStep(ctx, in, w)
	}
	out.Metrics["adv_weight"] = w
	out.Metrics["strength"] = in.Scalars[scalarStrength]
	return out
}

// dynaclMomentumStep is the DynACL step with the momentum (key) encoder.
func dynaclMomentumStep(ctx *context.Context, in *StepInputs, w *Node) *StepOutputs {
	enc := in.Encoder
	m := in.Config.DynACL.Momentum
	online := ctx.In(DynACLOnlineScope)
	g := in.Views[0].Graph()
	// Create every variable of both encoders and both BN branches (a 2-image eval pass
	// that updates nothing), so that the key encoder can start as a copy of the online one.
	probe := Slice(in.Views[0], AxisRange(0, 2))
	layers.InMode(ctx, g, false, false, func() {
		for _, c := range []*context.Context{online, ctx} {
			for _, branch := range []string{layers.BranchNormal, layers.BranchPGD} {
				ACLEmbed(c, enc, probe, branch)
			}
		}
	})
	pairs := momentumPairs(ctx)
	flag := ctx.InAbsPath("/"+dynaclName).WithInitializer(initializers.Zero).
		VariableWithShape("key_initialized", shapes.Make(dtypes.Float32)).SetTrainable(false)
	initialized := GreaterThan(flag.ValueGraph(g), ScalarZero(g, dtypes.Float32))
	for _, p := range pairs {
		// Before the first step the key encoder is a copy of the online one
		// (_init_encoder_k); it never receives gradients.
		p.key.SetTrainable(false)
		p.key.SetValueGraph(Where(initialized, p.key.ValueGraph(g), StopGradient(p.online.ValueGraph(g))))
	}
	embed := func(x *Node, branch string) *Node {
		n := x.Shape().Dimensions[0] / 2
		zq := ACLEmbed(online, enc, Slice(x, AxisRange(0, n)), branch)
		zk := ACLEmbed(ctx, enc, Slice(x, AxisRange(n, 2*n)), branch)
		return Concatenate([]*Node{zq, zk}, 0)
	}
	out := aclDSStep(ctx, in, embed, w)
	// _momentum_update_encoder_k runs after the forward passes and before
	// optimizer.step(): the online values here are this step's, before its update.
	for _, p := range pairs {
		k, q := p.key.ValueGraph(g), StopGradient(p.online.ValueGraph(g))
		p.key.SetValueGraph(Add(MulScalar(k, m), MulScalar(q, 1-m)))
	}
	flag.SetValueGraph(OnesLike(flag.ValueGraph(g)))
	return out
}

type momentumPair struct{ online, key *context.Variable }

// momentumPairs pairs every trainable variable of the online scope with its key copy
// (same scope without the online prefix).
func momentumPairs(ctx *context.Context) []momentumPair {
	prefix := "/" + DynACLOnlineScope
	var pairs []momentumPair
	for v := range ctx.IterVariables() {
		if !v.Trainable || !strings.HasPrefix(v.Scope(), prefix+"/") {
			continue
		}
		keyScope := strings.TrimPrefix(v.Scope(), prefix)
		k := ctx.InspectVariable(keyScope, v.Name())
		if k == nil {
			panic(fmt.Errorf("pretrain.DynACL: online variable %s has no key copy in %s", v.ScopeAndName(), keyScope))
		}
		if !k.Shape().Equal(v.Shape()) {
			panic(fmt.Errorf("pretrain.DynACL: online variable %s is %s but its key copy is %s", v.ScopeAndName(), v.Shape(), k.Shape()))
		}
		pairs = append(pairs, momentumPair{online: v, key: k})
	}
	if len(pairs) == 0 {
		panic(fmt.Errorf("pretrain.DynACL: no online encoder variables under %s", prefix))
	}
	return pairs
}
