package torchnames

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/ainfonce/goacl/interop/internal/tensorbytes"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/dtypes/bfloat16"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/x448/float16"
)

// Report says what a conversion did besides the tensors it returned.
type Report struct {
	// Mapped counts the tensors converted (num_batches_tracked and normalize buffers
	// included).
	Mapped int
	// OtherBranches (ToTorch) lists goacl BN variables of branches the layout does not
	// hold, left out on purpose (e.g. AdvCL's 'normal' and 'pgd_ce' when the 'pgd'
	// branch is exported).
	OtherBranches []string
	// Outside (ToTorch) counts goacl variables outside the model's scopes (projection
	// heads, optimizer state, the global step), which the layout does not cover.
	Outside int
	// StrippedPrefix (FromTorch) is "module." when every name carried the prefix of
	// torch.nn.DataParallel or DistributedDataParallel and it was removed.
	StrippedPrefix string
	// Ignored (FromTorch) lists the names Layout.Ignore dropped.
	Ignored []string
	// BatchesTracked (FromTorch) is the largest num_batches_tracked read, −1 when the
	// state dict has none.
	BatchesTracked int64
	// Converted (FromTorch) lists tensors whose dtype changed, as "name (Float64)".
	Converted []string
}

// MismatchError is a conversion refused because the input does not fit the layout. It
// lists every offending name at once.
type MismatchError struct {
	// Layout describes the layout (Layout.String).
	Layout string
	// Direction is "goacl → PyTorch" or "PyTorch → goacl".
	Direction string
	// Missing are names the layout needs that the input lacks, Unexpected input names
	// the layout does not know, Misshapen "name: have …, want …" for wrong shapes or
	// dtypes and wrong normalisation values.
	Missing, Unexpected, Misshapen []string
	// Hint suggests a fix, when one is recognisable.
	Hint string
}

// Error lists the mismatches.
func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: the tensors do not fit %s:", e.Direction, e.Layout)
	list := func(what string, names []string) {
		if len(names) == 0 {
			return
		}
		shown := names
		if len(shown) > 40 {
			shown = append(slices.Clone(shown[:40]), fmt.Sprintf("… %d more", len(names)-40))
		}
		fmt.Fprintf(&b, " %d %s [%s];", len(names), what, strings.Join(shown, ", "))
	}
	list("missing", e.Missing)
	list("unexpected", e.Unexpected)
	list("with another shape, dtype or value", e.Misshapen)
	s := strings.TrimSuffix(b.String(), ";")
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *MismatchError) empty() bool {
	return len(e.Missing) == 0 && len(e.Unexpected) == 0 && len(e.Misshapen) == 0
}

func (e *MismatchError) sort() {
	sort.Strings(e.Missing)
	sort.Strings(e.Unexpected)
	sort.Strings(e.Misshapen)
}

// bnVarNames are the variables a goacl BatchNorm creates.
var bnVarNames = []string{"gamma", "beta", "running_mean", "running_var"}

