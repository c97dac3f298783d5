package engine

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Fusion of elementwise chains. Batch norm, ReLU, their gradients, the PGD update and
// its clipping are chains of elementwise ops (Mul, Add, GreaterOrEqual, Where, Sign,
// Max, Min, ...) on whole activations; run one op at a time, every link reads and writes
// the full tensor. When goacl compiles a graph (pureGoBuilder.Compile), fuseElementwise
// finds each maximal group of float32 elementwise nodes of one output shape whose
// intermediate results are used only inside the group, and turns the group's last node
// into a fused node: its inputs become the group's leaves (the values coming from
// outside) and its data a fusedProgram listing the group's ops. The other members are
// then no longer reachable from the outputs, so simplego's executor skips them
// (Executable counts uses from the outputs). The fused node keeps its op type, and the
// executors of the fusible op types run a fusedProgram when the node carries one
// (fusion_exec.go): chunk by chunk, so that the intermediate values stay in the L1 cache.
// Each element is computed with the same float32 operations, in the same order, as the
// unfused ops compute it: results are bit-identical.
//
// simplego has no fused op type and no graph pass of its own; this pass is possible
// because goacl's builder wraps simplego's and sees the graph before simplego's Compile
// freezes it. It reads and rewrites two unexported fields of the group's last node
// (inputs and data, located by findLayout); "goacl:fusion=off" turns it off, and
// GOACL_FUSION_DEBUG=1 prints the groups fused in each compiled graph.

// fusionStats counts, over all compilations, the fused nodes and the nodes they
// absorbed (for the tests).
var fusionStats struct{ fused, absorbed atomic.Int64 }

// fuseMinElements is the smallest output (in elements) whose chain is fused; smaller
// tensors (losses, per-channel statistics) gain nothing worth the interpreter's set-up.
var fuseMinElements = 1024

// fusibleOps are the op types a group may contain, with their operand count.
var fusibleOps = map[backends.OpType]int{
	backends.OpTypeAdd: 2, backends.OpTypeSub: 2, backends.OpTypeMul: 2, backends.OpTypeDiv: 2,
	backends.OpTypeMax: 2, backends.OpTypeMin: 2,
	backends.OpTypeNeg: 1, backends.OpTypeAbs: 1, backends.OpTypeSign: 1, backends.OpTypeSqrt: 1,
	backends.OpTypeExp: 1, backends.OpTypeLog: 1,
	backends.OpTypeGreaterOrEqual: 2, backends.OpTypeGreaterThan: 2, backends.OpTypeLessOrEqual: 2,
	backends.OpTypeLessThan: 2, backends.OpTypeEqual: 2, backends.OpTypeNotEqual: 2,
	backends.OpTypeWhere: 3,
}

// isCompare reports whether op compares two float32 operands into a Bool.
func isCompare(op backends.OpType) bool {
	switch op {
	case backends.OpTypeGreaterOrEqual, backends.OpTypeGreaterThan, backends.OpTypeLessOrEqual,
		backends.OpTypeLessThan, backends.OpTypeEqual, backends.OpTypeNotEqual:
		return true
	}
	return false
}

// leafKind is how a leaf's values meet the fused output's elements.
type leafKind int

// (dotgrad.go's iota helper shadows the builtin in this package.)
const (
	leafFull      leafKind = 0 // the output's dimensions: element i is the leaf's element i
	leafScalar    leafKind = 1 // one value (rank 0, or every dimension 1) for every element
	leafBroadcast leafKind = 2 // size-1 axes broadcast (planBroadcast): gathered per chunk
)

// fusedLeaf is one input of a fused node.
type fusedLeaf struct {
	kind  leafKind
	dtype dtypes.DType // Float32 or Bool
	plan  broadcastPlan
	// periodic: a broadcast leaf whose values repeat with a period dividing fusedChunk
	// (e.g. batch norm's [1,1,1,C]): every chunk sees the same values, gathered once.
	periodic bool
}

// fusedStep is one op of a fused group; its operands are earlier steps (index ≥ 0) or
// leaves (index −1−leaf).
type fusedStep struct {
	op   backends.OpType
	args []int
	bool bool // the step's result is a Bool (a comparison)
}

// fusedProgram is the data of a fused node: its leaves (the node's inputs, in order) and
// its steps in topological order; the last step is the node's own op.
type fusedProgram struct {
	leaves []fusedLeaf
	steps  []fusedStep
	pool   sync.Pool // of *fusedScratch (fusion_exec.go)
}

// leafOf classifies operand shape s against the output dimensions dims; ok is false if s
// is not elementwise-compatible.
func leafOf(s shapes.Shape, dims []int) (fusedLeaf, bool) {
	l := fusedLeaf{dtype: s.DType}
	switch {
	case slices.Equal(s.Dimensions, dims):
		l.kind = leafFull
	case s.Size() == 1 && (s.Rank() == 0 || s.Rank() == len(dims)):
		l.kind = leafScalar
	default:
		plan, ok := planBroadcast(s, shapes.Make(s.DType, dims...))
		if !ok {
			return l, false
		}
		l.kind, l.plan = leafBroadcast, plan
		l.periodic = plan.advance && fusedChunk%plan.run == 0 && !slices.ContainsFunc(plan.bStride, func(s int) bool { return s != 0 })
	}
	return l, true
}

