package train

import (
	"sort"

	"github.com/ainfonce/goacl/acl/internal/hostval"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// BuildStep builds one training step in the graph of inputs: Step's forward pass and loss
// in training mode with BatchNorm statistics updating, then the optimizer's update of
// every trainable variable the graph uses. It returns the graph's outputs, the loss then
// the terms in sorted-name order, all as float64, and those names. It is what Run
// compiles; the op inventory and the benchmark build the same step through it.
func (l *Loop) BuildStep(ctx *context.Context, inputs []*graph.Node) (outputs []*graph.Node, termNames []string) {
	g := inputs[0].Graph()
	var out Outputs
	layers.InMode(ctx, g, true, true, func() { out = l.Step(ctx, inputs) })
	l.Optimizer.UpdateGraph(ctx, g, out.Loss)
	termNames = make([]string, 0, len(out.Terms))
	for n := range out.Terms {
		termNames = append(termNames, n)
	}
	sort.Strings(termNames)
	outputs = []*graph.Node{graph.ConvertDType(out.Loss, dtypes.Float64)}
	for _, n := range termNames {
		outputs = append(outputs, graph.ConvertDType(out.Terms[n], dtypes.Float64))
	}
	return outputs, termNames
}

// scalar reads a step output.
func scalar(t *tensors.Tensor) float64 { return hostval.Scalar(t) }
