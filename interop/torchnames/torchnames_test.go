package torchnames

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/interop/internal/tensorbytes"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestEntriesMatchLayers: the variables Entries names are exactly those the layers create,
// with the same shapes, for every layout.
func TestEntriesMatchLayers(t *testing.T) {
	for _, l := range allLayouts() {
		entries, err := l.Entries()
		if err != nil {
			t.Fatal(err)
		}
		fromEntries := map[string][]int{}
		for _, e := range entries {
			if e.Var != "" {
				fromEntries[e.Var] = e.Shape
			}
		}
		built := modelVariables(t, l)
		for k, dims := range built {
			if got, ok := fromEntries[k]; !ok || !slices.Equal(got, dims) {
				t.Errorf("%s: layers make %s %v, entries have %v", layoutName(l), k, dims, got)
			}
		}
		for k := range fromEntries {
			if _, ok := built[k]; !ok {
				t.Errorf("%s: entries name %s, which the layers do not make", layoutName(l), k)
			}
		}
	}
}

// TestOfficialNames spot-checks names, shapes and counts against the official models.
func TestOfficialNames(t *testing.T) {
	type want struct {
		name  string
		shape []int
	}
	cases := []struct {
		l     Layout
		count int // PyTorch's state-dict length
		has   []want
	}{
		{Layout{Arch: "resnet18", Scheme: CIFAR, Branches: []string{""}, Classes: 10}, 122, []want{
			{"conv1.weight", []int{64, 3, 3, 3}}, {"bn1.num_batches_tracked", []int{}},
			{"layer2.0.shortcut.0.weight", []int{128, 64, 1, 1}}, {"layer2.0.shortcut.1.running_var", []int{128}},
			{"layer4.1.bn2.weight", []int{512}}, {"linear.weight", []int{10, 512}}, {"linear.bias", []int{10}}}},
		{Layout{Arch: "resnet18", Scheme: Torchvision, Branches: []string{"pgd"}, InputMean: ImageNetMean, InputStd: ImageNetStd, Classes: 10}, 124, []want{
			{"normalize.mean", []int{3}}, {"layer3.0.downsample.0.weight", []int{256, 128, 1, 1}},
			{"layer3.0.downsample.1.bias", []int{256}}, {"fc.weight", []int{10, 512}}}},
		{Layout{Arch: "resnet18", Scheme: MultiBN, Branches: []string{"normal", "pgd", "pgd_ce"}}, 320, []want{
			{"bn1.bn_list.0.weight", []int{64}}, {"layer1.0.bn1.bn_list.2.running_mean", []int{64}},
			{"layer2.0.downsample.conv.weight", []int{128, 64, 1, 1}}, {"layer2.0.downsample.bn.bn_list.1.num_batches_tracked", []int{}}}},
		{Layout{Arch: "smallcnn", Width: 16, Scheme: MultiBN, Branches: []string{"normal", "pgd"}, Classes: 10}, 4 + 4*2*5 + 2, []want{
			{"conv4.weight", []int{128, 64, 3, 3}}, {"bn3.bn_list.1.running_var", []int{64}}, {"fc.weight", []int{10, 128}}}},
	}
	for _, c := range cases {
		entries, err := c.l.Entries()
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != c.count {
			t.Errorf("%s: %d entries, want %d", c.l, len(entries), c.count)
		}
		byName := map[string]Entry{}
		for _, e := range entries {
			if _, dup := byName[e.Torch]; dup {
				t.Errorf("%s: %s listed twice", c.l, e.Torch)
			}
			byName[e.Torch] = e
		}
		for _, w := range c.has {
			if e, ok := byName[w.name]; !ok || !slices.Equal(e.TorchShape, w.shape) {
				t.Errorf("%s: %s = %+v, want shape %v", c.l, w.name, e, w.shape)
			}
		}
	}
	// The stem kernel's goacl variable and layout conversion.
	entries, _ := Layout{Arch: "resnet18", Scheme: MultiBN, Branches: []string{"normal", "pgd"}}.Entries()
	if e := entries[0]; e.Torch != "conv1.weight" || e.Var != "/resnet18/stem/conv/weights" || e.Kind != ConvKernel || !slices.Equal(e.Shape, []int{3, 3, 3, 64}) {
		t.Errorf("first entry %+v", e)
	}
	if e := entries[6]; e.Torch != "bn1.bn_list.1.weight" || e.Var != "/resnet18/stem/bn/pgd/gamma" {
		t.Errorf("entry 6 %+v", e)
	}
}

