package torchpickle

import (
	"errors"
	"fmt"
)

// The globals a pickle may name, each implemented here in Go: REDUCE calls them, BUILD
// fills an OrderedDict's attributes. Nothing else can be called or constructed.

// global is a module-level name a pickle referred to with GLOBAL or STACK_GLOBAL, once
// checked against allowedGlobals.
type global struct{ module, name string }

// String returns "module.name".
func (g global) String() string { return g.module + "." + g.name }

// Globals the unpickler implements. Each is a pure Go function of its decoded arguments.
const (
	globalOrderedDict     = "collections.OrderedDict"
	globalRebuildTensor   = "torch._utils._rebuild_tensor"
	globalRebuildTensorV2 = "torch._utils._rebuild_tensor_v2"
	globalRebuildParam    = "torch._utils._rebuild_parameter"
	globalRebuildParamSt  = "torch._utils._rebuild_parameter_with_state"
	globalTorchSize       = "torch.Size"
	globalCodecsEncode    = "_codecs.encode"
)

// allowedGlobal reports whether the unpickler implements module.name: the functions above
// (called by REDUCE) and the torch storage classes (only named in persistent ids).
func allowedGlobal(g global) bool {
	switch g.String() {
	case globalOrderedDict, globalRebuildTensor, globalRebuildTensorV2, globalRebuildParam,
		globalRebuildParamSt, globalTorchSize, globalCodecsEncode:
		return true
	}
	_, ok := storageDTypes[g.String()]
	return ok
}

// ErrRejected marks an error caused by a pickle asking for something outside the subset of
// pickle that state dicts use (a foreign global, object construction, an unsupported
// opcode). errors.Is(err, ErrRejected) tells it from a truncated or corrupt file.
var ErrRejected = errors.New("refused")

// rejectf returns an ErrRejected error.
func rejectf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRejected}, args...)...)
}

// checkGlobal accepts only the globals the unpickler implements.
func checkGlobal(module, name string) (global, error) {
	g := global{module, name}
	if !allowedGlobal(g) {
		return g, rejectf("the pickle refers to %s, which is not part of a state dict "+
			"(only tensors, storages, OrderedDict and plain containers are read; nothing in the file is executed)", g)
	}
	return g, nil
}

// build applies BUILD: only instance attributes of an OrderedDict (a state dict's
// _metadata) are accepted.
func build(target, state any) error {
	d, ok := target.(*Dict)
	if !ok || !d.Ordered {
		return rejectf("BUILD on a %s (only an OrderedDict's attributes are accepted)", typeName(target))
	}
	attrs, ok := state.(*Dict)
	if !ok {
		return rejectf("BUILD of an OrderedDict with a %s state (want a dict of attributes)", typeName(state))
	}
	if d.Attrs == nil {
		d.Attrs = &Dict{}
	}
	for _, e := range attrs.entries {
		if err := d.Attrs.set(e.Key, e.Value); err != nil {
			return err
		}
	}
	return nil
}

