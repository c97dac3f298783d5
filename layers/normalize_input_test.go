package layers

import "testing"

// EncoderScope sees through wrappers: a Normalized encoder's variables live in the scope
// of the encoder it wraps.
func TestEncoderScopeUnwraps(t *testing.T) {
	for _, enc := range []Encoder{SmallCNN{Width: 2}, Normalized{Encoder: SmallCNN{Width: 2}}} {
		if got := EncoderScope(enc); got != "/"+SmallCNNScope+"/" {
			t.Errorf("EncoderScope(%s) = %q", enc, got)
		}
	}
	if got := EncoderScope(Normalized{Encoder: ResNet18{Width: 2}}); got != "/"+ResNet18Scope+"/" {
		t.Errorf("EncoderScope(resnet18+norm) = %q", got)
	}
}