// TestLayoutConversion checks the kernel and weight transpositions element by element.
func TestLayoutConversion(t *testing.T) {
	l := Layout{Arch: "smallcnn", Width: 2, Scheme: CIFAR, Branches: []string{""}, Classes: 3}
	vars := randomVars(t, l, 1)
	sd, _, err := l.ToTorch(vars)
	if err != nil {
		t.Fatal(err)
	}
	hwio := tensors.MustCopyFlatData[float32](vars["/smallcnn/conv2/weights"]) // [3,3,2,4]
	oihw := tensors.MustCopyFlatData[float32](sd["conv2.weight"])              // [4,2,3,3]
	for h := range 3 {
		for w := range 3 {
			for i := range 2 {
				for o := range 4 {
					if a, b := hwio[((h*3+w)*2+i)*4+o], oihw[((o*2+i)*3+h)*3+w]; a != b {
						t.Fatalf("kernel[%d,%d,%d,%d] = %g, PyTorch [%d,%d,%d,%d] = %g", h, w, i, o, a, o, i, h, w, b)
					}
				}
			}
		}
	}
	in := tensors.MustCopyFlatData[float32](vars["/classifier/weights"]) // [16,3]
	out := tensors.MustCopyFlatData[float32](sd["linear.weight"])        // [3,16]
	for i := range 16 {
		for o := range 3 {
			if in[i*3+o] != out[o*16+i] {
				t.Fatalf("linear weight [%d,%d] differs", i, o)
			}
		}
	}
	if n := sd["bn1.num_batches_tracked"]; n.DType() != dtypes.Int64 || tensors.ToScalar[int64](n) != 0 {
		t.Errorf("num_batches_tracked = %v", n)
	}
	l.BatchesTracked = 42
	sd, _, _ = l.ToTorch(vars)
	if n := tensors.ToScalar[int64](sd["bn4.num_batches_tracked"]); n != 42 {
		t.Errorf("num_batches_tracked = %d with BatchesTracked 42", n)
	}
}

// sameVars fails unless a and b hold the same keys, shapes and values.
func sameVars(t *testing.T, what string, a, b map[string]*tensors.Tensor) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d vs %d tensors", what, len(a), len(b))
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || !x.Shape().Equal(y.Shape()) {
			t.Fatalf("%s: %s: %v vs %v", what, k, x, y)
		}
		bx, _ := tensorbytes.Bytes(x)
		by, _ := tensorbytes.Bytes(y)
		if string(bx) != string(by) {
			t.Fatalf("%s: %s: values differ", what, k)
		}
	}
}

// TestRoundTripInGo: ToTorch then FromTorch returns the same variables, for every layout;
// Detect recognises each layout from its state dict.
func TestRoundTripInGo(t *testing.T) {
	for _, l := range allLayouts() {
		vars := randomVars(t, l, 2)
		sd, rep, err := l.ToTorch(vars)
		if err != nil {
			t.Fatalf("%s: %v", layoutName(l), err)
		}
		entries, _ := l.Entries()
		if len(sd) != len(entries) || rep.Mapped != len(entries) || rep.Outside != 0 || len(rep.OtherBranches) != 0 {
			t.Errorf("%s: %d tensors for %d entries, report %+v", layoutName(l), len(sd), len(entries), rep)
		}
		back, rep, err := l.FromTorch(sd)
		if err != nil {
			t.Fatalf("%s: %v", layoutName(l), err)
		}
		sameVars(t, layoutName(l), vars, back)
		if rep.BatchesTracked != 0 || len(rep.Ignored) != 0 || rep.StrippedPrefix != "" {
			t.Errorf("%s: report %+v", layoutName(l), rep)
		}
		d, err := Detect(sd)
		if err != nil {
			t.Fatalf("%s: Detect: %v", layoutName(l), err)
		}
		want, _ := l.withDefaults()
		if want.Scheme != MultiBN {
			want.Branches = []string{""} // a single-BN file does not say which goacl branch it holds
		}
		if d.String() != want.String() || d.Scheme != want.Scheme {
			t.Errorf("Detect = %s, want %s", d, want)
		}
	}
}

