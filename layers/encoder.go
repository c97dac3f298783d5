package layers

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Encoder is a backbone that maps a batch of NHWC images to feature vectors. Methods take
// an Encoder so that the CIFAR ResNet-18 and the small test CNN can be swapped.
type Encoder interface {
	// Features runs one forward pass of x [N,H,W,C] with the BN parameter set branch
	// ("" for a single, unbranched BN) and returns [N, FeatureDim()]. Variables are
	// created in (or reused from) a scope of ctx named after the encoder. Train/eval mode
	// and the BN freeze switch come from ctx and the graph (see the package doc).
	Features(ctx *context.Context, x *graph.Node, branch string) *graph.Node
	// FeatureDim is the size of the feature vector.
	FeatureDim() int
	// String names the encoder and its width, e.g. "resnet18(width=64)".
	String() string
}

// EncoderNames lists the architectures NewEncoder knows.
var EncoderNames = []string{"resnet18", "smallcnn"}

// NewEncoder returns the encoder called name ("resnet18" or "smallcnn") with base width
// width (0 = the architecture's default: 64 for resnet18, 16 for smallcnn) and the
// default kernel initialisation. Set other options on the returned value's concrete type.
func NewEncoder(name string, width int) (Encoder, error) {
	if width < 0 {
		return nil, fmt.Errorf("layers: negative encoder width %d", width)
	}
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "resnet18", "resnet-18", "r18":
		return ResNet18{Width: width}, nil
	case "smallcnn", "cnn":
		return SmallCNN{Width: width}, nil
	}
	return nil, fmt.Errorf("layers: unknown encoder %q (known: %s)", name, strings.Join(EncoderNames, ", "))
}
