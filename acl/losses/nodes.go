package losses

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
)

// Small graph helpers shared by the losses.

// scalarLike returns a scalar constant with x's dtype.
func scalarLike(x *Node, v float64) *Node { return Scalar(x.Graph(), x.DType(), v) }

// zerosOf returns zeros with x's shape and dtype.
func zerosOf(x *Node) *Node { return ZerosLike(x) }

// masked keeps x where mask is true and puts 0 elsewhere (gradient 0 there too).
func masked(mask, x *Node) *Node { return Where(mask, x, zerosOf(x)) }

// alphaNode returns α as a scalar node of the given dtype: cfg.AlphaNode when set
// (converted to dtype if needed), else the constant cfg.Alpha.
func alphaNode(g *Graph, dtype dtypes.DType, cfg Config) *Node {
	if cfg.AlphaNode != nil {
		a := cfg.AlphaNode
		if a.Graph() != g {
			panic(fmt.Errorf("losses: Config.AlphaNode belongs to another graph"))
		}
		if !a.Shape().IsScalar() {
			panic(fmt.Errorf("losses: Config.AlphaNode must be a scalar, got %s", a.Shape()))
		}
		if a.DType() != dtype {
			a = ConvertDType(a, dtype)
		}
		return a
	}
	return Scalar(g, dtype, cfg.Alpha)
}

// checkFloat panics unless x is float32 or float64 with the given rank.
func checkFloat(name string, x *Node, rank int) {
	if x.Rank() != rank {
		panic(fmt.Errorf("losses: %s must have rank %d, got shape %s", name, rank, x.Shape()))
	}
	if dt := x.DType(); dt != dtypes.Float32 && dt != dtypes.Float64 {
		panic(fmt.Errorf("losses: %s must be float32 or float64, got %s", name, dt))
	}
}

// rowVec reshapes a [R] vector to [R,1] (broadcast along columns: one value per row).
func rowVec(v *Node) *Node { return Reshape(v, v.Shape().Dimensions[0], 1) }

// colVec reshapes a [R] vector to [1,R] (broadcast along rows: one value per column).
func colVec(v *Node) *Node { return Reshape(v, 1, v.Shape().Dimensions[0]) }

// transpose2 transposes a matrix.
func transpose2(x *Node) *Node { return Transpose(x, 0, 1) }