func TestToTorchStrictness(t *testing.T) {
	triple := Layout{Arch: "smallcnn", Width: 4, Scheme: MultiBN, Branches: []string{"normal", "pgd", "pgd_ce"}, Classes: 10}
	vars := randomVars(t, triple, 3)
	vars["/head_proj/fc1/weights"] = tensors.FromScalar(float32(1)) // outside the model: ignored
	vars["/global_step"] = tensors.FromScalar(int64(5))

	// One branch of a triple BN: the others are reported, not exported.
	single := Layout{Arch: "smallcnn", Width: 4, Scheme: CIFAR, Branches: []string{"pgd"}, Classes: 10}
	sd, rep, err := single.ToTorch(vars)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.OtherBranches) != 2*4*4 || rep.Outside != 2 {
		t.Errorf("report: %d other-branch variables (want 32), %d outside (want 2)", len(rep.OtherBranches), rep.Outside)
	}
	if !slices.Contains(rep.OtherBranches, "/smallcnn/bn2/pgd_ce/running_var") || slices.Contains(rep.OtherBranches, "/smallcnn/bn2/pgd/running_var") {
		t.Errorf("other branches %v", rep.OtherBranches)
	}
	if got, want := tensors.MustCopyFlatData[float32](sd["bn2.running_var"]), tensors.MustCopyFlatData[float32](vars["/smallcnn/bn2/pgd/running_var"]); !slices.Equal(got, want) {
		t.Error("bn2 does not hold the pgd branch")
	}

	// Missing, unexpected and misshapen variables are listed together.
	bad := map[string]*tensors.Tensor{}
	for k, v := range vars {
		bad[k] = v
	}
	delete(bad, "/smallcnn/conv3/weights")
	delete(bad, "/classifier/biases")
	bad["/smallcnn/conv9/weights"] = tensors.FromScalar(float32(1))
	bad["/smallcnn/conv1/weights"] = tensors.FromFlatDataAndDimensions(make([]float32, 4), 4)
	_, _, err = triple.ToTorch(bad)
	var mis *MismatchError
	if !errors.As(err, &mis) {
		t.Fatalf("err = %v, want a MismatchError", err)
	}
	if !slices.Equal(mis.Missing, []string{"/classifier/biases", "/smallcnn/conv3/weights"}) ||
		!slices.Equal(mis.Unexpected, []string{"/smallcnn/conv9/weights"}) || len(mis.Misshapen) != 1 {
		t.Errorf("mismatch %+v", mis)
	}
	for _, s := range []string{"2 missing", "/smallcnn/conv3/weights", "1 unexpected", "conv1/weights: have (Float32)[4], want [3 3 3 4]"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}

	// A branch the model does not have.
	_, _, err = Layout{Arch: "smallcnn", Width: 4, Scheme: CIFAR, Branches: []string{""}}.ToTorch(vars)
	if err == nil || !strings.Contains(err.Error(), "needs a named branch") {
		t.Errorf("unbranched export of a multi-BN model: %v", err)
	}
	// Invalid layouts.
	for _, l := range []Layout{
		{Arch: "vgg", Scheme: CIFAR, Branches: []string{""}},
		{Arch: "smallcnn", Scheme: "keras", Branches: []string{""}},
		{Arch: "smallcnn", Scheme: CIFAR},
		{Arch: "smallcnn", Scheme: CIFAR, Branches: []string{"normal", "pgd"}},
		{Arch: "smallcnn", Scheme: MultiBN, Branches: []string{"normal", "normal"}},
		{Arch: "smallcnn", Scheme: MultiBN, Branches: []string{""}},
		{Arch: "smallcnn", Scheme: CIFAR, Branches: []string{""}, InputMean: []float64{1}},
	} {
		if _, err := l.Entries(); err == nil {
			t.Errorf("layout %+v accepted", l)
		}
	}
}

