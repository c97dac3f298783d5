package finetune

import (
	gocontext "context"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/internal/testrun"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/layers"
)

// The linear probe reads every method's encoder through the BN branch its protocol
// evaluates: RoCL's single BN, the 'pgd' branch of AdvCL's three and of ACL's and
// DynACL's two (reading branch "" from a multi-BN run fails: "missing variables").
// DynACL's run is then finetuned with its own protocol's dual-BN AFF (clean pass through
// 'normal', adversarial pass and evaluation through 'pgd') and reloaded strictly.
func TestProbeAndOwnProtocolEveryMethod(t *testing.T) {
	for _, method := range []string{"rocl", "advcl", "acl", "dynacl"} {
		t.Run(method, func(t *testing.T) {
			run := testrun.PretrainedMethod(t, method)
			pc := DefaultProbeConfig()
			pc.Epochs, pc.BatchSize, pc.TrainSubset, pc.TestSubset = 1, 16, 32, 32
			res, err := LinearProbe(testBackend(t), run, pc, nil)
			if err != nil {
				t.Fatalf("probe: %v", err)
			}
			wantBranch := layers.BranchPGD
			if method == "rocl" {
				wantBranch = ""
			}
			if res.Branch != wantBranch || res.TestImages != 32 || res.CheckpointSHA256 == "" || res.CheckpointStep != 2 {
				t.Errorf("probe result %+v; want branch %q, 32 test images, the step-2 checkpoint's sha256", res, wantBranch)
			}
			if method != "dynacl" {
				return
			}
			pre, err := pretrain.ReadConfig(run)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := DefaultConfig(pre, AFF, "")
			if err != nil {
				t.Fatal(err)
			}
			cfg.ScaleEpochs(1)
			cfg.BatchSize, cfg.TrainSubset, cfg.ValSize, cfg.TestSubset, cfg.EvalBatch = 16, 32, 16, 16, 16
			cfg.TRADES.Steps = 1
			ft, err := Finetune(gocontext.Background(), run, cfg, Options{Backend: testBackend(t)})
			if err != nil {
				t.Fatalf("DynACL AFF: %v", err)
			}
			if ft.Config.NaturalBranch != layers.BranchNormal || ft.Config.Branch != layers.BranchPGD || ft.EncoderLoad.NaturalBranch != layers.BranchNormal {
				t.Errorf("DynACL AFF: branch %q, natural %q, load %+v", ft.Config.Branch, ft.Config.NaturalBranch, ft.EncoderLoad)
			}
			m, err := Load(testBackend(t), run, LoadOptions{Finetuned: AFF})
			if err != nil {
				t.Fatalf("reloading the dual-BN AFF: %v", err)
			}
			if m.Classifier.NaturalBranch != layers.BranchNormal || m.FinetuningSHA256 == "" {
				t.Errorf("reloaded classifier %+v, result sha %q", m.Classifier, m.FinetuningSHA256)
			}
			// Reading a multi-BN run with no branch is what the probe used to do.
			pc.Branch = ""
			if _, err := LinearProbe(testBackend(t), run, pc, nil); err == nil || !strings.Contains(err.Error(), "missing variables") {
				t.Errorf("probe of branch \"\" of a dual-BN run: want the missing variables listed, got %v", err)
			}
		})
	}
}
