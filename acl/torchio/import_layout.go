package torchio

import (
	"fmt"
	"strings"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/interop/torchnames"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// importLayout is the layout the file is read in: the one a goacl export recorded, or the
// method's finetuning layout (Finetuned) or official pretraining layout, at the file's
// width, with DynACL's key encoder chosen.
func importLayout(in *importInput, cfg *pretrain.Config, opts ImportOptions) (torchnames.Layout, error) {
	if s := in.sidecar; s != nil {
		l, err := s.Layout()
		if err != nil {
			return l, err
		}
		if method, _ := s.Provenance["method"].(string); method != "" && method != opts.Method {
			return l, fmt.Errorf("the file is a goacl export of a %s run, not %s", method, opts.Method)
		}
		if !sameArch(l.Arch, opts.Arch) {
			return l, fmt.Errorf("the file holds a %s, not a %s", l.Arch, opts.Arch)
		}
		if (l.Classes > 0) != (opts.Finetuned != "") {
			return l, fmt.Errorf("the file holds %s: import a classifier as a finetuning, an encoder without one", describeClasses(l.Classes))
		}
		return l, nil
	}
	prefix := opts.TorchPrefix
	if prefix == "" && opts.Method == "dynacl" && hasNamePrefix(in.sd, dynaclKeyEncoder) {
		prefix = dynaclKeyEncoder
	}
	width := opts.Width
	if width == 0 {
		w, err := fileWidth(in.sd, prefix)
		if err != nil {
			return torchnames.Layout{}, err
		}
		width = w
	}
	var l torchnames.Layout
	var err error
	if opts.Finetuned != "" {
		m, err := pretrain.MethodByName(opts.Method)
		if err != nil {
			return l, err
		}
		head := torchnames.Layout{Scheme: torchnames.CIFAR}
		if opts.Method == "acl" || opts.Method == "dynacl" {
			head.Scheme = torchnames.Torchvision
		}
		if in.classifier {
			head.ClassifierName = classifierKey + ".fc"
		}
		classes, err := fileClasses(in.sd, prefix, head)
		if err != nil {
			return l, err
		}
		if want := map[string]int{datasets.CIFAR10: 10, datasets.CIFAR100: 100}[cfg.Dataset]; want > 0 && classes != want {
			return l, fmt.Errorf("the classifier has %d classes, %s has %d", classes, cfg.Dataset, want)
		}
		if l, err = torchnames.Finetuning(opts.Method, opts.Arch, width, m.Evaluation(cfg).Branch, classes); err != nil {
			return l, err
		}
		if in.classifier {
			// The model's own linear head is AdvCL's unused one; the trained head is the
			// separate classifier.
			l.ClassifierName = head.ClassifierName
			l.Ignore = append(l.Ignore, "linear.")
		}
		l.ClassifierScope = finetune.ClassifierScope
	} else if l, err = torchnames.Official(opts.Method, opts.Arch, width); err != nil {
		return l, err
	}
	if prefix != "" {
		ignore := []string{}
		for _, p := range l.Ignore {
			ignore = append(ignore, prefix+p)
		}
		// DynACL's other encoder is dropped on purpose.
		if other, ok := map[string]string{dynaclKeyEncoder: dynaclQueryEncoder, dynaclQueryEncoder: dynaclKeyEncoder}[prefix]; ok && opts.Method == "dynacl" {
			ignore = append(ignore, other)
		}
		l.TorchPrefix, l.Ignore = prefix, ignore
	}
	return l, nil
}

// DynACL's resnet18_momentum names its two encoders encoder_q (trained) and encoder_k
// (the momentum copy, which the official evaluation reads).
const (
	dynaclKeyEncoder   = "encoder_k."
	dynaclQueryEncoder = "encoder_q."
)

// hasNamePrefix reports whether a name of sd starts with prefix, after DataParallel's
// "module.".
func hasNamePrefix(sd map[string]*tensors.Tensor, prefix string) bool {
	for name := range sd {
		if strings.HasPrefix(strings.TrimPrefix(name, "module."), prefix) {
			return true
		}
	}
	return false
}

// lookup returns sd's tensor name, with or without DataParallel's "module." prefix.
func lookup(sd map[string]*tensors.Tensor, name string) *tensors.Tensor {
	if t, ok := sd[name]; ok {
		return t
	}
	return sd["module."+name]
}

// fileWidth reads the base width from the first convolution (prefix+"conv1.weight").
func fileWidth(sd map[string]*tensors.Tensor, prefix string) (int, error) {
	t := lookup(sd, prefix+"conv1.weight")
	if t == nil || t.Rank() != 4 {
		return 0, fmt.Errorf("no first convolution %sconv1.weight [width, 3, 3, 3] to read the width from (give the width)", prefix)
	}
	return t.Shape().Dimensions[0], nil
}

// fileClasses reads the number of classes from the classifier weight of head's naming.
func fileClasses(sd map[string]*tensors.Tensor, prefix string, head torchnames.Layout) (int, error) {
	name := head.ClassifierName
	if name == "" {
		name = "fc"
		if head.Scheme == torchnames.CIFAR {
			name = "linear"
		}
	}
	t := lookup(sd, prefix+name+".weight")
	if t == nil || t.Rank() != 2 {
		return 0, fmt.Errorf("no classifier %s%s.weight [classes, features] in the file: is it a finetuned model?", prefix, name)
	}
	return t.Shape().Dimensions[0], nil
}

// sameArch reports whether two architecture names (any of layers.NewEncoder's spellings)
// name the same encoder.
func sameArch(a, b string) bool {
	x, errA := layers.NewEncoder(a, 1)
	y, errB := layers.NewEncoder(b, 1)
	return errA == nil && errB == nil && layers.EncoderScope(x) == layers.EncoderScope(y)
}

func describeClasses(n int) string {
	if n == 0 {
		return "an encoder without a classifier"
	}
	return fmt.Sprintf("a classifier of %d classes", n)
}
