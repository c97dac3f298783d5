package finetune

import (
	"math"
	"slices"
	"testing"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/layers"
)

// officialLR replays the learning rate each protocol's script sets for every epoch of a
// run (index from 0), as the script's own loop does it, independently of Config.Schedule:
//
//	AdvCL  finetuning_advCL_SLF.py: for epoch in 1..E: adjust_lr(lr, opt, epoch−1) then train
//	       (adjust_lr: /10 if epoch ≥ 15, /10 again if ≥ 20)
//	RoCL   linear_eval.py, rocl_finetune.py: train, then adjust_lr(epoch) (same rule, the
//	       milestones of the script), so the new rate applies from the next epoch
//	ACL    train_trades.py: for epoch in 1..E: scheduler.step() (MultiStepLR) then train
//	DynACL test_LF.py, test_AFF.py: train, then scheduler.step()
func officialLR(protocol string, base float64, milestones []int, epochs int) []float64 {
	decayed := func(counter int) float64 { // lr after the milestones ≤ counter
		lr := base
		for _, m := range milestones {
			if counter >= m {
				lr /= 10
			}
		}
		return lr
	}
	out := make([]float64, epochs)
	lr, lastEpoch := base, 0 // MultiStepLR's last_epoch starts at 0
	for e := range epochs {
		switch protocol {
		case ProtocolAdvCL:
			lr = decayed(e) // adjust_lr(epoch−1) with epoch = e+1
		case ProtocolACL:
			lastEpoch++ // scheduler.step() before training
			lr = decayed(lastEpoch)
		case ProtocolDynACL:
			lr = decayed(lastEpoch)
		}
		out[e] = lr
		switch protocol {
		case ProtocolRoCL:
			lr = decayed(e) // adjust_lr(epoch) after training epoch e
		case ProtocolDynACL:
			lastEpoch++ // scheduler.step() after training
		}
	}
	return out
}

// Each protocol's schedule gives, epoch by epoch, the learning rate its official script
// trains with (RoCL's decays one epoch later than AdvCL's, ACL's one epoch earlier).
func TestProtocolScheduleMatchesOfficialLoops(t *testing.T) {
	for _, method := range []string{"rocl", "advcl", "acl", "dynacl"} {
		pre := &pretrain.Config{Method: method, Variant: "base", Dataset: "cifar10"}
		for _, mode := range Modes {
			cfg, err := DefaultConfig(pre, mode, "")
			if err != nil {
				t.Fatal(err)
			}
			script := cfg.Protocol
			if script == ProtocolACL && mode != AFF {
				script = ProtocolDynACL // ACL has no SLF/ALF script; DynACL's test_LF.py stands in
			}
			want := officialLR(script, cfg.LR, cfg.Milestones, cfg.Epochs)
			sched := cfg.Schedule()
			for e, w := range want {
				if got := sched.LearningRate(e, 0, 1); math.Abs(got-w) > 1e-15 {
					t.Errorf("%s %s (protocol %s): epoch %d lr %g, the official script trains it at %g", method, mode, cfg.Protocol, e+1, got, w)
					break
				}
			}
		}
	}
}

