package layers

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// LinearConfig builds a dense layer with PyTorch's nn.Linear semantics; create it with
// NewLinear and finish with Done.
type LinearConfig struct {
	ctx  *context.Context
	x    *graph.Node
	out  int
	bias bool
}

// NewLinear starts a dense layer y = x·W + b from x [N,in] to [N,outDim], with variables
// "weights" [in,outDim] (PyTorch's weight transposed) and "biases" [outDim] in ctx's
// scope. Both are initialised like nn.Linear: U(−1/√in, 1/√in) (kaiming_uniform_ with
// a=√5 for the weights). The bias is on by default.
func NewLinear(ctx *context.Context, x *graph.Node, outDim int) *LinearConfig {
	return &LinearConfig{ctx: ctx, x: x, out: outDim, bias: true}
}

// Bias sets whether the layer adds a learned bias; default true.
func (c *LinearConfig) Bias(bias bool) *LinearConfig { c.bias = bias; return c }

// Done creates (or reuses) the variables and returns x·W (+ b).
func (c *LinearConfig) Done() *graph.Node {
	x := c.x
	if x.Rank() != 2 {
		panic(fmt.Errorf("layers.Linear: want input [N,in], got shape %s (scope %s)", x.Shape(), c.ctx.Scope()))
	}
	if c.out < 1 {
		panic(fmt.Errorf("layers.Linear: invalid output dimension %d (scope %s)", c.out, c.ctx.Scope()))
	}
	in := x.Shape().Dimensions[1]
	bound := 1 / math.Sqrt(float64(in))
	ctx := c.ctx.WithInitializer(initializers.RandomUniformFn(c.ctx, -bound, bound))
	g := x.Graph()
	w := ctx.VariableWithShape("weights", shapes.Make(x.DType(), in, c.out)).ValueGraph(g)
	y := graph.DotGeneral(x, []int{1}, nil, w, []int{0}, nil)
	if c.bias {
		b := ctx.VariableWithShape("biases", shapes.Make(x.DType(), c.out)).ValueGraph(g)
		y = graph.Add(y, graph.Reshape(b, 1, c.out))
	}
	return y
}