// reduce applies REDUCE: a call of one of the implemented globals with a tuple of args.
func reduce(fn, argsV any) (any, error) {
	g, ok := fn.(global)
	if !ok {
		return nil, rejectf("REDUCE calls a %s (only the implemented torch and collections functions can be called)", typeName(fn))
	}
	args, ok := argsV.(Tuple)
	if !ok {
		return nil, fmt.Errorf("REDUCE of %s with %s arguments, want a tuple", g, typeName(argsV))
	}
	switch g.String() {
	case globalOrderedDict:
		if len(args) != 0 {
			return nil, rejectf("OrderedDict called with %d arguments, want none", len(args))
		}
		return &Dict{Ordered: true}, nil
	case globalTorchSize:
		if len(args) != 1 {
			return nil, fmt.Errorf("torch.Size called with %d arguments, want 1", len(args))
		}
		dims, err := intTuple(args[0], "torch.Size")
		if err != nil {
			return nil, err
		}
		t := make(Tuple, len(dims))
		for i, d := range dims {
			t[i] = d
		}
		return t, nil
	case globalCodecsEncode:
		// Protocol 2 writes Python 3 bytes as _codecs.encode(str, "latin1").
		if len(args) != 2 {
			return nil, fmt.Errorf("_codecs.encode called with %d arguments, want 2", len(args))
		}
		s, ok1 := args[0].(string)
		enc, ok2 := args[1].(string)
		if !ok1 || !ok2 || (enc != "latin1" && enc != "latin-1") {
			return nil, rejectf("_codecs.encode(%s, %v): only the latin1 encoding of a str (pickled bytes) is accepted", typeName(args[0]), args[1])
		}
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xff {
				return nil, fmt.Errorf("_codecs.encode: %q is not latin1", r)
			}
			b = append(b, byte(r))
		}
		return b, nil
	case globalRebuildTensor, globalRebuildTensorV2:
		return rebuildTensor(g, args)
	case globalRebuildParam, globalRebuildParamSt:
		// (data, requires_grad, backward_hooks[, state]): the parameter is its tensor.
		want := 3
		if g.String() == globalRebuildParamSt {
			want = 4
		}
		if len(args) != want {
			return nil, fmt.Errorf("%s called with %d arguments, want %d", g, len(args), want)
		}
		t, ok := args[0].(*Tensor)
		if !ok {
			return nil, fmt.Errorf("%s of a %s, want a tensor", g, typeName(args[0]))
		}
		if err := checkNoHooks(g, args[2]); err != nil {
			return nil, err
		}
		if want == 4 && !emptyState(args[3]) {
			return nil, rejectf("%s with a non-empty state (a parameter subclass)", g)
		}
		rg, _ := args[1].(bool)
		t.RequiresGrad = rg
		return t, nil
	}
	return nil, rejectf("%s cannot be called", g)
}

// emptyState reports whether a parameter's extra state is None or an empty dict.
func emptyState(v any) bool {
	if v == nil {
		return true
	}
	d, ok := v.(*Dict)
	return ok && d.Len() == 0
}

// checkNoHooks requires an empty backward-hooks OrderedDict (or None).
func checkNoHooks(g global, v any) error {
	if v == nil {
		return nil
	}
	d, ok := v.(*Dict)
	if !ok || d.Len() != 0 {
		return rejectf("%s with backward hooks (%s), which a state dict never has", g, typeName(v))
	}
	return nil
}

// intTuple decodes a tuple of non-negative ints (sizes, strides).
func intTuple(v any, what string) ([]int64, error) {
	t, ok := v.(Tuple)
	if !ok {
		return nil, fmt.Errorf("%s: want a tuple of ints, got %s", what, typeName(v))
	}
	out := make([]int64, len(t))
	for i, e := range t {
		n, ok := e.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("%s: element %d is %v, want a non-negative int", what, i, e)
		}
		out[i] = n
	}
	return out, nil
}

// rebuildTensor implements torch._utils._rebuild_tensor(storage, offset, size, stride)
// and _rebuild_tensor_v2(…, requires_grad, backward_hooks[, metadata]).
func rebuildTensor(g global, args Tuple) (any, error) {
	v2 := g.String() == globalRebuildTensorV2
	switch {
	case !v2 && len(args) != 4:
		return nil, fmt.Errorf("%s called with %d arguments, want 4", g, len(args))
	case v2 && len(args) != 6 && len(args) != 7:
		return nil, fmt.Errorf("%s called with %d arguments, want 6 or 7", g, len(args))
	}
	st, ok := args[0].(*Storage)
	if !ok {
		return nil, fmt.Errorf("%s of a %s, want a storage", g, typeName(args[0]))
	}
	offset, ok := args[1].(int64)
	if !ok || offset < 0 {
		return nil, fmt.Errorf("%s: storage offset %v, want a non-negative int", g, args[1])
	}
	size, err := intTuple(args[2], "tensor size")
	if err != nil {
		return nil, err
	}
	stride, err := intTuple(args[3], "tensor stride")
	if err != nil {
		return nil, err
	}
	t := &Tensor{Storage: st, Offset: offset, Size: size, Stride: stride}
	if v2 {
		rg, ok := args[4].(bool)
		if !ok {
			return nil, fmt.Errorf("%s: requires_grad is %s, want a bool", g, typeName(args[4]))
		}
		t.RequiresGrad = rg
		if err := checkNoHooks(g, args[5]); err != nil {
			return nil, err
		}
		if len(args) == 7 {
			if m, ok := args[6].(*Dict); args[6] != nil && (!ok || m.Len() != 0) {
				return nil, rejectf("%s with tensor metadata %s (conjugate/negative bits are not supported)", g, typeName(args[6]))
			}
		}
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	return t, nil
}