// A run is finetuned with its own method's protocol unless another is named, with the
// settings of that protocol's scripts (docs/evaluation.md lists each with its file).
func TestDefaultProtocolIsTheMethodsOwn(t *testing.T) {
	cfgOf := func(method, dataset string, mode Mode, protocol string) Config {
		t.Helper()
		c, err := DefaultConfig(&pretrain.Config{Method: method, Variant: "base", Dataset: dataset}, mode, protocol)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s %s %s: %v", method, mode, protocol, err)
		}
		return c
	}
	for method, want := range map[string]string{"rocl": ProtocolRoCL, "advcl": ProtocolAdvCL, "acl": ProtocolACL, "dynacl": ProtocolDynACL, "unknown": ProtocolAdvCL} {
		if got := cfgOf(method, "cifar10", SLF, "").Protocol; got != want {
			t.Errorf("%s run: protocol %q, want %q", method, got, want)
		}
	}
	// RoCL: linear_eval.py for SLF, rocl_finetune.py for ALF/AFF; no augmentation, batch
	// 1024; robustness_test.py clamps its random start, rocl_finetune.py's AttackPGD not.
	slf := cfgOf("rocl", "cifar10", SLF, "")
	if slf.Epochs != 150 || slf.BatchSize != 1024 || slf.Optimizer.WeightDecay != 5e-4 || !slices.Equal(slf.Milestones, []int{30, 50, 100}) ||
		slf.MilestoneShift != 1 || slf.Augment || slf.EvalAttack != attack.PGD20RoCL() || !slf.EvalAttack.ClipStart || slf.OfficialSelection != SelectLast {
		t.Errorf("RoCL SLF: %+v", slf)
	}
	for _, mode := range []Mode{ALF, AFF} {
		c := cfgOf("rocl", "cifar10", mode, "")
		if c.Epochs != 25 || c.BatchSize != 1024 || c.Optimizer.WeightDecay != 2e-4 || c.MilestoneShift != 1 || c.Augment ||
			c.EvalAttack.StepSize != attack.RoCLEvalStep || c.EvalAttack.Epsilon != 0.0314 || c.EvalAttack.ClipStart ||
			c.TrainAttack.ClipStart || c.TrainAttack.Steps != 20 || c.OfficialSelection != SelectTestRA {
			t.Errorf("RoCL %s: %+v", mode, c)
		}
	}
	// AdvCL: batch 512 in every mode (AFF too), no shift, test-RA selection officially.
	for _, mode := range Modes {
		c := cfgOf("advcl", "cifar10", mode, "")
		if c.BatchSize != 512 || c.MilestoneShift != 0 || !c.Augment || c.EvalAttack != attack.PGD20() || c.OfficialSelection != SelectTestRA || c.HeadInit != HeadInitLinear {
			t.Errorf("AdvCL %s: %+v", mode, c)
		}
	}
	// ACL: AFF per train_trades.py and the README (CIFAR-10: 100 epochs, 40/60), zero head,
	// validation-RA selection; SLF/ALF per DynACL's test_LF.py.
	aff := cfgOf("acl", "cifar10", AFF, "")
	if aff.Epochs != 100 || !slices.Equal(aff.Milestones, []int{40, 60}) || aff.MilestoneShift != -1 || aff.BatchSize != 128 ||
		aff.HeadInit != HeadInitZero || aff.OfficialSelection != SelectValRA || aff.TRADES != attack.DefaultTRADES() {
		t.Errorf("ACL AFF: %+v", aff)
	}
	if c := cfgOf("acl", "cifar100", AFF, ""); c.Epochs != 25 || !slices.Equal(c.Milestones, []int{15, 20}) {
		t.Errorf("ACL AFF on CIFAR-100: %d epochs, milestones %v", c.Epochs, c.Milestones)
	}
	// DynACL: test_LF.py (lr 0.01, 10/20, ALF on PGD-10, final model) and test_AFF.py
	// (dual BN, no TRADES start noise).
	alf := cfgOf("dynacl", "cifar10", ALF, "")
	if alf.LR != 0.01 || !slices.Equal(alf.Milestones, []int{10, 20}) || alf.TrainAttack.Steps != 10 || alf.BatchSize != 512 ||
		alf.OfficialSelection != SelectLast || alf.HeadInit != HeadInitZero {
		t.Errorf("DynACL ALF: %+v", alf)
	}
	daff := cfgOf("dynacl", "cifar10", AFF, "")
	if daff.NaturalBranch != layers.BranchNormal || daff.TRADES.StartStd != 0 || daff.BatchSize != 128 || daff.LR != 0.1 {
		t.Errorf("DynACL AFF: %+v", daff)
	}
	// A protocol named explicitly wins; an unknown one is refused.
	if c := cfgOf("rocl", "cifar10", SLF, ProtocolAdvCL); c.Protocol != ProtocolAdvCL || c.BatchSize != 512 {
		t.Errorf("RoCL run with the AdvCL protocol: %+v", c)
	}
	if _, err := DefaultConfig(&pretrain.Config{Method: "rocl"}, SLF, "simclr"); err == nil {
		t.Error("unknown protocol: want an error")
	}
	// -select official is each protocol's own rule; every rule but val-ra trains on the
	// whole training split.
	for _, c := range []struct {
		method string
		mode   Mode
		want   Selection
	}{{"rocl", SLF, SelectLast}, {"rocl", AFF, SelectTestRA}, {"advcl", ALF, SelectTestRA}, {"acl", AFF, SelectValRA}, {"dynacl", SLF, SelectLast}} {
		cfg := cfgOf(c.method, "cifar10", c.mode, "")
		if err := cfg.Select(SelectOfficial); err != nil || cfg.Selection != c.want || (cfg.ValSize == 0) != (c.want != SelectValRA) {
			t.Errorf("%s %s official selection: %q, val size %d (%v); want %q", c.method, c.mode, cfg.Selection, cfg.ValSize, err, c.want)
		}
	}
}
