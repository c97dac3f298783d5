package finetune

import (
	gocontext "context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/internal/testdirs"

	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// encoderFeaturesOf runs enc (eval-mode BN of branch) on the n images x (NHWC 32×32×3)
// with the variables of ctx and returns the features.
func encoderFeaturesOf(t *testing.T, ctx *context.Context, enc layers.Encoder, branch string, x []float32, n int) []float64 {
	t.Helper()
	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		ctx.SetTraining(x.Graph(), false)
		return enc.Features(ctx, x, branch)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, n, 32, 32, 3))
	if err != nil {
		t.Fatal(err)
	}
	return toF64(t, out[0])
}

// Every way Load reloads a pretrained encoder (the encoder alone for probes, with a fresh
// head for finetuning, the finetuned classifier for evaluation, the whole pretrained model
// for the notebooks' analyses) builds it as pretraining did, input normalisation
// included: on a
// batch of test images its features equal those of the bare checkpointed encoder on the
// pixels normalised by hand — with the ImageNet mean/std for an ACL run (whose preset
// sets input_norm "imagenet"), unchanged for a RoCL run (no normalisation). The features
// of the un-normalised pixels differ, so a reload that drops the normalisation fails.
func TestReloadedEncoderKeepsInputNorm(t *testing.T) {
	for _, method := range []string{"acl", "rocl"} {
		t.Run(method, func(t *testing.T) {
			cfg, err := pretrain.Preset(method, "base", pretrain.ScaleSmoke, testdirs.CIFAR10(t))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Width, cfg.Subset, cfg.BatchSize, cfg.Epochs, cfg.Schedule.Epochs = 4, 64, 32, 1, 1
			cfg.Attack.Steps = 1
			cfg.LogEvery, cfg.KeepCheckpoints = 1, 1
			if want := map[string]string{"acl": pretrain.InputNormImageNet, "rocl": pretrain.InputNormNone}[method]; cfg.InputNorm != want {
				t.Fatalf("%s preset: input_norm %q, want %q", method, cfg.InputNorm, want)
			}
			run := t.TempDir()
			if _, err := pretrain.Pretrain(gocontext.Background(), cfg, run, pretrain.Options{Backend: testBackend(t)}); err != nil {
				t.Fatal(err)
			}
			ckpt, _, err := rundir.LatestCheckpoint(filepath.Join(run, rundir.CheckpointsDir))
			if err != nil {
				t.Fatal(err)
			}
			test, err := TestSplit(cfg.Dataset, cfg.DataDir, 8, 3)
			if err != nil {
				t.Fatal(err)
			}
			idx := make([]int, test.Len())
			for i := range idx {
				idx[i] = i
			}
			x, _, err := test.Float32Batch(idx)
			if err != nil {
				t.Fatal(err)
			}
			n := test.Len()
			branch := map[string]string{"acl": layers.BranchPGD, "rocl": ""}[method]

			// Reference: the bare encoder with every checkpointed variable, on pixels
			// normalised here on the host.
			bare, err := layers.NewEncoder(cfg.Encoder, cfg.Width)
			if err != nil {
				t.Fatal(err)
			}
			refCtx := context.New().Checked(false)
			if err := ckpt.Restore(refCtx, rundir.RestoreOptions{}); err != nil {
				t.Fatal(err)
			}
			mean, std, err := pretrain.InputNormalization(cfg.InputNorm)
			if err != nil {
				t.Fatal(err)
			}
			xn := append([]float32(nil), x...)
			if mean != nil {
				for i := range xn {
					c := i % 3
					xn[i] = (xn[i] - float32(mean[c])) / float32(std[c])
				}
			}
			want := encoderFeaturesOf(t, refCtx, bare, branch, xn, n)
			if mean != nil {
				if e := maxRelErr(encoderFeaturesOf(t, refCtx, bare, branch, x, n), want); e < 1e-3 {
					t.Fatalf("normalised and raw pixels give the same features (max rel. err. %g): the test cannot tell them apart", e)
				}
			}
			check := func(path string, got []float64) {
				t.Helper()
				if e := maxRelErr(got, want); e > 1e-5 {
					t.Errorf("%s: features differ from the training-time encoder's (input_norm %q) by max rel. err. %g", path, cfg.InputNorm, e)
				}
			}

			enc, err := Load(testBackend(t), run, LoadOptions{Branch: branch})
			if err != nil {
				t.Fatal(err)
			}
			f, err := enc.Features(test, 4)
			if err != nil {
				t.Fatal(err)
			}
			check("Load+Features", toF64(t, f))
			if method == "acl" { // still strict through the wrapper: ACL has no unbranched BN
				if _, err := Load(testBackend(t), run, LoadOptions{Branch: ""}); err == nil || !strings.Contains(err.Error(), "missing variables") {
					t.Errorf("Load of an ACL run with branch \"\": want the missing variables listed, got %v", err)
				}
			}

			pm, err := Load(testBackend(t), run, LoadOptions{Branch: BranchAuto, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			clf := pm.NewClassifier(10)
			if clf.Branch != branch || pm.EncoderLoad.Loaded == 0 {
				t.Errorf("Load with the protocol's branch: branch %q (want %q), %d variables loaded", clf.Branch, branch, pm.EncoderLoad.Loaded)
			}
			check("Load+NewClassifier", encoderFeaturesOf(t, clf.Ctx, clf.Encoder, clf.Branch, x, n))

			// SLF keeps the encoder frozen, so the finetuned classifier's encoder is the
			// pretrained one, reloaded by Load from the finetuning.
			fcfg := tinyFinetuneConfig(t, run, SLF, 1)
			fcfg.TrainSubset, fcfg.ValSize, fcfg.TestSubset, fcfg.EvalBatch = 32, 0, 8, 8
			fcfg.Selection = SelectLast
			res, err := Finetune(gocontext.Background(), run, fcfg, Options{Backend: testBackend(t)})
			if err != nil {
				t.Fatal(err)
			}
			if wantNorm := cfg.InputNorm != ""; strings.HasSuffix(res.Encoder, "+norm") != wantNorm {
				t.Errorf("finetuning result names encoder %q (input_norm %q)", res.Encoder, cfg.InputNorm)
			}
			m, err := Load(testBackend(t), run, LoadOptions{Finetuned: SLF})
			if err != nil {
				t.Fatal(err)
			}
			check("Load(Finetuned)", encoderFeaturesOf(t, m.Classifier.Ctx, m.Classifier.Encoder, m.Classifier.Branch, x, n))

			all, err := Load(testBackend(t), run, LoadOptions{All: true})
			if err != nil {
				t.Fatal(err)
			}
			check("Load(All)", encoderFeaturesOf(t, all.Ctx, all.Encoder, branch, x, n))
		})
	}
}
