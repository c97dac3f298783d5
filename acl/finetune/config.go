package finetune

import (
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
	// SelectLast reports the last epoch (no per-epoch evaluation).
	SelectLast Selection = "last"
	// SelectImported marks a finetuned classifier imported from a PyTorch file (acl
	// import): its checkpoint was chosen by the code that trained it. A finetuning cannot
	// be run with it.
	SelectImported Selection = "imported"
)

// Label is the human description tables and reports print.
func (s Selection) Label() string {
	switch s {
	case SelectValRA:
		return "selected on validation RA"
	case SelectTestRA:
		return "selected on test RA (official)"
	case SelectLast:
		return "last epoch"
	case SelectImported:
		return "imported (chosen by the code that trained it)"
	}
	return string(s)
}

// Finetuning protocols: whose evaluation recipe the finetuning follows.
const (
	// ProtocolAdvCL is AdvCL's finetuning (finetuning_advCL_SLF.py, spec §5.1), the
	// default for every method so that all Table-1 rows are measured alike: 25 epochs,
	// SGD(0.9, wd 2e-4), LR ×0.1 at epochs 15 and 20, batch 512 (SLF/ALF) / 128 (AFF),
	// RandomCrop(32,4)+HFlip, PGD-20 evaluation with step 2/255.
	ProtocolAdvCL = "advcl"
	// ProtocolRoCL is RoCL's own (linear_eval.py / rocl_finetune.py, spec §5.2): SLF 150
	// epochs, batch 1024, wd 5e-4, ×0.1 at 30/50/100; ALF/AFF 25 epochs, batch 1024, wd
	// 2e-4; no augmentation; evaluation PGD-20 with ε 0.0314 and step 0.00314.
	ProtocolRoCL = "rocl"
)

// BranchAuto asks for the protocol's BN branch: the pretraining method's (see ProtocolBranch).
const BranchAuto = "auto"

// Config is the fully resolved configuration of one finetuning, stored as the
// finetuning's config.json; validation errors name its keys (field.Error).
type Config struct {
	// Mode is SLF, ALF or AFF; Protocol the pretraining method whose finetuning recipe is
	// followed (its loss, attack and learning rates, spec §4.4).
	Mode     Mode   `json:"mode"`
	Protocol string `json:"protocol"`
	// Branch is the encoder BN branch used: BranchAuto (the default) resolves to
	// ProtocolBranch when the encoder is loaded, and the stored config holds the result.
	Branch string `json:"branch"`

	// Epochs and BatchSize of the finetuning (the protocols: 25 and 128).
	Epochs    int `json:"epochs"`
	BatchSize int `json:"batch_size"`
	// LR is the base learning rate; LRSource says where it came from (the official
	// table, spec §4.4, or a flag).
	LR         float64      `json:"lr"`
	LRSource   string       `json:"lr_source"`
	Milestones []int        `json:"milestones"`
	Gamma      float64      `json:"gamma"`
	Optimizer  optim.Config `json:"optimizer"`
	// Augment trains on RandomCrop(32, 4) + HFlip views (AdvCL); RoCL uses the images as
	// they are.
	Augment bool `json:"augment"`
	// TrainAttack is ALF's PGD-20 on the cross-entropy; TRADES is AFF's.
	TrainAttack attack.PGDConfig    `json:"train_attack"`
	TRADES      attack.TRADESConfig `json:"trades"`

	// EvalAttack is the PGD used for selection and for the reported RA.
	EvalAttack attack.PGDConfig `json:"eval_attack"`
	EvalBatch  int              `json:"eval_batch"`
	Selection  Selection        `json:"selection"`
	// ValSize images are held out from the training split for selection (the last
	// ValSize of a seeded permutation); TrainSubset and TestSubset limit the training and
	// test images (0: all).
	ValSize     int    `json:"val_size"`
	TrainSubset int    `json:"train_subset"`
	TestSubset  int    `json:"test_subset"`
	Seed        uint64 `json:"seed"`
}

// DefaultConfig returns the official finetuning of mode under protocol for the
// pretraining run described by pre, selecting on a 5,000-image validation split; the
// learning rate is the pretraining method's official one (pretrain.FinetuneLR, spec
// §4.4).
func DefaultConfig(pre *pretrain.Config, mode Mode, protocol string) (Config, error) {
	if _, err := ParseMode(string(mode)); err != nil {
		return Config{}, err
	}
	lr, src := pretrain.FinetuneLR(pre, mode == AFF)
	c := Config{Mode: mode, Protocol: protocol, Epochs: 25, Milestones: []int{15, 20}, Gamma: 0.1,
		LR: lr, LRSource: src, Optimizer: optim.Config{Kind: optim.SGD, Momentum: 0.9, WeightDecay: 2e-4},
		Branch: BranchAuto, TRADES: attack.DefaultTRADES(), EvalBatch: 256, Selection: SelectValRA, ValSize: 5000, Seed: 1}
	switch protocol {
	case ProtocolAdvCL:
		c.BatchSize = 512
		if mode == AFF {
			c.BatchSize = 128
		}
		c.Augment = true
		c.TrainAttack = attack.PGD20()
		c.EvalAttack = attack.PGD20()
	case ProtocolRoCL:
		c.BatchSize = 1024
		c.LR, c.LRSource = 0.1, "spec §5.2 (RoCL protocol)"
		if mode == SLF {
			c.Epochs, c.Milestones, c.Optimizer.WeightDecay = 150, []int{30, 50, 100}, 5e-4
		}
		c.TrainAttack = attack.PGD20()
		c.TrainAttack.Order, c.TrainAttack.ClipStart = attack.ClipThenProject, true
		c.EvalAttack = attack.PGD20RoCL()
	default:
		return Config{}, field.Errorf("protocol", "{protocol} %q: use %s or %s", protocol, ProtocolAdvCL, ProtocolRoCL)
	}
	return c, nil
}

// ScaleEpochs sets the number of epochs and moves the LR milestones to the same fractions
// of the run (15/25 and 20/25 of it for the AdvCL protocol).
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
	switch {
	case c.Protocol != ProtocolAdvCL && c.Protocol != ProtocolRoCL:
		return field.Errorf("protocol", "{protocol} %q: use %s or %s", c.Protocol, ProtocolAdvCL, ProtocolRoCL)
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
		return field.Errorf("selection", "{selection} %q: use %s, %s or %s", c.Selection, SelectValRA, SelectTestRA, SelectLast)
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
