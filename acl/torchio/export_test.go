package torchio

import (
	gocontext "context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/internal/roundtrip"
	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/ainfonce/goacl/internal/torchenv"
	"github.com/ainfonce/goacl/interop/safetensors"
	"github.com/ainfonce/goacl/interop/torchnames"
)

// exported is one export the PyTorch side loads, with the BN branch goacl runs for each
// of the BN names PyTorch is called with.
type exported struct {
	*Export
	name     string
	branches []string
}

// Every method's run — SmallCNN and ResNet-18 at width 16, trained for a step — exported
// in the protocol's BN branch (the method's finetuning naming) and with every BN branch
// (its official pretraining naming), and a finetuned ResNet-18 (ACL, SLF: torchvision
// naming, input normalisation, pgd branch, classifier) exported with its classifier:
// PyTorch loads each with strict=True and its outputs on 256 test images agree with
// goacl's for every BN branch.
func TestExportLoadsInPyTorch(t *testing.T) {
	py := torchenv.Require(t)
	start := time.Now()
	x, _ := torchenv.TestImages(t, comparedImages)
	dir := t.TempDir()
	var exports []exported
	add := func(name, run string, opts ExportOptions) *Export {
		opts.Backend = testbackend.Get(t)
		e, err := ExportRun(run, opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := e.WriteFiles(filepath.Join(dir, name+".safetensors"), filepath.Join(dir, name+".json")); err != nil {
			t.Fatal(err)
		}
		branches := []string{e.Model.Branch}
		if e.Layout.Scheme == torchnames.MultiBN {
			branches = e.Layout.Branches
		}
		exports = append(exports, exported{e, name, branches})
		return e
	}
	runs := map[string]string{}
	for _, method := range pretrain.MethodNames() {
		for _, arch := range []string{"smallcnn", "resnet18"} {
			run := tinyRun(t, method, arch)
			runs[method+"-"+arch] = run
			e := add(method+"-"+arch, run, ExportOptions{})
			wantBranch := "pgd"
			if method == "rocl" || method == "supervised" {
				wantBranch = "" // one unbranched BN
			}
			if e.Model.Branch != wantBranch || e.Layout.Scheme == torchnames.MultiBN {
				t.Errorf("%s: exported branch %q in %s, want the protocol's branch %q in a single-BN naming", method, e.Model.Branch, e.Layout, wantBranch)
			}
			checkProvenance(t, e)
			all := add(method+"-"+arch+"-all", run, ExportOptions{AllBranches: true})
			if want := map[string]int{"rocl": 1, "advcl": 3, "acl": 2, "dynacl": 2, "supervised": 1}[method]; len(all.Layout.Branches) != want {
				t.Errorf("%s: all branches %q, want %d", method, all.Layout.Branches, want)
			}
		}
	}
	ft := finetuneTiny(t, runs["acl-resnet18"], finetune.SLF)
	e := add("acl-resnet18-slf", runs["acl-resnet18"], ExportOptions{Finetuned: finetune.SLF})
	if e.Layout.Classes != 10 || e.Layout.Scheme != torchnames.Torchvision || e.Layout.InputMean == nil || e.Model.Branch != "pgd" {
		t.Errorf("finetuned ACL export: %s, branch %q", e.Layout, e.Model.Branch)
	}
	if got := e.Sidecar.Provenance["finetuning"].(map[string]any)["selected_epoch"]; got != ft.SelectedEpoch {
		t.Errorf("provenance finetuning epoch %v, want %d", got, ft.SelectedEpoch)
	}
	if _, err := ExportRun(runs["acl-resnet18"], ExportOptions{Finetuned: finetune.AFF}); err == nil {
		t.Error("exporting a finetuning the run does not have succeeded")
	}

	var cases []*roundtrip.Case
	for _, e := range exports {
		bn := []*string{nil}
		if e.Layout.Scheme == torchnames.MultiBN {
			bn = bnNames(e.Layout.Branches...)
		}
		cases = append(cases, &roundtrip.Case{Name: e.name, Mode: "load", Sidecar: e.name + ".json", Weights: e.name + ".safetensors", BNNames: bn})
	}
	prepared := time.Since(start)
	theirs := roundtrip.Run(t, py, dir, x, cases)
	for i, e := range exports {
		for j, bn := range cases[i].BNNames {
			ours := outputs(t, e.Model, e.branches[j], x)
			diff, scale := torchenv.Compare(t, fmt.Sprintf("%s branch %q", e.name, e.branches[j]), ours, theirs[e.name][roundtrip.OutKey(bn)], maxAbsDiff)
			t.Logf("%-24s %-30s branch %-7q %v: max |Δ| = %.2e (outputs up to %.1f)", e.name, e.Layout, e.branches[j], ours.Shape().Dimensions, diff, scale)
		}
	}
	t.Logf("export round trip: %d exports of %d runs in %.1fs (runs trained and exported in %.1fs)", len(exports), len(runs), time.Since(start).Seconds(), prepared.Seconds())
}

// checkProvenance checks that an export's sidecar names the checkpoint it came from, with
// its step and sha256, and that the file's metadata holds the sidecar too.
func checkProvenance(t *testing.T, e *Export) {
	t.Helper()
	p := e.Sidecar.Provenance
	sum := fileSHA256(t, e.Model.Checkpoint.Path)
	if p["checkpoint_sha256"] != sum || p["checkpoint_step"] != e.Model.Checkpoint.Step ||
		filepath.Join(e.Model.RunDir, p["checkpoint"].(string)) != e.Model.Checkpoint.Path || p["method"] != e.Model.Config.Method {
		t.Errorf("provenance %v does not name checkpoint %s (step %d, sha256 %s)", p, e.Model.Checkpoint.Path, e.Model.Checkpoint.Step, sum)
	}
}

// finetuneTiny finetunes run in mode for one epoch on 64 images (batch 32), selecting the
// last epoch, tested on 16 images.
func finetuneTiny(t *testing.T, run string, mode finetune.Mode) *finetune.Result {
	t.Helper()
	pre, err := pretrain.ReadConfig(run)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := finetune.DefaultConfig(pre, mode, finetune.ProtocolAdvCL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ScaleEpochs(1)
	cfg.BatchSize, cfg.TrainSubset, cfg.ValSize, cfg.TestSubset, cfg.EvalBatch, cfg.Selection = 32, 64, 0, 16, 16, finetune.SelectLast
	res, err := finetune.Finetune(gocontext.Background(), run, cfg, finetune.Options{Backend: testbackend.Get(t)})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// An exported file describes itself: its safetensors metadata holds the sidecar.
func TestExportedFileHoldsSidecar(t *testing.T) {
	run := tinyRun(t, "advcl", "smallcnn")
	e, err := ExportRun(run, ExportOptions{Backend: testbackend.Get(t)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, s := filepath.Join(dir, "e.safetensors"), filepath.Join(dir, "e.json")
	if err := e.WriteFiles(w, s); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(w)
	if err != nil {
		t.Fatal(err)
	}
	side, err := torchnames.ReadSidecar(s)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" || f.Metadata[SidecarMetadataKey] == "" || side.Branch != "pgd" || side.Scheme != torchnames.CIFAR {
		t.Errorf("metadata %v, sidecar %+v", f.Metadata, side)
	}
	if _, err := ExportRun(run, ExportOptions{AllBranches: true, Finetuned: finetune.SLF}); err == nil {
		t.Error("all branches of a finetuned classifier: no error")
	}
	if _, err := ExportRun(filepath.Join(run, rundir.CheckpointsDir), ExportOptions{}); err == nil {
		t.Error("export of a folder that is not a run: no error")
	}
}
