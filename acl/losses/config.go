package losses

import (
	"errors"
	"fmt"
	"math"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Config holds every hyper-parameter of the A-InfoNCE loss family (a pretraining run
// stores it as its config.json "loss"). The zero value is not valid (Temperature must be
// positive): start from DefaultConfig. The names map onto the
// official flags as follows: Alpha = `stpg_degree` / `stop_grad_sd`, Lambda = `adv_weight`,
// Beta = `beta`, TauPlus = `tau_plus` (`tau` in Asym-RoCL), Temperature = `nce_t` /
// `temperature`, BaseTemperature = SupCon's `base_temperature`.
type Config struct {
	// Variant picks Base, IP, HN or IPHN.
	Variant Variant `json:"variant"`
	// Alpha ∈ [0,1] is the share of the clean/adversarial pair loss routed through the
	// clean-anchored term ℓ_sg(clean→adv); 0 sends all of that pair's gradient to the
	// adversarial rows (spec §3.3). Used by IP and IPHN only.
	Alpha float64 `json:"alpha"`
	// AlphaNode, when non-nil, overrides Alpha with a scalar graph node (a per-batch α,
	// e.g. the output of AdaptiveAlpha fed as a graph parameter). It must be a scalar of
	// the features' dtype and belong to the same graph. Not serialised.
	AlphaNode *graph.Node `json:"-"`
	// Lambda > 0 weighs the clean/adversarial pairs (`adv_weight`, spec §3.3). In the
	// AdvCL layout it also applies without IP (squared on the clean-anchor block in the
	// official mode, see Quirks); in the RoCL layout it applies only with IP, as in the
	// official code.
	Lambda float64 `json:"lambda"`
	// Beta ≥ 0 is the HN concentration: negative weights are e^β (spec §3.4).
	Beta float64 `json:"beta"`
	// TauPlus ∈ [0,1) is the HN positive-unlabeled class prior τ⁺ (spec §3.4).
	TauPlus float64 `json:"tau_plus"`
	// NoClamp disables the HN clamp floor Ng ≥ N·e^{−1/0.5}. The official code always
	// clamps; this switch exists for ablations and the β=0, τ⁺=0 property (spec §3.4 #5).
	NoClamp bool `json:"no_clamp,omitempty"`
	// Temperature t > 0 divides the similarities (0.5 in every official script).
	Temperature float64 `json:"temperature"`
	// BaseTemperature t_b > 0 is SupCon's base temperature: the AdvCL loss is scaled by
	// t/t_b (0.5/0.07). Ignored by the RoCL and ACL-DS layouts.
	BaseTemperature float64 `json:"base_temperature"`
	// Quirks selects which official-code quirks are reproduced; the zero value Official
	// reproduces them all (see the package documentation for the table).
	Quirks Quirks `json:"quirks"`
}

// DefaultConfig returns the loss configuration shared by the official scripts (spec §4.4): Base
// variant, α = 0.2, λ = 1, β = 1, τ⁺ = 0.1, t = 0.5, t_b = 0.07, clamp on, Official quirks.
func DefaultConfig() Config {
	return Config{
		Variant:         Base,
		Alpha:           0.2,
		Lambda:          1,
		Beta:            1,
		TauPlus:         0.1,
		Temperature:     0.5,
		BaseTemperature: 0.07,
		Quirks:          Official,
	}
}

// Validate checks every field against its allowed range and returns a *field.Error
// naming the first offending field by its JSON key (alpha, lambda, beta, tau_plus,
// temperature, base_temperature, quirks, variant): Variant ∈ {Base, IP, HN, IPHN},
// Alpha ∈ [0,1] (unless AlphaNode is set), Lambda > 0, Beta ≥ 0, TauPlus ∈ [0,1),
// Temperature > 0, BaseTemperature > 0, all finite, and Quirks a combination of the Fix*
// flags. Every field is checked whatever the variant, also those it does not read.
func (c Config) Validate() error {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch c.Variant {
	case Base, IP, HN, IPHN:
	default:
		return field.Errorf("variant", "{variant} = %d: want Base, IP, HN or IPHN", int(c.Variant))
	}
	// Every field is checked whatever the variant: a configuration is recorded and may be
	// resumed or compared with another variant's, so a value out of range is wrong even
	// where this variant does not read it.
	if c.AlphaNode != nil {
		if !c.AlphaNode.Shape().IsScalar() {
			return field.Errorf("alpha", "{alpha}: the α node has shape %s: want a scalar", c.AlphaNode.Shape())
		}
	} else if !finite(c.Alpha) || c.Alpha < 0 || c.Alpha > 1 {
		return field.Errorf("alpha", "{alpha} = %g: want α ∈ [0, 1]", c.Alpha)
	}
	if !finite(c.Lambda) || c.Lambda <= 0 {
		return field.Errorf("lambda", "{lambda} = %g: want λ > 0", c.Lambda)
	}
	if !finite(c.Beta) || c.Beta < 0 {
		return field.Errorf("beta", "{beta} = %g: want β ≥ 0", c.Beta)
	}
	if !finite(c.TauPlus) || c.TauPlus < 0 || c.TauPlus >= 1 {
		return field.Errorf("tau_plus", "{tau_plus} = %g: want τ⁺ ∈ [0, 1)", c.TauPlus)
	}
	if !finite(c.Temperature) || c.Temperature <= 0 {
		return field.Errorf("temperature", "{temperature} = %g: want t > 0", c.Temperature)
	}
	if !finite(c.BaseTemperature) || c.BaseTemperature <= 0 {
		return field.Errorf("base_temperature", "{base_temperature} = %g: want t_b > 0", c.BaseTemperature)
	}
	if c.Quirks&^Corrected != 0 {
		return field.Errorf("quirks", "{quirks} = %#x: unknown flag bits %#x (allowed: Fix* flags, mask %#x)",
			uint(c.Quirks), uint(c.Quirks&^Corrected), uint(Corrected))
	}
	return nil
}

// errInvalid is wrapped by the panics of the graph builders when the configuration is invalid.
var errInvalid = errors.New("losses: invalid loss configuration")

// mustValidate panics (GoMLX convention for graph builders) when c is invalid.
func (c Config) mustValidate() {
	if err := c.Validate(); err != nil {
		panic(fmt.Errorf("%w: %w", errInvalid, err))
	}
}
