package torchnames

import (
	"fmt"
	"strings"

	"github.com/ainfonce/goacl/layers"
)

// Kind says how a tensor converts between goacl and PyTorch.
type Kind int

const (
	// Same: identical layout (BN vectors, biases).
	Same Kind = iota
	// ConvKernel: goacl HWIO [kh,kw,in,out] ↔ PyTorch OIHW [out,in,kh,kw].
	ConvKernel
	// LinearWeight: goacl [in,out] ↔ PyTorch [out,in].
	LinearWeight
	// BatchCount: PyTorch's BN num_batches_tracked, an int64 scalar goacl does not keep.
	BatchCount
	// InputMean: the buffer normalize.mean, the layout's InputMean (goacl keeps the input
	// normalisation in the run configuration, not in variables).
	InputMean
	// InputStd: the buffer normalize.std, the layout's InputStd.
	InputStd
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Same:
		return "same"
	case ConvKernel:
		return "conv_kernel"
	case LinearWeight:
		return "linear_weight"
	case BatchCount:
		return "batch_count"
	case InputMean:
		return "input_mean"
	case InputStd:
		return "input_std"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Entry pairs one PyTorch tensor with its goacl variable.
type Entry struct {
	// Torch is the state-dict name, e.g. "layer2.0.bn1.bn_list.1.running_mean".
	Torch string
	// Var is the goacl variable key, e.g. "/resnet18/stage2/block1/bn1/pgd/running_mean";
	// "" for the kinds without a variable (BatchCount, InputMean, InputStd).
	Var string
	// Shape is the goacl shape, TorchShape PyTorch's.
	Shape, TorchShape []int
	// Kind says how the tensor converts.
	Kind Kind
}

// Entries lists every tensor of the layout in PyTorch's state-dict order.
func (l Layout) Entries() ([]Entry, error) {
	l, err := l.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &entryBuilder{l: l}
	if l.InputMean != nil {
		c := l.InChannels
		b.add(Entry{Torch: "normalize.mean", Shape: []int{c}, TorchShape: []int{c}, Kind: InputMean})
		b.add(Entry{Torch: "normalize.std", Shape: []int{c}, TorchShape: []int{c}, Kind: InputStd})
	}
	switch l.Arch {
	case layers.ResNet18Scope:
		b.resnet18()
	case layers.SmallCNNScope:
		b.smallCNN()
	}
	if l.Classes > 0 {
		name := l.ClassifierName
		d := 8 * l.Width
		scope := "/" + l.ClassifierScope
		b.add(Entry{Torch: name + ".weight", Var: scope + "/weights", Shape: []int{d, l.Classes}, TorchShape: []int{l.Classes, d}, Kind: LinearWeight})
		b.add(Entry{Torch: name + ".bias", Var: scope + "/biases", Shape: []int{l.Classes}, TorchShape: []int{l.Classes}, Kind: Same})
	}
	return b.entries, nil
}

// entryBuilder collects entries, applying the layout's prefixes.
type entryBuilder struct {
	l       Layout
	entries []Entry
}

func (b *entryBuilder) add(e Entry) {
	e.Torch = b.l.TorchPrefix + e.Torch
	if e.Var != "" {
		e.Var = b.l.VarScope + e.Var
	}
	b.entries = append(b.entries, e)
}

// conv adds a bias-free k×k convolution: PyTorch torch.weight [out,in,k,k], goacl
// scope/weights [k,k,in,out].
func (b *entryBuilder) conv(torch, scope string, in, out, k int) {
	b.add(Entry{Torch: torch + ".weight", Var: scope + "/weights", Shape: []int{k, k, in, out}, TorchShape: []int{out, in, k, k}, Kind: ConvKernel})
}

// bn adds a BatchNorm of c channels: PyTorch module torch (with bn_list.<i> per branch in
// MultiBN), goacl scope scope (with /<branch> when the branch is named).
func (b *entryBuilder) bn(torch, scope string, c int) {
	for i, branch := range b.l.Branches {
		t := torch
		if b.l.Scheme == MultiBN {
			t = fmt.Sprintf("%s.bn_list.%d", torch, i)
		}
		v := scope
		if branch != "" {
			v += "/" + branch
		}
		for _, p := range [][2]string{{"weight", "gamma"}, {"bias", "beta"}, {"running_mean", "running_mean"}, {"running_var", "running_var"}} {
			b.add(Entry{Torch: t + "." + p[0], Var: v + "/" + p[1], Shape: []int{c}, TorchShape: []int{c}, Kind: Same})
		}
		b.add(Entry{Torch: t + ".num_batches_tracked", Shape: []int{}, TorchShape: []int{}, Kind: BatchCount})
	}
}

// resnet18 adds layers.ResNet18's tensors: the stem, then stage<s>/block<b> as
// layer<s>.<b−1>, with the shortcut named by the scheme.
func (b *entryBuilder) resnet18() {
	w, root := b.l.Width, "/"+layers.ResNet18Scope
	b.conv("conv1", root+"/stem/conv", b.l.InChannels, w, 3)
	b.bn("bn1", root+"/stem/bn", w)
	in := w
	for s := range 4 {
		c := w << s
		for blk := range 2 {
			torch := fmt.Sprintf("layer%d.%d", s+1, blk)
			scope := fmt.Sprintf("%s/stage%d/block%d", root, s+1, blk+1)
			stride := 1
			if s > 0 && blk == 0 {
				stride = 2
			}
			b.conv(torch+".conv1", scope+"/conv1", in, c, 3)
			b.bn(torch+".bn1", scope+"/bn1", c)
			b.conv(torch+".conv2", scope+"/conv2", c, c, 3)
			b.bn(torch+".bn2", scope+"/bn2", c)
			if stride != 1 || in != c {
				conv, bn := shortcutNames(b.l.Scheme)
				b.conv(torch+"."+conv, scope+"/shortcut/conv", in, c, 1)
				b.bn(torch+"."+bn, scope+"/shortcut/bn", c)
			}
			in = c
		}
	}
}

// shortcutNames returns the PyTorch module names of a block's projection shortcut.
func shortcutNames(s Scheme) (conv, bn string) {
	switch s {
	case CIFAR:
		return "shortcut.0", "shortcut.1"
	case Torchvision:
		return "downsample.0", "downsample.1"
	}
	return "downsample.conv", "downsample.bn"
}

// smallCNN adds layers.SmallCNN's tensors: conv<k> and bn<k>, k = 1…4.
func (b *entryBuilder) smallCNN() {
	root, in := "/"+layers.SmallCNNScope, b.l.InChannels
	for k := range 4 {
		c := b.l.Width << k
		b.conv(fmt.Sprintf("conv%d", k+1), fmt.Sprintf("%s/conv%d", root, k+1), in, c, 3)
		b.bn(fmt.Sprintf("bn%d", k+1), fmt.Sprintf("%s/bn%d", root, k+1), c)
		in = c
	}
}

// modelScopes returns the goacl scopes (with trailing "/") whose variables the layout
// covers: the encoder's and, with a classifier, the classifier's.
func (l Layout) modelScopes() []string {
	scopes := []string{l.VarScope + "/" + l.Arch + "/"}
	if l.Classes > 0 {
		scopes = append(scopes, l.VarScope+"/"+l.ClassifierScope+"/")
	}
	return scopes
}

// inScopes reports whether key lies under one of scopes.
func inScopes(key string, scopes []string) bool {
	for _, s := range scopes {
		if strings.HasPrefix(key, s) {
			return true
		}
	}
	return false
}
