package torchnames

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Variables returns copies of the values of ctx's variables by key
// ("/resnet18/stem/conv/weights"), the input ToTorch takes. (Copies: GoMLX frees a
// variable's old value when it is set, so handing out the context's own tensors would let
// a later SetVariables free what the caller holds.) GoMLX's internal variables (names
// starting with "#", such as the RNG state) and variables without a value are skipped.
func Variables(ctx *context.Context) (map[string]*tensors.Tensor, error) {
	vars := map[string]*tensors.Tensor{}
	for v := range ctx.IterVariables() {
		if !v.HasValue() || strings.HasPrefix(v.Name(), "#") {
			continue
		}
		t, err := v.Value()
		if err == nil {
			t, err = t.LocalClone()
		}
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.ScopeAndName(), err)
		}
		vars[v.ScopeAndName()] = t
	}
	return vars, nil
}

// SetVariables writes vars (by key, as FromTorch returns them) into ctx: existing
// variables get the new value, missing ones are created (BN running statistics as
// non-trainable, like layers.NewBatchNorm makes them). Nothing is written unless every
// existing variable has the shape and dtype of its new value; otherwise the error lists
// every mismatch.
func SetVariables(ctx *context.Context, vars map[string]*tensors.Tensor) error {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var bad []string
	for _, k := range keys {
		scope, name := context.SplitScope(k)
		if !strings.HasPrefix(k, context.ScopeSeparator) || name == "" {
			return fmt.Errorf("torchnames: variable key %q is not an absolute path /scope/name", k)
		}
		if v := ctx.GetVariableByScopeAndName(scope, name); v != nil && !v.Shape().Equal(vars[k].Shape()) {
			bad = append(bad, fmt.Sprintf("%s: context %s, new %s", k, v.Shape(), vars[k].Shape()))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("torchnames: %d variables have another shape in the context: %s", len(bad), strings.Join(bad, "; "))
	}
	for _, k := range keys {
		scope, name := context.SplitScope(k)
		if v := ctx.GetVariableByScopeAndName(scope, name); v != nil {
			if old, err := v.Value(); err == nil && old == vars[k] {
				continue // setting a variable to its own value would free it
			}
			if err := v.SetValue(vars[k]); err != nil {
				return fmt.Errorf("torchnames: variable %s: %w", k, err)
			}
			continue
		}
		trainable := !strings.HasPrefix(name, "running_")
		ctx.InAbsPath(scope).Checked(false).VariableWithValue(name, vars[k]).SetTrainable(trainable)
	}
	return nil
}
