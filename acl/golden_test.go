package acl

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// goldenEnv overrides the folder of the loss golden cases (absolute, or relative to the
// repository root, the folder holding go.mod).
const goldenEnv = "ACL_GOLDEN_DIR"

// goldenDefault is the default folder, relative to the repository root.
var goldenDefault = filepath.Join("..", "shared", "golden", "losses")

// Tolerances of the golden README.
const (
	goldenTol64 = 1e-9
	goldenTol32 = 1e-5
)

// repoRoot walks up from the working directory to the folder holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// goldenDir resolves $ACL_GOLDEN_DIR or the default folder.
func goldenDir() (string, error) {
	d := os.Getenv(goldenEnv)
	if d == "" {
		d = goldenDefault
	}
	if filepath.IsAbs(d) {
		return d, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("%w; set %s to an absolute path", err, goldenEnv)
	}
	return filepath.Join(root, d), nil
}

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

// flattenJSON decodes a nested JSON array of numbers into flat data and its dimensions.
func flattenJSON(raw json.RawMessage) ([]float64, []int, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, nil, err
	}
	var dims []int
	for x := v; ; {
		arr, ok := x.([]any)
		if !ok {
			break
		}
		dims = append(dims, len(arr))
		if len(arr) == 0 {
			break
		}
		x = arr[0]
	}
	var out []float64
	var walk func(x any, depth int) error
	walk = func(x any, depth int) error {
		if depth == len(dims) {
			f, ok := x.(float64)
			if !ok {
				return fmt.Errorf("non-number %v at depth %d", x, depth)
			}
			out = append(out, f)
			return nil
		}
		arr, ok := x.([]any)
		if !ok || len(arr) != dims[depth] {
			return fmt.Errorf("ragged array at depth %d", depth)
		}
		for _, y := range arr {
			if err := walk(y, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return out, dims, walk(v, 0)
}

// config converts a golden case's parameters into a LossConfig and its layout.
func (c goldenCase) config() (Layout, LossConfig, error) {
	layout, err := ParseLayout(c.Layout)
	if err != nil {
		return 0, LossConfig{}, err
	}
	cfg := Defaults()
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
	dir, err := goldenDir()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no golden cases (*.json) in %s (set %s)", dir, goldenEnv)
	}
	sort.Strings(files)
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
			feats, dims, err := flattenJSON(c.Features)
			if err != nil {
				t.Fatalf("features: %v", err)
			}
			grad, gdims, err := flattenJSON(c.Grad)
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
