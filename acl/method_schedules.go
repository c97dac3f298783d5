package acl

import (
	"math"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/optim"
)

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

func init() {
	optim.RegisterSchedule("advcl-cosine", func(c optim.ScheduleConfig) (optim.Schedule, error) {
		if err := c.CheckEpochs(false); err != nil {
			return nil, err
		}
		return AdvCLCosine{Base: c.Base, Epochs: c.Epochs, WarmEpochs: c.WarmEpochs, WarmFrom: c.WarmFrom}, nil
	})
	optim.RegisterSchedule("rocl-warmup-cosine", func(c optim.ScheduleConfig) (optim.Schedule, error) {
		if err := c.CheckEpochs(false); err != nil {
			return nil, err
		}
		if c.Multiplier < 1 {
			return nil, field.Errorf("multiplier", "schedule %q: {multiplier} = %g, must be ≥ 1", c.Kind, c.Multiplier)
		}
		return RoCLWarmupCosine{Base: c.Base, Multiplier: c.Multiplier, WarmEpochs: c.WarmEpochs, Epochs: c.Epochs}, nil
	})
	optim.RegisterSchedule("acl-cosine", func(c optim.ScheduleConfig) (optim.Schedule, error) {
		if err := c.CheckEpochs(true); err != nil {
			return nil, err
		}
		return ACLCosine{Base: c.Base, Epochs: c.Epochs, WarmEpochs: c.WarmEpochs, Min: c.Min}, nil
	})
	optim.RegisterSchedule("dynacl-cosine", func(c optim.ScheduleConfig) (optim.Schedule, error) {
		if err := c.CheckEpochs(true); err != nil {
			return nil, err
		}
		return DynACLCosine{Base: c.Base, Epochs: c.Epochs, WarmEpochs: c.WarmEpochs, Min: c.Min}, nil
	})
}
