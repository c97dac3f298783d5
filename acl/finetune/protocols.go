package finetune

import (
	"slices"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
)

// Finetuning protocols: whose finetuning and evaluation scripts a finetuning follows, as
// those scripts ran (docs/evaluation.md lists every setting with the file it comes from).
// A run is finetuned with its own method's protocol unless another is asked for
// (DefaultProtocol).
const (
	// ProtocolAdvCL is AdvCL's finetuning (A-InfoNCE Asym-AdvCL/finetuning_advCL_SLF.py
	// with trades.py and the shell scripts, spec §5.1): 25 epochs, batch 512 in every
	// mode, SGD(0.9, wd 2e-4), LR ×0.1 from epochs 16 and 21 (adjust_lr(epoch−1) before
	// each epoch), RandomCrop(32,4)+HFlip, ALF on PGD-20, AFF TRADES, evaluation PGD-20
	// with step 2/255 and an unclamped random start; officially selected on test RA.
	ProtocolAdvCL = "advcl"
	// ProtocolRoCL is RoCL's own (Asym-RoCL/linear_eval.py and robustness_test.py for
	// SLF, rocl_finetune.py for ALF/AFF, spec §5.2): batch 1024, no augmentation; SLF 150
	// epochs, wd 5e-4, LR ×0.1 from epochs 32, 52 and 102 (adjust_lr(epoch) after each
	// epoch, milestones 30/50/100), the last epoch, evaluated with PGD-20 at ε 0.0314,
	// step 0.00314, start clamped; ALF/AFF 25 epochs, wd 2e-4, ×0.1 from epochs 17 and 22,
	// evaluated with the same ε and step but an unclamped start, selected on test RA.
	ProtocolRoCL = "rocl"
	// ProtocolACL is ACL's (VITA-Group/Adversarial-Contrastive-Learning train_trades.py,
	// whose README gives the commands): AFF only, TRADES, batch 128, zero-initialised
	// head, MultiStepLR stepped before each epoch (×0.1 one epoch before its milestone),
	// 100 epochs with milestones 40/60 on CIFAR-10 and 25 with 15/20 otherwise, selected
	// on the robust accuracy of a 5,000-image validation split. ACL has no SLF/ALF script:
	// those modes follow DynACL's test_LF.py, which is built on ACL's code (an assumption,
	// recorded in Config.Source).
	ProtocolACL = "acl"
	// ProtocolDynACL is DynACL's (PKU-ML/DYNACL test_LF.py for SLF/ALF, test_AFF.py for
	// AFF): zero-initialised head, the final epoch; SLF/ALF batch 512, lr 0.01, 25 epochs,
	// ×0.1 from epochs 11 and 21, ALF on PGD-10; AFF batch 128, lr 0.1, ×0.1 from epochs 16
	// and 21, dual-BN TRADES (clean pass through the 'normal' BN, adversarial through
	// 'pgd', no random start).
	ProtocolDynACL = "dynacl"
)

// Protocols lists the finetuning protocols.
var Protocols = []string{ProtocolRoCL, ProtocolAdvCL, ProtocolACL, ProtocolDynACL}

// BatchRobustSSL is the finetuning batch of the RobustSSL benchmark's
// vanilla_finetuning.py (GodXuxilie/RobustSSL_Benchmark) in every mode: 128, which goacl
// used for AFF before it followed AdvCL's 512. Kept as a named setting (acl finetune
// -batch robustssl).
const BatchRobustSSL = 128

// Head initialisations (Config.HeadInit).
const (
	// HeadInitLinear initialises the linear head like nn.Linear (AdvCL, RoCL).
	HeadInitLinear = "linear"
	// HeadInitZero starts the head at zero weights and biases (ACL's and DynACL's
	// cvt_state_dict: "zero init fc").
	HeadInitZero = "zero"
)

// DefaultProtocol is the protocol a run is finetuned with when none is asked for: its
// method's own (pretrain.Evaluation.Protocol: RoCL runs → rocl, AdvCL → advcl, ACL-DS →
// acl, DynACL → dynacl), or advcl for a method this build does not know.
func DefaultProtocol(pre *pretrain.Config) string {
	if m, err := pretrain.MethodByName(pre.Method); err == nil {
		if p := m.Evaluation(pre).Protocol; p != "" {
			return p
		}
	}
	return ProtocolAdvCL
}

// checkProtocol returns a *field.Error of the key "protocol" for an unknown protocol.
func checkProtocol(p string) error {
	if !slices.Contains(Protocols, p) {
		return field.Errorf("protocol", "{protocol} %q: use rocl, advcl, acl or dynacl (or leave it empty for the run's own method's)", p)
	}
	return nil
}

