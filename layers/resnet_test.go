package layers

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// buildOnly builds (without compiling or running) one forward pass per branch of enc on
// an input of the given shape, so that its variables get created in ctx.
func buildOnly(t *testing.T, ctx *context.Context, enc Encoder, dims []int, branches ...string) *graph.Node {
	t.Helper()
	g := graph.NewGraph(testBackend(t), "build_only")
	ctx.SetTraining(g, true)
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, dims...))
	var out *graph.Node
	for _, b := range branches {
		out = enc.Features(ctx, x, b)
	}
	return out
}

// TestResNet18ParamCount checks the parameter-count formula against PyTorch's CIFAR
// ResNet-18 and against the variables the model actually creates.
func TestResNet18ParamCount(t *testing.T) {
	const pytorchBackbone = 11_173_962 - 5_130 // = 11,168,832: CIFAR ResNet-18 minus its 512→10 fc
	if got := ResNet18ParamCount(64, 1); got != pytorchBackbone {
		t.Fatalf("ResNet18ParamCount(64, 1) = %d, want %d", got, pytorchBackbone)
	}
	if ResNet18ParamCount(0, 1) != ResNet18ParamCount(64, 1) {
		t.Errorf("width 0 is not the default width 64")
	}
	// Width 64, single BN: the built model has exactly PyTorch's count.
	ctx := newCtx(t)
	out := buildOnly(t, ctx, ResNet18{}, []int{2, 8, 8, 3}, "")
	if got := countTrainable(ctx); got != pytorchBackbone {
		t.Errorf("ResNet18{} (width 64) creates %d trainable parameters, want %d", got, pytorchBackbone)
	}
	if d := out.Shape().Dimensions; d[0] != 2 || d[1] != 512 {
		t.Errorf("width-64 features shape %v, want [2 512]", d)
	}
	// Width 4 with AdvCL's triple BN.
	ctx = newCtx(t)
	buildOnly(t, ctx, ResNet18{Width: 4}, []int{2, 8, 8, 3}, "normal", "pgd", "pgd_ce")
	if got, want := countTrainable(ctx), ResNet18ParamCount(4, 3); got != want {
		t.Errorf("width 4, 3 branches: %d trainable parameters, want %d", got, want)
	}
	// Readable, stable variable names (checkpoint keys).
	for _, sn := range [][2]string{
		{"/resnet18/stem/conv", "weights"},
		{"/resnet18/stem/bn/pgd", "gamma"},
		{"/resnet18/stage1/block1/conv1", "weights"},
		{"/resnet18/stage2/block1/conv1", "weights"},
		{"/resnet18/stage2/block1/bn1/pgd", "gamma"},
		{"/resnet18/stage2/block1/bn2/pgd_ce", "running_var"},
		{"/resnet18/stage2/block1/shortcut/conv", "weights"},
		{"/resnet18/stage4/block2/bn2/normal", "beta"},
		{"/resnet18/stage3/block1/shortcut/bn/normal", "running_mean"},
	} {
		if ctx.GetVariableByScopeAndName(sn[0], sn[1]) == nil {
			t.Errorf("missing variable %s/%s", sn[0], sn[1])
		}
	}
	if ctx.GetVariableByScopeAndName("/resnet18/stage1/block1/shortcut/conv", "weights") != nil {
		t.Errorf("stage1 block1 has a shortcut convolution; PyTorch's has none")
	}
	if v := ctx.GetVariableByScopeAndName("/resnet18/stage4/block1/conv1", "weights"); v.Shape().String() != shapes.Make(dtypes.Float32, 3, 3, 16, 32).String() {
		t.Errorf("stage4/block1/conv1 kernel shape %s, want [3 3 16 32]", v.Shape())
	}
}

// TestResNet18TrainStep runs a width-4 ResNet-18 on a tiny batch: feature shape, SGD
// steps through dual BN, eval-mode features.
func TestResNet18TrainStep(t *testing.T) {
	start := time.Now()
	enc := ResNet18{Width: 4}
	testEncoderTrainStep(t, enc, []int{4, 32, 32, 3})
	t.Logf("%s: %s", enc, time.Since(start).Round(time.Millisecond))
}

