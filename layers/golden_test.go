package layers

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/internal/golden"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// goldenLayersEnv overrides the folder of the BasicBlock golden cases (absolute, or
// relative to the repository root; default ../shared/golden/layers).
const goldenLayersEnv = "ACL_GOLDEN_LAYERS_DIR"

type goldenBlockCase struct {
	Block struct {
		InChannels  int    `json:"in_channels"`
		OutChannels int    `json:"out_channels"`
		Stride      int    `json:"stride"`
		Shortcut    string `json:"shortcut"`
	} `json:"block"`
	Mode         string                     `json:"mode"`
	ParamsBefore map[string]json.RawMessage `json:"params_before"`
	X            json.RawMessage            `json:"x"`
	Y            json.RawMessage            `json:"y"`
	Loss         float64                    `json:"loss"`
	GradX        json.RawMessage            `json:"grad_x"`
	GradParams   map[string]json.RawMessage `json:"grad_params"`
	RunningAfter map[string]json.RawMessage `json:"running_after"`
}

// goldenVar maps a PyTorch state-dict name of the golden block to our variable: scope
// (below the block's scope), name, and whether it is a conv kernel (OIHW → HWIO).
func goldenVar(key string) (scope, name string, conv bool, err error) {
	i := strings.LastIndex(key, ".")
	if i < 0 {
		return "", "", false, fmt.Errorf("unexpected state-dict key %q", key)
	}
	module, field := key[:i], key[i+1:]
	modules := map[string]string{"c1": "conv1", "b1": "bn1", "c2": "conv2", "b2": "bn2", "sc.0": "shortcut/conv", "sc.1": "shortcut/bn"}
	scope, ok := modules[module]
	if !ok {
		return "", "", false, fmt.Errorf("unexpected module %q in %q", module, key)
	}
	if strings.HasPrefix(scope, "conv") || scope == "shortcut/conv" {
		if field != "weight" {
			return "", "", false, fmt.Errorf("unexpected conv field %q", key)
		}
		return scope, "weights", true, nil
	}
	fields := map[string]string{"weight": "gamma", "bias": "beta", "running_mean": "running_mean", "running_var": "running_var"}
	name, ok = fields[field]
	if !ok {
		return "", "", false, fmt.Errorf("unexpected BN field %q", key)
	}
	return scope, name, false, nil
}

var (
	nchwToNHWC = []int{0, 2, 3, 1}
	nhwcToNCHW = []int{0, 3, 1, 2}
	oihwToHWIO = []int{2, 3, 1, 0}
	hwioToOIHW = []int{3, 2, 0, 1}
)

// TestBasicBlockGolden checks BasicBlock against PyTorch float64 reference cases: output,
// loss, input gradient, every parameter gradient and the running statistics.
func TestBasicBlockGolden(t *testing.T) {
	_, files, err := golden.Files(goldenLayersEnv, "layers")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runGoldenBlock(t, file) })
	}
}

