package pretrain

import (
	"math"
	"testing"

	"github.com/ainfonce/goacl/acl/optim"

	"github.com/ainfonce/goacl/acl/attack"

	"github.com/ainfonce/goacl/internal/testdirs"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// layers.Normalized feeds (x − mean)/std to the wrapped encoder, and EncoderFor wraps
// only when the configuration names a normalisation.
func TestEncoderForInputNorm(t *testing.T) {
	cfg := Config{Encoder: "smallcnn", Width: 2}
	if enc, err := EncoderFor(&cfg); err != nil || enc.String() != "smallcnn(width=2)" {
		t.Fatalf("no normalisation: %v, %v", enc, err)
	}
	cfg.InputNorm = InputNormImageNet
	enc, err := EncoderFor(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	ne, ok := enc.(layers.Normalized)
	if !ok {
		t.Fatalf("imagenet: got %T", enc)
	}
	x := randomData(3, 2*4*4*3)
	for i := range x {
		x[i] = (x[i] + 1) / 2
	}
	ctx := context.New().Checked(false)
	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) (*graph.Node, *graph.Node) {
		ctx.SetTraining(x.Graph(), false)
		mean := graph.Reshape(graph.Const(x.Graph(), ne.Mean), 1, 1, 1, 3)
		std := graph.Reshape(graph.Const(x.Graph(), ne.Std), 1, 1, 1, 3)
		return enc.Features(ctx, x, ""), ne.Unwrap().Features(ctx, graph.Div(graph.Sub(x, mean), std), "")
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, 2, 4, 4, 3))
	if err != nil {
		t.Fatal(err)
	}
	if e := maxRelErr(toF64(t, outs[0]), toF64(t, outs[1])); e > 1e-12 {
		t.Errorf("normalised features differ by %g", e)
	}
	// ResNet-18 keeps its type and normalises with its own fields.
	r, err := EncoderFor(&Config{Encoder: "resnet18", Width: 2, InputNorm: InputNormImageNet})
	if rn, ok := r.(layers.ResNet18); err != nil || !ok || len(rn.InputMean) != 3 || rn.InputStd[2] != ne.Std[2] {
		t.Errorf("resnet18: %#v, %v", r, err)
	}
	cfg.InputNorm = "cifar"
	if _, err := EncoderFor(&cfg); err == nil {
		t.Error("unknown normalisation accepted")
	}
}

// The ACL preset is VITA-Group ACL's --ACL_DS setting (spec §4.3).
func TestACLPresetValues(t *testing.T) {
	cfg, err := Preset(aclName, "base", "cifar10", testdirs.CIFAR10(t))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Attack
	if cfg.Epochs != 1000 || cfg.BatchSize != 512 || cfg.InputNorm != InputNormImageNet ||
		cfg.Optimizer != (optim.Config{Kind: optim.LARSACL, Momentum: 0.9, WeightDecay: 1e-6, TrustCoef: 1e-3}) ||
		cfg.Schedule.Kind != "acl-cosine" || cfg.Schedule.Base != 5 || cfg.Schedule.WarmEpochs != 10 || cfg.Schedule.Min != 1e-6 ||
		a.Steps != 5 || math.Abs(a.Epsilon-8.0/255) > 1e-15 || math.Abs(a.StepSize-2.0/255) > 1e-15 ||
		a.Order != attack.ProjectThenClip || !a.RandomStart || a.ClipStart || cfg.AttackObjective != "plain" || cfg.Loss.Temperature != 0.5 {
		t.Errorf("ACL preset: %+v", cfg)
	}
	if st, err := (ACL{}).NewState(&cfg); err != nil || len(st.ScalarNames()) != 0 {
		t.Errorf("ACL feeds no step scalars: %v, %v", st, err)
	}
	// The dual BN must reach the projection head: 'pgd' and 'normal' parameter sets.
	ctx := context.New().Checked(false)
	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		enc := layers.SmallCNN{Width: 2}
		return graph.Add(ACLEmbed(ctx, enc, x, layers.BranchNormal), ACLEmbed(ctx, enc, x, layers.BranchPGD))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Exec(tensors.FromShape(shapes.Make(dtypes.Float32, 4, 8, 8, 3))); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"/proj_head/bn1/pgd/gamma", "/proj_head/bn3/normal/gamma", "/smallcnn/bn1/pgd/gamma"} {
		found := false
		for v := range ctx.IterVariables() {
			found = found || v.ScopeAndName() == key
		}
		if !found {
			t.Errorf("variable %s missing", key)
		}
	}
}
