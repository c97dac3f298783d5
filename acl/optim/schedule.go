package optim

import (
	"math"
	"sort"
	"strings"

	"github.com/ainfonce/goacl/acl/field"
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

// StepDecay multiplies Base by Gamma at each milestone epoch: lr = Base·Gamma^k where k
// counts the milestones m with epoch ≥ m (epoch from 0). The finetuning protocols use
// milestones 15 and 20 with Gamma 0.1 over 25 epochs (epochs 1–15, 16–20, 21–25).
type StepDecay struct {
	// Base is the initial learning rate, Milestones the epochs (from 0) at which it is
	// multiplied by Gamma.
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

// ScheduleConfig is the serialisable choice of a schedule, as stored in a run's config.json
// "schedule". Kind names a registered schedule (RegisterSchedule): "constant" and "step"
// here, and each pretraining method's official schedule, registered by the method's file.
type ScheduleConfig struct {
	// Kind is one of ScheduleKinds(), e.g. "constant", "step", "advcl-cosine",
	// "rocl-warmup-cosine", "acl-cosine", "dynacl-cosine".
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

// A ScheduleBuilder validates a ScheduleConfig of its kind (Base is already checked) and
// returns the schedule; errors are *field.Error values naming the ScheduleConfig field.
type ScheduleBuilder func(c ScheduleConfig) (Schedule, error)

var scheduleKinds = map[string]ScheduleBuilder{
	"constant": func(c ScheduleConfig) (Schedule, error) { return ConstantLR(c.Base), nil },
	"step": func(c ScheduleConfig) (Schedule, error) {
		if c.Gamma <= 0 {
			return nil, field.Errorf("gamma", "schedule %q: {gamma} = %g, must be > 0", c.Kind, c.Gamma)
		}
		return StepDecay{Base: c.Base, Milestones: c.Milestones, Gamma: c.Gamma}, nil
	},
}

// RegisterSchedule makes the schedule kind available to ScheduleConfig.Build. Each
// pretraining method registers its official schedule from its own file; registering a
// kind twice panics.
func RegisterSchedule(kind string, build ScheduleBuilder) {
	if _, dup := scheduleKinds[kind]; dup {
		panic("optim: schedule kind registered twice: " + kind)
	}
	scheduleKinds[kind] = build
}

// ScheduleKinds lists the registered schedule kinds, sorted.
func ScheduleKinds() []string {
	kinds := make([]string, 0, len(scheduleKinds))
	for k := range scheduleKinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// Build validates the configuration and returns the schedule. Errors are *field.Error
// values naming the field (base, epochs, warm_epochs, kind, …).
func (c ScheduleConfig) Build() (Schedule, error) {
	if !(c.Base > 0) || math.IsInf(c.Base, 0) {
		return nil, field.Errorf("base", "{base} = %g: the base learning rate must be > 0", c.Base)
	}
	build, ok := scheduleKinds[c.Kind]
	if !ok {
		return nil, field.Errorf("kind", "{kind} %q unknown: use %s", c.Kind, strings.Join(ScheduleKinds(), ", "))
	}
	return build(c)
}

// CheckEpochs is the check shared by epoch-based schedules: Epochs ≥ 1 and
// WarmEpochs ≥ 0 (and, when warmBelowEpochs, WarmEpochs < Epochs).
func (c ScheduleConfig) CheckEpochs(warmBelowEpochs bool) error {
	if c.Epochs < 1 {
		return field.Errorf("epochs", "schedule %q: {epochs} = %d, must be ≥ 1", c.Kind, c.Epochs)
	}
	if c.WarmEpochs < 0 {
		return field.Errorf("warm_epochs", "schedule %q: {warm_epochs} = %d, must be ≥ 0", c.Kind, c.WarmEpochs)
	}
	if warmBelowEpochs && c.WarmEpochs >= c.Epochs {
		return field.Errorf("warm_epochs", "schedule %q: {warm_epochs} = %d must be < {epochs} = %d", c.Kind, c.WarmEpochs, c.Epochs)
	}
	return nil
}
