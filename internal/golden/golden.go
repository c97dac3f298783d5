// Package golden reads the golden cases computed by the official PyTorch code
// (../shared/golden, format in its README) for the tests of acl (losses) and layers
// (BasicBlock cases).
package golden

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/ainfonce/goacl/internal/testdirs"
)

// Dir returns the folder of the golden cases of kind ("losses", "layers"): the
// environment variable env when set (absolute, or relative to the repository root, the
// folder holding go.mod), else ../shared/golden/<kind> next to the repository.
func Dir(env, kind string) (string, error) {
	d := os.Getenv(env)
	if d != "" && filepath.IsAbs(d) {
		return d, nil
	}
	root, err := testdirs.FindRepoRoot()
	if err != nil {
		return "", fmt.Errorf("%w; set %s to an absolute path", err, env)
	}
	if d == "" {
		return filepath.Join(root, "..", "shared", "golden", kind), nil
	}
	return filepath.Join(root, d), nil
}

// Files returns the golden case files (*.json, sorted) of kind in Dir(env, kind), and
// that folder; no case at all is an error naming the folder and env.
func Files(env, kind string) (dir string, files []string, err error) {
	if dir, err = Dir(env, kind); err != nil {
		return "", nil, err
	}
	if files, err = filepath.Glob(filepath.Join(dir, "*.json")); err != nil {
		return dir, nil, err
	}
	if len(files) == 0 {
		return dir, nil, fmt.Errorf("no golden cases (*.json) in %s (set %s)", dir, env)
	}
	sort.Strings(files)
	return dir, files, nil
}

// Nested decodes a nested JSON array of numbers into its values in row-major order and
// its dimensions; a ragged array or a non-number is an error.
func Nested(raw json.RawMessage) ([]float64, []int, error) {
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
