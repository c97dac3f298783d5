package torchio

import (
	gocontext "context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/ainfonce/goacl/internal/testdirs"
	"github.com/ainfonce/goacl/internal/torchenv"
	"github.com/ainfonce/goacl/interop/safetensors"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// The tests check goacl's models against PyTorch's on the first 256 CIFAR-10 test images:
// max |Δ| ≤ 1e-4 (relative when the outputs are below 1) and the same argmax.
const (
	comparedImages = 256
	maxAbsDiff     = 1e-4
)

// tinyRun pretrains method's smoke preset for one step, arch at width 16 on 16 images
// (batch 8, a 1-step attack), into a fresh folder, and returns it: a trained run of the
// method's real checkpoint layout in about a second.
func tinyRun(t *testing.T, method, arch string) string {
	t.Helper()
	return tinyRunWidth(t, method, arch, 16)
}

// tinyRunWidth is tinyRun at width width.
func tinyRunWidth(t *testing.T, method, arch string, width int) string {
	t.Helper()
	cfg, err := pretrain.Preset(method, "base", pretrain.ScaleSmoke, testdirs.CIFAR10(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Encoder, cfg.Width, cfg.Subset, cfg.BatchSize, cfg.Attack.Steps, cfg.MaxSteps = arch, width, 16, 8, 1, 1
	if method == "advcl" {
		cfg.PseudoLabelDir = testdirs.PseudoLabels(t, "cifar-10")
	}
	out := filepath.Join(t.TempDir(), method+"-"+arch)
	if _, err := pretrain.Pretrain(gocontext.Background(), cfg, out, pretrain.Options{Backend: testbackend.Get(t)}); err != nil {
		t.Fatalf("pretraining %s %s: %v", method, arch, err)
	}
	return out
}

// outputs runs m's model on the NHWC images x in eval mode: its classifier's logits, or
// its encoder's features with BN branch branch.
func outputs(t *testing.T, m *finetune.Model, branch string, x *tensors.Tensor) *tensors.Tensor {
	t.Helper()
	exec, err := context.NewExec(m.Backend, m.Ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		ctx.SetTraining(x.Graph(), false)
		if m.Classifier != nil {
			return m.Classifier.Logits(ctx, x)
		}
		return m.Encoder.Features(ctx, x, branch)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Exec1(x)
	if err != nil {
		t.Fatalf("%s branch %q: %v", m.RunDir, branch, err)
	}
	return out
}

// pyCase is one case of interop/pytorch/roundtrip.py's job (see its documentation).
type pyCase struct {
	Name           string         `json:"name"`
	Mode           string         `json:"mode"`
	Sidecar        string         `json:"sidecar,omitempty"`
	Weights        string         `json:"weights,omitempty"`
	Layout         map[string]any `json:"layout,omitempty"`
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
	BNNames        []*string      `json:"bn_names"`
	Out            string         `json:"out"`
}

// runRoundTrip writes the images and the cases to dir, runs roundtrip.py on them and
// returns each case's outputs by case name ("out.<bn name>" or "out.single").
func runRoundTrip(t *testing.T, py *torchenv.Python, dir string, x *tensors.Tensor, cases []*pyCase) map[string]map[string]*tensors.Tensor {
	t.Helper()
	if err := safetensors.WriteFile(filepath.Join(dir, "images.safetensors"), map[string]*tensors.Tensor{"x": torchenv.NCHW(x)}, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		c.Out = c.Name + ".out.safetensors"
	}
	writeJSON(t, filepath.Join(dir, "job.json"), map[string]any{"images": "images.safetensors", "cases": cases})
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

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// outKey is the output name roundtrip.py writes for a BN name (nil: a single-BN model).
func outKey(bn *string) string {
	if bn == nil {
		return "out.single"
	}
	return "out." + *bn
}

// bnNames returns pointers to the names, as pyCase.BNNames takes them (nil entries: a
// single-BN model called without a BN name).
func bnNames(names ...string) []*string {
	out := make([]*string, len(names))
	for i := range names {
		out[i] = &names[i]
	}
	return out
}

// writePlain writes an export's state dict as a safetensors file without goacl's
// metadata, as PyTorch's save_file would.
func writePlain(path string, e *Export) error {
	return safetensors.WriteFile(path, e.StateDict, map[string]string{"format": "pt"})
}
