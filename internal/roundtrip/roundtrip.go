// Package roundtrip drives interop/pytorch/roundtrip.py for the tests that compare goacl's
// models with PyTorch's: the job's cases, running it, and reading the outputs back.
package roundtrip

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ainfonce/goacl/internal/testdirs"
	"github.com/ainfonce/goacl/internal/torchenv"
	"github.com/ainfonce/goacl/interop/safetensors"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Case is one case of the job of interop/pytorch/roundtrip.py (see its
// documentation): a goacl export PyTorch loads ("load"), or a checkpoint PyTorch makes in
// a layout ("make"). Paths are relative to the job's folder.
type Case struct {
	Name string `json:"name"`
	Mode string `json:"mode"`
	// "load": the sidecar and weights files.
	Sidecar string `json:"sidecar,omitempty"`
	Weights string `json:"weights,omitempty"`
	// "make": the model's layout (a sidecar), seed, the files to write and how the
	// checkpoint holds the state dict.
	Layout         any            `json:"layout,omitempty"`
	Seed           int            `json:"seed,omitempty"`
	PT             string         `json:"pt,omitempty"`
	Legacy         bool           `json:"legacy,omitempty"`
	Nest           string         `json:"nest,omitempty"`
	ModulePrefix   bool           `json:"module_prefix,omitempty"`
	Prefix         string         `json:"prefix,omitempty"`
	TwinPrefix     string         `json:"twin_prefix,omitempty"`
	ClassifierDict bool           `json:"classifier_dict,omitempty"`
	Extra          map[string]any `json:"extra,omitempty"`
	Safetensors    string         `json:"safetensors,omitempty"`
	// BNNames are the BN names the model is called with (a nil entry: a single-BN model,
	// called without one); Out the outputs file (Run sets it).
	BNNames []*string `json:"bn_names"`
	Out     string    `json:"out"`
}

// Run writes the NHWC images x (as NCHW) and the cases to dir, runs roundtrip.py on them
// with py and returns each case's outputs by case name, each output by OutKey.
func Run(t testing.TB, py *torchenv.Python, dir string, x *tensors.Tensor, cases []*Case) map[string]map[string]*tensors.Tensor {
	t.Helper()
	if err := safetensors.WriteFile(filepath.Join(dir, "images.safetensors"), map[string]*tensors.Tensor{"x": torchenv.NCHW(x)}, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		c.Out = c.Name + ".out.safetensors"
	}
	data, err := json.MarshalIndent(map[string]any{"images": "images.safetensors", "cases": cases}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "job.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	log := py.Run(t, filepath.Join(testdirs.RepoRoot(t), "interop", "pytorch", "roundtrip.py"), dir)
	t.Logf("PyTorch:\n%s", log)
	res := map[string]map[string]*tensors.Tensor{}
	for _, c := range cases {
		f, err := safetensors.ReadFile(filepath.Join(dir, c.Out))
		if err != nil {
			t.Fatal(err)
		}
		res[c.Name] = f.Tensors
	}
	return res
}

// OutKey is the name roundtrip.py gives the outputs for a BN name (nil: a single-BN model).
func OutKey(bn *string) string {
	if bn == nil {
		return "out.single"
	}
	return "out." + *bn
}
