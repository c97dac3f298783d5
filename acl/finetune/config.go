package finetune

import (
	"encoding/json"
	"math"
	"slices"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/pretrain"

	"github.com/ainfonce/goacl/acl/optim"

	"github.com/ainfonce/goacl/acl/attack"
)

// Mode is one of the three finetuning protocols of Table 1 (spec §5.1).
type Mode string

const (
	// SLF is standard linear finetuning: frozen encoder in eval mode, a linear head
	// trained on clean images.
	SLF Mode = "slf"
	// ALF is adversarial linear finetuning: frozen encoder in eval mode, the linear head
	// trained on PGD-20 examples made against encoder + head.
	ALF Mode = "alf"
	// AFF is adversarial full finetuning: TRADES (β = 6) on all parameters.
	AFF Mode = "aff"
)

// Modes lists the modes in table order.
var Modes = []Mode{SLF, ALF, AFF}

// ParseMode checks a mode name; an unknown one is a *field.Error of the key "mode".
func ParseMode(s string) (Mode, error) {
	m := Mode(s)
	if !slices.Contains(Modes, m) {
		return "", field.Errorf("mode", "{mode} %q: use slf, alf or aff", s)
	}
	return m, nil
}

// Selection is how the reported epoch of a finetuning is chosen.
type Selection string

const (
	// SelectValRA (default) picks the epoch with the best PGD robust accuracy on a
	// validation split held out from the training set, and reports that epoch's test
	// accuracies.
	SelectValRA Selection = "val-ra"
	// SelectTestRA is the official behaviour (spec §5.1, §8.9): the epoch with the best
	// robust accuracy on the test set itself. Every result chosen so is labelled.
	SelectTestRA Selection = "test-ra"
	// SelectLast reports the last epoch (no per-epoch evaluation): the official rule of
	// RoCL's SLF and of DynACL.
	SelectLast Selection = "last"
	// SelectOfficial asks Config.Select for the protocol's own rule (OfficialSelection):
	// with it a finetuning reproduces the official cell exactly. It is never stored.
	SelectOfficial Selection = "official"
	// SelectImported marks a finetuned classifier imported from a PyTorch file (acl
	// import): its checkpoint was chosen by the code that trained it. A finetuning cannot
	// be run with it.
	SelectImported Selection = "imported"
)

// DefaultValSize is the size of the validation split SelectValRA holds out (ACL's
// valid_idx_std has as many images).
const DefaultValSize = 5000

// Label is the human description tables and reports print.
func (s Selection) Label() string {
	switch s {
	case SelectValRA:
		return "selected on validation RA"
	case SelectTestRA:
		return "selected on test RA (official)"
	case SelectLast:
		return "last epoch"
	case SelectOfficial:
		return "the protocol's own rule"
	case SelectImported:
		return "imported (chosen by the code that trained it)"
	}
	return string(s)
}

// BranchAuto asks for the protocol's BN branch: the pretraining method's (see ProtocolBranch).
const BranchAuto = "auto"

