package hlo

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/go-xla/pkg/stablehlo"
	xlashapes "github.com/gomlx/go-xla/pkg/types/shapes"
)

// Op is one top-level operation of a program's main function.
type Op struct {
	// Names are the op's output values ("%12"), Inputs its operands.
	Names  []string
	Inputs []string
	// Kind is the StableHLO op name without its dialect ("convolution", "dot_general").
	Kind string
	// Shapes are the output shapes.
	Shapes []Shape
	// Attrs are the op's attributes as written in the program.
	Attrs map[string]string
}

// Shape is a tensor type: element type and dimensions.
type Shape struct {
	DType string
	Dims  []int
}

// Elements is the number of elements (1 for a scalar).
func (s Shape) Elements() int64 {
	n := int64(1)
	for _, d := range s.Dims {
		n *= int64(d)
	}
	return n
}

// String writes the shape as StableHLO types read, e.g. f32[16,32,32,3].
func (s Shape) String() string {
	parts := make([]string, len(s.Dims))
	for i, d := range s.Dims {
		parts[i] = fmt.Sprint(d)
	}
	return s.DType + "[" + strings.Join(parts, ",") + "]"
}

type stableHLOer interface{ ToStableHLO() string }

// opsOf lists fn's arguments, its top-level statements (nested bodies of reduce and the
// like belong to their op) and the values it returns.
func opsOf(fn *stablehlo.Function) (args []Tensor, ops []Op, results []string) {
	for _, v := range fn.Inputs {
		args = append(args, Tensor{Name: v.String(), Kind: "argument", Shape: shapeOf(v.Shape())})
	}
	for _, s := range fn.Statements {
		kind := s.OpType.ToStableHLO()
		if s.OpType.String() == "FuncReturn" {
			for _, v := range s.Inputs {
				results = append(results, v.String())
			}
			continue
		}
		op := Op{Kind: kind[strings.LastIndex(kind, ".")+1:], Attrs: map[string]string{}}
		for _, v := range s.Outputs {
			op.Names = append(op.Names, v.String())
			op.Shapes = append(op.Shapes, shapeOf(v.Shape()))
		}
		for _, v := range s.Inputs {
			op.Inputs = append(op.Inputs, v.String())
		}
		for k, a := range s.Attributes {
			if h, ok := a.(stableHLOer); ok {
				op.Attrs[k] = h.ToStableHLO()
			} else {
				op.Attrs[k] = fmt.Sprint(a)
			}
		}
		ops = append(ops, op)
	}
	return args, ops, results
}

func shapeOf(s xlashapes.Shape) Shape {
	dt := strings.ToLower(s.DType.String())
	if short, ok := shortDTypes[dt]; ok {
		dt = short
	}
	return Shape{DType: dt, Dims: slices.Clone(s.Dimensions)}
}

// shortDTypes writes element types the way StableHLO does.
var shortDTypes = map[string]string{
	"float32": "f32", "float64": "f64", "float16": "f16", "bfloat16": "bf16",
	"int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
	"uint8": "ui8", "uint16": "ui16", "uint32": "ui32", "uint64": "ui64", "bool": "i1",
}

// Census is the op census of one program.
type Census struct {
	Program string
	// Ops counts the top-level ops of main; Live those that reach a result.
	Ops, Live int
	// Kinds counts ops by kind, most frequent live kind first.
	Kinds []KindCount
	// Convolutions groups the live convolutions by role and attributes.
	Convolutions []ConvGroup
	// Dots groups the live dot_generals by shapes and dimension numbers.
	Dots []DotGroup
	// Largest are the ten largest live intermediate tensors (op outputs), largest first.
	Largest []Tensor
	// Activation is the largest output of a live forward convolution (the largest
	// activation of the network); without convolutions, the largest argument of main.
	Activation Tensor
	// Ratio is Largest[0]'s elements over Activation's.
	Ratio float64
}

// KindCount is how many ops of Kind a program has, and how many of them are live.
type KindCount struct {
	Kind      string
	All, Live int
}

// ConvGroup is a set of live convolutions with the same role and attributes.
type ConvGroup struct {
	// Role is "forward", "input-grad" (kernel reversed, lhs dilated by the stride: the
	// form XLA maps to a backward-data convolution), "weight-grad" (batch and feature
	// swapped on the input, rhs dilated by the stride: backward-filter) or "other".
	Role string
	// Dimensions, Strides, LhsDilation, RhsDilation, Padding and FeatureGroups are the
	// attributes as written in the program.
	Dimensions           string
	Strides, LhsDilation string
	RhsDilation, Padding string
	FeatureGroups        string
	// Count is how many live convolutions share them; ExampleIn, ExampleKernel and
	// ExampleOut are the operand and result shapes of the first of them.
	Count                 int
	ExampleIn, ExampleOut Shape
	ExampleKernel         Shape
	// KernelFrom is the kind of op producing the kernel operand ("reverse", "argument", ...).
	KernelFrom string
}

