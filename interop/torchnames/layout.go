// Package torchnames maps goacl's model variables to the state-dict names and tensor
// layouts of the official PyTorch models, both ways, strictly.
//
// goacl's layers (package layers) keep their variables in context scopes, e.g.
// /resnet18/stage2/block1/conv1/weights ([kh,kw,Cin,Cout], HWIO, for NHWC images) and
// /resnet18/stage2/block1/bn1/pgd/gamma (the 'pgd' branch of a dual or triple BN). The
// official code of RoCL, AdvCL, ACL and DynACL names the same tensors layer2.0.conv1.weight
// ([Cout,Cin,kh,kw], OIHW) and layer2.0.bn1.bn_list.1.weight, in one of three schemes (see
// Scheme). A Layout says which model, which scheme and which BN branches a state dict
// holds; Layout.Entries lists every tensor pair, ToTorch and FromTorch convert.
//
// Conversions: convolution kernels HWIO [kh,kw,in,out] ↔ OIHW [out,in,kh,kw]; linear
// weights [in,out] ↔ [out,in]; BN γ, β ↔ weight, bias (running statistics keep their
// names). PyTorch's BN also stores num_batches_tracked (int64 scalar), which goacl does
// not keep: ToTorch writes Layout.BatchesTracked (default 0) and FromTorch reads and drops
// it (it only matters for BatchNorm(momentum=None), which no official model uses).
//
// Both directions are strict by name and shape: a tensor the layout expects but the input
// lacks, a tensor of another shape, and an input tensor the layout does not know (and
// does not explicitly ignore) are errors that list all of them at once. Nothing is
// converted partially.
package torchnames

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// Scheme is a family of official state-dict names for the CIFAR ResNet-18. goacl's
// SmallCNN, which has no official counterpart, is named by analogy (conv1…conv4,
// bn1…bn4 and the scheme's BN and classifier names), as in interop/pytorch/goacl_models.py.
type Scheme string

const (
	// CIFAR is the single-BN naming of RoCL's models/resnet.py and of AdvCL's finetuning
	// model models/resnet_cifar.py: conv1, bn1, layer<s>.<b>.{conv1,bn1,conv2,bn2},
	// shortcut.0 (1×1 convolution) and shortcut.1 (its BN); classifier "linear".
	CIFAR Scheme = "cifar"
	// Torchvision is the single-BN naming of ACL's and DynACL's finetuning model
	// models/resnet.py (torchvision's ResNet layout): as CIFAR but downsample.0 and
	// downsample.1 for the shortcut and "fc" for the classifier.
	Torchvision Scheme = "torchvision"
	// MultiBN is the multi-BN naming of AdvCL's pretraining model
	// (models/resnet_cifar_multibn_ensembleFC.py) and of ACL's and DynACL's
	// (models/resnet_multi_bn.py): every BN is a batch_norm_multiple whose parameter
	// sets are bn_list.<i> in the order of the model's bn_names; the shortcut is
	// downsample.conv and downsample.bn; classifier "fc".
	MultiBN Scheme = "multibn"
)

// Schemes lists the known schemes.
var Schemes = []Scheme{CIFAR, Torchvision, MultiBN}

// ParseScheme returns the scheme called name.
func ParseScheme(name string) (Scheme, error) {
	s := Scheme(strings.ToLower(strings.TrimSpace(name)))
	if slices.Contains(Schemes, s) {
		return s, nil
	}
	return "", fmt.Errorf("torchnames: unknown scheme %q (known: cifar, torchvision, multibn)", name)
}

// DefaultClassifierScope is goacl's scope of the linear classifier (finetune.ClassifierScope).
const DefaultClassifierScope = "classifier"

// ImageNetMean and ImageNetStd are the input normalisation of the official ACL and DynACL
// models (NormalizeByChannelMeanStd, stored as the buffers normalize.mean and normalize.std).
var (
	ImageNetMean = layers.ImageNetMean
	ImageNetStd  = layers.ImageNetStd
)

