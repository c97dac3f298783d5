package attack

import (
	"errors"
	"testing"
)

// gradientFree hides every gradient of the oracle: only Logits works.
type gradientFree struct {
	Oracle
	logitCalls *int
}

func (g gradientFree) Logits(x []float32, n int) ([]float32, error) {
	*g.logitCalls++
	return g.Oracle.Logits(x, n)
}

func (g gradientFree) LossGrad(string, []float32, int, []int32, []int32) ([]float32, []float32, error) {
	return nil, nil, errors.New("gradient requested from a gradient-free oracle")
}

// Square lowers the accuracy of a nonlinear model using logits only, and its examples stay
// in the ε-ball and [0,1].
func TestSquareAttackWithoutGradients(t *testing.T) {
	shape := ImageShape{H: 8, W: 8, C: 3}
	const n = 32
	m := newTestMLP(51, 32, 10, shape)
	calls := 0
	o := gradientFree{Oracle: m.oracle(t), logitCalls: &calls}
	x := testImages(52, n, shape)
	y := labelsFromModel(t, o, x, n, 0.1, 3)
	sq := DefaultSquareAttack()
	sq.Queries = 300
	aa := AutoAttack{Epsilon: 8.0 / 255, BatchSize: 16, Seed: 1, Attacks: []Attack{sq}}
	res, err := aa.Run(o, x, y, shape)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("clean %.3f → square %.3f with %d logit calls", res.CleanAccuracy, res.RobustAccuracy, calls)
	if !(res.RobustAccuracy < res.CleanAccuracy) {
		t.Errorf("Square did not lower the accuracy: clean %.3f, after Square %.3f", res.CleanAccuracy, res.RobustAccuracy)
	}
	if err := checkInBall(res.Adversarial, x, aa.Epsilon, shape.Size()); err != nil {
		t.Error(err)
	}
}

// The p schedule of square.py:p_selection, without and with rescaling, and the square side
// for a 32×32 image with python's round-half-to-even.
func TestSquarePSchedule(t *testing.T) {
	s := DefaultSquareAttack()
	for _, c := range []struct {
		it   int
		want float64
	}{{0, 0.8}, {10, 0.8}, {11, 0.4}, {50, 0.4}, {51, 0.2}, {200, 0.2}, {201, 0.1}, {501, 0.05}, {1001, 0.025}, {2001, 0.0125}, {4001, 0.00625}, {4999, 0.00625}} {
		if got := s.pSelection(c.it); got != c.want {
			t.Errorf("p at query %d = %g, want %g", c.it, got, c.want)
		}
	}
	s.RescaleSchedule = true
	s.Queries = 1000
	if got := s.pSelection(100); got != 0.8/16 { // as query 1000 of 10000
		t.Errorf("rescaled p at query 100 of 1000 = %g, want %g", got, 0.8/16)
	}
}
