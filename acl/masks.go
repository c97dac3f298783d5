package acl

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// rowLayout describes R = views·batch rows stacked view-major: row r is view r/batch of
// instance r%batch. advView is the index of the adversarial view (−1: none).
type rowLayout struct {
	views, batch, advView int
}

func (l rowLayout) rows() int { return l.views * l.batch }

// layoutMasks holds the boolean [R,R] masks of a view-major layout.
type layoutMasks struct {
	self  *Node // r == c
	pos   *Node // same instance, r != c           (P(r), |P(r)| = V−1)
	neg   *Node // other instance                  (N(r), |N(r)| = V(B−1))
	cross *Node // positive pair with exactly one adversarial side
	// advAnchor: positive pair whose anchor (row) is adversarial and column clean;
	// cleanAnchor: positive pair whose anchor is clean and column adversarial.
	advAnchor, cleanAnchor *Node
	rowAdv                 *Node // [R] true on adversarial rows
}

func buildMasks(g *Graph, l rowLayout) layoutMasks {
	R := l.rows()
	sh := shapes.Make(dtypes.Int32, R, R)
	r := Iota(g, sh, 0)
	c := Iota(g, sh, 1)
	b := Scalar(g, dtypes.Int32, l.batch)
	rInst, cInst := Rem(r, b), Rem(c, b)
	rView, cView := Div(r, b), Div(c, b)
	m := layoutMasks{}
	m.self = Equal(r, c)
	sameInst := Equal(rInst, cInst)
	m.pos = LogicalAnd(sameInst, LogicalNot(m.self))
	m.neg = LogicalNot(sameInst)
	if l.advView >= 0 {
		av := Scalar(g, dtypes.Int32, l.advView)
		rAdv, cAdv := Equal(rView, av), Equal(cView, av)
		m.advAnchor = LogicalAnd(m.pos, LogicalAnd(rAdv, LogicalNot(cAdv)))
		m.cleanAnchor = LogicalAnd(m.pos, LogicalAnd(LogicalNot(rAdv), cAdv))
		m.cross = LogicalOr(m.advAnchor, m.cleanAnchor)
		m.rowAdv = Equal(Div(Iota(g, shapes.Make(dtypes.Int32, R), 0), b), av)
	}
	return m
}

// scalarLike returns a scalar constant with x's dtype.
func scalarLike(x *Node, v float64) *Node { return Scalar(x.Graph(), x.DType(), v) }

// zerosOf returns zeros with x's shape and dtype.
func zerosOf(x *Node) *Node { return ZerosLike(x) }

// masked keeps x where mask is true and puts 0 elsewhere (gradient 0 there too).
func masked(mask, x *Node) *Node { return Where(mask, x, zerosOf(x)) }

// alphaNode returns α as a scalar node of the given dtype: cfg.AlphaNode when set
// (converted to dtype if needed), else the constant cfg.Alpha.
func alphaNode(g *Graph, dtype dtypes.DType, cfg LossConfig) *Node {
	if cfg.AlphaNode != nil {
		a := cfg.AlphaNode
		if a.Graph() != g {
			panic(fmt.Errorf("acl: LossConfig.AlphaNode belongs to another graph"))
		}
		if !a.Shape().IsScalar() {
			panic(fmt.Errorf("acl: LossConfig.AlphaNode must be a scalar, got %s", a.Shape()))
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
		panic(fmt.Errorf("acl: %s must have rank %d, got shape %s", name, rank, x.Shape()))
	}
	if dt := x.DType(); dt != dtypes.Float32 && dt != dtypes.Float64 {
		panic(fmt.Errorf("acl: %s must be float32 or float64, got %s", name, dt))
	}
}

// rowVec reshapes a [R] vector to [R,1] (broadcast along columns: one value per row).
func rowVec(v *Node) *Node { return Reshape(v, v.Shape().Dimensions[0], 1) }

// colVec reshapes a [R] vector to [1,R] (broadcast along rows: one value per column).
func colVec(v *Node) *Node { return Reshape(v, 1, v.Shape().Dimensions[0]) }

// transpose2 transposes a matrix.
func transpose2(x *Node) *Node { return Transpose(x, 0, 1) }