// ToTorch converts goacl variable values (by key, as in a context or a goacl checkpoint)
// to the layout's PyTorch state dict. Every variable the layout needs must be present
// with its shape. Variables under the model's scopes that the layout does not hold are
// an error, except other BN branches' copies of held BN variables (reported in
// Report.OtherBranches); variables outside the model's scopes are left alone (counted in
// Report.Outside).
func (l Layout) ToTorch(vars map[string]*tensors.Tensor) (map[string]*tensors.Tensor, *Report, error) {
	l, err := l.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	entries, err := l.Entries()
	if err != nil {
		return nil, nil, err
	}
	mis := &MismatchError{Layout: l.String(), Direction: "goacl → PyTorch"}
	rep := &Report{BatchesTracked: -1}
	out := map[string]*tensors.Tensor{}
	used := map[string]bool{}
	for _, e := range entries {
		switch e.Kind {
		case BatchCount:
			out[e.Torch] = tensors.FromScalar(l.BatchesTracked)
		case InputMean, InputStd:
			vals := l.InputMean
			if e.Kind == InputStd {
				vals = l.InputStd
			}
			f := make([]float32, len(vals))
			for i, v := range vals {
				f[i] = float32(v)
			}
			out[e.Torch] = tensors.FromFlatDataAndDimensions(f, len(f))
		default:
			v, ok := vars[e.Var]
			if !ok {
				mis.Missing = append(mis.Missing, e.Var)
				continue
			}
			used[e.Var] = true
			if !slices.Equal(v.Shape().Dimensions, e.Shape) || !v.DType().IsFloat() {
				mis.Misshapen = append(mis.Misshapen, fmt.Sprintf("%s: have %s, want %v", e.Var, v.Shape(), e.Shape))
				continue
			}
			t, err := convertLayout(v, e.Kind, false)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", e.Var, err)
			}
			out[e.Torch] = t
		}
		rep.Mapped++
	}
	scopes, usedBN := l.modelScopes(), usedBNScopes(used, len(l.Branches) == 1 && l.Branches[0] == "")
	for key := range vars {
		if used[key] {
			continue
		}
		if !inScopes(key, scopes) {
			rep.Outside++
			continue
		}
		if otherBranchOf(key, usedBN) {
			rep.OtherBranches = append(rep.OtherBranches, key)
			continue
		}
		mis.Unexpected = append(mis.Unexpected, key)
	}
	sort.Strings(rep.OtherBranches)
	if !mis.empty() {
		mis.sort()
		if len(mis.Missing) > 0 && len(l.Branches) == 1 && l.Branches[0] != "" && len(used) == 0 {
			mis.Hint = fmt.Sprintf("a single-BN model has no branch %q: use the branch \"\"", l.Branches[0])
		} else if len(mis.Missing) > 0 && len(l.Branches) == 1 && l.Branches[0] == "" {
			mis.Hint = "a multi-BN model (AdvCL, ACL, DynACL) needs a named branch, e.g. pgd"
		}
		return nil, nil, mis
	}
	return out, rep, nil
}

// otherBranchOf reports whether key is a BN variable of another branch than the used
// ones: the same BN variable name in the same BN scope, with the branch segment removed
// or replaced. usedBN holds "<BN scope>|<name>" of the used BN variables, with their
// branch segment (if any) removed.
func otherBranchOf(key string, usedBN map[string]bool) bool {
	parts := strings.Split(key, "/")
	if len(parts) < 3 || !slices.Contains(bnVarNames, parts[len(parts)-1]) {
		return false
	}
	name := parts[len(parts)-1]
	return usedBN[strings.Join(parts[:len(parts)-2], "/")+"|"+name]
}

// usedBNScopes returns "<BN scope>|<name>" for the used BN variables, as otherBranchOf
// looks up: their own scope when they are unbranched (another branch adds a segment),
// their scope without the branch segment otherwise (another branch replaces it).
func usedBNScopes(used map[string]bool, unbranched bool) map[string]bool {
	out := map[string]bool{}
	for k := range used {
		parts := strings.Split(k, "/")
		if len(parts) < 3 || !slices.Contains(bnVarNames, parts[len(parts)-1]) {
			continue
		}
		name, cut := parts[len(parts)-1], 2
		if unbranched {
			cut = 1
		}
		out[strings.Join(parts[:len(parts)-cut], "/")+"|"+name] = true
	}
	return out
}

