package acl

import (
	"fmt"
	"math"
)

// A Schedule gives the learning rate of a training iteration. epoch counts from 0, step is
// the iteration within the epoch (from 0) and stepsPerEpoch the number of iterations of an
// epoch. Each official method's schedule is one implementation, so a run can reproduce it
// exactly; the trainer writes the value into the learning-rate variable before the step.
type Schedule interface {
	LearningRate(epoch, step, stepsPerEpoch int) float64
}

// ConstantLR is a fixed learning rate.
type ConstantLR float64

// LearningRate implements Schedule.
func (c ConstantLR) LearningRate(int, int, int) float64 { return float64(c) }

// AdvCLCosine is AdvCL's (SupContrast's) schedule: per epoch
// lr(e) = η_min + (lr − η_min)(1 + cos(π e/E))/2 with e = epoch+1 and η_min = lr·0.1³, and,
// when WarmEpochs > 0 (AdvCL warms up when the batch exceeds 256), a per-iteration linear
// warm-up during epochs e ≤ WarmEpochs from WarmFrom to lr(WarmEpochs)
// (pretraining_advCL.py: adjust_learning_rate / warmup_learning_rate).
type AdvCLCosine struct {
	Base       float64 `json:"base"`
	Epochs     int     `json:"epochs"`
	WarmEpochs int     `json:"warm_epochs"`
	WarmFrom   float64 `json:"warm_from"`
}

func (s AdvCLCosine) cosine(e int) float64 {
	etaMin := s.Base * 1e-3
	return etaMin + (s.Base-etaMin)*(1+math.Cos(math.Pi*float64(e)/float64(s.Epochs)))/2
}

// LearningRate implements Schedule.
func (s AdvCLCosine) LearningRate(epoch, step, stepsPerEpoch int) float64 {
	e := epoch + 1
	if e <= s.WarmEpochs && stepsPerEpoch > 0 {
		p := float64(step+(e-1)*stepsPerEpoch) / float64(s.WarmEpochs*stepsPerEpoch)
		to := s.cosine(s.WarmEpochs)
		return s.WarmFrom + p*(to-s.WarmFrom)
	}
	return s.cosine(e)
}

// RoCLWarmupCosine is RoCL's GradualWarmupScheduler(multiplier, total_epoch=WarmEpochs)
// followed by CosineAnnealingLR(T_max=Epochs) from the peak, stepped once at the start of
// each epoch (rocl_train.py): with e = epoch+1, lr(e) = base·(1 + (multiplier−1)·e/WarmEpochs)
// for e ≤ WarmEpochs, then multiplier·base·(1 + cos(π t/Epochs))/2 with t = e−WarmEpochs−1
// (the warm-up scheduler hands over at the cosine's own step 0, so the first epoch after
// the warm-up trains at the peak).
type RoCLWarmupCosine struct {
	Base       float64 `json:"base"`
	Multiplier float64 `json:"multiplier"`
	WarmEpochs int     `json:"warm_epochs"`
	Epochs     int     `json:"epochs"`
}

// LearningRate implements Schedule.
func (s RoCLWarmupCosine) LearningRate(epoch, _, _ int) float64 {
	e := epoch + 1
	if e <= s.WarmEpochs {
		return s.Base * (1 + (s.Multiplier-1)*float64(e)/float64(s.WarmEpochs))
	}
	peak := s.Base * s.Multiplier
	return peak * (1 + math.Cos(math.Pi*float64(e-s.WarmEpochs-1)/float64(s.Epochs))) / 2
}

// ACLCosine is ACL's per-iteration LambdaLR schedule (train_simCLR.py: cosine_annealing):
// with t the 1-based global iteration (the scheduler is stepped before each optimizer
// step), lr = base·t/W during W warm-up iterations, then
// base·(m + (1−m)(1 + cos(π(t−W)/(T−W)))/2) with m = Min/base, T = Epochs·stepsPerEpoch and
// W = WarmEpochs·stepsPerEpoch.
type ACLCosine struct {
	Base       float64 `json:"base"`
	Epochs     int     `json:"epochs"`
	WarmEpochs int     `json:"warm_epochs"`
	Min        float64 `json:"min"`
}

// LearningRate implements Schedule.
func (s ACLCosine) LearningRate(epoch, step, stepsPerEpoch int) float64 {
	t := float64(epoch*stepsPerEpoch + step + 1)
	w := float64(s.WarmEpochs * stepsPerEpoch)
	total := float64(s.Epochs * stepsPerEpoch)
	if t < w {
		return s.Base * t / w
	}
	m := s.Min / s.Base
	return s.Base * (m + (1-m)*0.5*(1+math.Cos((t-w)/(total-w)*math.Pi)))
}