// fusible reports whether n may be a member of a fused group: a float32 elementwise op
// (or a comparison of float32 operands, or a select between float32 values) whose
// operands are all elementwise-compatible with its output, on an output large enough.
func fusible(n *simplego.Node) bool {
	op := nodeOpType(n)
	arity, ok := fusibleOps[op]
	inputs := *nodeInputs(n)
	shape := nodeShape(n)
	if !ok || len(inputs) != arity || nodeData(n) != nil || shape.Size() < fuseMinElements {
		return false
	}
	want := dtypes.Float32
	if isCompare(op) {
		want = dtypes.Bool
	}
	if shape.DType != want {
		return false
	}
	for i, in := range inputs {
		s := nodeShape(in)
		dt := dtypes.Float32
		if op == backends.OpTypeWhere && i == 0 {
			dt = dtypes.Bool
		}
		l, ok := leafOf(s, shape.Dimensions)
		// A condition must give one value per element: no scalar conditions.
		if s.DType != dt || !ok || dt == dtypes.Bool && l.kind == leafScalar {
			return false
		}
	}
	return true
}

// fuseElementwise rewrites the elementwise groups of the graph in b that outputs depend
// on, as described at the top of this file, and returns the number of fused nodes and
// of the nodes they absorbed.
func fuseElementwise(b *simplego.Builder, outputs []backends.Op) (fused, absorbed int) {
	nodes := builderNodes(b)
	n := len(nodes)
	isOutput := make([]bool, n)
	reached := make([]bool, n)
	consumers := make([][]int, n)
	stack := make([]*simplego.Node, 0, len(outputs))
	for _, o := range outputs {
		node, ok := o.(*simplego.Node)
		if !ok {
			return 0, 0 // not simplego's: let Compile report it
		}
		i := nodeIndex(node)
		if i < 0 || i >= n || nodes[i] != node {
			return 0, 0
		}
		isOutput[i] = true
		if !reached[i] {
			reached[i] = true
			stack = append(stack, node)
		}
	}
	for len(stack) > 0 {
		node := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		c := nodeIndex(node)
		for _, in := range *nodeInputs(node) {
			i := nodeIndex(in)
			consumers[i] = append(consumers[i], c)
			if !reached[i] {
				reached[i] = true
				stack = append(stack, in)
			}
		}
	}

	// Assign groups from the last node back: a node joins the group of its consumers
	// when all of them are in one group and it has that group's output dimensions;
	// otherwise it starts its own group (group[i] == i: i is the group's root).
	group := make([]int, n)
	size := make([]int, n)
	for i := n - 1; i >= 0; i-- {
		group[i] = -1
		if !reached[i] || !fusible(nodes[i]) {
			continue
		}
		g := -1
		if !isOutput[i] {
			for _, c := range consumers[i] {
				switch {
				case group[c] < 0 || g >= 0 && group[c] != g:
					g = -2
				case g == -1:
					g = group[c]
				}
				if g == -2 {
					break
				}
			}
		}
		if g >= 0 && slices.Equal(nodeShape(nodes[i]).Dimensions, nodeShape(nodes[g]).Dimensions) {
			group[i] = g
		} else {
			group[i] = i
		}
		size[group[i]]++
	}

	members := map[int][]int{}
	for i := range n {
		if g := group[i]; g >= 0 && size[g] > 1 {
			members[g] = append(members[g], i) // ascending: a topological order
		}
	}
	for root, ms := range members {
		node := nodes[root]
		dims := nodeShape(node).Dimensions
		prog := &fusedProgram{}
		var leaves []*simplego.Node
		leafIdx := map[*simplego.Node]int{}
		stepIdx := map[int]int{}
		for _, m := range ms {
			mn := nodes[m]
			st := fusedStep{op: nodeOpType(mn), bool: nodeShape(mn).DType == dtypes.Bool}
			for _, in := range *nodeInputs(mn) {
				if s, ok := stepIdx[nodeIndex(in)]; ok { // a member computed earlier
					st.args = append(st.args, s)
					continue
				}
				l, ok := leafIdx[in]
				if !ok {
					l = len(leaves)
					leafIdx[in] = l
					leaves = append(leaves, in)
					leaf, _ := leafOf(nodeShape(in), dims) // checked by fusible
					prog.leaves = append(prog.leaves, leaf)
				}
				st.args = append(st.args, -1-l)
			}
			stepIdx[m] = len(prog.steps)
			prog.steps = append(prog.steps, st)
		}
		*nodeInputs(node) = leaves
		*nodeDataPtr(node) = prog
		fused++
		absorbed += len(ms) - 1
	}
	fusionStats.fused.Add(int64(fused))
	fusionStats.absorbed.Add(int64(absorbed))
	if os.Getenv("GOACL_FUSION_DEBUG") != "" {
		logFusion(nodes, members, fused, absorbed)
	}
	return fused, absorbed
}

// logFusion prints what fuseElementwise did to one graph (GOACL_FUSION_DEBUG=1): the
// counts, and each kind of group (output dimensions and member ops) with how often it
// occurs.
func logFusion(nodes []*simplego.Node, members map[int][]int, fused, absorbed int) {
	kinds := map[string]int{}
	for root, ms := range members {
		ops := make([]string, len(ms))
		for i, m := range ms {
			ops[i] = nodeOpType(nodes[m]).String()
		}
		kinds[fmt.Sprintf("%v %s", nodeShape(nodes[root]).Dimensions, strings.Join(ops, ","))]++
	}
	fmt.Fprintf(os.Stderr, "goacl fusion: %d nodes, %d fused nodes absorbing %d\n", len(nodes), fused, absorbed)
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		fmt.Fprintf(os.Stderr, "  %4d × %s\n", kinds[k], k)
	}
}
