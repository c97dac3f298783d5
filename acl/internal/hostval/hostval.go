// Package hostval copies the values of executed graphs' output tensors to the host as
// float64s, whatever their float dtype: the one place the packages of acl read float32 or
// float64 results back.
package hostval

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Float64s copies a float32 or float64 tensor into float64s.
func Float64s(t *tensors.Tensor) ([]float64, error) {
	if v, err := tensors.CopyFlatData[float64](t); err == nil {
		return v, nil
	}
	v, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out, nil
}

// Each is Float64s of each of an executable's outputs.
func Each(outs []*tensors.Tensor) ([][]float64, error) {
	vals := make([][]float64, len(outs))
	for i, o := range outs {
		var err error
		if vals[i], err = Float64s(o); err != nil {
			return nil, err
		}
	}
	return vals, nil
}

// Scalar returns the first value of a float32 or float64 tensor (a scalar output), NaN
// for other dtypes.
func Scalar(t *tensors.Tensor) float64 {
	switch t.DType() {
	case dtypes.Float32:
		return float64(tensors.MustCopyFlatData[float32](t)[0])
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](t)[0]
	}
	return math.NaN()
}

// Run compiles fn for backend, executes it once on input and returns every output as
// float64s (Each) together with the output tensors, for their shapes. GoMLX's panics
// while building or running the graph come back as errors.
func Run(backend backends.Backend, input *tensors.Tensor, fn func(x *graph.Node) []*graph.Node) (vals [][]float64, outs []*tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			vals, outs, err = nil, nil, fmt.Errorf("%v", r)
		}
	}()
	exec, err := graph.NewExec(backend, fn)
	if err != nil {
		return nil, nil, err
	}
	defer exec.Finalize()
	outs, err = exec.Exec(input)
	if err != nil {
		return nil, nil, err
	}
	vals, err = Each(outs)
	return vals, outs, err
}