func runGoldenBlock(t *testing.T, file string) {
	const tol = 1e-9
	const blockScope = "/block"
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var c goldenBlockCase
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if c.Mode != "train" && c.Mode != "eval" {
		t.Fatalf("%s: unknown mode %q", file, c.Mode)
	}
	if c.Block.Shortcut != "conv1x1+bn" {
		t.Fatalf("%s: unsupported shortcut %q", file, c.Block.Shortcut)
	}
	ctx := newCtx(t)
	// Load params_before into the block's variables.
	keys := make([]string, 0, len(c.ParamsBefore))
	for k := range c.ParamsBefore {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		scope, name, conv, err := goldenVar(k)
		if err != nil {
			t.Fatal(err)
		}
		data, dims, err := golden.Nested(c.ParamsBefore[k])
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if conv {
			data, dims = permute(data, dims, oihwToHWIO)
		}
		ctx.InAbsPath(blockScope+"/"+scope).VariableWithValue(name, tensors.FromFlatDataAndDimensions(data, dims...))
	}
	xData, xDims, err := golden.Nested(c.X)
	if err != nil {
		t.Fatal(err)
	}
	xNHWC, xNHWCDims := permute(xData, xDims, nchwToNHWC)
	yWant, yDims, err := golden.Nested(c.Y)
	if err != nil {
		t.Fatal(err)
	}
	gradKeys := make([]string, 0, len(c.GradParams))
	for k := range c.GradParams {
		gradKeys = append(gradKeys, k)
	}
	sort.Strings(gradKeys)

	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		g := x.Graph()
		ctx.SetTraining(g, c.Mode == "train")
		y := BasicBlock(ctx.In("block"), x, c.Block.OutChannels, c.Block.Stride, BlockOptions{})
		y = graph.TransposeAllAxes(y, nhwcToNCHW...) // NCHW, the golden layout.
		n := y.Shape().Size()
		w := make([]float64, n)
		for i := range w { // torch.linspace(-1, 1, n)
			w[i] = -1 + 2*float64(i)/float64(n-1)
		}
		wN := graph.Reshape(graph.Const(g, w), y.Shape().Dimensions...)
		loss := graph.ReduceAllSum(graph.Mul(y, wN))
		wrt := []*graph.Node{x}
		for _, k := range gradKeys {
			scope, name, _, err := goldenVar(k)
			if err != nil {
				panic(err)
			}
			v := ctx.GetVariableByScopeAndName(blockScope+"/"+scope, name)
			if v == nil {
				panic(fmt.Errorf("block has no variable for %s (%s/%s)", k, scope, name))
			}
			wrt = append(wrt, v.ValueGraph(g))
		}
		return append([]*graph.Node{y, loss}, graph.Gradient(loss, wrt...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(xNHWC, xNHWCDims...))
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	check := func(what string, got, want []float64) {
		e := relErr(got, want)
		worst = max(worst, e)
		if e > tol {
			t.Errorf("%s: relative error %.3g > %.3g", what, e, tol)
		}
	}
	if got := outs[0].Shape().Dimensions; fmt.Sprint(got) != fmt.Sprint(yDims) {
		t.Fatalf("y shape %v, want %v", got, yDims)
	}
	check("y", flat(t, outs[0]), yWant)
	check("loss", flat(t, outs[1]), []float64{c.Loss})
	gxWant, _, err := golden.Nested(c.GradX)
	if err != nil {
		t.Fatal(err)
	}
	gx, _ := permute(flat(t, outs[2]), xNHWCDims, nhwcToNCHW)
	check("grad_x", gx, gxWant)
	for i, k := range gradKeys {
		want, _, err := golden.Nested(c.GradParams[k])
		if err != nil {
			t.Fatal(err)
		}
		got := flat(t, outs[3+i])
		if _, _, conv, _ := goldenVar(k); conv {
			got, _ = permute(got, outs[3+i].Shape().Dimensions, hwioToOIHW)
		}
		check("grad "+k, got, want)
	}
	runKeys := make([]string, 0, len(c.RunningAfter))
	for k := range c.RunningAfter {
		runKeys = append(runKeys, k)
	}
	sort.Strings(runKeys)
	if len(runKeys) != 6 {
		t.Errorf("running_after has %d entries, want 6", len(runKeys))
	}
	for _, k := range runKeys {
		scope, name, _, err := goldenVar(k)
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := golden.Nested(c.RunningAfter[k])
		if err != nil {
			t.Fatal(err)
		}
		check("running "+k, varValue(t, ctx, blockScope+"/"+scope, name), want)
	}
	t.Logf("%s: mode=%s in=%d out=%d stride=%d x=%v: y, loss, grad_x, %d grad_params, %d running stats; worst relative error %.2g (tol %g)",
		filepath.Base(file), c.Mode, c.Block.InChannels, c.Block.OutChannels, c.Block.Stride, xDims, len(gradKeys), len(runKeys), worst, tol)
}
