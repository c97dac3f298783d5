package attack

import (
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// PGD's random start must not depend on how a data-parallel step is split over devices
// (acl/train's Loop.Devices). XLA's partitioner may split an RngBitGenerator (what
// context.RandomUniform emits) along with the batch it is added to, and a split
// generator draws each device's share from the same state: values that differ from one
// device's (JAX documents the same of its "rbg" generator; its partitionable Threefry is
// the fix this follows). So the start is a counter-based draw instead: each element's
// value is a hash of its index in the whole tensor and of a key drawn from ctx's RNG
// state. Indices are iotas, which the partitioner offsets per device, and the hash is
// elementwise, so every element gets the value it gets on one device, however the tensor
// is split. The key advances ctx's RNG state once per draw, which a checkpoint stores: a
// resumed run replays the same starts.

// Constants of the hash: SplitMix64's increment (the golden ratio) and its finaliser's
// multipliers (Steele, Lea and Flood 2014; Stafford's "Mix13").
const (
	splitMixGamma = 0x9e3779b97f4a7c15
	splitMixMul1  = 0xbf58476d1ce4e5b9
	splitMixMul2  = 0x94d049bb133111eb
)

// uniformStart returns values uniform in [0, 1) of shape (a float dtype), drawn as the
// file's comment describes: element i (row-major index in the whole tensor) is
// mix(mix(k₀ + (i+1)·γ) ⊕ k₁) with SplitMix64's finaliser mix and the key (k₀, k₁) split
// off ctx's RNG state; its top 24 (float32) or 53 (float64) bits make the value.
func uniformStart(ctx *context.Context, g *graph.Graph, shape shapes.Shape) *graph.Node {
	k0, k1 := rngKey(ctx, g)
	return uniformFromKey(k0, k1, shape)
}

// uniformFromKey is uniformStart's draw for the key (k₀, k₁), two uint64 scalars.
func uniformFromKey(k0, k1 *graph.Node, shape shapes.Shape) *graph.Node {
	g := k0.Graph()
	idx := flatIndex(g, shape.Dimensions)
	h := splitMix(graph.Add(k0, graph.Mul(graph.AddScalar(idx, 1), u64(g, splitMixGamma))))
	h = splitMix(graph.BitwiseXor(h, k1))
	bits, scale := 24, 1.0/(1<<24)
	if shape.DType == dtypes.Float64 {
		bits, scale = 53, 1.0/(1<<53)
	}
	top := shiftRight(h, 64-bits)
	return graph.StopGradient(graph.MulScalar(graph.ConvertDType(top, shape.DType), scale))
}

// splitMix is SplitMix64's output function on uint64 values (wrapping arithmetic).
func splitMix(z *graph.Node) *graph.Node {
	g := z.Graph()
	z = graph.Mul(graph.BitwiseXor(z, shiftRight(z, 30)), u64(g, splitMixMul1))
	z = graph.Mul(graph.BitwiseXor(z, shiftRight(z, 27)), u64(g, splitMixMul2))
	return graph.BitwiseXor(z, shiftRight(z, 31))
}

// shiftRight is the logical right shift of uint64 values by k bits, as the unsigned
// division by 2^k: GoMLX v0.26's pure-Go backend has no ShiftRightLogical.
func shiftRight(z *graph.Node, k int) *graph.Node { return graph.Div(z, u64(z.Graph(), 1<<k)) }

// flatIndex returns the row-major index of every element of a tensor of dims, as uint64:
// a sum of per-axis iotas (each split by the partitioner with the tensor).
func flatIndex(g *graph.Graph, dims []int) *graph.Node {
	if len(dims) == 0 {
		return u64(g, 0)
	}
	s := shapes.Make(dtypes.Uint64, dims...)
	var idx *graph.Node
	stride := uint64(1)
	for axis := len(dims) - 1; axis >= 0; axis-- {
		term := graph.Iota(g, s, axis)
		if stride != 1 {
			term = graph.Mul(term, u64(g, stride))
		}
		if idx == nil {
			idx = term
		} else {
			idx = graph.Add(idx, term)
		}
		stride *= uint64(dims[axis])
	}
	return idx
}

// rngKey splits two uint64 words off ctx's RNG state (context.RNGStateVariableName),
// advancing the state; a context without one gets it as ctx's own random draws would
// (context.ResetRNGState).
func rngKey(ctx *context.Context, g *graph.Graph) (k0, k1 *graph.Node) {
	v := ctx.GetVariableByScopeAndName(context.RootScope, context.RNGStateVariableName)
	if v == nil || !v.HasValue() {
		if err := ctx.ResetRNGState(); err != nil {
			panic(err)
		}
		v = ctx.GetVariableByScopeAndName(context.RootScope, context.RNGStateVariableName)
	}
	state, words := graph.RNGStateSplit(v.ValueGraph(g))
	v.SetValueGraph(state)
	k0 = graph.Reshape(graph.Slice(words, graph.AxisElem(0)))
	k1 = graph.Reshape(graph.Slice(words, graph.AxisElem(1)))
	return k0, k1
}

// u64 is a uint64 scalar constant.
func u64(g *graph.Graph, v uint64) *graph.Node { return graph.Const(g, v) }
