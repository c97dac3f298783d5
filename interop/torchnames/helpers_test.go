package torchnames

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

var (
	backendOnce sync.Once
	backendVal  backends.Backend
	backendErr  error
)

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	backendOnce.Do(func() { backendVal, backendErr = engine.New() })
	if backendErr != nil {
		t.Fatal(backendErr)
	}
	return backendVal
}

// encoderOf returns the goacl encoder a layout describes (ResNet18 normalises its input
// itself; for SmallCNN forward does it).
func encoderOf(t testing.TB, l Layout) layers.Encoder {
	t.Helper()
	l, err := l.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	switch l.Arch {
	case layers.ResNet18Scope:
		return layers.ResNet18{Width: l.Width, InputMean: l.InputMean, InputStd: l.InputStd}
	case layers.SmallCNNScope:
		return layers.SmallCNN{Width: l.Width}
	}
	t.Fatalf("no encoder for %s", l.Arch)
	return nil
}

// forward builds the model of layout l on x [N,H,W,C] in [0,1] with BN branch, eval mode
// unless train: input normalisation, encoder features and, with Classes, the linear
// classifier.
func forward(t testing.TB, l Layout, ctx *context.Context, x *graph.Node, branch string, train bool) *graph.Node {
	l, _ = l.withDefaults()
	ctx.SetTraining(x.Graph(), train)
	enc := encoderOf(t, l)
	if _, ok := enc.(layers.SmallCNN); ok && l.InputMean != nil {
		c := l.InChannels
		mean := graph.Reshape(graph.Const(x.Graph(), toF32(l.InputMean)), 1, 1, 1, c)
		std := graph.Reshape(graph.Const(x.Graph(), toF32(l.InputStd)), 1, 1, 1, c)
		x = graph.Div(graph.Sub(x, mean), std)
	}
	h := enc.Features(ctx, x, branch)
	if l.Classes > 0 {
		return layers.NewLinear(ctx.InAbsPath("/"+l.ClassifierScope), h, l.Classes).Done()
	}
	return h
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// modelVariables builds (without running) the layout's model for each of its branches in
// a fresh context and returns every variable's shape by key: what the layers create.
func modelVariables(t testing.TB, l Layout) map[string][]int {
	t.Helper()
	ctx := context.New().Checked(false)
	g := graph.NewGraph(testBackend(t), "variables")
	defer g.Finalize()
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 32, 32, 3))
	for _, b := range l.Branches {
		forward(t, l, ctx, x, b, false)
	}
	out := map[string][]int{}
	for v := range ctx.IterVariables() {
		out[v.ScopeAndName()] = v.Shape().Dimensions
	}
	return out
}

// randomVars returns random float32 values for every variable of the layout (positive
// running variances), by key.
func randomVars(t testing.TB, l Layout, seed uint64) map[string]*tensors.Tensor {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	vars := map[string]*tensors.Tensor{}
	shapesByKey := modelVariables(t, l)
	for _, k := range sortedKeys(shapesByKey) {
		dims := shapesByKey[k]
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
			if strings.HasSuffix(k, "running_var") {
				v[i] = 0.5 + r.Float32()
			}
		}
		vars[k] = tensors.FromFlatDataAndDimensions(v, dims...)
	}
	return vars
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// allLayouts lists the layouts the tests cover: both architectures, every BN layout
// (single unbranched, one branch of several, dual, triple), every scheme, with and
// without classifier and input normalisation.
func allLayouts() []Layout {
	var out []Layout
	for _, arch := range []string{"resnet18", "smallcnn"} {
		out = append(out,
			Layout{Arch: arch, Width: 8, Scheme: CIFAR, Branches: []string{""}, Classes: 10},
			Layout{Arch: arch, Width: 8, Scheme: Torchvision, Branches: []string{"pgd"}, InputMean: ImageNetMean, InputStd: ImageNetStd, Classes: 10},
			Layout{Arch: arch, Width: 8, Scheme: CIFAR, Branches: []string{"pgd"}},
			Layout{Arch: arch, Width: 8, Scheme: MultiBN, Branches: []string{"normal", "pgd"}, InputMean: ImageNetMean, InputStd: ImageNetStd},
			Layout{Arch: arch, Width: 8, Scheme: MultiBN, Branches: []string{"normal", "pgd", "pgd_ce"}, Classes: 10},
		)
	}
	return out
}

func layoutName(l Layout) string {
	return fmt.Sprintf("%s-%s-%d", l.Arch, l.Scheme, len(l.Branches))
}
