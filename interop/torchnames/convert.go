package torchnames

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/tensors"
)

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
