package attack

import (
	"fmt"
	"math"
	"strings"
)

// Evaluation attacks by name: the names evaluation records carry (EvalRecord files are
// eval-<mode>-<name>.json) and `acl eval -attack` accepts.
const (
	// NamePGD20 is PGD-20 with cross-entropy (spec §5.1/§5.2).
	NamePGD20 = "pgd20"
	// NameAutoAttack is AutoAttack standard, L∞ (spec §5.3).
	NameAutoAttack = "autoattack"
	// NameAPGD is the cheaper AutoAttack preset of APGD-CE and APGD-T
	// (AutoAttackAPGDPreset).
	NameAPGD = "apgd"
)

// PGD20 is the robust-accuracy attack of the AdvCL finetuning protocol (spec §5.1):
// PGD-20 on the cross-entropy, ε = 8/255, step 2/255, uniform random start (not clipped),
// x ← clip₀₁(Π_ε(x + a·sign ∇)), model in eval mode.
func PGD20() PGDConfig {
	return PGDConfig{Epsilon: 8.0 / 255, StepSize: 2.0 / 255, Steps: 20, Order: ProjectThenClip, RandomStart: true}
}

// RoCLEvalStep is the PGD step of RoCL's robustness_test.py (≈0.8/255).
const RoCLEvalStep = 0.00314

// PGD20RoCL is the robust evaluation of RoCL's linear evaluation (robustness_test.py with
// attack_lib.py's FastGradientSignUntargeted, spec §5.2): PGD-20, ε = 0.0314, step
// 0.00314, uniform start clamped to [0,1], clip then project. RoCL's ALF and AFF
// (rocl_finetune.py's AttackPGD) evaluate with the same ε and step but an unclamped start:
// PGD20RoCLFinetune. Their numbers are not comparable with PGD20's (spec §8.10); tables
// mark them.
func PGD20RoCL() PGDConfig {
	return PGDConfig{Epsilon: 0.0314, StepSize: RoCLEvalStep, Steps: 20, Order: ClipThenProject, RandomStart: true, ClipStart: true}
}

// PGD20RoCLFinetune is the robust evaluation of RoCL's ALF and AFF (rocl_finetune.py's
// AttackPGD with --epsilon 0.0314 --alpha 0.00314 --k 20): PGD-20, ε = 0.0314, step
// 0.00314, uniform start not clamped, project then clip.
func PGD20RoCLFinetune() PGDConfig {
	return PGDConfig{Epsilon: 0.0314, StepSize: RoCLEvalStep, Steps: 20, Order: ProjectThenClip, RandomStart: true}
}

// Settings describes an evaluation attack completely, as stored with every result so that
// tables can tell whether two numbers were measured the same way.
type Settings struct {
	// Name is the attack's name (NamePGD20, NameAutoAttack, NameAPGD).
	Name string `json:"name"`
	// Loss is what the attack ascends (ce for PGD-20).
	Loss        string   `json:"loss,omitempty"`
	Norm        string   `json:"norm"`
	Epsilon     float64  `json:"epsilon"`
	StepSize    float64  `json:"step_size,omitempty"`
	Steps       int      `json:"steps,omitempty"`
	Restarts    int      `json:"restarts"`
	Order       PGDOrder `json:"order,omitempty"`
	RandomStart bool     `json:"random_start"`
	ClipStart   bool     `json:"clip_start,omitempty"`
	// Version is AutoAttack's version ("standard") or another attack-specific variant.
	Version string `json:"version,omitempty"`
}

// Settings describes PGD on the cross-entropy with this configuration and restarts.
func (c PGDConfig) Settings(restarts int) Settings {
	return Settings{Name: NamePGD20, Loss: "ce", Norm: "Linf", Epsilon: c.Epsilon, StepSize: c.StepSize,
		Steps: c.Steps, Restarts: restarts, Order: c.Order, RandomStart: c.RandomStart, ClipStart: c.ClipStart}
}

// Label is a one-line human description, e.g. "PGD-20 (CE, Linf ε=8/255, step 2/255, random
// start)". The clip/project order is left out (it does not change the attack, see
// PGDOrder); whether the random start is clamped is named.
func (a Settings) Label() string {
	parts := []string{}
	if a.Loss != "" {
		parts = append(parts, strings.ToUpper(a.Loss))
	}
	parts = append(parts, fmt.Sprintf("%s ε=%s", a.Norm, Fraction255(a.Epsilon)))
	if a.StepSize > 0 {
		parts = append(parts, "step "+Fraction255(a.StepSize))
	}
	if a.Restarts > 1 {
		parts = append(parts, fmt.Sprintf("%d restarts", a.Restarts))
	}
	switch {
	case a.RandomStart && a.ClipStart:
		parts = append(parts, "random start clamped to [0,1]")
	case a.RandomStart:
		parts = append(parts, "random start")
	}
	if a.Version != "" {
		parts = append(parts, "version "+a.Version)
	}
	name := a.Name
	switch a.Name {
	case NamePGD20:
		name = fmt.Sprintf("PGD-%d", a.Steps)
	case NameAutoAttack:
		name = "AutoAttack"
	case NameAPGD:
		name = "APGD"
	}
	return name + " (" + strings.Join(parts, ", ") + ")"
}

// Fraction255 writes v as k/255 when it is one (to 1e-9), else as a decimal: the way
// attack radii and steps are quoted.
func Fraction255(v float64) string {
	k := v * 255
	if math.Abs(k-math.Round(k)) < 1e-9 && k != 0 {
		return fmt.Sprintf("%d/255", int(math.Round(k)))
	}
	return fmt.Sprintf("%g", v)
}

// AutoAttackName returns the evaluation name of an AutoAttack preset: NameAutoAttack for
// "standard", NameAPGD for "apgd".
func AutoAttackName(preset string) (string, error) {
	switch preset {
	case AutoAttackStandardPreset:
		return NameAutoAttack, nil
	case AutoAttackAPGDPreset:
		return NameAPGD, nil
	}
	return "", fmt.Errorf("AutoAttack preset %q: use one of %v", preset, AutoAttackPresets)
}

// PresetOfName returns the AutoAttack preset an evaluation name runs (the inverse of
// AutoAttackName), or "" when name is not one.
func PresetOfName(name string) string {
	for _, p := range AutoAttackPresets {
		if n, err := AutoAttackName(p); err == nil && n == name {
			return p
		}
	}
	return ""
}