func TestFromTorchStrictness(t *testing.T) {
	l := Layout{Arch: "smallcnn", Width: 4, Scheme: MultiBN, Branches: []string{"normal", "pgd"}, InputMean: ImageNetMean, InputStd: ImageNetStd,
		Ignore: []string{"fc."}}
	vars := randomVars(t, l, 4)
	sd, _, err := l.ToTorch(vars)
	if err != nil {
		t.Fatal(err)
	}
	// DataParallel's prefix, an ignored head, missing counts, and float64 values are fine.
	dp := map[string]*tensors.Tensor{}
	for k, v := range sd {
		if strings.HasSuffix(k, "num_batches_tracked") && strings.HasPrefix(k, "bn1.") {
			continue
		}
		if k == "conv2.weight" {
			v, _ = castFloat(v, dtypes.Float64)
		}
		dp["module."+k] = v
	}
	dp["module.fc.fc1.weight"] = tensors.FromScalar(float32(1))
	dp["module.bn2.bn_list.0.num_batches_tracked"] = tensors.FromScalar(int64(391))
	back, rep, err := l.FromTorch(dp)
	if err != nil {
		t.Fatal(err)
	}
	sameVars(t, "module-prefixed", vars, back)
	if rep.StrippedPrefix != "module." || !slices.Equal(rep.Ignored, []string{"fc.fc1.weight"}) || rep.BatchesTracked != 391 ||
		!slices.Equal(rep.Converted, []string{"conv2.weight (Float64)"}) {
		t.Errorf("report %+v", rep)
	}

	// Everything wrong at once.
	bad := map[string]*tensors.Tensor{}
	for k, v := range sd {
		bad[k] = v
	}
	delete(bad, "bn3.bn_list.1.weight")
	bad["head.weight"] = tensors.FromScalar(float32(1))
	bad["conv1.weight"] = tensors.FromFlatDataAndDimensions(make([]float32, 4), 4)
	bad["bn4.bn_list.0.num_batches_tracked"] = tensors.FromScalar(float32(3))
	bad["normalize.std"] = tensors.FromFlatDataAndDimensions([]float32{1, 1, 1}, 3)
	bad["bn1.bn_list.0.running_mean"] = tensors.FromFlatDataAndDimensions([]int32{1, 2, 3, 4}, 4)
	_, _, err = l.FromTorch(bad)
	var mis *MismatchError
	if !errors.As(err, &mis) {
		t.Fatalf("err = %v", err)
	}
	if !slices.Equal(mis.Missing, []string{"bn3.bn_list.1.weight"}) || !slices.Equal(mis.Unexpected, []string{"head.weight"}) || len(mis.Misshapen) != 4 {
		t.Errorf("mismatch %+v", mis)
	}
	for _, s := range []string{"normalize.std: holds [1 1 1]", "want an int64 count", "want a floating-point tensor", "conv1.weight: have (Float32)[4], want [4 3 3 3]"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q: %v", s, err)
		}
	}

	// A state dict of another scheme and branch count gets a hint.
	other := Layout{Arch: "smallcnn", Width: 4, Scheme: CIFAR, Branches: []string{""}}
	_, _, err = other.FromTorch(sd)
	if err == nil || !strings.Contains(err.Error(), "uses the multibn naming") || !strings.Contains(err.Error(), "2 BN parameter sets") ||
		!strings.Contains(err.Error(), "normalises its input") {
		t.Errorf("hint: %v", err)
	}
	// Two models in one state dict (DynACL's resnet18_momentum): Detect names the prefixes,
	// a prefixed layout reads one of them.
	two := map[string]*tensors.Tensor{}
	for k, v := range sd {
		two["encoder_q."+k] = v
		two["encoder_k."+k] = v
	}
	if _, err := Detect(two); err == nil || !strings.Contains(err.Error(), `"encoder_k." "encoder_q."`) {
		t.Errorf("Detect: %v", err)
	}
	k := l
	k.TorchPrefix, k.Ignore = "encoder_k.", []string{"encoder_q."}
	back, _, err = k.FromTorch(two)
	if err != nil {
		t.Fatal(err)
	}
	sameVars(t, "encoder_k", vars, back)
}

