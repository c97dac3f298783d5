package torchio

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/interop/safetensors"
	"github.com/ainfonce/goacl/interop/torchnames"
	"github.com/ainfonce/goacl/interop/torchpickle"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// ImportOptions describe the PyTorch file Import reads and the run directory it makes.
type ImportOptions struct {
	// From is the file: a torch.save checkpoint (zip format of PyTorch ≥ 1.6 or the
	// legacy format, any extension) or a safetensors file, told apart by their content.
	From string
	// Method ("rocl", "advcl", "acl", "dynacl") says which official model the file holds
	// and Arch ("resnet18", "smallcnn") its architecture; Width is its base width (0: read
	// from the file's first convolution).
	Method, Arch string
	Width        int
	// Variant is the A-InfoNCE variant recorded in config.json ("": "base"); it selects
	// the finetuning learning rate of the method's protocol.
	Variant string
	// Dataset ("": cifar10) and DataDir are the data the run is finetuned and evaluated on.
	Dataset, DataDir string
	// Finetuned, when set, reads the file as a finetuned classifier (encoder with a single
	// BN and linear head, in the method's finetuning layout, torchnames.Finetuning) and
	// records it as the run's finetuning of that mode, for eval. Protocol is the
	// finetuning protocol recorded with it ("": the method's own, finetune.DefaultProtocol).
	Finetuned finetune.Mode
	Protocol  string
	// Key is the key of the dict holding the state dict inside a torch.save checkpoint
	// ("": the root when it is a state dict, else state_dict, model or net).
	Key string
	// TorchPrefix selects one model of a state dict holding several ("": for DynACL the
	// key encoder "encoder_k." when the file holds one, none otherwise).
	TorchPrefix string
	// Backend checks that the new run loads (nil: engine.New()).
	Backend backends.Backend
}

// Imported is what Import made.
type Imported struct {
	// RunDir is the new run directory and Record its provenance.json "import".
	RunDir string
	Record rundir.Import
	// Layout is the layout the file was read in.
	Layout torchnames.Layout
	// Model is the new run's model as finetune.Load restores it (the check Import ends with).
	Model *finetune.Model
}

// ErrRunDirNotEmpty is wrapped by Import's error when the output folder already holds
// files: nothing is overwritten.
var ErrRunDirNotEmpty = errors.New("output folder is not empty")

// Import makes the run directory out from the PyTorch file opts.From (see ImportOptions):
// config.json (the method's paper preset for opts.Dataset, with the file's architecture,
// width and input normalisation, preset "import"), provenance.json with the import record
// (file, sha256, format, key, prefixes, ignored tensors), status.json done, and either a
// pretraining checkpoint holding the encoder (all its BN branches) or, with
// opts.Finetuned, that mode's finetuning (results/finetune-<mode>/ with the checkpoint
// and result.json, selection "imported"). Reading is strict: every tensor the layout needs
// must be present with its shape, and any other tensor is an error unless the official
// layout ignores it on purpose (projection heads, DynACL's other encoder), listed in the
// record; the error names every missing, unexpected and misshapen tensor. A .pt file is
// read without executing its pickled code. The new run is finally loaded with
// finetune.Load; on any error nothing is left in out.
func Import(out string, opts ImportOptions) (*Imported, error) {
	if opts.Variant == "" {
		opts.Variant = "base"
	}
	if opts.Dataset == "" {
		opts.Dataset = datasets.CIFAR10
	}
	if opts.Finetuned != "" {
		if _, err := finetune.ParseMode(string(opts.Finetuned)); err != nil {
			return nil, err
		}
	}
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%w: %s (import into a new run directory)", ErrRunDirNotEmpty, out)
	}
	cfg, err := pretrain.Preset(opts.Method, opts.Variant, opts.Dataset, opts.DataDir)
	if err != nil {
		return nil, err
	}
	// The data folder is recorded as a pretraining records it: absolute, with its files'
	// fingerprint, which finetuning and evaluation then verify. Where the files are not
	// on this machine the run records the folder alone (later stages say it is unverified).
	_ = cfg.RecordData()
	data, err := os.ReadFile(opts.From)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	sum := sha256.Sum256(data)
	src, err := filepath.Abs(opts.From)
	if err != nil {
		return nil, err
	}
	rec := rundir.Import{Source: src, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), Finetuned: string(opts.Finetuned),
		Time: time.Now().UTC()}
	in, err := readStateDict(data, opts, &rec)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", opts.From, err)
	}
	layout, err := importLayout(in, &cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", opts.From, err)
	}
	vars, rep, err := layout.FromTorch(in.sd)
	if err != nil {
		return nil, fmt.Errorf("import %s as %s: %w", opts.From, opts.Method, err)
	}
	rec.Layout, rec.TorchPrefix, rec.StrippedPrefix = layout.String(), layout.TorchPrefix, rep.StrippedPrefix
	rec.Mapped, rec.Ignored, rec.Converted, rec.BatchesTracked = rep.Mapped, rep.Ignored, rep.Converted, rep.BatchesTracked
	cfg.Encoder, cfg.Width, cfg.InputNorm = layout.Arch, layout.Width, pretrain.InputNormNone
	if layout.InputMean != nil {
		// A run normalises its input with a named normalisation (config.json input_norm).
		mean, std, _ := pretrain.InputNormalization(pretrain.InputNormImageNet)
		if !slices.Equal(layout.InputMean, mean) || !slices.Equal(layout.InputStd, std) {
			return nil, fmt.Errorf("import %s: input normalisation mean %v, std %v: goacl runs normalise with ImageNet's (%v, %v) or not at all",
				opts.From, layout.InputMean, layout.InputStd, mean, std)
		}
		cfg.InputNorm = pretrain.InputNormImageNet
	}
	backend := opts.Backend
	if backend == nil {
		if backend, err = engine.New(); err != nil {
			return nil, err
		}
	}
	_, statErr := os.Stat(out)
	fresh := os.IsNotExist(statErr)
	res := &Imported{RunDir: out, Record: rec, Layout: layout}
	if err := writeImportedRun(out, &cfg, vars, opts, layout, &rec, backend); err != nil {
		removeRun(out, fresh)
		return nil, err
	}
	load := finetune.LoadOptions{Finetuned: opts.Finetuned, Branch: finetune.BranchAuto}
	if res.Model, err = finetune.Load(backend, out, load); err != nil {
		removeRun(out, fresh)
		return nil, fmt.Errorf("import %s: the new run does not load: %w", opts.From, err)
	}
	return res, nil
}