// Config is the fully resolved configuration of one finetuning, stored as the
// finetuning's config.json; validation errors name its keys (field.Error).
type Config struct {
	// Mode is SLF, ALF or AFF; Protocol whose official finetuning is followed (Protocols;
	// DefaultConfig's default is the run's own method's) and Source the official files
	// it follows.
	Mode     Mode   `json:"mode"`
	Protocol string `json:"protocol"`
	Source   string `json:"source,omitempty"`
	// Branch is the encoder BN branch used: BranchAuto (the default) resolves to
	// ProtocolBranch when the encoder is loaded, and the stored config holds the result.
	Branch string `json:"branch"`
	// NaturalBranch, when set (AFF only), is the BN branch of TRADES's clean pass, the
	// adversarial pass and the evaluation using Branch (DynACL's dual-BN AFF: 'normal').
	NaturalBranch string `json:"natural_branch,omitempty"`
	// PretrainedCheckpoint names the pretraining checkpoint to finetune (a path, relative
	// to the run directory or absolute); empty means the checkpoint the run finished
	// with (PretrainedCheckpoint).
	PretrainedCheckpoint string `json:"pretrained_checkpoint,omitempty"`

	// Epochs and BatchSize of the finetuning.
	Epochs    int `json:"epochs"`
	BatchSize int `json:"batch_size"`
	// LR is the base learning rate; LRSource says where it came from (the official
	// table, spec §4.4, a protocol's script, or a flag).
	LR       float64 `json:"lr"`
	LRSource string  `json:"lr_source"`
	// Milestones are the epochs the official script names for its ×Gamma decays (from 0;
	// they scale with Epochs); MilestoneShift is how many epochs later (+1: RoCL's
	// adjust_lr after the epoch) or earlier (−1: ACL's scheduler.step() before the epoch)
	// the decay takes effect than a milestone applied before its epoch (AdvCL, DynACL: 0).
	// Schedule combines them.
	Milestones     []int        `json:"milestones"`
	MilestoneShift int          `json:"milestone_shift"`
	Gamma          float64      `json:"gamma"`
	Optimizer      optim.Config `json:"optimizer"`
	// Augment trains on RandomCrop(32, 4) + HFlip views (AdvCL, ACL, DynACL); RoCL uses
	// the images as they are.
	Augment bool `json:"augment"`
	// HeadInit is how the linear head starts: HeadInitLinear or HeadInitZero.
	HeadInit string `json:"head_init"`
	// TrainAttack is ALF's PGD on the cross-entropy; TRADES is AFF's.
	TrainAttack attack.PGDConfig    `json:"train_attack"`
	TRADES      attack.TRADESConfig `json:"trades"`

	// EvalAttack is the PGD used for selection and for the reported RA.
	EvalAttack attack.PGDConfig `json:"eval_attack"`
	EvalBatch  int              `json:"eval_batch"`
	// Selection is how the reported epoch is chosen; OfficialSelection the protocol's own
	// rule (SelectOfficial asks for it).
	Selection         Selection `json:"selection"`
	OfficialSelection Selection `json:"official_selection"`
	// ValSize images are held out from the training split for selection (the last
	// ValSize of a seeded permutation); TrainSubset and TestSubset limit the training and
	// test images (0: all).
	ValSize     int    `json:"val_size"`
	TrainSubset int    `json:"train_subset"`
	TestSubset  int    `json:"test_subset"`
	Seed        uint64 `json:"seed"`
}

// DefaultConfig returns the official finetuning of mode under protocol ("" for the run's
// own method's, DefaultProtocol) for the pretraining run described by pre, selecting the
// epoch on a 5,000-image validation split (Select changes the rule). Everything else is
// the protocol script's, including the learning rate (AdvCL's protocol takes the
// pretraining method's official one, pretrain.FinetuneLR, spec §4.4).
func DefaultConfig(pre *pretrain.Config, mode Mode, protocol string) (Config, error) {
	if _, err := ParseMode(string(mode)); err != nil {
		return Config{}, err
	}
	if protocol == "" {
		protocol = DefaultProtocol(pre)
	}
	if err := checkProtocol(protocol); err != nil {
		return Config{}, err
	}
	c := Config{Mode: mode, Protocol: protocol, Gamma: 0.1, Optimizer: optim.Config{Kind: optim.SGD, Momentum: 0.9, WeightDecay: 2e-4},
		Branch: BranchAuto, HeadInit: HeadInitLinear, TRADES: attack.DefaultTRADES(), EvalBatch: 256, Selection: SelectValRA,
		ValSize: DefaultValSize, Seed: 1}
	c.applyProtocol(pre)
	return c, nil
}

// Sizes are the scale of a finetuning, for shrinking a protocol to a notebook's or an
// experiment's size: each field > 0 replaces the protocol's value, 0 keeps it.
type Sizes struct {
	// Epochs goes through ScaleEpochs (the LR milestones move with it); the others are
	// Config's fields of the same names.
	Epochs, BatchSize, TrainSubset, ValSize, TestSubset, EvalBatch int
}

// Resize applies the sizes s to the configuration.
func (c *Config) Resize(s Sizes) {
	if s.Epochs > 0 {
		c.ScaleEpochs(s.Epochs)
	}
	for _, kv := range []struct {
		dst *int
		v   int
	}{{&c.BatchSize, s.BatchSize}, {&c.TrainSubset, s.TrainSubset}, {&c.ValSize, s.ValSize}, {&c.TestSubset, s.TestSubset}, {&c.EvalBatch, s.EvalBatch}} {
		if kv.v > 0 {
			*kv.dst = kv.v
		}
	}
}

