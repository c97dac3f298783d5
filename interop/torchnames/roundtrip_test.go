package torchnames

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ainfonce/goacl/internal/roundtrip"
	"github.com/ainfonce/goacl/internal/torchenv"
	"github.com/ainfonce/goacl/interop/safetensors"
	"github.com/ainfonce/goacl/interop/torchpickle"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// The model-level round trip against real PyTorch: goacl models exported to safetensors
// and loaded by interop/pytorch/goacl_models.py with strict=True, and PyTorch-made state
// dicts (torch.save and safetensors) imported into goacl, both compared on the outputs
// of 256 CIFAR-10 test images for every BN branch: max |Δ| ≤ 1e-4 and the same argmax.

const (
	roundTripImages = 256
	maxAbsDiff      = 1e-4
)

// run executes the layout's model in ctx on images x for BN branch, in eval mode, or in
// train mode (updating the branch's running statistics) when train.
func run(t *testing.T, l Layout, ctx *context.Context, x *tensors.Tensor, branch string, train bool) *tensors.Tensor {
	t.Helper()
	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		return forward(t, l, ctx, x, branch, train)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Exec1(x)
	if err != nil {
		t.Fatalf("%s branch %q: %v", l, branch, err)
	}
	return out
}

// goaclModel makes a goacl model of layout l with non-trivial weights, deterministically
// from seed: kernels N(0, 2/fan_out) and linear layers U(±1/√fan_in) as the layers
// initialise them, BN running statistics from two train-mode passes per branch over noisy
// images, then random γ and β.
func goaclModel(t *testing.T, l Layout, x *tensors.Tensor, seed uint64) *context.Context {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 2))
	shapes := modelVariables(t, l)
	vars := map[string]*tensors.Tensor{}
	for _, k := range sortedKeys(shapes) {
		dims := shapes[k]
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		name := k[strings.LastIndex(k, "/")+1:]
		for i := range v {
			switch {
			case name == "weights" && len(dims) == 4:
				v[i] = float32(r.NormFloat64() * math.Sqrt(2/float64(dims[0]*dims[1]*dims[3])))
			case name == "weights" || name == "biases":
				fanIn := dims[0]
				if name == "biases" {
					fanIn = 8 * l.Width
				}
				v[i] = float32((2*r.Float64() - 1) / math.Sqrt(float64(fanIn)))
			case name == "gamma" || name == "running_var":
				v[i] = 1
			}
		}
		vars[k] = tensors.FromFlatDataAndDimensions(v, dims...)
	}
	ctx := context.New().Checked(false)
	if err := SetVariables(ctx, vars); err != nil {
		t.Fatal(err)
	}
	pix := tensors.MustCopyFlatData[float32](x)
	per := len(pix) / x.Shape().Dimensions[0]
	for i, b := range l.Branches {
		for k := range 2 {
			batch := make([]float32, 64*per)
			for j := range batch {
				v := pix[k*64*per+j] + float32(0.05*float64(i+1)*r.NormFloat64())
				batch[j] = min(1, max(0, v))
			}
			run(t, l, ctx, tensors.FromFlatDataAndDimensions(batch, 64, 32, 32, 3), b, true)
		}
	}
	vars, err := Variables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range sortedKeys(vars) {
		name := k[strings.LastIndex(k, "/")+1:]
		if name != "gamma" && name != "beta" {
			continue
		}
		vals := tensors.MustCopyFlatData[float32](vars[k])
		for i := range vals {
			if name == "gamma" {
				vals[i] = float32(1 + 0.2*r.NormFloat64())
			} else {
				vals[i] = float32(0.1 * r.NormFloat64())
			}
		}
		vars[k] = tensors.FromFlatDataAndDimensions(vals, vars[k].Shape().Dimensions...)
	}
	if err := SetVariables(ctx, vars); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// rtCase is a case of roundtrip.py with what the goacl side needs.
type rtCase struct {
	*roundtrip.Case
	layout Layout // the layout goacl converts with
	model  Layout // the goacl model (branches it runs)
	ctx    *context.Context
}

func bnNames(l Layout) []*string {
	if l.Scheme != MultiBN {
		return []*string{nil}
	}
	out := make([]*string, len(l.Branches))
	for i := range l.Branches {
		out[i] = &l.Branches[i]
	}
	return out
}

