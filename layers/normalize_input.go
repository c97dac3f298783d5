package layers

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// ImageNetMean and ImageNetStd are the per-channel (RGB) input normalisation of the
// official ACL and DynACL models (NormalizeByChannelMeanStd in models/resnet_multi_bn.py,
// stored in their state dicts as normalize.mean and normalize.std). Treat them as
// constants: copy before changing.
var (
	ImageNetMean = []float64{0.485, 0.456, 0.406}
	ImageNetStd  = []float64{0.229, 0.224, 0.225}
)

// Normalized is an Encoder whose Features first normalises its input per channel,
// (x − Mean)/Std, then runs the wrapped encoder: the model-internal normalisation layer of
// the official ACL and DynACL models (NormalizeByChannelMeanStd, models/resnet_multi_bn.py)
// for any architecture. It adds no variables: its variables are exactly those of the
// wrapped encoder, in the wrapped encoder's scope (see EncoderScope).
type Normalized struct {
	Encoder
	Mean, Std []float64
}

// Features implements Encoder.
func (e Normalized) Features(ctx *context.Context, x *graph.Node, branch string) *graph.Node {
	c := x.Shape().Dimensions[x.Rank()-1]
	if len(e.Mean) != c || len(e.Std) != c {
		panic(fmt.Errorf("layers.Normalized: %d mean and %d std values for %d channels", len(e.Mean), len(e.Std), c))
	}
	mean := graph.Reshape(graph.Const(x.Graph(), valuesOfDType(e.Mean, x)), 1, 1, 1, c)
	std := graph.Reshape(graph.Const(x.Graph(), valuesOfDType(e.Std, x)), 1, 1, 1, c)
	return e.Encoder.Features(ctx, graph.Div(graph.Sub(x, mean), std), branch)
}

// String implements Encoder, e.g. "smallcnn(width=8)+norm".
func (e Normalized) String() string { return e.Encoder.String() + "+norm" }

// Unwrap returns the wrapped encoder (whose type names the variable scope).
func (e Normalized) Unwrap() Encoder { return e.Encoder }

// valuesOfDType returns v as float64s or float32s, following like's dtype.
func valuesOfDType(v []float64, like *graph.Node) any {
	if like.DType() == dtypes.Float64 {
		return v
	}
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return f
}

// EncoderScope is the variable scope an encoder creates, e.g. "/resnet18/". Wrappers that
// add no variables of their own (Normalized, or any type with an Unwrap() Encoder method)
// are seen through: their scope is that of the encoder Unwrap returns. Unknown encoder
// types give "/" (the whole context).
func EncoderScope(enc Encoder) string {
	for {
		w, ok := enc.(interface{ Unwrap() Encoder })
		if !ok {
			break
		}
		enc = w.Unwrap()
	}
	switch enc.(type) {
	case ResNet18, *ResNet18:
		return "/" + ResNet18Scope + "/"
	case SmallCNN, *SmallCNN:
		return "/" + SmallCNNScope + "/"
	}
	return "/"
}
