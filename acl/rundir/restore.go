package rundir

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// RestoreOptions selects what Restore loads and how strictly.
type RestoreOptions struct {
	// Rename maps a stored key prefix to the prefix in ctx (e.g. a method's BN branch
	// "/pgd/" to the finetuning model's single branch); applied to stored keys first.
	Rename map[string]string
	// Only restricts loading to stored keys with one of these prefixes (after renaming);
	// empty means all.
	Only []string
	// Expected lists the keys the caller's model needs (e.g. the variables its graph
	// created). When set, any expected key missing from the checkpoint, and any selected
	// stored key not expected, is an error that lists them all. When empty, every
	// selected stored variable is created or overwritten in ctx.
	Expected []string
}

// Restore writes the checkpoint's variables into ctx (creating them where ctx lacks
// them), following opts. Loading is strict when opts.Expected is set: nothing is written
// unless the stored and expected sets match exactly, and the error lists every missing
// and unexpected variable.
func (c *Checkpoint) Restore(ctx *context.Context, opts RestoreOptions) error {
	type item struct {
		key string
		v   CheckpointVar
	}
	var items []item
	stored := map[string]bool{}
	for _, v := range c.Variables {
		key := v.Key()
		for from, to := range opts.Rename {
			if strings.HasPrefix(key, from) {
				key = to + strings.TrimPrefix(key, from)
				break
			}
		}
		if len(opts.Only) > 0 && !hasAnyPrefix(key, opts.Only) {
			continue
		}
		if err := checkKey(key); err != nil {
			return fmt.Errorf("checkpoint %s: variable %s: %w", c.Path, v.Key(), err)
		}
		items = append(items, item{key, v})
		stored[key] = true
	}
	if len(opts.Expected) > 0 {
		expected := map[string]bool{}
		var missing, unexpected []string
		for _, k := range opts.Expected {
			expected[k] = true
			if !stored[k] {
				missing = append(missing, k)
			}
		}
		for _, it := range items {
			if !expected[it.key] {
				unexpected = append(unexpected, it.key)
			}
		}
		if len(missing) > 0 || len(unexpected) > 0 {
			sort.Strings(missing)
			sort.Strings(unexpected)
			return fmt.Errorf("checkpoint %s does not fit the model: %d missing variables %v; %d unexpected variables %v",
				c.Path, len(missing), missing, len(unexpected), unexpected)
		}
	}
	// Read every value and compare every shape before writing anything, so that a
	// checkpoint that does not fit leaves ctx untouched and the error lists all the
	// mismatches at once.
	values := make([]*tensors.Tensor, len(items))
	var mismatched []string
	for i, it := range items {
		t, err := c.Tensor(it.v)
		if err != nil {
			return err
		}
		values[i] = t
		scope, name := context.SplitScope(it.key)
		if existing := ctx.GetVariableByScopeAndName(scope, name); existing != nil && !existing.Shape().Equal(t.Shape()) {
			mismatched = append(mismatched, fmt.Sprintf("%s: checkpoint %s, model %s", it.key, t.Shape(), existing.Shape()))
		}
	}
	if len(mismatched) > 0 {
		sort.Strings(mismatched)
		return fmt.Errorf("checkpoint %s does not fit the model (different architecture or width?): %d variables have another shape: %s",
			c.Path, len(mismatched), strings.Join(mismatched, "; "))
	}
	for i, it := range items {
		scope, name := context.SplitScope(it.key)
		if existing := ctx.GetVariableByScopeAndName(scope, name); existing != nil {
			if err := existing.SetValue(values[i]); err != nil {
				return fmt.Errorf("checkpoint %s: variable %s: %w", c.Path, it.key, err)
			}
			continue
		}
		ctx.InAbsPath(scope).Checked(false).VariableWithValue(name, values[i]).SetTrainable(it.v.Trainable)
	}
	return nil
}

// checkKey checks that key is an absolute variable path: "/scope.../name".
func checkKey(key string) error {
	if _, name := context.SplitScope(key); !strings.HasPrefix(key, context.ScopeSeparator) || name == "" {
		return fmt.Errorf("variable key %q is not an absolute path /scope/name", key)
	}
	return nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
