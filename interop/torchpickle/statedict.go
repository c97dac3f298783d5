package torchpickle

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// DefaultStateDictKeys are the keys under which training scripts commonly nest a state dict
// in the object they save: {"state_dict": …} (ACL, DynACL), {"model": …} (RoCL, AdvCL),
// {"net": …}.
var DefaultStateDictKeys = []string{"state_dict", "model", "net"}

// StateDict is a PyTorch state dict read from a checkpoint: tensor name → contiguous tensor.
type StateDict map[string]*tensors.Tensor

// Names returns the tensor names, sorted.
func (sd StateDict) Names() []string {
	names := make([]string, 0, len(sd))
	for n := range sd {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// StateDict finds the checkpoint's state dict and materialises its tensors: the root
// object when it is a dict whose values are all tensors, otherwise the value under the
// first of keys (DefaultStateDictKeys when none are given) that the root holds. It returns
// the key used ("" for the root). A dict that holds anything but tensors, or no state dict
// where one is looked for, is an error that says what the checkpoint holds.
func (c *Checkpoint) StateDict(keys ...string) (StateDict, string, error) {
	sd, key, err := c.stateDict(keys)
	if err != nil && c.Path != "" {
		err = fmt.Errorf("torch checkpoint %s: %w", c.Path, err)
	}
	return sd, key, err
}

func (c *Checkpoint) stateDict(keys []string) (StateDict, string, error) {
	root, ok := c.Root.(*Dict)
	if !ok {
		return nil, "", fmt.Errorf("the checkpoint holds a %s, not a dict", typeName(c.Root))
	}
	if isTensorDict(root) {
		sd, err := materialize(root, "", 2*c.size)
		return sd, "", err
	}
	if len(keys) == 0 {
		keys = DefaultStateDictKeys
	}
	for _, k := range keys {
		v, ok := root.Get(k)
		if !ok {
			continue
		}
		d, ok := v.(*Dict)
		if !ok {
			return nil, "", fmt.Errorf("%q holds a %s, not a state dict", k, typeName(v))
		}
		sd, err := materialize(d, k, 2*c.size)
		return sd, k, err
	}
	return nil, "", fmt.Errorf("no state dict: the checkpoint is a dict of %s, none of them %s",
		describeEntries(root), strings.Join(quoteAll(keys), " or "))
}

// isTensorDict reports whether d is a non-empty dict of string keys and tensor values.
func isTensorDict(d *Dict) bool {
	for _, e := range d.Entries() {
		if _, ok := e.Key.(string); !ok {
			return false
		}
		if _, ok := e.Value.(*Tensor); !ok {
			return false
		}
	}
	return d.Len() > 0
}

// materialize copies every tensor of the state dict d (found under key) into a StateDict,
// refusing to copy more than budget bytes in all (tensors may share storages, but a state
// dict whose copies outgrow its file many times over is an attack, not a model).
func materialize(d *Dict, key string, budget int64) (StateDict, error) {
	where := "the state dict"
	if key != "" {
		where = fmt.Sprintf("the state dict under %q", key)
	}
	sd := make(StateDict, d.Len())
	for _, e := range d.Entries() {
		name, ok := e.Key.(string)
		if !ok {
			return nil, fmt.Errorf("%s has a %s key %v, want tensor names", where, typeName(e.Key), e.Key)
		}
		t, ok := e.Value.(*Tensor)
		if !ok {
			return nil, fmt.Errorf("%s: %q is a %s, not a tensor", where, name, typeName(e.Value))
		}
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", where, name, err)
		}
		if budget -= t.NumEl() * int64(t.DType().Size()); budget < 0 {
			return nil, fmt.Errorf("%s: its tensors need more than twice the file's size in memory (shared storages?)", where)
		}
		m, err := t.Materialize()
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", where, name, err)
		}
		sd[name] = m
	}
	return sd, nil
}

// describeEntries lists a dict's keys with their value types, e.g. "epoch (int), optim (dict)".
func describeEntries(d *Dict) string {
	var parts []string
	for i, e := range d.Entries() {
		if i == 12 {
			parts = append(parts, fmt.Sprintf("… (%d entries)", d.Len()))
			break
		}
		parts = append(parts, fmt.Sprintf("%v (%s)", e.Key, typeName(e.Value)))
	}
	if len(parts) == 0 {
		return "no entries"
	}
	return strings.Join(parts, ", ")
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}