// removeRun removes what a failed Import wrote: the folder, or its content when it existed
// (empty) before.
func removeRun(out string, fresh bool) {
	if fresh {
		_ = os.RemoveAll(out)
		return
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(out, e.Name()))
	}
}

// importInput is the state dict read from a file, with what the layout needs to know.
type importInput struct {
	sd map[string]*tensors.Tensor
	// sidecar is the layout a goacl export stored in the file's metadata (nil: none).
	sidecar *torchnames.Sidecar
	// classifier is true when a classifier kept in a dict of its own was merged into sd
	// under "classifier.".
	classifier bool
}

// readStateDict reads the state dict of a torch.save or safetensors file's bytes.
func readStateDict(data []byte, opts ImportOptions, rec *rundir.Import) (*importInput, error) {
	if looksLikeSafetensors(data) {
		rec.Format = "safetensors"
		f, err := safetensors.Parse(data)
		if err != nil {
			return nil, err
		}
		in := &importInput{sd: f.Tensors}
		if s, ok := f.Metadata[SidecarMetadataKey]; ok {
			in.sidecar = &torchnames.Sidecar{}
			if err := json.Unmarshal([]byte(s), in.sidecar); err != nil {
				return nil, fmt.Errorf("metadata %s: %w", SidecarMetadataKey, err)
			}
		}
		return in, nil
	}
	rec.Format = "torch-legacy"
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		rec.Format = "torch-zip"
	}
	c, err := torchpickle.Parse(data)
	if err != nil {
		return nil, err
	}
	var keys []string
	if opts.Key != "" {
		keys = []string{opts.Key}
	}
	sd, key, err := c.StateDict(keys...)
	if err != nil {
		return nil, err
	}
	rec.StateDictKey = key
	in := &importInput{sd: sd}
	// AdvCL's finetuning saves {"model": …, "classifier": LinearClassifier.state_dict()}.
	if root, ok := c.Root.(*torchpickle.Dict); ok && key != "" && opts.Finetuned != "" {
		if _, ok := root.Get(classifierKey); ok {
			head, _, err := c.StateDict(classifierKey)
			if err != nil {
				return nil, err
			}
			for name, t := range head {
				sd[classifierKey+"."+name] = t
			}
			rec.ClassifierKey, in.classifier = classifierKey, true
		}
	}
	return in, nil
}

// classifierKey is where AdvCL's finetuning checkpoints keep their classifier.
const classifierKey = "classifier"

