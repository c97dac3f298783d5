package benchmark

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/tensors/numpy"
)

// ParityManifest is the manifest.json that ExportParity writes for bench/pytorch_step.py
// --parity: the workload, the files of the batch and of the initial variables, and the
// losses of the Go steps.
type ParityManifest struct {
	// Config is the workload; X1 and X2 the .npy files of the batch's two views.
	Config    Config            `json:"config"`
	X1        string            `json:"x1"`
	X2        string            `json:"x2"`
	Variables map[string]string `json:"variables"` // scope path (e.g. /resnet18/stem/conv/weights) -> file
	Losses    []float64         `json:"losses"`    // loss of each train step, before its update
	// Backend is the GoMLX backend that ran the Go steps.
	Backend string `json:"backend"`
}

// ExportParity checks that the PyTorch peer computes the same step: on a fresh Step
// (use NoRandomStart), it writes into dir the batch (x1.npy, x2.npy, NHWC float32), every
// model variable before training (weights as stored here: convolutions [kh,kw,Cin,Cout],
// linear layers [in,out]; BN γ, β and running statistics), then runs steps train steps
// and writes their losses in manifest.json. `pytorch_step.py --parity dir` loads the same
// weights and batch, runs the same steps and compares the losses.
func (s *Step) ExportParity(dir string, steps int, backendName string) (*ParityManifest, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if _, err := s.init.Exec(s.x1); err != nil {
		return nil, fmt.Errorf("bench parity: initialising the model: %w", err)
	}
	m := &ParityManifest{Config: s.Config, X1: "x1.npy", X2: "x2.npy", Variables: map[string]string{}, Backend: backendName}
	if err := numpy.ToNpyFile(s.x1, filepath.Join(dir, m.X1)); err != nil {
		return nil, err
	}
	if err := numpy.ToNpyFile(s.x2, filepath.Join(dir, m.X2)); err != nil {
		return nil, err
	}
	for v := range s.ctx.IterVariables() {
		name := v.ScopeAndName()
		if !strings.HasPrefix(name, "/"+layers.ResNet18Scope+"/") && !strings.HasPrefix(name, "/"+layers.RoCLProjectorScope+"/") {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("bench parity: variable %s: %w", name, err)
		}
		file := "var" + strings.ReplaceAll(name, "/", "__") + ".npy"
		if err := numpy.ToNpyFile(val, filepath.Join(dir, file)); err != nil {
			return nil, err
		}
		m.Variables[name] = file
	}
	for range steps {
		loss, err := s.TrainStep()
		if err != nil {
			return nil, err
		}
		m.Losses = append(m.Losses, loss)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return m, os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
}
