package datasets

import (
	"fmt"
	"math/rand/v2"
)

// FromSource is the View.Input of a view computed from the data set image itself.
const FromSource = -1

// View is one named input stream of a training step: a transform applied either to the
// data set image (Input = FromSource) or to the output of an earlier view of the same
// sample (Input = that view's position), e.g. AdvCL's high-frequency view of the weak
// view.
type View struct {
	// Name labels the view in batches and benchmarks, e.g. "x1".
	Name string
	// Input is FromSource or the index of an earlier view in the same list.
	Input int
	// Transform computes the view from its input.
	Transform Transform
}

// validateViews checks that every view has a transform and reads an earlier view.
func validateViews(views []View) error {
	if len(views) == 0 {
		return fmt.Errorf("views: need at least one view")
	}
	for i, v := range views {
		if v.Transform == nil {
			return fmt.Errorf("views: view %d (%q) has no transform", i, v.Name)
		}
		if v.Input != FromSource && (v.Input < 0 || v.Input >= i) {
			return fmt.Errorf("views: view %d (%q) reads view %d; want %d (source) or an earlier view", i, v.Name, v.Input, FromSource)
		}
	}
	return nil
}

// Standard augmentation constants of the reference pipelines.
const (
	jitterProb = 0.8
	grayProb   = 0.2
	cifarSize  = 32
)

// RoCLTransform is the RoCL (and Asym-RoCL) training view: RandomApply(ColorJitter(0.4,
// 0.4, 0.4, 0.1), p=0.8) → RandomGrayscale(0.2) → RandomHorizontalFlip(0.5) →
// RandomResizedCrop(32, scale (0.08,1), bilinear). Colour jitter comes before the crop.
func RoCLTransform() Transform {
	return Compose(
		RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1), jitterProb),
		RandomGrayscale(grayProb),
		RandomHorizontalFlip(0.5),
		RandomResizedCrop(cifarSize, [2]float64{0.08, 1}, DefaultCropRatio, Bilinear),
	)
}

// AdvCLStrongTransform is AdvCL's contrastive view: RandomResizedCrop(32, scale (0.2,1),
// bilinear) → RandomHorizontalFlip(0.5) → RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1),
// p=0.8) → RandomGrayscale(0.2).
func AdvCLStrongTransform() Transform {
	return Compose(
		RandomResizedCrop(cifarSize, [2]float64{0.2, 1}, DefaultCropRatio, Bilinear),
		RandomHorizontalFlip(0.5),
		RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1), jitterProb),
		RandomGrayscale(grayProb),
	)
}

// AdvCLWeakTransform is AdvCL's weak view x^o, the input of the PGD attack:
// RandomCrop(32, padding 4) → RandomHorizontalFlip(0.5).
func AdvCLWeakTransform() Transform {
	return Compose(RandomCrop(cifarSize, 4), RandomHorizontalFlip(0.5))
}

// ACLTransform is the ACL (Jiang et al. 2020) view: RandomResizedCrop(32, scale (0.1,1),
// bicubic) → RandomHorizontalFlip(0.5) → RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1),
// p=0.8) → RandomGrayscale(0.2).
func ACLTransform() Transform {
	return Compose(
		RandomResizedCrop(cifarSize, [2]float64{0.1, 1}, DefaultCropRatio, Bicubic),
		RandomHorizontalFlip(0.5),
		RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1), jitterProb),
		RandomGrayscale(grayProb),
	)
}

// DynACLTransform is the DynACL view at augmentation strength s in [0,1]
// (PKU-ML/DYNACL train_DynACL.py reload): RandomResizedCrop(32, scale (1−0.9s, 1),
// bilinear) → RandomHorizontalFlip(0.5) → RandomApply(ColorJitter(0.4s, 0.4s, 0.4s,
// 0.1s), p=0.8s) → RandomGrayscale(0.2s). At s=1 it is ACL's view with bilinear
// interpolation; DynACL anneals s = 1 − (epoch−1)/epochs, reloaded every 50 epochs.
func DynACLTransform(s float64) Transform {
	s = min(max(s, 0), 1)
	return Compose(
		RandomResizedCrop(cifarSize, [2]float64{1 - 0.9*s, 1}, DefaultCropRatio, Bilinear),
		RandomHorizontalFlip(0.5),
		RandomApply(ColorJitter(0.4*s, 0.4*s, 0.4*s, 0.1*s), jitterProb*s),
		RandomGrayscale(grayProb*s),
	)
}

// FinetuneTransform is the supervised fine-tuning / linear-evaluation training view:
// RandomCrop(32, padding 4) → RandomHorizontalFlip(0.5).
func FinetuneTransform() Transform { return AdvCLWeakTransform() }

// HighFrequencyTransform applies AdvCL's high-pass filter (radius 8, see
// HighPassFilter) to its input; it draws no randomness. 32×32 inputs use AdvCLHighPass;
// other sizes use a cached filter of their own size. Its output is not clamped.
func HighFrequencyTransform() Transform {
	return func(img Image, _ *rand.Rand) Image {
		f, err := highPassFor(img.H, img.W)
		if err != nil {
			return img // empty image: nothing to filter
		}
		out, err := f.Apply(img)
		if err != nil {
			return img // malformed image (len(Pix) != H*W*C): left as is
		}
		return out
	}
}

// RoCLViews are the three inputs of a RoCL step: the clean image ("ori", ToTensor only)
// and two independent RoCLTransform views ("x1", "x2").
func RoCLViews() []View {
	return []View{
		{Name: "ori", Input: FromSource, Transform: Identity()},
		{Name: "x1", Input: FromSource, Transform: RoCLTransform()},
		{Name: "x2", Input: FromSource, Transform: RoCLTransform()},
	}
}

// AdvCLViews are the four inputs of an AdvCL step: two AdvCLStrongTransform views ("x1",
// "x2"), the weak view ("xo", attacked by PGD) and the high-frequency component of that
// same weak view ("hfc").
func AdvCLViews() []View {
	return []View{
		{Name: "x1", Input: FromSource, Transform: AdvCLStrongTransform()},
		{Name: "x2", Input: FromSource, Transform: AdvCLStrongTransform()},
		{Name: "xo", Input: FromSource, Transform: AdvCLWeakTransform()},
		{Name: "hfc", Input: 2, Transform: HighFrequencyTransform()},
	}
}

// ACLViews are the two ACLTransform views of an ACL step.
func ACLViews() []View {
	return []View{
		{Name: "x1", Input: FromSource, Transform: ACLTransform()},
		{Name: "x2", Input: FromSource, Transform: ACLTransform()},
	}
}

// DynACLViews are the two DynACLTransform(s) views of a DynACL step.
func DynACLViews(s float64) []View {
	return []View{
		{Name: "x1", Input: FromSource, Transform: DynACLTransform(s)},
		{Name: "x2", Input: FromSource, Transform: DynACLTransform(s)},
	}
}

// FinetuneViews is the single FinetuneTransform view of supervised fine-tuning.
func FinetuneViews() []View {
	return []View{{Name: "x", Input: FromSource, Transform: FinetuneTransform()}}
}

// EvalViews is the single un-augmented view (ToTensor only) used for evaluation.
func EvalViews() []View {
	return []View{{Name: "x", Input: FromSource, Transform: Identity()}}
}
