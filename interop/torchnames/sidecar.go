package torchnames

import (
	"encoding/json"
	"fmt"
	"os"
)

// SidecarFormat identifies the sidecar JSON written next to an exported state dict.
const SidecarFormat = "goacl-torch-layout/1"

// Sidecar is the small JSON file that travels with an exported state dict: what
// interop/pytorch/goacl_models.py needs to build the PyTorch model that loads it with
// strict=True (model_from_sidecar), and where the weights came from.
type Sidecar struct {
	// Format is SidecarFormat.
	Format string `json:"format"`
	// Arch is "resnet18" or "smallcnn".
	Arch string `json:"arch"`
	// Width is the base width W (the features have 8·W values).
	Width int `json:"width"`
	// InChannels is the number of image channels (3).
	InChannels int `json:"in_channels"`
	// Scheme is the state-dict naming: "cifar", "torchvision" or "multibn".
	Scheme Scheme `json:"scheme"`
	// BNNames are the PyTorch model's bn_names for the multibn scheme (goacl's branch
	// names, which are the official ones); null for a single BN.
	BNNames []string `json:"bn_names"`
	// Branch is, for a single-BN scheme, the goacl BN branch whose parameters the file
	// holds ("" for an unbranched model).
	Branch string `json:"branch"`
	// InputMean is the per-channel mean of the input normalisation (x − mean)/std the
	// model applies to its [0,1] input (normalize.mean in the file); null for none.
	InputMean []float64 `json:"input_mean"`
	// InputStd is the per-channel std of that normalisation (normalize.std); null for none.
	InputStd []float64 `json:"input_std"`
	// NumClasses is the size of the linear classifier on the features; 0 for an encoder
	// alone (the model then returns the 8·width features).
	NumClasses int `json:"num_classes"`
	// Provenance records where the weights come from (run directory, checkpoint, step,
	// sha256 of the files, …); free-form.
	Provenance map[string]any `json:"provenance,omitempty"`
}

// Sidecar returns the sidecar describing the layout (without provenance). TorchPrefix
// must be empty: an exported file holds one model.
func (l Layout) Sidecar() (*Sidecar, error) {
	l, err := l.withDefaults()
	if err != nil {
		return nil, err
	}
	if l.TorchPrefix != "" {
		return nil, fmt.Errorf("torchnames: a sidecar describes a file of one model, without the name prefix %q", l.TorchPrefix)
	}
	if def := schemeClassifier(l.Scheme); l.ClassifierName != def {
		return nil, fmt.Errorf("torchnames: a sidecar describes the scheme's own classifier name %q, not %q", def, l.ClassifierName)
	}
	s := &Sidecar{Format: SidecarFormat, Arch: l.Arch, Width: l.Width, InChannels: l.InChannels, Scheme: l.Scheme,
		InputMean: l.InputMean, InputStd: l.InputStd, NumClasses: l.Classes}
	if l.Scheme == MultiBN {
		s.BNNames = l.Branches
	} else {
		s.Branch = l.Branches[0]
	}
	return s, nil
}

// Layout returns the layout a sidecar describes.
func (s *Sidecar) Layout() (Layout, error) {
	if s.Format != SidecarFormat {
		return Layout{}, fmt.Errorf("torchnames: sidecar format %q, want %q", s.Format, SidecarFormat)
	}
	l := Layout{Arch: s.Arch, Width: s.Width, InChannels: s.InChannels, Scheme: s.Scheme,
		InputMean: s.InputMean, InputStd: s.InputStd, Classes: s.NumClasses}
	if s.Scheme == MultiBN {
		l.Branches = s.BNNames
	} else {
		if s.BNNames != nil {
			return Layout{}, fmt.Errorf("torchnames: sidecar of scheme %s lists bn_names %q (only multibn has several)", s.Scheme, s.BNNames)
		}
		l.Branches = []string{s.Branch}
	}
	return l.withDefaults()
}

// WriteSidecar writes s as indented JSON to path.
func WriteSidecar(path string, s *Sidecar) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("sidecar %s: %w", path, err)
	}
	return nil
}

// ReadSidecar reads a sidecar file, rejecting unknown fields.
func ReadSidecar(path string) (*Sidecar, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sidecar %s: %w", path, err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var s Sidecar
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("sidecar %s: %w", path, err)
	}
	if _, err := s.Layout(); err != nil {
		return nil, fmt.Errorf("sidecar %s: %w", path, err)
	}
	return &s, nil
}