// DotGroup is a set of live dot_generals with the same operand shapes and dimensions.
type DotGroup struct {
	// Lhs, Rhs and Out are the operand and result shapes, Dimensions the
	// dot_dimension_numbers attribute, Count how many live dot_generals have them.
	Lhs, Rhs, Out Shape
	Dimensions    string
	Count         int
}

// Tensor is one op output (or, with Kind "argument", one argument of main).
type Tensor struct {
	// Name is the value's name in the program ("%12"), Kind the op producing it.
	Name  string
	Kind  string
	Shape Shape
}

// Census takes the census of p.
func (p *Program) Census() *Census {
	c := &Census{Program: p.Name, Ops: len(p.Ops)}
	byName := map[string]int{}
	for i, op := range p.Ops {
		for _, n := range op.Names {
			byName[n] = i
		}
	}
	live := make([]bool, len(p.Ops))
	stack := slices.Clone(p.Results)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i, ok := byName[n]
		if !ok || live[i] {
			continue
		}
		live[i] = true
		stack = append(stack, p.Ops[i].Inputs...)
	}
	kinds := map[string]*KindCount{}
	convs := map[string]*ConvGroup{}
	dots := map[string]*DotGroup{}
	var tensors []Tensor
	kindOf := func(name string) string {
		if i, ok := byName[name]; ok {
			return p.Ops[i].Kind
		}
		return "argument"
	}
	shapeOfValue := func(name string) Shape {
		if i, ok := byName[name]; ok {
			op := p.Ops[i]
			return op.Shapes[slices.Index(op.Names, name)]
		}
		for _, a := range p.Args {
			if a.Name == name {
				return a.Shape
			}
		}
		return Shape{}
	}
	for i, op := range p.Ops {
		k := kinds[op.Kind]
		if k == nil {
			k = &KindCount{Kind: op.Kind}
			kinds[op.Kind] = k
		}
		k.All++
		if !live[i] {
			continue
		}
		k.Live++
		c.Live++
		for j, s := range op.Shapes {
			tensors = append(tensors, Tensor{Name: op.Names[j], Kind: op.Kind, Shape: s})
		}
		switch op.Kind {
		case "convolution":
			g := ConvGroup{Dimensions: op.Attrs["dimension_numbers"], Strides: op.Attrs["window_strides"],
				LhsDilation: op.Attrs["lhs_dilation"], RhsDilation: op.Attrs["rhs_dilation"],
				Padding: op.Attrs["padding"], FeatureGroups: op.Attrs["feature_group_count"],
				KernelFrom: kindOf(op.Inputs[1])}
			g.Role = convRole(g)
			key := strings.Join([]string{g.Role, g.Dimensions, g.Strides, g.LhsDilation, g.RhsDilation, g.Padding, g.FeatureGroups, g.KernelFrom}, "|")
			if convs[key] == nil {
				g.ExampleIn, g.ExampleKernel, g.ExampleOut = shapeOfValue(op.Inputs[0]), shapeOfValue(op.Inputs[1]), op.Shapes[0]
				convs[key] = &g
			}
			convs[key].Count++
			if g.Role == "forward" && op.Shapes[0].Elements() > c.Activation.Shape.Elements() {
				c.Activation = Tensor{Name: op.Names[0], Kind: op.Kind, Shape: op.Shapes[0]}
			}
		case "dot_general":
			d := DotGroup{Lhs: shapeOfValue(op.Inputs[0]), Rhs: shapeOfValue(op.Inputs[1]), Out: op.Shapes[0],
				Dimensions: op.Attrs["dot_dimension_numbers"]}
			key := d.Lhs.String() + d.Rhs.String() + d.Dimensions
			if dots[key] == nil {
				dots[key] = &d
			}
			dots[key].Count++
		}
	}
	if c.Activation.Shape.Dims == nil {
		c.Activation = p.largestArgument()
	}
	for _, k := range kinds {
		c.Kinds = append(c.Kinds, *k)
	}
	sort.Slice(c.Kinds, func(i, j int) bool {
		a, b := c.Kinds[i], c.Kinds[j]
		if a.Live != b.Live {
			return a.Live > b.Live
		}
		if a.All != b.All {
			return a.All > b.All
		}
		return a.Kind < b.Kind
	})
	for _, g := range convs {
		c.Convolutions = append(c.Convolutions, *g)
	}
	roleRank := map[string]int{"forward": 0, "input-grad": 1, "weight-grad": 2, "other": 3}
	sort.Slice(c.Convolutions, func(i, j int) bool {
		a, b := c.Convolutions[i], c.Convolutions[j]
		if a.Role != b.Role {
			return roleRank[a.Role] < roleRank[b.Role]
		}
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Dimensions+a.Strides < b.Dimensions+b.Strides
	})
	for _, d := range dots {
		c.Dots = append(c.Dots, *d)
	}
	sort.Slice(c.Dots, func(i, j int) bool {
		a, b := c.Dots[i], c.Dots[j]
		if a.Out.Elements() != b.Out.Elements() {
			return a.Out.Elements() > b.Out.Elements()
		}
		return a.Lhs.String()+a.Rhs.String() < b.Lhs.String()+b.Rhs.String()
	})
	sort.SliceStable(tensors, func(i, j int) bool { return tensors[i].Shape.Elements() > tensors[j].Shape.Elements() })
	c.Largest = tensors[:min(10, len(tensors))]
	if len(c.Largest) > 0 && c.Activation.Shape.Elements() > 0 {
		c.Ratio = float64(c.Largest[0].Shape.Elements()) / float64(c.Activation.Shape.Elements())
	}
	return c
}

