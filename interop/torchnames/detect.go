package torchnames

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// bnListIndex matches the branch index of a MultiBN name.
var bnListIndex = regexp.MustCompile(`\.bn_list\.(\d+)\.`)

// Detect guesses the layout of a PyTorch state dict from its names and shapes: the
// prefix before the model's names (after DataParallel's "module."), the architecture and
// width (from conv1.weight), the scheme (bn_list → MultiBN, shortcut.0 → CIFAR,
// downsample.0 → Torchvision), the number of BN parameter sets (named normal, pgd,
// pgd_ce in the official order), the input normalisation (normalize.mean/std) and a
// classifier (linear or fc). It does not set Ignore: names outside the guessed layout are
// what FromTorch will report. A state dict with several models (DynACL's encoder_q. and
// encoder_k.) is an error naming their prefixes.
func Detect(sd map[string]*tensors.Tensor) (Layout, error) {
	sd = stripModulePrefix(sd, "", &Report{})
	var prefixes []string
	archOf := map[string]string{}
	for name, t := range sd {
		p, ok := strings.CutSuffix(name, "conv1.weight")
		if !ok || t.Rank() != 4 {
			continue
		}
		switch {
		case sd[p+"layer1.0.conv1.weight"] != nil:
			archOf[p] = layers.ResNet18Scope
		case sd[p+"conv4.weight"] != nil:
			archOf[p] = layers.SmallCNNScope
		default:
			continue
		}
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	switch len(prefixes) {
	case 0:
		return Layout{}, fmt.Errorf("torchnames: no ResNet-18 (conv1.weight, layer1.0.conv1.weight) or SmallCNN (conv1.weight … conv4.weight) in the state dict")
	case 1:
	default:
		return Layout{}, fmt.Errorf("torchnames: the state dict holds %d models, with the name prefixes %q: choose one (Layout.TorchPrefix)", len(prefixes), prefixes)
	}
	p := prefixes[0]
	conv1 := sd[p+"conv1.weight"].Shape().Dimensions
	l := Layout{Arch: archOf[p], Width: conv1[0], InChannels: conv1[1], TorchPrefix: p}
	maxIndex := -1
	hasShortcut0, hasDownsample0 := false, false
	for name := range sd {
		if !strings.HasPrefix(name, p) {
			continue
		}
		rest := name[len(p):]
		if m := bnListIndex.FindStringSubmatch(rest); m != nil {
			if i, err := strconv.Atoi(m[1]); err == nil && i < 64 {
				maxIndex = max(maxIndex, i)
			}
		}
		hasShortcut0 = hasShortcut0 || strings.Contains(rest, ".shortcut.0.")
		hasDownsample0 = hasDownsample0 || strings.Contains(rest, ".downsample.0.")
	}
	switch {
	case maxIndex >= 0:
		l.Scheme = MultiBN
		official := []string{layers.BranchNormal, layers.BranchPGD, layers.BranchPGDCE}
		for i := 0; i <= maxIndex; i++ {
			if i < len(official) {
				l.Branches = append(l.Branches, official[i])
			} else {
				l.Branches = append(l.Branches, fmt.Sprintf("bn%d", i))
			}
		}
	case hasDownsample0:
		l.Scheme, l.Branches = Torchvision, []string{""}
	default:
		l.Scheme, l.Branches = CIFAR, []string{""}
		if !hasShortcut0 && sd[p+"fc.weight"] != nil {
			l.Scheme = Torchvision
		}
	}
	if mean, std := sd[p+"normalize.mean"], sd[p+"normalize.std"]; mean != nil && std != nil && mean.DType().IsFloat() && std.DType().IsFloat() {
		if m, err := floats(mean); err == nil {
			if s, err := floats(std); err == nil {
				l.InputMean, l.InputStd = m, s
			}
		}
	}
	if w := sd[p+schemeClassifier(l.Scheme)+".weight"]; w != nil && w.Rank() == 2 && w.Shape().Dimensions[1] == 8*l.Width {
		l.Classes = w.Shape().Dimensions[0]
	}
	return l.withDefaults()
}
