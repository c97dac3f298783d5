// Package torchio moves a run directory's weights to and from PyTorch files, in the
// tensor names and layouts of the official PyTorch models (interop/torchnames):
//
//   - Export writes a run's encoder — the BN branch its evaluation protocol reads, in the
//     method's finetuning naming, or every branch in the method's pretraining naming — and,
//     from a finetuning, its linear classifier, as a safetensors state dict with a JSON
//     sidecar (architecture, width, BN names, input normalisation, provenance) that
//     interop/pytorch/goacl_models.py builds the PyTorch model from;
//   - Import makes a run directory from an official-layout PyTorch checkpoint (torch.save's
//     zip or legacy format, read without executing pickled code, or safetensors), strictly
//     by name and shape, so that finetune and eval work on weights trained elsewhere; the
//     run's provenance.json records the file and its sha256.
//
// Both go through the run directory as the rest of goacl does: Export reads the model with
// finetune.Load (the one loader of a run's model, which chooses the checkpoint), Import
// writes config.json, provenance.json and a checkpoint with acl/rundir and then loads the
// new run with finetune.Load to check it.
package torchio

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/interop/safetensors"
	"github.com/ainfonce/goacl/interop/torchnames"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// SidecarMetadataKey is the safetensors metadata entry in which Export also stores the
// sidecar JSON, so that an exported file describes itself (Import reads it).
const SidecarMetadataKey = "goacl_sidecar"

// ExportOptions say what Export takes from a run.
type ExportOptions struct {
	// Finetuned, when set, exports the classifier that finetuning selected: the encoder
	// in the finetuning's BN branch and the linear head. Otherwise the pretrained encoder
	// alone is exported.
	Finetuned finetune.Mode
	// AllBranches exports every BN branch of the pretrained encoder in the method's
	// official pretraining layout (torchnames.Official: multibn with bn_list.<i> for
	// AdvCL, ACL and DynACL) instead of the protocol's branch in the method's finetuning
	// layout (torchnames.Finetuning). Not with Finetuned: a finetuned model has one branch.
	AllBranches bool
	// Backend builds the model (nil: engine.New()).
	Backend backends.Backend
}

// Export is a run's model as a PyTorch state dict.
type Export struct {
	// StateDict holds the tensors by official name, Layout says which, Report what the
	// conversion left out (other BN branches, variables outside the model).
	StateDict map[string]*tensors.Tensor
	Layout    torchnames.Layout
	Report    *torchnames.Report
	// Sidecar describes the file for goacl_models.model_from_sidecar, with provenance.
	Sidecar *torchnames.Sidecar
	// Model is the run's model as finetune.Load restored it (the values exported).
	Model *finetune.Model
}

// ExportRun converts the model of the pretraining run directory runDir (see ExportOptions)
// to a PyTorch state dict. The input normalisation is the run's (config.json input_norm);
// the BN branch is the one finetune.Load reads for the method's evaluation protocol.
func ExportRun(runDir string, opts ExportOptions) (*Export, error) {
	if opts.AllBranches && opts.Finetuned != "" {
		return nil, fmt.Errorf("export of %s: a finetuned classifier has one BN branch; export all branches of the pretrained encoder only", runDir)
	}
	load := finetune.LoadOptions{Finetuned: opts.Finetuned, Branch: finetune.BranchAuto, All: opts.AllBranches}
	m, err := finetune.Load(opts.Backend, runDir, load)
	if err != nil {
		return nil, err
	}
	layout, err := exportLayout(m, opts.AllBranches)
	if err != nil {
		return nil, fmt.Errorf("export of %s: %w", runDir, err)
	}
	vars, err := torchnames.Variables(m.Ctx)
	if err != nil {
		return nil, err
	}
	sd, rep, err := layout.ToTorch(vars)
	if err != nil {
		return nil, fmt.Errorf("export of %s (checkpoint %s): %w", runDir, m.Checkpoint.Path, err)
	}
	side, err := layout.Sidecar()
	if err != nil {
		return nil, err
	}
	if side.Provenance, err = exportProvenance(m, opts); err != nil {
		return nil, err
	}
	return &Export{StateDict: sd, Layout: layout, Report: rep, Sidecar: side, Model: m}, nil
}