// applyProtocol fills c (mode set, shared defaults in place) with protocol's settings for
// the pretraining run pre.
func (c *Config) applyProtocol(pre *pretrain.Config) {
	lr := func(v float64, src string) { c.LR, c.LRSource = v, src }
	switch c.Protocol {
	case ProtocolAdvCL:
		c.Epochs, c.Milestones, c.BatchSize, c.Augment = 25, []int{15, 20}, 512, true
		c.LR, c.LRSource = pretrain.FinetuneLR(pre, c.Mode == AFF)
		c.TrainAttack, c.EvalAttack = attack.PGD20(), attack.PGD20()
		c.OfficialSelection = SelectTestRA
		c.Source = "yqy2001/A-InfoNCE Asym-AdvCL/finetuning_advCL_SLF.py (batch 512, adjust_lr before each epoch), trades.py, shell/*.sh (learning rates)"
	case ProtocolRoCL:
		c.BatchSize, c.Augment, c.MilestoneShift = 1024, false, 1
		lr(0.1, "Asym-RoCL shell/*.sh --lr 0.1 (RoCL protocol)")
		c.TrainAttack = attack.PGD20()
		if c.Mode == SLF {
			c.Epochs, c.Milestones, c.Optimizer.WeightDecay = 150, []int{30, 50, 100}, 5e-4
			c.EvalAttack, c.OfficialSelection = attack.PGD20RoCL(), SelectLast
			c.Source = "yqy2001/A-InfoNCE Asym-RoCL/linear_eval.py (adjust_lr after each epoch), robustness_test.py, attack_lib.py"
		} else {
			c.Epochs, c.Milestones = 25, []int{15, 20}
			c.EvalAttack, c.OfficialSelection = attack.PGD20RoCLFinetune(), SelectTestRA
			c.Source = "yqy2001/A-InfoNCE Asym-RoCL/rocl_finetune.py (AttackPGD, adjust_lr after each epoch), trades.py"
		}
	case ProtocolACL, ProtocolDynACL:
		c.Augment, c.HeadInit = true, HeadInitZero
		c.TrainAttack, c.EvalAttack = attack.PGD20(), attack.PGD20()
		if c.Mode != AFF {
			// DynACL's test_LF.py: ALF trains on PGD-10 (--num-steps-train 10).
			c.Epochs, c.Milestones, c.BatchSize = 25, []int{10, 20}, 512
			c.TrainAttack.Steps = 10
			lr(0.01, "PKU-ML/DYNACL test_LF.py --lr default 0.01")
			c.OfficialSelection = SelectLast
			c.Source = "PKU-ML/DYNACL test_LF.py (MultiStepLR stepped after each epoch, the final model)"
			if c.Protocol == ProtocolACL {
				c.Source += "; ACL has no SLF/ALF script: DynACL's, built on ACL's code, stands in"
			}
			break
		}
		c.BatchSize = 128
		lr(0.1, "train_trades.py / test_AFF.py --lr default 0.1")
		if c.Protocol == ProtocolACL {
			c.Epochs, c.Milestones, c.MilestoneShift = 25, []int{15, 20}, -1
			if pre.Dataset == datasets.CIFAR10 {
				c.Epochs, c.Milestones = 100, []int{40, 60}
			}
			c.OfficialSelection = SelectValRA
			c.Source = "VITA-Group/Adversarial-Contrastive-Learning train_trades.py with the README's commands (scheduler.step() before each epoch, ata_best_model on valid_idx_std), trades.py"
		} else {
			c.Epochs, c.Milestones = 25, []int{15, 20}
			c.TRADES.StartStd = 0
			c.NaturalBranch = layers.BranchNormal
			c.OfficialSelection = SelectLast
			c.Source = "PKU-ML/DYNACL test_AFF.py, utils.py trades_loss_dual (dual BN, no random start, the final model)"
		}
	}
}

// Schedule is the finetuning's learning-rate schedule: LR ×Gamma at each milestone, the
// decay landing MilestoneShift epochs after the epoch the milestone names, as the
// protocol's script applies it.
func (c *Config) Schedule() optim.StepDecay {
	ms := make([]int, len(c.Milestones))
	for i, m := range c.Milestones {
		ms[i] = max(m+c.MilestoneShift, 0)
	}
	return optim.StepDecay{Base: c.LR, Milestones: ms, Gamma: c.Gamma}
}

// Select sets the selection rule: SelectOfficial resolves to the protocol's own
// (OfficialSelection). Every rule but SelectValRA trains on the whole training split, as
// the official code does (ValSize 0).
func (c *Config) Select(s Selection) error {
	if s == SelectOfficial {
		s = c.OfficialSelection
	}
	switch s {
	case SelectValRA:
		if c.ValSize == 0 {
			c.ValSize = DefaultValSize
		}
	case SelectTestRA, SelectLast:
		c.ValSize = 0
	default:
		return field.Errorf("selection", "{selection} %q: use %s, %s, %s or %s", s, SelectValRA, SelectTestRA, SelectLast, SelectOfficial)
	}
	c.Selection = s
	return nil
}