// largestArgument returns main's largest argument.
func (p *Program) largestArgument() Tensor {
	var best Tensor
	for _, a := range p.Args {
		if a.Shape.Elements() > best.Shape.Elements() {
			best = a
		}
	}
	return best
}

// convRole tells the three forms a convolution takes in a training graph apart. GoMLX
// v0.26.0 writes the forward convolution with [b, 0, 1, f] inputs; its input gradient
// convolves the output gradient with the reversed kernel (spatially flipped, input and
// output features swapped: [0, 1, o, i]); its weight gradient convolves with the input's
// batch as the contracted feature axis ([f, 0, 1, b]).
func convRole(g ConvGroup) string {
	lhs, rhs, _ := parseConvDims(g.Dimensions)
	switch {
	case strings.HasPrefix(lhs, "f"):
		return "weight-grad"
	case g.KernelFrom == "reverse" || strings.HasSuffix(rhs, "o, i"):
		return "input-grad"
	case strings.HasPrefix(lhs, "b"):
		return "forward"
	}
	return "other"
}

var convDims = regexp.MustCompile(`\[([^\]]*)\]x\[([^\]]*)\]->\[([^\]]*)\]`)

func parseConvDims(s string) (lhs, rhs, out string) {
	m := convDims.FindStringSubmatch(s)
	if m == nil {
		return "", "", ""
	}
	return m[1], m[2], m[3]
}

// Write prints the census: ops by kind, live convolutions by role with their dimension
// numbers, dot_generals, the ten largest intermediate tensors, and as its last line
// "largest intermediate: N elements = R× the largest activation".
func (c *Census) Write(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "program %s: %d ops, %d live (reaching a result)\n", c.Program, c.Ops, c.Live)
	fmt.Fprintf(&b, "\nops by kind (all / live):\n")
	for _, k := range c.Kinds {
		fmt.Fprintf(&b, "  %-22s %6d %6d\n", k.Kind, k.All, k.Live)
	}
	fmt.Fprintf(&b, "\nlive convolutions by kind:\n")
	if len(c.Convolutions) == 0 {
		fmt.Fprintf(&b, "  none\n")
	}
	for _, g := range c.Convolutions {
		fmt.Fprintf(&b, "  %4d %-11s %s strides %s lhs_dilation %s rhs_dilation %s padding %s kernel from %s, e.g. %s * %s -> %s\n",
			g.Count, g.Role, g.Dimensions, arr(g.Strides), arr(g.LhsDilation), arr(g.RhsDilation), dense(g.Padding), g.KernelFrom,
			g.ExampleIn, g.ExampleKernel, g.ExampleOut)
	}
	fmt.Fprintf(&b, "\nlive dot_generals:\n")
	if len(c.Dots) == 0 {
		fmt.Fprintf(&b, "  none\n")
	}
	for _, d := range c.Dots {
		fmt.Fprintf(&b, "  %4d %s . %s -> %s  %s\n", d.Count, d.Lhs, d.Rhs, d.Out, oneLine(d.Dimensions))
	}
	fmt.Fprintf(&b, "\nten largest intermediate tensors:\n")
	for _, t := range c.Largest {
		fmt.Fprintf(&b, "  %12d  %-18s %-24s %s\n", t.Shape.Elements(), t.Kind, t.Shape, t.Name)
	}
	fmt.Fprintf(&b, "largest activation: %d elements, %s %s (%s)\n", c.Activation.Shape.Elements(), c.Activation.Kind, c.Activation.Shape, c.Activation.Name)
	fmt.Fprintf(&b, "%s\n", c.Summary())
	_, err := w.Write(b.Bytes())
	return err
}

// Summary is the census's last line: "largest intermediate: N elements = R× the largest
// activation".
func (c *Census) Summary() string {
	var n int64
	if len(c.Largest) > 0 {
		n = c.Largest[0].Shape.Elements()
	}
	return fmt.Sprintf("largest intermediate: %d elements = %.3g× the largest activation", n, c.Ratio)
}

func arr(s string) string {
	s = strings.TrimPrefix(strings.TrimSuffix(s, ">"), "array<i64: ")
	if s == "" {
		return "-"
	}
	return "[" + s + "]"
}

func dense(s string) string {
	if s == "" {
		return "-"
	}
	s, _, _ = strings.Cut(s, " : ")
	return strings.TrimSuffix(strings.TrimPrefix(s, "dense<"), ">")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
