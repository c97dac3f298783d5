// Package gradcheck compares the gradients GoMLX builds for a graph function with central
// finite differences in float64. The engine, layer and loss tests use it to prove that
// every op the project adds or changes differentiates correctly.
package gradcheck

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Func builds a scalar loss from the inputs (all float64).
type Func func(inputs []*graph.Node) *graph.Node

// Result is the outcome of a check: per input, the largest absolute difference between the
// analytical and the numerical gradient, and the largest absolute numerical entry.
type Result struct {
	MaxAbsDiff []float64
	MaxAbsGrad []float64
}

// RelErr returns, per input, MaxAbsDiff / max(MaxAbsGrad, 1e-12).
func (r Result) RelErr() []float64 {
	out := make([]float64, len(r.MaxAbsDiff))
	for i := range out {
		out[i] = r.MaxAbsDiff[i] / math.Max(r.MaxAbsGrad[i], 1e-12)
	}
	return out
}

// Check evaluates fn's gradient with respect to every input through graph.Gradient and
// through central differences with step h, and reports their difference. inputs are
// float64 tensors given as flat data with dimensions.
func Check(backend backends.Backend, fn Func, h float64, inputs ...*tensors.Tensor) (Result, error) {
	n := len(inputs)
	gradExec, err := graph.NewExec(backend, func(xs []*graph.Node) []*graph.Node {
		loss := fn(xs)
		return append([]*graph.Node{loss}, graph.Gradient(loss, xs...)...)
	})
	if err != nil {
		return Result{}, err
	}
	lossExec, err := graph.NewExec(backend, func(xs []*graph.Node) *graph.Node { return fn(xs) })
	if err != nil {
		return Result{}, err
	}
	args := make([]any, n)
	for i, t := range inputs {
		args[i] = t
	}
	outs, err := gradExec.Exec(args...)
	if err != nil {
		return Result{}, fmt.Errorf("gradient graph: %w", err)
	}
	res := Result{MaxAbsDiff: make([]float64, n), MaxAbsGrad: make([]float64, n)}
	flats := make([][]float64, n)
	for i, t := range inputs {
		if flats[i], err = tensors.CopyFlatData[float64](t); err != nil {
			return Result{}, fmt.Errorf("input %d must be float64: %w", i, err)
		}
	}
	eval := func() (float64, error) {
		cur := make([]any, n)
		for i, t := range inputs {
			cur[i] = tensors.FromFlatDataAndDimensions(flats[i], t.Shape().Dimensions...)
		}
		out, err := lossExec.Exec(cur...)
		if err != nil {
			return 0, err
		}
		v, err := tensors.CopyFlatData[float64](out[0])
		if err != nil {
			return 0, err
		}
		return v[0], nil
	}
	for i := range inputs {
		analytic, err := tensors.CopyFlatData[float64](outs[1+i])
		if err != nil {
			return Result{}, err
		}
		for j := range flats[i] {
			orig := flats[i][j]
			flats[i][j] = orig + h
			fp, err := eval()
			if err != nil {
				return Result{}, err
			}
			flats[i][j] = orig - h
			fm, err := eval()
			if err != nil {
				return Result{}, err
			}
			flats[i][j] = orig
			num := (fp - fm) / (2 * h)
			res.MaxAbsDiff[i] = math.Max(res.MaxAbsDiff[i], math.Abs(num-analytic[j]))
			res.MaxAbsGrad[i] = math.Max(res.MaxAbsGrad[i], math.Abs(num))
		}
	}
	return res, nil
}

// Random returns a float64 tensor of the given dimensions with deterministic values in
// [-1, 1) drawn from a simple linear congruential sequence seeded by seed.
func Random(seed uint64, dims ...int) *tensors.Tensor {
	size := 1
	for _, d := range dims {
		size *= d
	}
	data := make([]float64, size)
	state := seed*6364136223846793005 + 1442695040888963407
	for i := range data {
		state = state*6364136223846793005 + 1442695040888963407
		data[i] = float64(state>>11)/float64(1<<53)*2 - 1
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}