// FromTorch converts a PyTorch state dict to goacl variable values (by key) for the
// layout. When every name starts with "module." (DataParallel) and the layout's
// TorchPrefix does not, the prefix is removed first. Every tensor the layout needs must be
// present with its shape (num_batches_tracked may be absent, as PyTorch itself allows);
// normalize.mean and normalize.std must hold the layout's input normalisation; every other
// name must match a Layout.Ignore prefix. Floating-point tensors of any width are
// converted to Layout.DType.
func (l Layout) FromTorch(sd map[string]*tensors.Tensor) (map[string]*tensors.Tensor, *Report, error) {
	l, err := l.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	entries, err := l.Entries()
	if err != nil {
		return nil, nil, err
	}
	rep := &Report{BatchesTracked: -1}
	sd = stripModulePrefix(sd, l.TorchPrefix, rep)
	mis := &MismatchError{Layout: l.String(), Direction: "PyTorch → goacl"}
	out := map[string]*tensors.Tensor{}
	known := map[string]bool{}
	for _, e := range entries {
		known[e.Torch] = true
		t, ok := sd[e.Torch]
		if !ok {
			if e.Kind != BatchCount {
				mis.Missing = append(mis.Missing, e.Torch)
			}
			continue
		}
		if !slices.Equal(t.Shape().Dimensions, e.TorchShape) {
			mis.Misshapen = append(mis.Misshapen, fmt.Sprintf("%s: have %s, want %v", e.Torch, t.Shape(), e.TorchShape))
			continue
		}
		switch e.Kind {
		case BatchCount:
			n, err := batchCount(t)
			if err != nil {
				mis.Misshapen = append(mis.Misshapen, fmt.Sprintf("%s: %v", e.Torch, err))
				continue
			}
			rep.BatchesTracked = max(rep.BatchesTracked, n)
		case InputMean, InputStd:
			want := l.InputMean
			if e.Kind == InputStd {
				want = l.InputStd
			}
			if err := checkValues(t, want); err != nil {
				mis.Misshapen = append(mis.Misshapen, fmt.Sprintf("%s: %v", e.Torch, err))
				continue
			}
		default:
			if !t.DType().IsFloat() {
				mis.Misshapen = append(mis.Misshapen, fmt.Sprintf("%s: dtype %s, want a floating-point tensor", e.Torch, t.DType()))
				continue
			}
			v, err := convertLayout(t, e.Kind, true)
			if err == nil {
				if v.DType() != l.DType {
					rep.Converted = append(rep.Converted, fmt.Sprintf("%s (%s)", e.Torch, v.DType()))
				}
				v, err = castFloat(v, l.DType)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", e.Torch, err)
			}
			out[e.Var] = v
		}
		rep.Mapped++
	}
	for name := range sd {
		if known[name] {
			continue
		}
		if hasAnyPrefix(name, l.Ignore) {
			rep.Ignored = append(rep.Ignored, name)
			continue
		}
		mis.Unexpected = append(mis.Unexpected, name)
	}
	sort.Strings(rep.Ignored)
	sort.Strings(rep.Converted)
	if !mis.empty() {
		mis.sort()
		mis.Hint = hintFor(l, sd)
		return nil, nil, mis
	}
	return out, rep, nil
}

// stripModulePrefix removes DataParallel's "module." from every name when all have it.
func stripModulePrefix(sd map[string]*tensors.Tensor, torchPrefix string, rep *Report) map[string]*tensors.Tensor {
	const p = "module."
	if len(sd) == 0 || strings.HasPrefix(torchPrefix, p) {
		return sd
	}
	for name := range sd {
		if !strings.HasPrefix(name, p) {
			return sd
		}
	}
	out := make(map[string]*tensors.Tensor, len(sd))
	for name, t := range sd {
		out[strings.TrimPrefix(name, p)] = t
	}
	rep.StrippedPrefix = p
	return out
}