// ScaleEpochs sets the number of epochs and moves the LR milestones to the same fractions
// of the run (15/25 and 20/25 of it for the AdvCL protocol); MilestoneShift stays.
func (c *Config) ScaleEpochs(epochs int) {
	if epochs == c.Epochs || c.Epochs == 0 {
		c.Epochs = epochs
		return
	}
	for i, m := range c.Milestones {
		c.Milestones[i] = int(math.Round(float64(m) * float64(epochs) / float64(c.Epochs)))
	}
	c.Epochs = epochs
}

// Validate returns a *field.Error naming the first bad field by its key.
func (c *Config) Validate() error {
	if _, err := ParseMode(string(c.Mode)); err != nil {
		return err
	}
	if err := checkProtocol(c.Protocol); err != nil {
		return err
	}
	switch {
	case c.HeadInit != HeadInitLinear && c.HeadInit != HeadInitZero:
		return field.Errorf("head_init", "{head_init} %q: use %s or %s", c.HeadInit, HeadInitLinear, HeadInitZero)
	case c.NaturalBranch != "" && c.Mode != AFF:
		return field.Errorf("natural_branch", "{natural_branch} %q: only AFF has a clean pass of its own", c.NaturalBranch)
	case c.MilestoneShift < -1 || c.MilestoneShift > 1:
		return field.Errorf("milestone_shift", "{milestone_shift} = %d: use -1, 0 or 1", c.MilestoneShift)
	case c.Epochs < 1:
		return field.Errorf("epochs", "{epochs} = %d: must be ≥ 1", c.Epochs)
	case c.BatchSize < 2:
		return field.Errorf("batch_size", "{batch_size} = %d: must be ≥ 2", c.BatchSize)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return field.Errorf("lr", "{lr} = %g: must be > 0", c.LR)
	case !(c.Gamma > 0):
		return field.Errorf("gamma", "{gamma} = %g: must be > 0", c.Gamma)
	case c.EvalBatch < 1:
		return field.Errorf("eval_batch", "{eval_batch} = %d: must be ≥ 1", c.EvalBatch)
	case c.ValSize < 0 || c.TrainSubset < 0 || c.TestSubset < 0:
		return field.Errorf("val_size", "{val_size} (%d), {train_subset} (%d) and {test_subset} (%d) must be ≥ 0", c.ValSize, c.TrainSubset, c.TestSubset)
	}
	switch c.Selection {
	case SelectValRA:
		if c.ValSize == 0 {
			return field.Errorf("val_size", "{selection} %s needs a validation split: set {val_size} > 0 (or {selection} %s for the official test-set selection)", SelectValRA, SelectTestRA)
		}
	case SelectTestRA, SelectLast:
	case SelectImported:
		return field.Errorf("selection", "{selection} %s marks a finetuning imported from PyTorch; a finetuning selects by %s, %s or %s", c.Selection, SelectValRA, SelectTestRA, SelectLast)
	default:
		return field.Errorf("selection", "{selection} %q: use %s, %s, %s or %s", c.Selection, SelectValRA, SelectTestRA, SelectLast, SelectOfficial)
	}
	if err := c.Optimizer.Validate(); err != nil {
		return field.Within("optimizer", err)
	}
	if err := c.TrainAttack.Validate(); err != nil {
		return field.Within("train_attack", err)
	}
	if err := c.TRADES.Validate(); err != nil {
		return field.Within("trades", err)
	}
	if err := c.EvalAttack.Validate(); err != nil {
		return field.Within("eval_attack", err)
	}
	return nil
}

// SameConfig reports whether a stored finetuning configuration is the one cfg asks for, so
// that a finished finetuning can be reused (the stored Branch holds the resolved branch
// where cfg may say BranchAuto).
func SameConfig(stored, cfg Config) bool {
	if cfg.Branch == BranchAuto {
		cfg.Branch = stored.Branch
	}
	a, _ := json.Marshal(stored)
	b, _ := json.Marshal(cfg)
	return string(a) == string(b)
}
