package losses

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/internal/golden"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// goldenEnv overrides the folder of the loss golden cases (absolute, or relative to the
// repository root, the folder holding go.mod).
const goldenEnv = "ACL_GOLDEN_DIR"

// Tolerances of the golden README.
const (
	goldenTol64 = 1e-9
	goldenTol32 = 1e-5
)

// goldenDir resolves $ACL_GOLDEN_DIR (absolute, or relative to the repository root) or
// ../shared/golden/losses.
func goldenDir() (string, error) { return golden.Dir(goldenEnv, "losses") }

// goldenCase is one losses/*.json file (format in shared/golden/README.md).
type goldenCase struct {
	Layout  string `json:"layout"`
	Variant string `json:"variant"`
	Views   int    `json:"views"`
	Batch   int    `json:"batch"`
	Dim     int    `json:"dim"`
	Params  struct {
		Alpha           *float64 `json:"alpha"`
		Lambda          *float64 `json:"lambda_"`
		Beta            *float64 `json:"beta"`
		TauPlus         *float64 `json:"tau_plus"`
		Temperature     *float64 `json:"temperature"`
		BaseTemperature *float64 `json:"base_temperature"`
	} `json:"params"`
	Features json.RawMessage `json:"features"`
	Loss     float64         `json:"loss"`
	Grad     json.RawMessage `json:"grad"`
}

// config converts a golden case's parameters into a Config and its layout.
func (c goldenCase) config() (Layout, Config, error) {
	layout, err := ParseLayout(c.Layout)
	if err != nil {
		return 0, Config{}, err
	}
	cfg := DefaultConfig()
	if cfg.Variant, err = ParseVariant(c.Variant); err != nil {
		return 0, cfg, err
	}
	p := c.Params
	set := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	set(&cfg.Alpha, p.Alpha)
	set(&cfg.Lambda, p.Lambda)
	set(&cfg.Beta, p.Beta)
	set(&cfg.TauPlus, p.TauPlus)
	set(&cfg.Temperature, p.Temperature)
	set(&cfg.BaseTemperature, p.BaseTemperature)
	return layout, cfg, cfg.Validate()
}

// TestGolden reproduces every shared golden case (loss and gradient) in float64 and
// float32 with the official quirks, to the README's tolerances.
func TestGolden(t *testing.T) {
	dir, files, err := golden.Files(goldenEnv, "losses")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("golden folder %s: %d cases", dir, len(files))
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var c goldenCase
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			layout, cfg, err := c.config()
			if err != nil {
				t.Fatal(err)
			}
			feats, dims, err := golden.Nested(c.Features)
			if err != nil {
				t.Fatalf("features: %v", err)
			}
			grad, gdims, err := golden.Nested(c.Grad)
			if err != nil {
				t.Fatalf("grad: %v", err)
			}
			if fmt.Sprint(dims) != fmt.Sprint(gdims) {
				t.Fatalf("features %v and grad %v differ in shape", dims, gdims)
			}
			fn := func(x *graph.Node) *graph.Node { return AInfoNCE(x, layout, cfg) }
			line := fmt.Sprintf("%-26s %-5s %-4s loss %.12g", name, layout, cfg.Variant, c.Loss)
			for _, dt := range []struct {
				dtype dtypes.DType
				tol   float64
			}{{dtypes.Float64, goldenTol64}, {dtypes.Float32, goldenTol32}} {
				loss, g := lossAndGrad(t, fn, dt.dtype, feats, dims...)
				le, ge := relErr(loss, c.Loss), maxRelErr(g, grad)
				line += fmt.Sprintf(" | %s rel.err loss %.1e grad %.1e", dt.dtype, le, ge)
				if !(le <= dt.tol) || !(ge <= dt.tol) {
					t.Errorf("%s: loss %.15g vs golden %.15g (rel %.3g), grad max rel %.3g; tol %g",
						dt.dtype, loss, c.Loss, le, ge, dt.tol)
				}
			}
			t.Log(line)
		})
	}
}