// hintFor recognises a state dict of another scheme, width, branch count or prefix than
// the layout's, from its names.
func hintFor(l Layout, sd map[string]*tensors.Tensor) string {
	guess, err := Detect(sd)
	if err != nil {
		return ""
	}
	var d []string
	if guess.TorchPrefix != l.TorchPrefix {
		d = append(d, fmt.Sprintf("its names start with %q", guess.TorchPrefix))
	}
	if guess.Arch != l.Arch {
		d = append(d, "it holds a "+guess.Arch)
	}
	if guess.Scheme != l.Scheme {
		d = append(d, fmt.Sprintf("it uses the %s naming", guess.Scheme))
	}
	if guess.Width != l.Width {
		d = append(d, fmt.Sprintf("its width is %d", guess.Width))
	}
	if len(guess.Branches) != len(l.Branches) {
		d = append(d, fmt.Sprintf("it has %d BN parameter sets per layer", len(guess.Branches)))
	}
	if (guess.InputMean != nil) != (l.InputMean != nil) {
		if guess.InputMean != nil {
			d = append(d, "it normalises its input (normalize.mean/std)")
		} else {
			d = append(d, "it has no normalize.mean/std")
		}
	}
	if len(d) == 0 {
		return ""
	}
	return "the state dict looks like another layout: " + strings.Join(d, "; ")
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// batchCount reads num_batches_tracked: an integer scalar.
func batchCount(t *tensors.Tensor) (int64, error) {
	switch t.DType() {
	case dtypes.Int64:
		return tensors.ToScalar[int64](t), nil
	case dtypes.Int32:
		return int64(tensors.ToScalar[int32](t)), nil
	}
	return 0, fmt.Errorf("dtype %s, want an int64 count", t.DType())
}

// checkValues compares a float vector with want, to float32 precision.
func checkValues(t *tensors.Tensor, want []float64) error {
	if !t.DType().IsFloat() {
		return fmt.Errorf("dtype %s, want floats", t.DType())
	}
	got, err := floats(t)
	if err != nil {
		return err
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-6*max(1, math.Abs(want[i])) {
			return fmt.Errorf("holds %v, the layout's input normalisation is %v", got, want)
		}
	}
	return nil
}

// Permutations of the axes: out axis i is in axis perm[i].
var (
	hwioToOIHW = []int{3, 2, 0, 1}
	oihwToHWIO = []int{2, 3, 1, 0}
	transpose2 = []int{1, 0}
)

// convertLayout returns t rearranged for kind: to PyTorch's layout, or from it when
// fromTorch. Same kinds are returned as they are.
func convertLayout(t *tensors.Tensor, kind Kind, fromTorch bool) (*tensors.Tensor, error) {
	var perm []int
	switch kind {
	case ConvKernel:
		perm = hwioToOIHW
		if fromTorch {
			perm = oihwToHWIO
		}
	case LinearWeight:
		perm = transpose2
	default:
		return t, nil
	}
	data, err := tensorbytes.Bytes(t)
	if err != nil {
		return nil, err
	}
	dims := t.Shape().Dimensions
	outDims := make([]int, len(perm))
	for i, p := range perm {
		outDims[i] = dims[p]
	}
	return tensorbytes.FromBytes(t.DType(), outDims, permute(data, t.DType().Size(), dims, perm))
}

// permute returns the row-major bytes of the tensor data (dims, es bytes per element) with
// its axes permuted: output axis i is input axis perm[i].
func permute(data []byte, es int, dims, perm []int) []byte {
	rank := len(dims)
	inStride := make([]int, rank)
	s := 1
	for i := rank - 1; i >= 0; i-- {
		inStride[i] = s
		s *= dims[i]
	}
	outDims := make([]int, rank)
	stride := make([]int, rank) // input stride of each output axis
	for i, p := range perm {
		outDims[i], stride[i] = dims[p], inStride[p]
	}
	out := make([]byte, 0, len(data))
	if s == 0 {
		return out
	}
	idx := make([]int, rank)
	for range s {
		pos := 0
		for i, j := range idx {
			pos += j * stride[i]
		}
		out = append(out, data[pos*es:(pos+1)*es]...)
		for i := rank - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < outDims[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out
}

// floats returns a floating-point tensor's values as float64s.
func floats(t *tensors.Tensor) ([]float64, error) {
	out := make([]float64, t.Shape().Size())
	switch t.DType() {
	case dtypes.Float64:
		copy(out, tensors.MustCopyFlatData[float64](t))
	case dtypes.Float32:
		for i, v := range tensors.MustCopyFlatData[float32](t) {
			out[i] = float64(v)
		}
	case dtypes.Float16:
		for i, v := range tensors.MustCopyFlatData[float16.Float16](t) {
			out[i] = float64(v.Float32())
		}
	case dtypes.BFloat16:
		for i, v := range tensors.MustCopyFlatData[bfloat16.BFloat16](t) {
			out[i] = float64(v.Float32())
		}
	default:
		return nil, fmt.Errorf("dtype %s is not floating point", t.DType())
	}
	return out, nil
}

// castFloat returns t as dtype (Float32 or Float64).
func castFloat(t *tensors.Tensor, dtype dtypes.DType) (*tensors.Tensor, error) {
	if t.DType() == dtype {
		return t, nil
	}
	vals, err := floats(t)
	if err != nil {
		return nil, err
	}
	dims := t.Shape().Dimensions
	if dtype == dtypes.Float64 {
		return tensors.FromFlatDataAndDimensions(vals, dims...), nil
	}
	f := make([]float32, len(vals))
	for i, v := range vals {
		f[i] = float32(v)
	}
	return tensors.FromFlatDataAndDimensions(f, dims...), nil
}
