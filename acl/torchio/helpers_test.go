package torchio

import (
	gocontext "context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/ainfonce/goacl/internal/testdirs"
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

// bnNames returns pointers to the names, as roundtrip.Case.BNNames takes them (nil entries: a
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

// fileSHA256 returns the hex SHA-256 of the file's bytes.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