func TestRoundTripWithPyTorch(t *testing.T) {
	py := torchenv.Require(t)
	start := time.Now()
	x, _ := torchenv.TestImages(t, roundTripImages)
	dir := t.TempDir()
	imagenet := func(l Layout) Layout { l.InputMean, l.InputStd = ImageNetMean, ImageNetStd; return l }
	var cases []*rtCase

	// goacl → PyTorch: every BN layout, both architectures, a classifier in most.
	type export struct {
		name          string
		model, layout Layout
	}
	var exports []export
	for _, arch := range []string{"resnet18", "smallcnn"} {
		single := Layout{Arch: arch, Width: 16, Scheme: CIFAR, Branches: []string{""}, Classes: 10}
		dual := imagenet(Layout{Arch: arch, Width: 16, Scheme: MultiBN, Branches: []string{"normal", "pgd"}, Classes: 10})
		triple := Layout{Arch: arch, Width: 16, Scheme: MultiBN, Branches: []string{"normal", "pgd", "pgd_ce"}}
		pgdOnly := triple
		pgdOnly.Scheme, pgdOnly.Branches, pgdOnly.Classes = Torchvision, []string{"pgd"}, 10
		tripleHead := triple
		tripleHead.Classes = 10
		exports = append(exports,
			export{arch + "-single", single, single},
			export{arch + "-dual", dual, dual},
			export{arch + "-triple", triple, triple},
			export{arch + "-triple-as-pgd", tripleHead, pgdOnly})
	}
	for i, e := range exports {
		c := &rtCase{Case: &roundtrip.Case{Name: "export-" + e.name, Mode: "load", Sidecar: e.name + ".json",
			Weights: e.name + ".safetensors", BNNames: bnNames(e.layout)}, layout: e.layout, model: e.model}
		c.ctx = goaclModel(t, e.model, x, uint64(10+i))
		vars, err := Variables(c.ctx)
		if err != nil {
			t.Fatal(err)
		}
		sd, rep, err := e.layout.ToTorch(vars)
		if err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		if wantOther := len(e.model.Branches) - len(e.layout.Branches); (wantOther > 0) != (len(rep.OtherBranches) > 0) {
			t.Errorf("%s: other branches %v", e.name, rep.OtherBranches)
		}
		if err := safetensors.WriteFile(filepath.Join(dir, c.Weights), sd, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		side, err := e.layout.Sidecar()
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteSidecar(filepath.Join(dir, c.Sidecar), side); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, c)
	}

	// PyTorch → goacl: official-like checkpoints (nested, module. prefix, extra heads).
	type imp struct {
		name   string
		layout Layout
		nest   string
		prefix bool
		extra  map[string]any
	}
	rocl, _ := Official("rocl", "resnet18", 16)
	advcl, _ := Official("advcl", "resnet18", 16)
	acl, _ := Official("acl", "resnet18", 16)
	aclCNN, _ := Official("acl", "smallcnn", 16)
	roclHead := rocl
	roclHead.Classes = 10
	imports := []imp{
		{"resnet18-rocl", roclHead, "model", true, nil},
		{"resnet18-advcl", advcl, "model", true, map[string]any{"head_proj.0.weight": []int{128, 128}, "fc_010.bias": []int{10}}},
		{"resnet18-acl", acl, "state_dict", false, map[string]any{"fc.fc1.weight": []int{128, 128}}},
		{"smallcnn-acl", aclCNN, "", false, nil},
	}
	for i, m := range imports {
		forSidecar := m.layout
		forSidecar.Ignore = nil
		side, err := forSidecar.Sidecar()
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, &rtCase{Case: &roundtrip.Case{Name: "import-" + m.name, Mode: "make", Layout: side,
			Seed: 100 + i, PT: m.name + ".pt", Nest: m.nest, ModulePrefix: m.prefix, Extra: m.extra, Safetensors: m.name + ".safetensors",
			BNNames: bnNames(m.layout)}, layout: m.layout, model: m.layout})
	}

	prepared := time.Since(start)
	jobs := make([]*roundtrip.Case, len(cases))
	for i, c := range cases {
		jobs[i] = c.Case
	}
	outputs := roundtrip.Run(t, py, dir, x, jobs)
	for _, c := range cases {
		if c.Mode == "make" {
			c.ctx = importModel(t, c, dir)
		}
		for _, b := range c.BNNames {
			branch := ""
			if b != nil {
				branch = *b
			} else {
				branch = c.layout.Branches[0]
			}
			ours := run(t, c.model, c.ctx, x, branch, false)
			diff, scale := torchenv.Compare(t, fmt.Sprintf("%s branch %q", c.Name, branch), ours, outputs[c.Name][roundtrip.OutKey(b)], maxAbsDiff)
			t.Logf("%-28s branch %-7q %v: max |Δ| = %.2e (outputs up to %.1f)", c.Name, branch, ours.Shape().Dimensions, diff, scale)
		}
	}
	t.Logf("round trip: %d cases in %.1fs (goacl models made in %.1fs)", len(cases), time.Since(start).Seconds(), prepared.Seconds())
}

// importModel reads a PyTorch-made case from both its .pt and .safetensors files, checks
// they convert to the same goacl variables, and returns a context holding them.
func importModel(t *testing.T, c *rtCase, dir string) *context.Context {
	t.Helper()
	ckpt, err := torchpickle.Load(filepath.Join(dir, c.PT))
	if err != nil {
		t.Fatal(err)
	}
	fromPT, key, err := ckpt.StateDict()
	if err != nil || key != c.Nest {
		t.Fatalf("%s: state dict under %q (want %q): %v", c.Name, key, c.Nest, err)
	}
	varsPT, rep, err := c.layout.FromTorch(fromPT)
	if err != nil {
		t.Fatalf("%s (.pt): %v", c.Name, err)
	}
	if c.ModulePrefix != (rep.StrippedPrefix == "module.") || len(rep.Ignored) != len(c.Extra) || rep.BatchesTracked != 2 {
		t.Errorf("%s: report %+v", c.Name, rep)
	}
	st, err := safetensors.ReadFile(filepath.Join(dir, c.Safetensors))
	if err != nil {
		t.Fatal(err)
	}
	varsST, _, err := c.layout.FromTorch(st.Tensors)
	if err != nil {
		t.Fatalf("%s (.safetensors): %v", c.Name, err)
	}
	sameVars(t, c.Name+" .pt vs .safetensors", varsPT, varsST)
	ctx := context.New().Checked(false)
	if err := SetVariables(ctx, varsPT); err != nil {
		t.Fatal(err)
	}
	return ctx
}
