package torchio

import (
	gocontext "context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/eval"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/report"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/internal/roundtrip"
	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/ainfonce/goacl/internal/testdirs"
	"github.com/ainfonce/goacl/internal/torchenv"
	"github.com/ainfonce/goacl/interop/torchnames"
	"github.com/ainfonce/goacl/interop/torchpickle"
)

// importCase is a checkpoint PyTorch makes in an official layout and Import reads.
type importCase struct {
	py     *roundtrip.Case
	layout torchnames.Layout // the layout PyTorch's model has
	opts   ImportOptions     // From, Backend and DataDir are filled in
	file   string            // "pt" or "safetensors": which of the files to import
	format string            // the import record's Format
}

// layoutDict returns the sidecar of l as the dict roundtrip.py builds its model from.
func layoutDict(t *testing.T, l torchnames.Layout) map[string]any {
	t.Helper()
	l.Ignore, l.TorchPrefix = nil, ""
	side, err := l.Sidecar()
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(side)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// must returns l, failing the test on err.
func must(t *testing.T) func(l torchnames.Layout, err error) torchnames.Layout {
	return func(l torchnames.Layout, err error) torchnames.Layout {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
}

// Checkpoints PyTorch makes in the official layouts — AdvCL's triple-BN ResNet-18 under
// "model" with DataParallel's prefix and its heads; DynACL's two encoders (encoder_q.,
// encoder_k.) under "state_dict"; RoCL's ResNet-18 in the legacy format; ACL's dual-BN
// SmallCNN with normalisation as safetensors; AdvCL's finetuned SmallCNN with its
// classifier in a dict of its own; ACL's finetuned ResNet-18 (torchvision naming) —
// become run directories with Import, whose models (finetune.Load) give PyTorch's outputs
// on 256 test images for every BN branch, and whose provenance records the file.
func TestImportPyTorchCheckpoints(t *testing.T) {
	py := torchenv.Require(t)
	x, _ := torchenv.TestImages(t, comparedImages)
	dir := t.TempDir()
	advcl := must(t)(torchnames.Official("advcl", "resnet18", 16))
	dynacl := must(t)(torchnames.Official("dynacl", "smallcnn", 16))
	rocl := must(t)(torchnames.Official("rocl", "resnet18", 16))
	acl := must(t)(torchnames.Official("acl", "smallcnn", 16))
	advclFT := must(t)(torchnames.Finetuning("advcl", "smallcnn", 16, "pgd", 10))
	aclFT := must(t)(torchnames.Finetuning("acl", "resnet18", 16, "pgd", 10))
	cases := []importCase{
		{py: &roundtrip.Case{Name: "advcl-resnet18", Nest: "model", ModulePrefix: true,
			Extra: map[string]any{"head_proj.0.weight": []int{128, 128}, "head_ce.weight": []int{10, 128}, "fc_010.bias": []int{10}}},
			layout: advcl, opts: ImportOptions{Method: "advcl", Arch: "resnet18"}, file: "pt", format: "torch-zip"},
		{py: &roundtrip.Case{Name: "dynacl-smallcnn", Nest: "state_dict", Prefix: "encoder_k.", TwinPrefix: "encoder_q.",
			Extra: map[string]any{"encoder_k.fc.fc1.weight": []int{128, 128}, "encoder_q.fc.fc1.weight": []int{128, 128}}},
			layout: dynacl, opts: ImportOptions{Method: "dynacl", Arch: "smallcnn"}, file: "pt", format: "torch-zip"},
		{py: &roundtrip.Case{Name: "rocl-resnet18", Legacy: true}, layout: rocl, opts: ImportOptions{Method: "rocl", Arch: "resnet18"},
			file: "pt", format: "torch-legacy"},
		{py: &roundtrip.Case{Name: "acl-smallcnn", Extra: map[string]any{"fc.fc1.weight": []int{128, 128}}}, layout: acl,
			opts: ImportOptions{Method: "acl", Arch: "smallcnn"}, file: "safetensors", format: "safetensors"},
		{py: &roundtrip.Case{Name: "advcl-smallcnn-slf", Nest: "model", ClassifierDict: true, Extra: map[string]any{"head_proj.0.weight": []int{128, 128}}},
			layout: advclFT, opts: ImportOptions{Method: "advcl", Arch: "smallcnn", Finetuned: finetune.SLF}, file: "pt", format: "torch-zip"},
		{py: &roundtrip.Case{Name: "acl-resnet18-aff", Nest: "state_dict"}, layout: aclFT,
			opts: ImportOptions{Method: "acl", Arch: "resnet18", Finetuned: finetune.AFF}, file: "pt", format: "torch-zip"},
	}
	var pyCases []*roundtrip.Case
	for i, c := range cases {
		c.py.Mode, c.py.Seed, c.py.Layout = "make", 200+i, layoutDict(t, c.layout)
		c.py.PT, c.py.Safetensors = c.py.Name+".pt", c.py.Name+".safetensors"
		if c.py.ClassifierDict {
			c.py.Safetensors = ""
		}
		c.py.BNNames = []*string{nil}
		if c.layout.Scheme == torchnames.MultiBN {
			c.py.BNNames = bnNames(c.layout.Branches...)
		}
		pyCases = append(pyCases, c.py)
	}
	theirs := roundtrip.Run(t, py, dir, x, pyCases)

	for _, c := range cases {
		c.opts.From = filepath.Join(dir, c.py.PT)
		if c.file == "safetensors" {
			c.opts.From = filepath.Join(dir, c.py.Safetensors)
		}
		c.opts.DataDir, c.opts.Backend = testdirs.CIFAR10(t), testbackend.Get(t)
		out := filepath.Join(dir, "runs", c.py.Name)
		res, err := Import(out, c.opts)
		if err != nil {
			t.Fatalf("%s: %v", c.py.Name, err)
		}
		checkRecord(t, c, res)
		all := res.Model
		if c.opts.Finetuned == "" {
			if all, err = finetune.Load(testbackend.Get(t), out, finetune.LoadOptions{All: true}); err != nil {
				t.Fatal(err)
			}
		}
		for _, bn := range c.py.BNNames {
			branch := res.Model.Branch
			m := res.Model
			if bn != nil {
				branch, m = *bn, all
			}
			ours := outputs(t, m, branch, x)
			diff, scale := torchenv.Compare(t, fmt.Sprintf("%s branch %q", c.py.Name, branch), ours, theirs[c.py.Name][roundtrip.OutKey(bn)], maxAbsDiff)
			t.Logf("%-20s %-34s branch %-7q %v: max |Δ| = %.2e (outputs up to %.1f)", c.py.Name, res.Layout, branch, ours.Shape().Dimensions, diff, scale)
		}
	}

	// DynACL's other (query) encoder on request, the key encoder then dropped.
	q := cases[1].opts
	q.From, q.DataDir, q.Backend, q.TorchPrefix = filepath.Join(dir, cases[1].py.PT), testdirs.CIFAR10(t), testbackend.Get(t), "encoder_q."
	if res, err := Import(filepath.Join(dir, "runs", "dynacl-query"), q); err != nil || res.Record.TorchPrefix != q.TorchPrefix ||
		!slices.Contains(res.Record.Ignored, "encoder_k.conv1.weight") {
		t.Errorf("DynACL's query encoder: %v", err)
	}

	// An imported classifier is evaluated by acl eval's PGD like any finetuning; until then
	// the table has no SA/RA for it.
	slf := filepath.Join(dir, "runs", "advcl-smallcnn-slf")
	cell := func() *report.TableCell {
		tab, err := report.BuildTable([]string{slf})
		if err != nil {
			t.Fatal(err)
		}
		return tab.Rows[0].Cells[report.TableColumn{Mode: finetune.SLF, Metric: report.MetricSA}]
	}
	if c := cell(); c != nil {
		t.Errorf("an imported classifier not yet evaluated has an SA cell: %+v", c)
	}
	rec, err := eval.PGD(slf, finetune.SLF, eval.Options{Backend: testbackend.Get(t), TestSubset: 16})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Accuracy.Images != 16 || rec.Selection != finetune.SelectImported || rec.Accuracy.Robust > rec.Accuracy.Clean {
		t.Errorf("PGD evaluation of the imported classifier: %+v", rec)
	}
	if c := cell(); c == nil || c.Value != 100*rec.Accuracy.Clean {
		t.Errorf("the evaluated imported classifier's SA cell: %+v", c)
	}
	// An imported pretrained encoder is finetuned like any run.
	finetuneTiny(t, filepath.Join(dir, "runs", "acl-smallcnn"), finetune.SLF)
}

// checkRecord checks the import record of provenance.json: the file, its sha256 and
// format, the nesting key, the prefixes and the tensors ignored on purpose.
func checkRecord(t *testing.T, c importCase, res *Imported) {
	t.Helper()
	var prov rundir.Provenance
	run, err := rundir.Open(res.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.ReadJSON(rundir.ProvenanceFile, &prov); err != nil || prov.Import == nil {
		t.Fatalf("%s: provenance.json %+v: %v", c.py.Name, prov, err)
	}
	r := *prov.Import
	sum := fileSHA256(t, c.opts.From)
	abs, _ := filepath.Abs(c.opts.From)
	wantKey := c.py.Nest
	if c.file == "safetensors" {
		wantKey = ""
	}
	ignored := len(c.py.Extra)
	if c.py.TwinPrefix != "" {
		entries, err := res.Layout.Entries()
		if err != nil {
			t.Fatal(err)
		}
		ignored += len(entries) // the other encoder (its head is among the extras)
	}
	if r.Source != abs || r.SHA256 != sum || r.Format != c.format || r.StateDictKey != wantKey ||
		(r.StrippedPrefix == "module.") != c.py.ModulePrefix || r.TorchPrefix != c.py.Prefix || r.BatchesTracked != 2 ||
		(r.ClassifierKey == "classifier") != c.py.ClassifierDict || r.Finetuned != string(c.opts.Finetuned) {
		t.Errorf("%s: import record %+v (file sha256 %s)", c.py.Name, r, sum)
	}
	if c.py.ClassifierDict {
		ignored += 2 // the model's own, untrained linear head
	}
	if len(r.Ignored) != ignored {
		t.Errorf("%s: %d tensors ignored, want %d: %v", c.py.Name, len(r.Ignored), ignored, r.Ignored)
	}
}

// Import refuses, naming what is wrong and leaving nothing behind: a checkpoint of another
// method's layout (listing the tensors), a pickle that would run code, a folder that
// already holds files, a classifier imported as an encoder; an imported run refuses to be
// resumed or trained.
func TestImportRefuses(t *testing.T) {
	dir := t.TempDir()
	run := tinyRun(t, "advcl", "smallcnn")
	e, err := ExportRun(run, ExportOptions{AllBranches: true, Backend: testbackend.Get(t)})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "advcl.safetensors")
	// Without its sidecar metadata the file is read in the official layout of -method.
	if err := e.WriteFiles(file, filepath.Join(dir, "advcl.json")); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain.safetensors")
	if err := writePlain(plain, e); err != nil {
		t.Fatal(err)
	}
	opts := func(from, method string) ImportOptions {
		return ImportOptions{From: from, Method: method, Arch: "smallcnn", DataDir: testdirs.CIFAR10(t), Backend: testbackend.Get(t)}
	}
	out := filepath.Join(dir, "out")
	_, err = Import(out, opts(plain, "acl"))
	var mis *torchnames.MismatchError
	if !errors.As(err, &mis) || len(mis.Missing) == 0 || len(mis.Unexpected) == 0 || !strings.Contains(err.Error(), "bn1.bn_list.2.weight") {
		t.Errorf("an AdvCL checkpoint read as ACL's: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused import left %s behind (%v)", out, err)
	}
	if _, err := Import(out, opts(file, "acl")); err == nil || !strings.Contains(err.Error(), "advcl run, not acl") {
		t.Errorf("a goacl export of an AdvCL run imported as ACL: %v", err)
	}
	evil := filepath.Join(testdirs.RepoRoot(t), "interop", "testdata", "evil.pt")
	if _, err := Import(out, opts(evil, "rocl")); !errors.Is(err, torchpickle.ErrRejected) {
		t.Errorf("a pickle calling os.system: %v", err)
	}
	ft := opts(plain, "advcl")
	ft.Finetuned = finetune.ALF
	if _, err := Import(out, ft); err == nil || !strings.Contains(err.Error(), "finetuned model") {
		t.Errorf("an encoder imported as a finetuned classifier: %v", err)
	}
	if _, err := Import(out, opts(plain, "advcl")); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(out, opts(plain, "advcl")); !errors.Is(err, ErrRunDirNotEmpty) {
		t.Errorf("import into a run directory: %v", err)
	}
	cfg, err := pretrain.ReadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	cfg.PseudoLabelDir = testdirs.PseudoLabels(t, "cifar-10")
	for _, resume := range []bool{true, false} {
		_, err := pretrain.Pretrain(gocontext.Background(), *cfg, out, pretrain.Options{Resume: resume, Backend: testbackend.Get(t)})
		if !errors.Is(err, pretrain.ErrImportedRun) || !strings.Contains(err.Error(), "plain.safetensors") {
			t.Errorf("pretraining an imported run (resume %v): %v", resume, err)
		}
	}
	// A normalisation goacl's config.json cannot name.
	odd := e.Layout
	odd.InputMean, odd.InputStd = []float64{0.5, 0.5, 0.5}, []float64{0.25, 0.25, 0.25}
	vars, err := torchnames.Variables(e.Model.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	sd, _, err := odd.ToTorch(vars)
	if err != nil {
		t.Fatal(err)
	}
	side, err := odd.Sidecar()
	if err != nil {
		t.Fatal(err)
	}
	oddFile := filepath.Join(dir, "odd.safetensors")
	if err := (&Export{StateDict: sd, Sidecar: side}).WriteFiles(oddFile, filepath.Join(dir, "odd.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(filepath.Join(dir, "odd"), opts(oddFile, "advcl")); err == nil || !strings.Contains(err.Error(), "input normalisation") {
		t.Errorf("an input normalisation other than ImageNet's: %v", err)
	}
	if names := e.Report.OtherBranches; len(names) != 0 || !slices.Contains(e.Layout.Branches, "pgd_ce") {
		t.Errorf("all-branch export left out %v", names)
	}
}