// Layout describes one PyTorch state dict of a goacl model: what Entries lists and
// ToTorch and FromTorch convert.
type Layout struct {
	// Arch is the architecture: "resnet18" or "smallcnn".
	Arch string
	// Width is the base width W (0: the architecture's default, 64 for resnet18 and 16
	// for smallcnn); InChannels the image channels (0: 3).
	Width, InChannels int
	// Scheme is the naming.
	Scheme Scheme
	// Branches are goacl's BN branches the state dict holds, in its order. A single-BN
	// scheme (CIFAR, Torchvision) holds exactly one: the branch whose parameters its BNs
	// carry ("" for an unbranched model such as RoCL's, "pgd" for the branch the
	// evaluation protocol of AdvCL, ACL and DynACL reads). MultiBN holds bn_list.<i> =
	// Branches[i]: AdvCL's bn_names are normal, pgd, pgd_ce; ACL's and DynACL's normal, pgd.
	Branches []string
	// InputMean and InputStd, when set, are the per-channel input normalisation the state
	// dict records as normalize.mean and normalize.std (ACL and DynACL: ImageNetMean and
	// ImageNetStd). goacl keeps them in the run configuration, not in variables.
	InputMean, InputStd []float64
	// Classes > 0 adds the linear classifier on the encoder features: goacl's
	// /<ClassifierScope>/{weights,biases}, PyTorch's linear.* (CIFAR) or fc.* (others).
	Classes int
	// ClassifierScope is goacl's classifier scope; "" means DefaultClassifierScope.
	ClassifierScope string
	// ClassifierName is the PyTorch module name of the classifier; "" means the scheme's
	// ("linear" for CIFAR, "fc" otherwise). AdvCL's finetuning checkpoints keep their
	// LinearClassifier in a dict of its own ({"model": …, "classifier": {"fc.weight", …}}):
	// a caller that merges it into the model's state dict under "classifier." names it
	// "classifier.fc".
	ClassifierName string
	// TorchPrefix is prepended to every PyTorch name (e.g. "encoder_k." for DynACL's key
	// encoder inside its resnet18_momentum); VarScope to every goacl variable key (e.g.
	// "/online" for DynACL's online encoder). Both default to nothing.
	TorchPrefix, VarScope string
	// Ignore lists prefixes of PyTorch names FromTorch accepts and drops, reported in
	// Report.Ignored: parts of official checkpoints the layout does not map, such as
	// projection heads (see Official).
	Ignore []string
	// BatchesTracked is the value ToTorch writes to every num_batches_tracked. goacl does
	// not count BN updates; the default 0 says so. PyTorch reads it only when a
	// BatchNorm has momentum=None.
	BatchesTracked int64
	// DType is the dtype of the goacl variables FromTorch returns; the zero value means
	// Float32. (ToTorch keeps each variable's own dtype.)
	DType dtypes.DType
}

// withDefaults returns l with its zero fields resolved, or an error for an invalid layout.
func (l Layout) withDefaults() (Layout, error) {
	arch := strings.ToLower(strings.TrimSpace(l.Arch))
	switch arch {
	case "resnet18", "resnet-18", "r18":
		l.Arch = layers.ResNet18Scope
		if l.Width == 0 {
			l.Width = layers.DefaultResNetWidth
		}
	case "smallcnn", "cnn":
		l.Arch = layers.SmallCNNScope
		if l.Width == 0 {
			l.Width = layers.DefaultSmallCNNWidth
		}
	default:
		return l, fmt.Errorf("torchnames: unknown architecture %q (known: %s)", l.Arch, strings.Join(layers.EncoderNames, ", "))
	}
	if l.Width < 0 || l.InChannels < 0 || l.Classes < 0 {
		return l, fmt.Errorf("torchnames: negative width %d, input channels %d or classes %d", l.Width, l.InChannels, l.Classes)
	}
	if l.InChannels == 0 {
		l.InChannels = 3
	}
	if !slices.Contains(Schemes, l.Scheme) {
		return l, fmt.Errorf("torchnames: unknown scheme %q (known: cifar, torchvision, multibn)", l.Scheme)
	}
	if len(l.Branches) == 0 {
		return l, fmt.Errorf("torchnames: the layout names no BN branch (want one for %s, one or more for %s; \"\" is the unbranched BN)", CIFAR, MultiBN)
	}
	if l.Scheme != MultiBN && len(l.Branches) != 1 {
		return l, fmt.Errorf("torchnames: scheme %s holds one BN per layer, the layout names %d branches %q (export one branch, or use %s)",
			l.Scheme, len(l.Branches), l.Branches, MultiBN)
	}
	for i, b := range l.Branches {
		if strings.Contains(b, "/") || (b == "" && l.Scheme == MultiBN) {
			return l, fmt.Errorf("torchnames: invalid BN branch name %q for scheme %s", b, l.Scheme)
		}
		if slices.Index(l.Branches, b) != i {
			return l, fmt.Errorf("torchnames: BN branch %q is listed twice", b)
		}
	}
	if (l.InputMean == nil) != (l.InputStd == nil) || (l.InputMean != nil && (len(l.InputMean) != l.InChannels || len(l.InputStd) != l.InChannels)) {
		return l, fmt.Errorf("torchnames: input normalisation with %d means and %d stds for %d channels", len(l.InputMean), len(l.InputStd), l.InChannels)
	}
	if l.ClassifierScope == "" {
		l.ClassifierScope = DefaultClassifierScope
	}
	if l.ClassifierName == "" {
		l.ClassifierName = schemeClassifier(l.Scheme)
	}
	if strings.HasPrefix(l.ClassifierName, ".") || strings.HasSuffix(l.ClassifierName, ".") {
		return l, fmt.Errorf("torchnames: classifier name %q: give the module name without a leading or trailing dot", l.ClassifierName)
	}
	l.VarScope = strings.TrimSuffix(l.VarScope, "/")
	if l.VarScope != "" && !strings.HasPrefix(l.VarScope, "/") {
		l.VarScope = "/" + l.VarScope
	}
	if l.DType == dtypes.InvalidDType {
		l.DType = dtypes.Float32
	}
	if l.DType != dtypes.Float32 && l.DType != dtypes.Float64 {
		return l, fmt.Errorf("torchnames: goacl variables are Float32 or Float64, not %s", l.DType)
	}
	return l, nil
}

