package acl

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func TestDefaultsValid(t *testing.T) {
	for _, v := range []Variant{Base, IP, HN, IPHN} {
		c := Defaults()
		c.Variant = v
		if err := c.Validate(); err != nil {
			t.Errorf("Defaults with %s: %v", v, err)
		}
	}
	if Defaults().Quirks != Official {
		t.Error("the default quirk mode must be Official")
	}
}

func TestValidateNamesField(t *testing.T) {
	cases := []struct {
		field string
		edit  func(*LossConfig)
	}{
		{"Variant", func(c *LossConfig) { c.Variant = 7 }},
		{"Alpha", func(c *LossConfig) { c.Variant, c.Alpha = IP, -0.1 }},
		{"Alpha", func(c *LossConfig) { c.Variant, c.Alpha = IPHN, 1.1 }},
		{"Alpha", func(c *LossConfig) { c.Variant, c.Alpha = IP, math.NaN() }},
		{"Lambda", func(c *LossConfig) { c.Lambda = 0 }},
		{"Beta", func(c *LossConfig) { c.Variant, c.Beta = HN, -1 }},
		{"TauPlus", func(c *LossConfig) { c.Variant, c.TauPlus = HN, 1 }},
		{"TauPlus", func(c *LossConfig) { c.Variant, c.TauPlus = IPHN, -0.01 }},
		{"Temperature", func(c *LossConfig) { c.Temperature = 0 }},
		{"BaseTemperature", func(c *LossConfig) { c.BaseTemperature = math.Inf(1) }},
		{"Quirks", func(c *LossConfig) { c.Quirks = 1 << 20 }},
	}
	for _, c := range cases {
		cfg := Defaults()
		c.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "LossConfig."+c.field) {
			t.Errorf("%s: got %v, want an error naming LossConfig.%s", c.field, err, c.field)
		}
	}
	// Fields a variant does not use are not checked.
	cfg := Defaults()
	cfg.Alpha, cfg.Beta, cfg.TauPlus = -5, -5, 5
	if err := cfg.Validate(); err != nil {
		t.Errorf("Base must ignore α, β, τ⁺: %v", err)
	}
}

func TestGraphBuilderPanicsOnInvalidConfig(t *testing.T) {
	cfg := Defaults()
	cfg.Temperature = -1
	exec, err := graph.NewExec(testBackend(t), func(x *graph.Node) *graph.Node { return AInfoNCE(x, LayoutRoCL, cfg) })
	if err != nil {
		t.Fatal(err)
	}
	_, err = exec.Exec(tensors.FromFlatDataAndDimensions(randomData(1, 6*4), 6, 4))
	if err == nil || !strings.Contains(err.Error(), "Temperature") {
		t.Errorf("want an error naming Temperature, got %v", err)
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
	cfg := Defaults()
	cfg.Quirks = Corrected
	raw, _ := json.Marshal(cfg)
	var back LossConfig
	if err := json.Unmarshal(raw, &back); err != nil || back != cfg {
		t.Errorf("LossConfig JSON round trip: %v %+v", err, back)
	}
}
