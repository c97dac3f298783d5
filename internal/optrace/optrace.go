// Package optrace lists the backend operations (backends.OpType) that GoMLX graphs built
// for the pure-Go backends ("goacl", "go") actually run, so that the op inventory of the
// project's graphs (docs/results/op-inventory.md) and the conformance test of the goacl
// engine (engine/conformance_test.go) can be compared: every op a real graph emits must
// be covered by a conformance case (Covered).
//
// It reads simplego's builder after a graph is built (and compiled): the graph's backend
// builder (*simplego.Builder, or the goacl wrapper embedding one) holds every node it
// created; the nodes reachable from the compiled outputs are the ops the executable runs.
// Neither GoMLX nor simplego exports these, so they are read by reflection (read-only);
// a GoMLX whose layout differs makes the functions return an error, never guess.
package optrace

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Op is one backend node: its op type and output shape (multi-output nodes, e.g. the
// fused RNG, report their first output's shape).
type Op struct {
	Type  backends.OpType
	Shape shapes.Shape
}

// field returns the (possibly unexported) field name of the struct v as a usable value
// (read through its address; v must be addressable).
func field(v reflect.Value, name string) (reflect.Value, error) {
	f := v.FieldByName(name)
	if !f.IsValid() {
		return f, fmt.Errorf("optrace: %s has no field %q (GoMLX layout changed?)", v.Type(), name)
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem(), nil
}

// simplegoBuilder finds the *simplego.Builder behind a graph's backend builder: the
// builder itself, or an (embedded) field of a wrapper struct such as goacl's.
func simplegoBuilder(g *graph.Graph) (*simplego.Builder, error) {
	bf, err := field(reflect.ValueOf(g).Elem(), "builder")
	if err != nil {
		return nil, err
	}
	if bf.IsNil() {
		return nil, fmt.Errorf("optrace: graph %q has no builder (finalized?)", g.Name())
	}
	b := bf.Elem() // concrete value of the backends.Builder interface
	if sb, ok := b.Interface().(*simplego.Builder); ok {
		return sb, nil
	}
	if b.Kind() == reflect.Pointer && b.Elem().Kind() == reflect.Struct {
		s := b.Elem()
		for i := range s.NumField() {
			if s.Type().Field(i).Type == reflect.TypeOf((*simplego.Builder)(nil)) {
				f := reflect.NewAt(s.Field(i).Type(), unsafe.Pointer(s.Field(i).UnsafeAddr())).Elem()
				return f.Interface().(*simplego.Builder), nil
			}
		}
	}
	return nil, fmt.Errorf("optrace: graph %q is built by %s, not by a simplego-based backend", g.Name(), b.Type())
}

// GraphOps returns the backend ops of g that its compiled outputs depend on (the ops the
// executable runs), in build order. g must be compiled (e.g. by graph.Exec /
// context.Exec PreCompile or a first Exec). With all set, every node the builder
// created is returned, reachable or not.
func GraphOps(g *graph.Graph, all bool) ([]Op, error) {
	sb, err := simplegoBuilder(g)
	if err != nil {
		return nil, err
	}
	bv := reflect.ValueOf(sb).Elem()
	nodesV, err := field(bv, "nodes")
	if err != nil {
		return nil, err
	}
	nodes := nodesV.Interface().([]*simplego.Node)
	outputsV, err := field(bv, "outputs")
	if err != nil {
		return nil, err
	}
	outputs := outputsV.Interface().([]*simplego.Node)
	if !all && len(outputs) == 0 {
		return nil, fmt.Errorf("optrace: graph %q is not compiled (no outputs yet)", g.Name())
	}
	read := func(n *simplego.Node) (op Op, inputs []*simplego.Node, err error) {
		nv := reflect.ValueOf(n).Elem()
		t, err := field(nv, "opType")
		if err != nil {
			return op, nil, err
		}
		s, err := field(nv, "shape")
		if err != nil {
			return op, nil, err
		}
		in, err := field(nv, "inputs")
		if err != nil {
			return op, nil, err
		}
		op = Op{Type: t.Interface().(backends.OpType), Shape: s.Interface().(shapes.Shape)}
		if !op.Shape.Ok() {
			if ms, err := field(nv, "multiOutputsShapes"); err == nil && ms.Len() > 0 {
				op.Shape = ms.Index(0).Interface().(shapes.Shape)
			}
		}
		return op, in.Interface().([]*simplego.Node), nil
	}
	keep := map[*simplego.Node]bool{}
	if all {
		for _, n := range nodes {
			keep[n] = true
		}
	} else {
		stack := slices.Clone(outputs)
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if keep[n] {
				continue
			}
			keep[n] = true
			_, in, err := read(n)
			if err != nil {
				return nil, err
			}
			stack = append(stack, in...)
		}
	}
	var ops []Op
	for _, n := range nodes {
		if !keep[n] {
			continue
		}
		// The select nodes of a multi-output node repeat its op type: count it once.
		sel, err := field(reflect.ValueOf(n).Elem(), "isNodeSelectOutput")
		if err != nil {
			return nil, err
		}
		if sel.Bool() {
			continue
		}
		op, _, err := read(n)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// ExecGraphs returns the graphs a context.Exec has built and compiled so far (call its
// PreCompile or Exec first), in the order they were built.
func ExecGraphs(e *context.Exec) ([]*graph.Graph, error) {
	ev, err := field(reflect.ValueOf(e).Elem(), "exec")
	if err != nil {
		return nil, err
	}
	return GraphExecGraphs(ev.Interface().(*graph.Exec))
}

// GraphExecGraphs returns the graphs a graph.Exec has built and compiled so far.
func GraphExecGraphs(e *graph.Exec) ([]*graph.Graph, error) {
	cache, err := field(reflect.ValueOf(e).Elem(), "cache")
	if err != nil {
		return nil, err
	}
	var gs []*graph.Graph
	for i := range cache.Len() {
		entry := cache.Index(i)
		if entry.Kind() == reflect.Pointer {
			entry = entry.Elem()
		}
		gv, err := field(entry, "graph")
		if err != nil {
			return nil, err
		}
		gs = append(gs, gv.Interface().(*graph.Graph))
	}
	return gs, nil
}

// Inventory aggregates the ops of several named graphs.
type Inventory struct {
	Entries map[backends.OpType]*Entry
	Graphs  []string // names of the graphs added, in order
}

// Entry is what an Inventory knows about one op type.
type Entry struct {
	Count    int                   // nodes over all graphs
	DTypes   map[dtypes.DType]bool // output dtypes
	Examples []string              // distinct example output shapes (first few)
	In       map[string]int        // graph name -> nodes
}

// maxExamples bounds Entry.Examples.
const maxExamples = 3

// NewInventory returns an empty inventory.
func NewInventory() *Inventory { return &Inventory{Entries: map[backends.OpType]*Entry{}} }

// Add records the ops of the graph called name.
func (inv *Inventory) Add(name string, ops []Op) {
	inv.Graphs = append(inv.Graphs, name)
	for _, op := range ops {
		e := inv.Entries[op.Type]
		if e == nil {
			e = &Entry{DTypes: map[dtypes.DType]bool{}, In: map[string]int{}}
			inv.Entries[op.Type] = e
		}
		e.Count++
		e.In[name]++
		e.DTypes[op.Shape.DType] = true
		s := op.Shape.String()
		if len(e.Examples) < maxExamples && !slices.Contains(e.Examples, s) {
			e.Examples = append(e.Examples, s)
		}
	}
}

// Types returns the op types of the inventory, sorted by name.
func (inv *Inventory) Types() []backends.OpType {
	ts := make([]backends.OpType, 0, len(inv.Entries))
	for t := range inv.Entries {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].String() < ts[j].String() })
	return ts
}

// Markdown renders the inventory as a table: op, nodes, dtypes, graphs, example shapes.
func (inv *Inventory) Markdown() string {
	var sb strings.Builder
	sb.WriteString("| op | nodes | dtypes | graphs (of " + fmt.Sprint(len(inv.Graphs)) + ") | example output shapes |\n|---|---:|---|---:|---|\n")
	for _, t := range inv.Types() {
		e := inv.Entries[t]
		var ds []string
		for d := range e.DTypes {
			ds = append(ds, d.String())
		}
		sort.Strings(ds)
		fmt.Fprintf(&sb, "| %s | %d | %s | %d | %s |\n", t, e.Count, strings.Join(ds, ", "), len(e.In),
			"`"+strings.Join(e.Examples, "`, `")+"`")
	}
	return sb.String()
}