// TestSmallCNN runs the small CNN through the same checks, and its parameter count.
func TestSmallCNN(t *testing.T) {
	enc := SmallCNN{Width: 4}
	testEncoderTrainStep(t, enc, []int{4, 16, 16, 3})
	ctx := newCtx(t)
	buildOnly(t, ctx, SmallCNN{}, []int{2, 8, 8, 3}, "normal", "pgd")
	if got, want := countTrainable(ctx), SmallCNNParamCount(3, 16, 2); got != want {
		t.Errorf("SmallCNN{} with 2 branches: %d trainable parameters, want %d", got, want)
	}
	if ctx.GetVariableByScopeAndName("/smallcnn/bn4/pgd", "gamma") == nil || ctx.GetVariableByScopeAndName("/smallcnn/conv4", "weights") == nil {
		t.Errorf("SmallCNN variable names are not smallcnn/conv4/weights, smallcnn/bn4/pgd/gamma")
	}
}

// testEncoderTrainStep: features have shape [N, FeatureDim]; two SGD steps on a loss of
// the 'normal' and 'pgd' passes change the weights, update both branches' running
// statistics and lower the loss; eval-mode features keep their shape.
func testEncoderTrainStep(t *testing.T, enc Encoder, dims []int) {
	ctx := newCtx(t)
	n := dims[0]
	step, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		g := x.Graph()
		ctx.SetTraining(g, true)
		clean := enc.Features(ctx, x, "normal")
		adv := enc.Features(ctx, graph.MulScalar(x, 0.5), "pgd")
		loss := graph.Add(weightedSum(clean), weightedSum(adv))
		grads := ctx.BuildTrainableVariablesGradientsGraph(loss)
		i := 0
		for v := range ctx.IterVariables() {
			if v.Trainable && v.InUseByGraph(g) {
				v.SetValueGraph(graph.Sub(v.ValueGraph(g), graph.MulScalar(grads[i], 0.01)))
				i++
			}
		}
		return []*graph.Node{clean, loss}
	})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, dims[0]*dims[1]*dims[2]*dims[3])
	for i, v := range lcg(5, len(x)) {
		x[i] = float32(0.5 + 0.5*v)
	}
	xt := tensors.FromFlatDataAndDimensions(x, dims...)
	var losses []float64
	var w0 []float64
	firstConv := fmt.Sprintf("/%s/%s", map[bool]string{true: ResNet18Scope, false: SmallCNNScope}[isResNet(enc)],
		map[bool]string{true: "stem/conv", false: "conv1"}[isResNet(enc)])
	for s := range 3 {
		outs, err := step.Exec(xt)
		if err != nil {
			t.Fatal(err)
		}
		if s == 0 {
			if got := outs[0].Shape().Dimensions; len(got) != 2 || got[0] != n || got[1] != enc.FeatureDim() {
				t.Fatalf("%s features shape %v, want [%d %d]", enc, got, n, enc.FeatureDim())
			}
			w0 = varValue(t, ctx, firstConv, "weights")
		}
		l := flat(t, outs[1])[0]
		if math.IsNaN(l) || math.IsInf(l, 0) {
			t.Fatalf("step %d: loss %v", s, l)
		}
		losses = append(losses, l)
	}
	if relErr(varValue(t, ctx, firstConv, "weights"), w0) == 0 {
		t.Errorf("%s: SGD steps did not change %s/weights", enc, firstConv)
	}
	if !(losses[2] < losses[0]) {
		t.Errorf("%s: loss did not decrease over SGD steps: %v", enc, losses)
	}
	for _, b := range []string{"normal", "pgd"} {
		scope := map[bool]string{true: "/resnet18/stem/bn/", false: "/smallcnn/bn1/"}[isResNet(enc)] + b
		rm := varValue(t, ctx, scope, "running_mean")
		if relErr(rm, make([]float64, len(rm))) == 0 {
			t.Errorf("%s: branch %s running_mean not updated", enc, b)
		}
	}
	eval, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		return enc.Features(ctx, x, "pgd")
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := eval.Exec(xt)
	if err != nil {
		t.Fatal(err)
	}
	if got := outs[0].Shape().Dimensions; got[0] != n || got[1] != enc.FeatureDim() {
		t.Errorf("%s eval features shape %v", enc, got)
	}
	t.Logf("%s: features [%d %d], losses %.4g", enc, n, enc.FeatureDim(), losses)
}

