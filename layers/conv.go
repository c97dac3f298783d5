package layers

import (
	"fmt"
	"math"
	"strings"

	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// ConvInit selects how convolution kernels are initialised.
type ConvInit int

const (
	// KaimingNormalFanOut draws kernels from N(0, 2/fan_out) with fan_out = kh·kw·Cout:
	// torch.nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu'), the
	// initialisation of the AdvCL and ACL ResNets. It is the default.
	KaimingNormalFanOut ConvInit = iota
	// PyTorchDefault draws kernels from U(−1/√fan_in, 1/√fan_in) with fan_in = kh·kw·Cin:
	// nn.Conv2d's own kaiming_uniform_(a=√5), which RoCL's ResNet keeps.
	PyTorchDefault
)

// String returns the name ParseConvInit accepts.
func (c ConvInit) String() string {
	switch c {
	case KaimingNormalFanOut:
		return "kaiming_normal_fan_out"
	case PyTorchDefault:
		return "pytorch_default"
	}
	return fmt.Sprintf("ConvInit(%d)", int(c))
}

// ParseConvInit turns "kaiming_normal_fan_out" (also "kaiming", "advcl", "acl") or
// "pytorch_default" (also "pytorch", "default", "rocl") into a ConvInit.
func ParseConvInit(name string) (ConvInit, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "kaiming_normal_fan_out", "kaiming", "advcl", "acl":
		return KaimingNormalFanOut, nil
	case "pytorch_default", "pytorch", "default", "rocl":
		return PyTorchDefault, nil
	}
	return 0, fmt.Errorf("layers: unknown convolution init %q (want kaiming_normal_fan_out or pytorch_default)", name)
}

// initializer returns the context initializer for a kernel of shape [kh,kw,Cin,Cout].
func (c ConvInit) initializer(ctx *context.Context, kh, kw, cin, cout int) context.VariableInitializer {
	switch c {
	case KaimingNormalFanOut:
		return initializers.RandomNormalFn(ctx, math.Sqrt(2/float64(kh*kw*cout)))
	case PyTorchDefault:
		bound := 1 / math.Sqrt(float64(kh*kw*cin))
		return initializers.RandomUniformFn(ctx, -bound, bound)
	}
	panic(fmt.Errorf("layers: unknown %s", c))
}

// Conv2DConfig builds a bias-free 2-D convolution in PyTorch semantics; create it with
// NewConv2D and finish with Done.
type Conv2DConfig struct {
	ctx                 *context.Context
	x                   *graph.Node
	out, kernel, stride int
	padding             int
	paddingSet          bool
	init                ConvInit
}

// NewConv2D starts a convolution of the NHWC input x to outChannels channels, with its
// kernel variable "weights" [k,k,Cin,outChannels] in ctx's scope. Defaults: 3×3 kernel,
// stride 1, padding k/2 (PyTorch's padding=1 for 3×3, 0 for 1×1), KaimingNormalFanOut
// initialisation, no bias. It runs through engine.Conv2D.
func NewConv2D(ctx *context.Context, x *graph.Node, outChannels int) *Conv2DConfig {
	return &Conv2DConfig{ctx: ctx, x: x, out: outChannels, kernel: 3, stride: 1}
}

// Kernel sets the (square) kernel size; default 3.
func (c *Conv2DConfig) Kernel(k int) *Conv2DConfig { c.kernel = k; return c }

// Stride sets the stride of both spatial axes; default 1.
func (c *Conv2DConfig) Stride(s int) *Conv2DConfig { c.stride = s; return c }

// Padding sets the symmetric zero padding of both spatial axes; default kernel/2.
func (c *Conv2DConfig) Padding(p int) *Conv2DConfig { c.padding, c.paddingSet = p, true; return c }

// Init sets the kernel initialisation; default KaimingNormalFanOut. It only matters when
// the variable is created (not when it already exists or is loaded from a checkpoint).
func (c *Conv2DConfig) Init(init ConvInit) *Conv2DConfig { c.init = init; return c }

// Done creates (or reuses) the kernel and returns the convolution, [N,Ho,Wo,outChannels].
func (c *Conv2DConfig) Done() *graph.Node {
	x := c.x
	if x.Rank() != 4 {
		panic(fmt.Errorf("layers.Conv2D: want NHWC input, got shape %s (scope %s)", x.Shape(), c.ctx.Scope()))
	}
	if c.out < 1 || c.kernel < 1 {
		panic(fmt.Errorf("layers.Conv2D: invalid outChannels %d or kernel %d (scope %s)", c.out, c.kernel, c.ctx.Scope()))
	}
	padding := c.kernel / 2
	if c.paddingSet {
		padding = c.padding
	}
	cin := x.Shape().Dimensions[3]
	k := c.kernel
	w := c.ctx.WithInitializer(c.init.initializer(c.ctx, k, k, cin, c.out)).
		VariableWithShape("weights", shapes.Make(x.DType(), k, k, cin, c.out))
	return engine.Conv2D(x, w.ValueGraph(x.Graph()), c.stride, padding)
}