// StepDecay multiplies Base by Gamma at each milestone epoch: lr = Base·Gamma^k where k
// counts the milestones m with epoch ≥ m (epoch from 0). The finetuning protocols use
// milestones 15 and 20 with Gamma 0.1 over 25 epochs (epochs 1–15, 16–20, 21–25).
type StepDecay struct {
	Base       float64 `json:"base"`
	Milestones []int   `json:"milestones"`
	Gamma      float64 `json:"gamma"`
}

// LearningRate implements Schedule.
func (s StepDecay) LearningRate(epoch, _, _ int) float64 {
	lr := s.Base
	for _, m := range s.Milestones {
		if epoch >= m {
			lr *= s.Gamma
		}
	}
	return lr
}

// ScheduleConfig is the serialisable choice of a schedule, as stored in a run's config.
type ScheduleConfig struct {
	// Kind is one of "constant", "advcl-cosine", "rocl-warmup-cosine", "acl-cosine",
	// "dynacl-cosine" (DynACLCosine), "step".
	Kind       string  `json:"kind"`
	Base       float64 `json:"base"`
	Epochs     int     `json:"epochs,omitempty"`
	WarmEpochs int     `json:"warm_epochs,omitempty"`
	WarmFrom   float64 `json:"warm_from,omitempty"`
	Multiplier float64 `json:"multiplier,omitempty"`
	Min        float64 `json:"min,omitempty"`
	Milestones []int   `json:"milestones,omitempty"`
	Gamma      float64 `json:"gamma,omitempty"`
}

// Build validates the configuration and returns the schedule.
func (c ScheduleConfig) Build() (Schedule, error) {
	if !(c.Base > 0) || math.IsInf(c.Base, 0) {
		return nil, fmt.Errorf("schedule base learning rate = %g: must be > 0", c.Base)
	}
	needEpochs := func() error {
		if c.Epochs < 1 {
			return fmt.Errorf("schedule %q: epochs = %d, must be ≥ 1", c.Kind, c.Epochs)
		}
		if c.WarmEpochs < 0 {
			return fmt.Errorf("schedule %q: warm_epochs = %d, must be ≥ 0", c.Kind, c.WarmEpochs)
		}
		return nil
	}
	switch c.Kind {
	case "constant":
		return ConstantLR(c.Base), nil
	case "advcl-cosine":
		if err := needEpochs(); err != nil {
			return nil, err
		}
		return AdvCLCosine{Base: c.Base, Epochs: c.Epochs, WarmEpochs: c.WarmEpochs, WarmFrom: c.WarmFrom}, nil
	case "rocl-warmup-cosine":
		if err := needEpochs(); err != nil {
			return nil, err
		}
		if c.Multiplier < 1 {
			return nil, fmt.Errorf("schedule %q: multiplier = %g, must be ≥ 1", c.Kind, c.Multiplier)
		}
		return RoCLWarmupCosine{Base: c.Base, Multiplier: c.Multiplier, WarmEpochs: c.WarmEpochs, Epochs: c.Epochs}, nil
	case "acl-cosine":
		if err := needEpochs(); err != nil {
			return nil, err
		}
		if c.WarmEpochs >= c.Epochs {
			return nil, fmt.Errorf("schedule %q: warm_epochs = %d must be < epochs = %d", c.Kind, c.WarmEpochs, c.Epochs)
		}
		return ACLCosine{Base: c.Base, Epochs: c.Epochs, WarmEpochs: c.WarmEpochs, Min: c.Min}, nil
	case "dynacl-cosine":
		if err := needEpochs(); err != nil {
			return nil, err
		}
		if c.WarmEpochs >= c.Epochs {
			return nil, fmt.Errorf("schedule %q: warm_epochs = %d must be < epochs = %d", c.Kind, c.WarmEpochs, c.Epochs)
		}
		return DynACLCosine{Base: c.Base, Epochs: c.Epochs, WarmEpochs: c.WarmEpochs, Min: c.Min}, nil
	case "step":
		if c.Gamma <= 0 {
			return nil, fmt.Errorf("schedule %q: gamma = %g, must be > 0", c.Kind, c.Gamma)
		}
		return StepDecay{Base: c.Base, Milestones: c.Milestones, Gamma: c.Gamma}, nil
	}
	return nil, fmt.Errorf("schedule kind %q unknown: use constant, advcl-cosine, rocl-warmup-cosine, acl-cosine, dynacl-cosine or step", c.Kind)
}