func isResNet(enc Encoder) bool { _, ok := enc.(ResNet18); return ok }

// TestResNet18InputNormalization checks ACL's in-model input normalisation equals
// normalising the input outside the model.
func TestResNet18InputNormalization(t *testing.T) {
	mean, std := []float64{0.485, 0.456, 0.406}, []float64{0.229, 0.224, 0.225}
	ctx := newCtx(t)
	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		inside := ResNet18{Width: 2, InputMean: mean, InputStd: std}.Features(ctx, x, "")
		c := graph.Reshape(graph.Const(x.Graph(), mean), 1, 1, 1, 3)
		s := graph.Reshape(graph.Const(x.Graph(), std), 1, 1, 1, 3)
		outside := ResNet18{Width: 2}.Features(ctx, graph.Div(graph.Sub(x, c), s), "")
		return []*graph.Node{inside, outside}
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(lcg(9, 2*8*8*3), 2, 8, 8, 3))
	if err != nil {
		t.Fatal(err)
	}
	requireClose(t, "in-model normalisation", flat(t, outs[0]), flat(t, outs[1]), 1e-12)
}

// TestNewEncoder checks the name-based constructor and its errors.
func TestNewEncoder(t *testing.T) {
	for _, c := range []struct {
		name  string
		width int
		want  string
		dim   int
	}{{"resnet18", 0, "resnet18(width=64)", 512}, {"ResNet18", 8, "resnet18(width=8)", 64}, {"smallcnn", 0, "smallcnn(width=16)", 128}, {"smallcnn", 4, "smallcnn(width=4)", 32}} {
		enc, err := NewEncoder(c.name, c.width)
		if err != nil {
			t.Fatal(err)
		}
		if enc.String() != c.want || enc.FeatureDim() != c.dim {
			t.Errorf("NewEncoder(%q, %d) = %s with dim %d, want %s with %d", c.name, c.width, enc, enc.FeatureDim(), c.want, c.dim)
		}
	}
	if _, err := NewEncoder("vgg", 8); err == nil {
		t.Errorf("unknown encoder accepted")
	}
	if _, err := NewEncoder("resnet18", -1); err == nil {
		t.Errorf("negative width accepted")
	}
}

// EncoderSize's parameter counts agree with the exact formulas, and absurd widths give
// finite sizes.
func TestEncoderSize(t *testing.T) {
	for _, w := range []int{4, 16, 64} {
		p, a, err := EncoderSize("resnet18", w, 32, 32)
		if err != nil || p != float64(ResNet18ParamCount(w, 1)) || !(a > 0) {
			t.Errorf("resnet18 width %d: %g params (want %d), %g activations, %v", w, p, ResNet18ParamCount(w, 1), a, err)
		}
		p, _, err = EncoderSize("smallcnn", w, 32, 32)
		if err != nil || p != float64(SmallCNNParamCount(3, w, 1)) {
			t.Errorf("smallcnn width %d: %g params (want %d), %v", w, p, SmallCNNParamCount(3, w, 1), err)
		}
	}
	if p, a, err := EncoderSize("resnet18", 100000, 32, 32); err != nil || !(p > 1e12) || math.IsInf(a, 0) {
		t.Errorf("width 100000: %g params, %g activations, %v", p, a, err)
	}
}