// exportLayout is the layout m is exported in: the method's finetuning layout with m's BN
// branch (and classifier), or with all the method's official pretraining layout; the
// input normalisation is the run's.
func exportLayout(m *finetune.Model, all bool) (torchnames.Layout, error) {
	cfg := m.Config
	mean, std, err := pretrain.InputNormalization(cfg.InputNorm)
	if err != nil {
		return torchnames.Layout{}, err
	}
	var l torchnames.Layout
	if all {
		if l, err = torchnames.Official(cfg.Method, cfg.Encoder, cfg.Width); err != nil {
			return l, err
		}
	} else {
		classes := 0
		if m.Classifier != nil {
			classes = m.Classifier.NumClasses
		}
		if l, err = torchnames.Finetuning(cfg.Method, cfg.Encoder, cfg.Width, m.Branch, classes); err != nil {
			// A method without an official counterpart: the plain CIFAR naming.
			l = torchnames.Layout{Arch: cfg.Encoder, Width: cfg.Width, Scheme: torchnames.CIFAR, Branches: []string{m.Branch}, Classes: classes}
		}
		l.ClassifierScope = finetune.ClassifierScope
	}
	l.Ignore = nil
	l.InputMean, l.InputStd = mean, std
	return l, nil
}

// exportProvenance says where the exported weights come from: the run, its checkpoint
// (path, step, sha256), the finetuning, the import the run was made by, and this build.
func exportProvenance(m *finetune.Model, opts ExportOptions) (map[string]any, error) {
	run, err := filepath.Abs(m.RunDir)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(m.RunDir, m.Checkpoint.Path)
	if err != nil {
		rel = m.Checkpoint.Path
	}
	build := rundir.CollectProvenance("")
	p := map[string]any{
		"run": run, "method": m.Config.Method, "variant": m.Config.Variant, "dataset": m.Config.Dataset,
		"encoder": m.Config.Encoder, "width": m.Config.Width, "input_norm": m.Config.InputNorm,
		"checkpoint": rel, "checkpoint_step": m.Checkpoint.Step, "checkpoint_sha256": m.Checkpoint.SHA256,
		"branch": m.Branch, "all_branches": opts.AllBranches,
		"goacl_commit": build.GitCommit, "goacl_dirty": build.GitDirty, "exported": time.Now().UTC().Format(time.RFC3339),
	}
	if ft := m.Finetuning; ft != nil {
		p["finetuning"] = map[string]any{
			"mode": ft.Config.Mode, "protocol": ft.Config.Protocol, "selection": ft.SelectionLabel,
			"selected_epoch": ft.SelectedEpoch, "test_clean_accuracy": ft.Test.Clean, "test_robust_accuracy": ft.Test.Robust,
			"test_images": ft.Test.Images, "attack": ft.AttackLabel,
		}
	}
	var prov rundir.Provenance
	if r, err := rundir.Open(m.RunDir); err == nil && r.ReadJSON(rundir.ProvenanceFile, &prov) == nil && prov.Import != nil {
		p["import"] = prov.Import
	}
	return p, nil
}

// WriteFiles writes the state dict to the safetensors file weights (with the sidecar also
// in its metadata, SidecarMetadataKey) and the sidecar JSON to sidecar.
func (e *Export) WriteFiles(weights, sidecar string) error {
	side, err := json.Marshal(e.Sidecar)
	if err != nil {
		return err
	}
	meta := map[string]string{"format": "pt", SidecarMetadataKey: string(side)}
	if err := safetensors.WriteFile(weights, e.StateDict, meta); err != nil {
		return err
	}
	return torchnames.WriteSidecar(sidecar, e.Sidecar)
}

// SidecarPath is the sidecar's default path next to the weights file: its name with the
// extension replaced by .json (weights.safetensors → weights.json).
func SidecarPath(weights string) string {
	return weights[:len(weights)-len(filepath.Ext(weights))] + ".json"
}
