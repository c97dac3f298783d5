package torchio

import (
	gocontext "context"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/eval"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/ainfonce/goacl/internal/testdirs"
	"github.com/ainfonce/goacl/internal/torchenv"
	"github.com/ainfonce/goacl/interop/safetensors"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The AutoAttack comparison: its settings and what must hold.
const (
	aaImages = 200
	// aaEpochs AFF epochs (batch 128, aaTRADESSteps TRADES steps) on aaTrain images give a
	// SmallCNN of width aaWidth a PGD-20 robust accuracy near 16 % and an AutoAttack one
	// near 14 % on CIFAR-10: enough robust images (about 28 of 200) for the per-image
	// comparison to mean something.
	aaEpochs, aaTrain, aaWidth, aaTRADESSteps = 5, 2000, 8, 5
	// minRobust is the smallest robust accuracy the comparison accepts as meaningful.
	minRobust = 0.08
	// maxRobustGap is the largest allowed |RA(goacl) − RA(torchattacks)|; minAgreement the
	// smallest share of images both call robust or both call broken.
	maxRobustGap, minAgreement = 0.02, 0.97
)

// goacl's AutoAttack (acl/attack, through acl eval) on an adversarially finetuned model
// and torchattacks' AutoAttack (standard, L∞, 8/255) on its PyTorch export, on the same
// 200 test images, find the same robust accuracy within 2 points and the same robust
// images for at least 97 % of them; the export's logits agree with goacl's on 256 images.
// The model is a SmallCNN (width 16) finetuned with AFF (TRADES) for aaEpochs epochs, so
// that its robust accuracy is well above 0.
func TestAutoAttackAgreesWithTorchattacks(t *testing.T) {
	py := torchenv.RequireModules(t, "torchattacks")
	start := time.Now()
	run := tinyRunWidth(t, "rocl", "smallcnn", aaWidth)
	pre, err := pretrain.ReadConfig(run)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := finetune.DefaultConfig(pre, finetune.AFF, finetune.ProtocolAdvCL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ScaleEpochs(aaEpochs)
	cfg.TRADES.Steps = aaTRADESSteps
	cfg.BatchSize, cfg.TrainSubset, cfg.ValSize, cfg.Selection, cfg.TestSubset, cfg.EvalBatch = 128, aaTrain, 0, finetune.SelectLast, aaImages, aaImages
	ft, err := finetune.Finetune(gocontext.Background(), run, cfg, finetune.Options{Backend: testbackend.Get(t)})
	if err != nil {
		t.Fatal(err)
	}
	trained := time.Since(start)
	t.Logf("AFF %d epochs on %d images: test SA %.1f%%, RA %.1f%% (%s) in %.0fs", aaEpochs, aaTrain, 100*ft.Test.Clean, 100*ft.Test.Robust,
		ft.AttackLabel, trained.Seconds())

	e, err := ExportRun(run, ExportOptions{Finetuned: finetune.AFF, Backend: testbackend.Get(t)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := e.WriteFiles(filepath.Join(dir, "aff.safetensors"), filepath.Join(dir, "aff.json")); err != nil {
		t.Fatal(err)
	}
	// The images eval.AutoAttack attacks: the finetuning's test subset and seed.
	test, err := finetune.TestSplit(pre.Dataset, pre.DataDir, aaImages, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	xAA, labels := torchenv.Images(t, test, 0)
	y := make([]int64, len(labels))
	for i, l := range labels {
		y[i] = int64(l)
	}
	x, _ := torchenv.TestImages(t, comparedImages)
	for name, ts := range map[string]map[string]*tensors.Tensor{
		"logit_images.safetensors": {"x": torchenv.NCHW(x)},
		"aa_images.safetensors":    {"x": torchenv.NCHW(xAA), "y": tensors.FromFlatDataAndDimensions(y, len(y))},
	} {
		if err := safetensors.WriteFile(filepath.Join(dir, name), ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	writeJSON(t, filepath.Join(dir, "job.json"), map[string]any{"sidecar": "aff.json", "weights": "aff.safetensors",
		"logit_images": "logit_images.safetensors", "images": "aa_images.safetensors", "eps": 8.0 / 255, "seed": 0, "threads": 1,
		"out": "torchattacks.safetensors"})
	// PyTorch attacks while goacl does.
	wait := py.Start(t, filepath.Join(testdirs.RepoRoot(t), "interop", "pytorch", "autoattack.py"), dir)
	rec, ours, err := eval.AutoAttack(run, finetune.AFF, attack.AutoAttackStandardPreset, eval.Options{Backend: testbackend.Get(t), TestSubset: aaImages}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("torchattacks: %s", wait())
	theirs, err := safetensors.ReadFile(filepath.Join(dir, "torchattacks.safetensors"))
	if err != nil {
		t.Fatal(err)
	}

	diff, scale := torchenv.Compare(t, "AFF classifier logits", outputs(t, e.Model, e.Model.Branch, x), theirs.Tensors["logits"], maxAbsDiff)
	robust := tensors.MustCopyFlatData[uint8](theirs.Tensors["robust"])
	cleanPred := tensors.MustCopyFlatData[int64](theirs.Tensors["clean_pred"])
	if len(robust) != len(ours.Robust) || rec.Accuracy.Images != aaImages {
		t.Fatalf("torchattacks judged %d images, goacl %d (want %d)", len(robust), len(ours.Robust), aaImages)
	}
	agree, theirRobust, theirClean := 0, 0, 0
	for i, r := range ours.Robust {
		if r == (robust[i] == 1) {
			agree++
		}
		theirRobust += int(robust[i])
		if cleanPred[i] == y[i] {
			theirClean++
		}
	}
	n := float64(aaImages)
	raOurs, raTheirs, agreement := ours.RobustAccuracy, float64(theirRobust)/n, float64(agree)/n
	summary := fmt.Sprintf("AutoAttack standard (L∞ 8/255) on %d images: goacl SA %.1f%% RA %.1f%% (%s) in %.0fs; torchattacks SA %.1f%% RA %.1f%%; per-image agreement %.1f%%; logits max |Δ| %.1e (up to %.1f); test %.0fs",
		aaImages, 100*ours.CleanAccuracy, 100*raOurs, stages(ours), rec.Seconds, 100*float64(theirClean)/n, 100*raTheirs,
		100*agreement, diff, scale, time.Since(start).Seconds())
	t.Log(summary)
	if math.Abs(float64(theirClean)/n-ours.CleanAccuracy) > 1e-9 {
		t.Errorf("clean accuracy: goacl %.3f, PyTorch %.3f", ours.CleanAccuracy, float64(theirClean)/n)
	}
	if raOurs < minRobust {
		t.Errorf("goacl's robust accuracy %.1f%% is below %.0f%%: the finetuned model is too weak for the comparison to mean something", 100*raOurs, 100*minRobust)
	}
	if math.Abs(raOurs-raTheirs) > maxRobustGap+1e-9 || agreement < minAgreement {
		t.Errorf("goacl and torchattacks disagree: RA %.1f%% vs %.1f%% (limit %.0f points), per-image agreement %.1f%% (limit %.0f%%)",
			100*raOurs, 100*raTheirs, 100*maxRobustGap, 100*agreement, 100*minAgreement)
	}
}

// stages lists the robust accuracy after each attack of an AutoAttack run.
func stages(r *attack.AutoAttackResult) string {
	s := ""
	for i, a := range r.Attacks {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %.1f%%", a.Name, 100*a.RobustAccuracy)
	}
	return s
}