// looksLikeSafetensors reports whether data starts like a safetensors file: an 8-byte
// little-endian header length that fits the file, then a JSON object.
func looksLikeSafetensors(data []byte) bool {
	if len(data) < 10 {
		return false
	}
	var n uint64
	for i := 7; i >= 0; i-- {
		n = n<<8 | uint64(data[i])
	}
	return n <= uint64(len(data)-8) && data[8] == '{'
}

// writeImportedRun writes the run directory out: config.json, provenance.json with rec,
// the checkpoint of vars (pretraining, or with opts.Finetuned the finetuning's folder)
// and status.json.
func writeImportedRun(out string, cfg *pretrain.Config, vars map[string]*tensors.Tensor, opts ImportOptions,
	layout torchnames.Layout, rec *rundir.Import, backend backends.Backend) error {
	cfg.Preset = "import"
	run, err := rundir.Create(out)
	if err != nil {
		return err
	}
	defer run.Close()
	if err := run.WriteJSON(rundir.ConfigFile, cfg); err != nil {
		return err
	}
	prov := rundir.CollectProvenance(engine.Describe(backend))
	prov.Import, prov.End = rec, time.Now().UTC()
	if err := run.WriteJSON(rundir.ProvenanceFile, prov); err != nil {
		return err
	}
	ctx := context.New().Checked(false)
	if err := torchnames.SetVariables(ctx, vars); err != nil {
		return err
	}
	state := map[string]any{"imported_from": rec.Source, "sha256": rec.SHA256}
	reason := fmt.Sprintf("imported from %s (sha256 %s)", rec.Source, rec.SHA256)
	if opts.Finetuned == "" {
		path, err := rundir.SaveCheckpoint(ctx, run.File(rundir.CheckpointsDir), 0, state, 0)
		if err != nil {
			return err
		}
		return run.SetStatus(rundir.Status{State: rundir.StateDone, Reason: reason, Checkpoint: filepath.Base(path)})
	}
	if err := writeImportedFinetuning(run, cfg, ctx, state, opts, layout, prov); err != nil {
		return err
	}
	return run.SetStatus(rundir.Status{State: rundir.StateDone, Reason: reason + ": a finetuned classifier, no pretrained encoder"})
}

// writeImportedFinetuning writes results/finetune-<mode>/ of run for an imported
// classifier: its checkpoint in best/, config.json, provenance.json, status.json and
// result.json (selection "imported", no test accuracy: acl eval measures it).
func writeImportedFinetuning(run *rundir.Dir, cfg *pretrain.Config, ctx *context.Context, state any, opts ImportOptions,
	layout torchnames.Layout, prov rundir.Provenance) error {
	fcfg, err := finetune.DefaultConfig(cfg, opts.Finetuned, opts.Protocol)
	if err != nil {
		return err
	}
	// The file holds one BN: no second (natural) branch, as DynACL's dual-BN AFF has.
	fcfg.Branch, fcfg.NaturalBranch, fcfg.Selection, fcfg.ValSize = layout.Branches[0], "", finetune.SelectImported, 0
	fdir, err := rundir.Create(run.File(finetune.Dir(opts.Finetuned)))
	if err != nil {
		return err
	}
	defer fdir.Close()
	path, err := rundir.SaveCheckpoint(ctx, fdir.File(finetune.BestDir), 0, state, 0)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(run.Path, path)
	if err != nil {
		return err
	}
	saved, err := rundir.ReadCheckpoint(path)
	if err != nil {
		return err
	}
	enc, err := pretrain.EncoderFor(cfg)
	if err != nil {
		return err
	}
	res := finetune.Result{Config: fcfg, Method: cfg.Method, Variant: cfg.Variant, Dataset: cfg.Dataset, Encoder: enc.String(),
		NumClasses: layout.Classes, SelectionLabel: fcfg.Selection.Label(), EvalAttack: fcfg.EvalAttack.Settings(1),
		AttackLabel: fcfg.EvalAttack.Settings(1).Label(), Checkpoint: rel, CheckpointSHA256: saved.SHA256, Backend: prov.Backend}
	for _, w := range []struct {
		name string
		v    any
	}{{rundir.ConfigFile, fcfg}, {rundir.ProvenanceFile, prov}, {finetune.ResultFile, res}} {
		if err := fdir.WriteJSON(w.name, w.v); err != nil {
			return err
		}
	}
	return fdir.SetStatus(rundir.Status{State: rundir.StateDone, Reason: "imported"})
}
