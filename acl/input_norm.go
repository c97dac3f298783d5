package acl

import (
	"fmt"

	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Input normalisations a PretrainConfig.InputNorm can name.
const (
	// InputNormNone feeds the [0,1] images to the encoder as they are (RoCL, AdvCL).
	InputNormNone = ""
	// InputNormImageNet normalises each channel with the ImageNet statistics inside the
	// model, as the official ACL and DynACL models do (NormalizeByChannelMeanStd with mean
	// (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) as their first layer,
	// models/resnet_multi_bn.py). Attacks still perturb and clip the [0,1] pixels.
	InputNormImageNet = "imagenet"
)

// InputNormalization returns the per-channel mean and std of a named input
// normalisation (nil, nil for InputNormNone).
func InputNormalization(name string) (mean, std []float64, err error) {
	switch name {
	case InputNormNone:
		return nil, nil, nil
	case InputNormImageNet:
		return []float64{0.485, 0.456, 0.406}, []float64{0.229, 0.224, 0.225}, nil
	}
	return nil, nil, fmt.Errorf("-input-norm %q: use %q or none (\"\" in a config)", name, InputNormImageNet)
}

// NormalizedEncoder is an Encoder whose Features first normalises its input per channel,
// (x − Mean)/Std: the model-internal normalisation layer of ACL and DynACL, for any
// encoder architecture. Its variables are exactly those of the wrapped encoder.
type NormalizedEncoder struct {
	layers.Encoder
	Mean, Std []float64
}

// Features implements layers.Encoder.
func (e NormalizedEncoder) Features(ctx *context.Context, x *graph.Node, branch string) *graph.Node {
	c := x.Shape().Dimensions[x.Rank()-1]
	if len(e.Mean) != c || len(e.Std) != c {
		panic(fmt.Errorf("acl.NormalizedEncoder: %d mean and %d std values for %d channels", len(e.Mean), len(e.Std), c))
	}
	mean := graph.Reshape(graph.Const(x.Graph(), toDType(e.Mean, x)), 1, 1, 1, c)
	std := graph.Reshape(graph.Const(x.Graph(), toDType(e.Std, x)), 1, 1, 1, c)
	return e.Encoder.Features(ctx, graph.Div(graph.Sub(x, mean), std), branch)
}

// String implements layers.Encoder, e.g. "smallcnn(width=8)+norm".
func (e NormalizedEncoder) String() string { return e.Encoder.String() + "+norm" }

// Unwrap returns the wrapped encoder (whose type names the variable scope).
func (e NormalizedEncoder) Unwrap() layers.Encoder { return e.Encoder }

func toDType(v []float64, like *graph.Node) any {
	if like.DType() == dtypes.Float64 {
		return v
	}
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return f
}

// EncoderFor returns the encoder a pretraining configuration trains: cfg.Encoder at
// cfg.Width with cfg.InputNorm's normalisation inside — ResNet18's own InputMean/InputStd
// for resnet18 (the concrete type stays layers.ResNet18), a NormalizedEncoder around
// other architectures. Code that evaluates a run's encoder must build it the same way,
// through RunEncoder (the normalisation has no variables, so a checkpoint does not record
// it; config.json does): LoadEncoder, PretrainedClassifier, LoadFinetuned and
// LoadRunModel do.
func EncoderFor(cfg *PretrainConfig) (layers.Encoder, error) {
	enc, err := layers.NewEncoder(cfg.Encoder, cfg.Width)
	if err != nil {
		return nil, fmt.Errorf("-encoder/-width: %w", err)
	}
	mean, std, err := InputNormalization(cfg.InputNorm)
	if err != nil {
		return nil, err
	}
	if mean == nil {
		return enc, nil
	}
	if r, ok := enc.(layers.ResNet18); ok {
		r.InputMean, r.InputStd = mean, std
		return r, nil
	}
	return NormalizedEncoder{Encoder: enc, Mean: mean, Std: std}, nil
}
