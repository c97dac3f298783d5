package losses

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func TestDefaultsValid(t *testing.T) {
	for _, v := range []Variant{Base, IP, HN, IPHN} {
		c := DefaultConfig()
		c.Variant = v
		if err := c.Validate(); err != nil {
			t.Errorf("Defaults with %s: %v", v, err)
		}
	}
	if DefaultConfig().Quirks != Official {
		t.Error("the default quirk mode must be Official")
	}
}

func TestValidateNamesField(t *testing.T) {
	cases := []struct {
		field string
		edit  func(*Config)
	}{
		{"variant", func(c *Config) { c.Variant = 7 }},
		{"alpha", func(c *Config) { c.Variant, c.Alpha = IP, -0.1 }},
		{"alpha", func(c *Config) { c.Variant, c.Alpha = IPHN, 1.1 }},
		{"alpha", func(c *Config) { c.Variant, c.Alpha = IP, math.NaN() }},
		{"lambda", func(c *Config) { c.Lambda = 0 }},
		{"beta", func(c *Config) { c.Variant, c.Beta = HN, -1 }},
		{"tau_plus", func(c *Config) { c.Variant, c.TauPlus = HN, 1 }},
		{"tau_plus", func(c *Config) { c.Variant, c.TauPlus = IPHN, -0.01 }},
		{"temperature", func(c *Config) { c.Temperature = 0 }},
		{"base_temperature", func(c *Config) { c.BaseTemperature = math.Inf(1) }},
		{"quirks", func(c *Config) { c.Quirks = 1 << 20 }},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		c.edit(&cfg)
		err := cfg.Validate()
		var fe *field.Error
		if !errors.As(err, &fe) || fe.Key != c.field || !strings.HasPrefix(err.Error(), c.field+" ") {
			t.Errorf("%s: got %v, want a field error naming %s", c.field, err, c.field)
		}
	}
	// Fields a variant does not use are checked too (issue 18: a NaN α with the Base
	// variant used to pass, then fail when config.json was written).
	for _, edit := range []func(*Config){
		func(c *Config) { c.Alpha = -5 }, func(c *Config) { c.Alpha = math.NaN() },
		func(c *Config) { c.Beta = math.Inf(1) }, func(c *Config) { c.TauPlus = math.NaN() },
	} {
		cfg := DefaultConfig()
		edit(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("Base accepted α %g, β %g, τ⁺ %g", cfg.Alpha, cfg.Beta, cfg.TauPlus)
		}
	}
}

func TestGraphBuilderPanicsOnInvalidConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Temperature = -1
	exec, err := graph.NewExec(testBackend(t), func(x *graph.Node) *graph.Node { return AInfoNCE(x, LayoutRoCL, cfg) })
	if err != nil {
		t.Fatal(err)
	}
	_, err = exec.Exec(tensors.FromFlatDataAndDimensions(randomData(1, 6*4), 6, 4))
	if err == nil || !strings.Contains(err.Error(), "temperature") {
		t.Errorf("want an error naming the temperature, got %v", err)
	}
}

func TestNamesRoundTrip(t *testing.T) {
	for _, v := range []Variant{Base, IP, HN, IPHN} {
		if p, err := ParseVariant(v.String()); err != nil || p != v {
			t.Errorf("variant %s: %v %v", v, p, err)
		}
	}
	for _, l := range []Layout{LayoutRoCL, LayoutAdvCL, LayoutACLDS} {
		if p, err := ParseLayout(l.String()); err != nil || p != l {
			t.Errorf("layout %s: %v %v", l, p, err)
		}
	}
	if _, err := ParseVariant("IPHN"); err == nil {
		t.Error("ParseVariant must be case-sensitive")
	}
	if s := (FixHNNormaliser | FixClampFloor).String(); s != "FixHNNormaliser|FixClampFloor" {
		t.Errorf("Quirks.String = %q", s)
	}
	if Official.String() != "official" || Corrected.String() != "corrected" {
		t.Error("Official/Corrected names")
	}
	cfg := DefaultConfig()
	cfg.Quirks = Corrected
	raw, _ := json.Marshal(cfg)
	var back Config
	if err := json.Unmarshal(raw, &back); err != nil || back != cfg {
		t.Errorf("Config JSON round trip: %v %+v", err, back)
	}
}
