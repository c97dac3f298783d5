package acl

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/report"

	"github.com/ainfonce/goacl/acl/pretrain"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/losses"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/internal/testdirs"
)

func TestParseNotebookScale(t *testing.T) {
	for in, want := range map[string]NotebookScale{"": NotebookSmoke, "smoke": NotebookSmoke, "cpu": NotebookCPU, "gpu": NotebookGPU} {
		got, err := ParseNotebookScale(in)
		if err != nil || got != want {
			t.Errorf("ParseNotebookScale(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseNotebookScale("paper"); err == nil || !strings.Contains(err.Error(), NotebookScaleEnv) {
		t.Errorf("ParseNotebookScale(paper) error %v: want one naming %s", err, NotebookScaleEnv)
	}
	for _, s := range NotebookScales() {
		if _, err := pretrain.Preset("rocl", "ip", s.Preset(), "data"); err != nil {
			t.Errorf("scale %s: preset %q: %v", s, s.Preset(), err)
		}
		set := DefaultNotebookSettings(s)
		if len(set.Sweeps) != 4 || set.Probe.Epochs < 1 || set.AnalysisBatch < 2 || set.AttackImages < 2 {
			t.Errorf("scale %s: incomplete settings %+v", s, set)
		}
	}
}

func TestOpenNotebookEnv(t *testing.T) {
	runs := t.TempDir()
	t.Setenv(NotebookScaleEnv, "cpu")
	t.Setenv(NotebookRunsEnv, runs)
	t.Setenv(NotebookDataEnv, "/some/data")
	nb, err := OpenNotebook()
	if err != nil {
		t.Fatal(err)
	}
	if nb.Scale != NotebookCPU || nb.Preset != pretrain.ScaleCPU || nb.RunsDir != filepath.Join(runs, "cpu") || nb.DataDir != "/some/data" {
		t.Errorf("OpenNotebook = %+v", nb)
	}
	if nb.RepoRoot == "" {
		t.Errorf("repository root not found from the test's working directory")
	}
	if !strings.Contains(nb.BannerHTML("T"), `data-scale="cpu"`) {
		t.Errorf("banner lacks the scale: %s", nb.BannerHTML("T"))
	}
	t.Setenv(NotebookScaleEnv, "huge")
	if _, err := OpenNotebook(); err == nil {
		t.Errorf("OpenNotebook accepted scale huge")
	}
}

// TestNotebookRunReuseAndAttack trains a tiny notebook run, checks that a second call
// reuses it, then attacks it and checks the attack's outputs and the cached measurements.
func TestNotebookRunReuseAndAttack(t *testing.T) {
	data := testdirs.CIFAR10(t)
	t.Setenv(NotebookScaleEnv, "smoke")
	t.Setenv(NotebookRunsEnv, t.TempDir())
	t.Setenv(NotebookDataEnv, data)
	nb, err := OpenNotebook()
	if err != nil {
		t.Fatal(err)
	}
	nb.Settings.SweepProbe.Epochs, nb.Settings.SweepProbe.TrainSubset, nb.Settings.SweepProbe.TestSubset = 2, 64, 64
	nb.Settings.AttackImages = 4
	name, cfg, err := nb.SweepRun("rocl", SweepAlpha, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Loss.Alpha != 0.5 || cfg.Variant != "ip" || cfg.Subset != nb.Settings.SweepSubset || !strings.Contains(name, "alpha0.5") {
		t.Fatalf("SweepRun = %s %+v", name, cfg)
	}
	cfg.Subset, cfg.BatchSize = 8, 4 // 2 steps of 4 images
	var log bytes.Buffer
	dir, err := nb.Pretrain(name, cfg, &log)
	if err != nil {
		t.Fatal(err)
	}
	log.Reset()
	if _, err := nb.Pretrain(name, cfg, &log); err != nil || !strings.Contains(log.String(), "reusing finished run") {
		t.Fatalf("second Pretrain did not reuse the run: %v\n%s", err, log.String())
	}
	moved := cfg
	moved.DataDir = filepath.Join(t.TempDir(), "elsewhere")
	if _, err := nb.Pretrain(name, moved, nil); err != nil {
		t.Errorf("a finished run was not reused from another data folder: %v", err)
	}
	other := cfg
	other.Loss.Alpha = 0.7
	if _, err := nb.Pretrain(name, other, nil); err == nil || !strings.Contains(err.Error(), "another configuration") {
		t.Errorf("Pretrain with a changed configuration: %v", err)
	}

	m, err := LoadPretrained(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.ViewBatch(datasets.Train, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	x1, err1 := b.View("x1")
	x2, err2 := b.View("x2")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	atk := m.Config.Attack.WithRadius(8.0/255, 3)
	res, err := m.InstanceAttack(x1, x2, atk, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trajectory) != 4 || res.MaxPerturbation > atk.Epsilon+1e-6 || res.MaxPerturbation <= 0 {
		t.Errorf("trajectory %v, max perturbation %g (ε %g)", res.Trajectory, res.MaxPerturbation, atk.Epsilon)
	}
	if dims := res.Features.Shape().Dimensions; dims[0] != 12 {
		t.Errorf("features %v: want 12 rows", dims)
	}
	for _, c := range res.FeatureCosine {
		if !(c >= -1-1e-5 && c <= 1+1e-5) {
			t.Errorf("feature cosine %g", c)
		}
	}
	again, err := m.InstanceAttack(x1, x2, atk, 1)
	if err != nil || again.Trajectory[3] != res.Trajectory[3] {
		t.Errorf("the attack is not reproducible from its seed: %v vs %v (%v)", again.Trajectory, res.Trajectory, err)
	}
	if _, err := losses.AnalyzePairs(m.Backend, res.Features, losses.LayoutRoCL, m.Config.Loss); err != nil {
		t.Errorf("AnalyzePairs on attack features: %v", err)
	}
	pt, err := nb.measureSweepPoint(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !(pt.CleanAccuracy >= 0 && pt.CleanAccuracy <= 1) || math.IsNaN(pt.FeatureCosine) || math.IsNaN(pt.FinalLoss) {
		t.Errorf("sweep point %+v", pt)
	}
	calls := 0
	compute := func() ([]float64, error) { calls++; return []float64{1, 2}, nil }
	type key struct{ A, B int }
	for range 2 {
		if v, err := cachedResult(dir, "test-cache.json", key{1, 2}, compute); err != nil || len(v) != 2 {
			t.Fatalf("cachedResult = %v, %v", v, err)
		}
	}
	if _, err := cachedResult(dir, "test-cache.json", key{1, 3}, compute); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("cachedResult computed %d times for two keys: want 2 (the stored value was not reused)", calls)
	}
	for _, f := range []string{"notebook-probe.json", "notebook-robustness.json"} {
		if _, err := os.Stat(filepath.Join(dir, rundir.ResultsDir, f)); err != nil {
			t.Errorf("measurement not cached: %v", err)
		}
	}
}

func TestAblationHTML(t *testing.T) {
	t.Setenv(NotebookScaleEnv, "smoke")
	t.Setenv(NotebookRunsEnv, t.TempDir())
	t.Setenv(NotebookDataEnv, "/data/cifar-10")
	nb, err := OpenNotebook()
	if err != nil {
		t.Fatal(err)
	}
	runs, unavailable := nb.AblationGrid()
	if len(runs) == 0 || runs[0].Name != "rocl-base" {
		t.Fatalf("grid %v (unavailable %v)", runs, unavailable)
	}
	col := func(m finetune.Mode, metric string) report.TableColumn {
		return report.TableColumn{Mode: m, Metric: metric}
	}
	tab := &report.Table{Columns: []report.TableColumn{col(finetune.SLF, report.MetricSA), col(finetune.SLF, report.MetricRA), col(finetune.SLF, report.MetricAA)},
		Rows: []*report.TableRow{{Run: "/x/rocl-ip", Method: "rocl", Variant: "ip", Dataset: "cifar10",
			Cells: map[report.TableColumn]*report.TableCell{col(finetune.SLF, report.MetricSA): {Value: 40, Notes: []int{1}}, col(finetune.SLF, report.MetricRA): {Value: 12.5}}}},
		Shared: []string{"protocol: advcl"}, Common: map[report.TableColumn][]string{}, Footnotes: []string{"attack: other"}}
	h := tab.HTML("ablation", "Scale "+nb.Scale.Describe()+".").HTML()
	for _, want := range []string{"<td>rocl-ip</td>", "<td>RoCL</td>", "<td>IP</td>", `data-value="0.4">40.00 % [1]</td>`,
		`data-value="0.125"`, "[1] attack: other", "protocol: advcl", "Scale smoke"} {
		if !strings.Contains(h, want) {
			t.Errorf("ablation HTML lacks %q:\n%s", want, h)
		}
	}
	if strings.Contains(h, "SLF AA") {
		t.Errorf("an AA column without any AA cell is shown")
	}

}

func TestNotebookFinetuneConfig(t *testing.T) {
	t.Setenv(NotebookScaleEnv, "smoke")
	t.Setenv(NotebookRunsEnv, t.TempDir())
	t.Setenv(NotebookDataEnv, "/data/cifar-10")
	nb, err := OpenNotebook()
	if err != nil {
		t.Fatal(err)
	}
	pre, err := nb.PretrainConfig("rocl", "ip")
	if err != nil {
		t.Fatal(err)
	}
	run, err := rundir.Create(nb.RunDir("rocl-ip"))
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	if err := run.WriteJSON(rundir.ConfigFile, pre); err != nil {
		t.Fatal(err)
	}
	for _, mode := range finetune.Modes {
		c, err := nb.FinetuneConfig(run.Path, mode)
		if err != nil {
			t.Fatal(err)
		}
		f := nb.Settings.Finetune
		if c.Epochs != f.Epochs || c.BatchSize != f.BatchSize || c.TrainSubset != f.TrainSubset || c.ValSize != f.ValSize ||
			c.TestSubset != f.TestSubset || c.EvalBatch != f.EvalBatch || c.Protocol != finetune.ProtocolRoCL {
			t.Errorf("%s: finetune config %+v does not carry the smoke scale %+v", mode, c, f)
		}
		stored := c
		stored.Branch = "" // what finetune.Finetune stores for a single-BN run
		if !finetune.SameConfig(stored, c) {
			t.Errorf("%s: a stored finetuning with the resolved branch is not recognised", mode)
		}
		stored.Epochs++
		if finetune.SameConfig(stored, c) {
			t.Errorf("%s: a finetuning with other epochs is taken for the same", mode)
		}
	}
}
