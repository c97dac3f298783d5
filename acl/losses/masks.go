package losses

import (
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
