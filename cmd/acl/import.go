package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/torchio"
	"github.com/ainfonce/goacl/interop/torchpickle"
)

func init() {
	register("import", "make a run directory from an official PyTorch checkpoint (.pt or .safetensors), strictly", runImport)
}

const importUsage = `usage: acl import -from FILE.pt|FILE.safetensors -arch resnet18|smallcnn -method rocl|advcl|acl|dynacl -out DIR [flags]

Makes the run directory DIR from a PyTorch checkpoint in the official layout of the
method: torch.save's zip or legacy format (read without executing pickled code: only the
tensor-rebuilding subset of pickle that state dicts use is accepted) or safetensors, the
state dict possibly nested under state_dict/model/net and prefixed with module.; AdvCL's,
ACL's and DynACL's multi-BN names (bn_list.<i>) become goacl's BN branches, DynACL's key
encoder (encoder_k.) is read. Strict by name and shape: missing, unexpected or misshapen
tensors are an error that lists them; heads the official layout does not map are
ignored and recorded. provenance.json records the file and its sha256. Then acl finetune
-run DIR (a pretrained encoder) or acl eval -run DIR (with -finetune: a finetuned
classifier) evaluate it. An imported run cannot be resumed or trained further.

flags:
`

// importFlags maps configuration keys to `acl import` flags.
var importFlags = map[string]string{"method": "-method", "variant": "-variant", "preset": "-dataset", "mode": "-finetune"}

func runImport(args []string) int {
	fs := flag.NewFlagSet("acl import", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), importUsage); fs.PrintDefaults() }
	from := fs.String("from", "", "PyTorch checkpoint to read: .pt/.pth/.ckpt (torch.save) or .safetensors (required)")
	arch := fs.String("arch", "resnet18", "architecture: resnet18 | smallcnn")
	method := fs.String("method", "", "method whose official layout the file has: "+strings.Join(pretrain.MethodNames(), " | ")+" (required)")
	out := fs.String("out", "", "run directory to create (required; must not hold files)")
	width := fs.Int("width", 0, "base width (0: read from the file's conv1.weight)")
	variant := fs.String("variant", "base", "A-InfoNCE variant the weights were trained with (sets the finetuning learning rate)")
	dataset := fs.String("dataset", "cifar10", "data set the run is finetuned and evaluated on: cifar10 | cifar100")
	data := fs.String("data", "../shared/datasets/cifar-10", "folder with the data set's official binary files")
	mode := fs.String("finetune", "", "the file is a finetuned classifier (encoder + linear head) of this mode: slf | alf | aff")
	protocol := fs.String("protocol", "", "finetuning protocol recorded with -finetune: "+strings.Join(finetune.Protocols, " | ")+" (default: the method's own)")
	key := fs.String("key", "", "key of the state dict inside the checkpoint (default: the root, else state_dict, model or net)")
	prefix := fs.String("prefix", "", "name prefix of the model to read when the file holds several (default: encoder_k. for DynACL)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from == "" || *method == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "acl import: -from, -method and -out are required (e.g. acl import -from epoch_400.ckpt -method advcl -arch resnet18 -out runs/advcl-official)")
		return 2
	}
	if _, err := pretrain.MethodByName(*method); err != nil {
		fmt.Fprintln(os.Stderr, "acl import:", phrase(err, importFlags))
		return 2
	}
	opts := torchio.ImportOptions{From: *from, Method: *method, Arch: *arch, Width: *width, Variant: *variant, Dataset: *dataset,
		DataDir: *data, Protocol: *protocol, Key: *key, TorchPrefix: *prefix}
	if *mode != "" {
		m, err := finetune.ParseMode(*mode)
		if err != nil {
			fmt.Fprintln(os.Stderr, "acl import:", phrase(err, importFlags))
			return 2
		}
		opts.Finetuned = m
	}
	res, err := torchio.Import(*out, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl import:", phrase(err, importFlags))
		if errors.Is(err, torchpickle.ErrRejected) {
			fmt.Fprintln(os.Stderr, "(the file holds pickled objects other than a state dict; re-save the state dict alone, torch.save(ckpt[\"state_dict\"], f), or convert it to safetensors)")
		}
		return 1
	}
	r := res.Record
	fmt.Printf("imported %s (%s, sha256 %s) as %s: %d tensors", r.Source, r.Format, r.SHA256, r.Layout, r.Mapped)
	if r.StateDictKey != "" {
		fmt.Printf(", state dict under %q", r.StateDictKey)
	}
	if r.TorchPrefix != "" || r.StrippedPrefix != "" {
		fmt.Printf(", prefix %q", r.StrippedPrefix+r.TorchPrefix)
	}
	fmt.Println()
	if len(r.Ignored) > 0 {
		fmt.Printf("ignored %d tensors the layout does not map: %s\n", len(r.Ignored), abbreviate(r.Ignored, 8))
	}
	if opts.Finetuned != "" {
		fmt.Printf("wrote %s (a %s finetuning); evaluate it with: acl eval -run %s -mode %s\n", *out, opts.Finetuned, *out, opts.Finetuned)
	} else {
		fmt.Printf("wrote %s; finetune it with: acl finetune -run %s -mode slf|alf|aff\n", *out, *out)
	}
	return 0
}

// abbreviate lists at most n names, then how many more there are.
func abbreviate(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, … %d more", strings.Join(names[:n], ", "), len(names)-n)
}
