package layers

import (
	"fmt"
	"strings"
)

// EncoderSize returns, for the encoder called name (as NewEncoder) at base width width
// (≥ 1) on h×w×3 images, its trainable parameters (one BN branch) and the elements of the
// intermediate tensors one forward pass of one image produces (convolution, BN and ReLU
// outputs, residual sums): what a training step keeps for the backward pass. Both are
// float64 so that absurd widths give absurd numbers rather than overflow; memory
// estimates are made from them before anything is built.
func EncoderSize(name string, width, h, w int) (params, activations float64, err error) {
	if width < 1 || h < 1 || w < 1 {
		return 0, 0, fmt.Errorf("layers: encoder size of width %d on %dx%d images", width, h, w)
	}
	wf := float64(width)
	conv := func(k, in, out float64) float64 { return k * k * in * out }
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "resnet18", "resnet-18", "r18":
		hw := float64(h * w)
		params = conv(3, 3, wf) + 2*wf
		activations = 3 * hw * wf // stem: conv, BN, ReLU
		in := wf
		for s, stride := range []float64{1, 2, 2, 2} {
			c := wf * float64(int(1)<<s)
			hw /= stride * stride
			params += conv(3, in, c) + 3*conv(3, c, c) + 2*4*c
			activations += 2 * 7 * hw * c // two blocks: conv, BN, ReLU, conv, BN, sum, ReLU
			if s > 0 {
				params += conv(1, in, c) + 2*c
				activations += 2 * hw * c // the shortcut's conv and BN
			}
			in = c
		}
	case "smallcnn", "cnn":
		hw := float64(h * w)
		in := 3.0
		for i, stride := range []float64{1, 2, 2, 2} {
			c := wf * float64(int(1)<<i)
			hw /= stride * stride
			params += conv(3, in, c) + 2*c
			activations += 3 * hw * c
			in = c
		}
	default:
		return 0, 0, fmt.Errorf("layers: unknown encoder %q (known: %s)", name, strings.Join(EncoderNames, ", "))
	}
	return params, activations, nil
}

// StepMemory is a lower bound, in bytes, of the memory a float32 training step of the
// encoder called name needs with rows images of h×w through it: the weights, their
// gradients and one optimizer buffer (3 × params), and one forward pass's intermediate
// tensors per row, kept for the backward pass. The real step needs more (projection
// heads, attack, temporaries): a step whose lower bound does not fit cannot run.
func StepMemory(name string, width, h, w int, rows float64) (bytes float64, err error) {
	params, acts, err := EncoderSize(name, width, h, w)
	if err != nil {
		return 0, err
	}
	return 4 * (3*params + rows*acts), nil
}
