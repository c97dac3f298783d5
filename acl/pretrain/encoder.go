package pretrain

import (
	"slices"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/layers"
)

// Input normalisations a Config.InputNorm can name.
const (
	// InputNormNone feeds the [0,1] images to the encoder as they are (RoCL, AdvCL).
	InputNormNone = ""
	// InputNormImageNet normalises each channel with the ImageNet statistics inside the
	// model, as the official ACL and DynACL models do (layers.ImageNetMean and
	// layers.ImageNetStd in NormalizeByChannelMeanStd, their first layer,
	// models/resnet_multi_bn.py). Attacks still perturb and clip the [0,1] pixels.
	InputNormImageNet = "imagenet"
)

// InputNormalization returns the per-channel mean and std of a named input
// normalisation (nil, nil for InputNormNone); an unknown name is a *field.Error of the
// key "input_norm".
func InputNormalization(name string) (mean, std []float64, err error) {
	switch name {
	case InputNormNone:
		return nil, nil, nil
	case InputNormImageNet:
		return slices.Clone(layers.ImageNetMean), slices.Clone(layers.ImageNetStd), nil
	}
	return nil, nil, field.Errorf("input_norm", "{input_norm} %q: use %q or none (\"\" in a config)", name, InputNormImageNet)
}

// EncoderFor returns the encoder a pretraining configuration trains: cfg.Encoder at
// cfg.Width with cfg.InputNorm's normalisation inside — ResNet18's own InputMean/InputStd
// for resnet18 (the concrete type stays layers.ResNet18), a layers.Normalized around other
// architectures. Everything that rebuilds a run's model builds its encoder here, from the
// run's config.json, because the input normalisation has no variables and so is not in
// the checkpoint: an ACL or DynACL run normalises its [0,1] input inside the model as the
// official models do, while RoCL and AdvCL runs see the pixels as they are (spec §6).
func EncoderFor(cfg *Config) (layers.Encoder, error) {
	enc, err := layers.NewEncoder(cfg.Encoder, cfg.Width)
	if err != nil {
		return nil, field.Errorf("encoder", "{encoder}/{width}: %v", err)
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
	return layers.Normalized{Encoder: enc, Mean: mean, Std: std}, nil
}