// schemeClassifier is the classifier's module name in the scheme's official models.
func schemeClassifier(s Scheme) string {
	if s == CIFAR {
		return "linear"
	}
	return "fc"
}

// String describes the layout, e.g. "resnet18(width=16) multibn [normal pgd pgd_ce]".
func (l Layout) String() string {
	s := fmt.Sprintf("%s(width=%d) %s %q", l.Arch, l.Width, l.Scheme, l.Branches)
	if l.InputMean != nil {
		s += " +normalize"
	}
	if l.Classes > 0 {
		s += fmt.Sprintf(" +classifier(%d)", l.Classes)
	}
	return s
}

// Official returns the layout of an official pretraining checkpoint of method ("rocl",
// "advcl", "acl", "dynacl") for goacl's arch at width (0: default):
//
//   - rocl: CIFAR naming, one unbranched BN (RoCL saves its projector in a separate file);
//   - advcl: MultiBN with bn_names normal, pgd, pgd_ce; the projection and pseudo-label
//     heads (head_proj, head_pred, head_ce, fc_002 … fc_500) are ignored;
//   - acl, dynacl: MultiBN with bn_names normal, pgd, the ImageNet input normalisation,
//     and the projection head (model.fc = proj_head) ignored. A DynACL checkpoint of its
//     resnet18_momentum holds two encoders: set TorchPrefix to "encoder_k." (the key
//     encoder, which the official evaluation reads) or "encoder_q.";
//   - supervised (the PGD-AT baseline; its reference code, MadryLab's cifar10_challenge,
//     is TensorFlow, so there is no official PyTorch checkpoint): RoCL's CIFAR naming with
//     one unbranched BN, the encoder it trains; its training head (fc.) is not part of it.
func Official(method, arch string, width int) (Layout, error) {
	l := Layout{Arch: arch, Width: width}
	switch strings.ToLower(method) {
	case "rocl":
		l.Scheme, l.Branches = CIFAR, []string{""}
	case "supervised":
		l.Scheme, l.Branches = CIFAR, []string{""}
		l.Ignore = []string{"fc."}
	case "advcl":
		l.Scheme = MultiBN
		l.Branches = []string{layers.BranchNormal, layers.BranchPGD, layers.BranchPGDCE}
		l.Ignore = []string{"head_proj.", "head_pred.", "head_ce.", "fc_002.", "fc_010.", "fc_050.", "fc_100.", "fc_500."}
	case "acl", "dynacl":
		l.Scheme = MultiBN
		l.Branches = []string{layers.BranchNormal, layers.BranchPGD}
		l.InputMean, l.InputStd = ImageNetMean, ImageNetStd
		l.Ignore = []string{"fc."}
	default:
		return l, fmt.Errorf("torchnames: no official layout for method %q (known: rocl, advcl, acl, dynacl, supervised)", method)
	}
	return l.withDefaults()
}

// Finetuning returns the single-BN layout of method's official finetuning model for
// goacl's arch at width (0: default), holding BN branch branch and, with classes > 0, the
// linear classifier: the model a finetuned checkpoint of the official code holds, and the
// naming goacl exports a method's encoder in, so that the method's own evaluation code
// loads it.
//
//   - rocl, advcl: CIFAR naming (RoCL's models/resnet.py, AdvCL's models/resnet_cifar.py,
//     whose projection heads head_proj and head_pred are ignored on import);
//   - acl, dynacl: Torchvision naming with the ImageNet input normalisation (ACL's and
//     DynACL's models/resnet.py).
//
// branch is the goacl BN branch the single BN's parameters belong to: "" for RoCL's
// unbranched model, "pgd" for the multi-BN methods, whose finetuning reads the adversarial
// BN (the protocol's branch).
func Finetuning(method, arch string, width int, branch string, classes int) (Layout, error) {
	l := Layout{Arch: arch, Width: width, Branches: []string{branch}, Classes: classes}
	switch strings.ToLower(method) {
	case "rocl":
		l.Scheme = CIFAR
	case "advcl":
		l.Scheme = CIFAR
		l.Ignore = []string{"head_proj.", "head_pred."}
	case "acl", "dynacl":
		l.Scheme = Torchvision
		l.InputMean, l.InputStd = ImageNetMean, ImageNetStd
	default:
		return l, fmt.Errorf("torchnames: no official finetuning layout for method %q (known: rocl, advcl, acl, dynacl, supervised)", method)
	}
	return l.withDefaults()
}