func TestSidecar(t *testing.T) {
	for _, l := range allLayouts() {
		s, err := l.Sidecar()
		if err != nil {
			t.Fatal(err)
		}
		s.Provenance = map[string]any{"run": "runs/x", "step": 3}
		path := filepath.Join(t.TempDir(), "m.json")
		if err := WriteSidecar(path, s); err != nil {
			t.Fatal(err)
		}
		back, err := ReadSidecar(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := back.Layout()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := l.withDefaults()
		if got.String() != want.String() || fmt.Sprint(back.Provenance) != "map[run:runs/x step:3]" {
			t.Errorf("sidecar round trip: %s, want %s (%v)", got, want, back.Provenance)
		}
	}
	if _, err := (Layout{Arch: "smallcnn", Scheme: CIFAR, Branches: []string{""}, TorchPrefix: "module."}).Sidecar(); err == nil {
		t.Error("a prefixed layout got a sidecar")
	}
}

func TestOfficial(t *testing.T) {
	for _, m := range []string{"rocl", "advcl", "acl", "dynacl"} {
		l, err := Official(m, "resnet18", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Entries(); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	l, _ := Official("advcl", "resnet18", 16)
	if l.Scheme != MultiBN || !slices.Equal(l.Branches, []string{"normal", "pgd", "pgd_ce"}) || !slices.Contains(l.Ignore, "head_proj.") {
		t.Errorf("advcl: %+v", l)
	}
	if _, err := Official("simclr", "resnet18", 0); err == nil {
		t.Error("unknown method accepted")
	}
}

// The finetuning layouts name the classifier as the official finetuning models do
// (linear in the CIFAR ResNet of RoCL and AdvCL, fc with normalize.* in ACL's and
// DynACL's), and a classifier kept apart (AdvCL's "classifier" dict) can be renamed, but
// not in a sidecar.
func TestFinetuning(t *testing.T) {
	names := func(l Layout) []string {
		entries, err := l.Entries()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Torch)
		}
		return out
	}
	for method, want := range map[string][]string{"rocl": {"linear.weight", "layer1.0.bn1.weight"},
		"advcl": {"linear.bias", "layer2.0.shortcut.1.running_var"}, "acl": {"fc.weight", "normalize.mean", "layer2.0.downsample.0.weight"},
		"dynacl": {"fc.bias", "normalize.std"}} {
		l, err := Finetuning(method, "resnet18", 16, "pgd", 10)
		if err != nil {
			t.Fatal(err)
		}
		got := names(l)
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: no %s in %v", method, w, got)
			}
		}
		if len(got) != 122+2*len(l.InputMean)/3 {
			t.Errorf("%s: %d tensors", method, len(got))
		}
	}
	l, _ := Finetuning("advcl", "smallcnn", 16, "pgd", 10)
	l.ClassifierName = "classifier.fc"
	if got := names(l); !slices.Contains(got, "classifier.fc.weight") || slices.Contains(got, "linear.weight") {
		t.Errorf("renamed classifier: %v", got)
	}
	if _, err := l.Sidecar(); err == nil {
		t.Error("a sidecar for a renamed classifier")
	}
	if _, err := Finetuning("simclr", "resnet18", 0, "", 10); err == nil {
		t.Error("unknown method accepted")
	}
}
