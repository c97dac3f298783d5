package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/torchio"
)

func init() {
	register("export", "write a run's encoder (or finetuned classifier) as a PyTorch state dict: safetensors + JSON sidecar", runExport)
}

const exportUsage = `usage: acl export -run DIR [-finetune slf|alf|aff] [-branches protocol|all] -format safetensors -o FILE

Writes the model of the pretraining run DIR as a safetensors state dict with the tensor
names and layouts of the official PyTorch models (conv1.weight, layer1.0.bn1.running_mean,
…; OIHW kernels; num_batches_tracked), and a JSON sidecar (architecture, width, BN names,
input normalisation, provenance: run, checkpoint, step, sha256). By default the
pretrained encoder in the BN branch its evaluation protocol reads, named like the
method's finetuning model (RoCL/AdvCL: CIFAR ResNet; ACL/DynACL: torchvision-style with
normalize.mean/std); -branches all writes every BN branch in the method's pretraining
naming (bn_list.<i>); -finetune MODE writes the classifier that finetuning selected
(encoder and linear head). interop/pytorch/goacl_models.py loads the file in PyTorch
with strict=True (docs/interop.md).

flags:
`

func runExport(args []string) int {
	fs := flag.NewFlagSet("acl export", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), exportUsage); fs.PrintDefaults() }
	runDir := fs.String("run", "", "pretraining run directory (required)")
	mode := fs.String("finetune", "", "export the classifier of this finetuning: slf | alf | aff (default: the pretrained encoder)")
	branches := fs.String("branches", "protocol", "protocol (the BN branch the evaluation reads) | all (every BN branch, official multi-BN naming)")
	format := fs.String("format", "safetensors", "file format: safetensors")
	out := fs.String("o", "", "weights file to write, e.g. encoder.safetensors (required)")
	sidecar := fs.String("sidecar", "", "sidecar JSON to write (default: -o with the extension .json)")
	force := fs.Bool("force", false, "replace existing output files")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *runDir == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "acl export: -run and -o are required (e.g. acl export -run runs/advcl -o advcl.safetensors)")
		return 2
	}
	if *format != "safetensors" {
		fmt.Fprintf(os.Stderr, "acl export: -format %q: only safetensors is written (PyTorch reads it with safetensors.torch.load_file)\n", *format)
		return 2
	}
	opts := torchio.ExportOptions{}
	switch *branches {
	case "protocol":
	case "all":
		opts.AllBranches = true
	default:
		fmt.Fprintf(os.Stderr, "acl export: -branches %q: use protocol or all\n", *branches)
		return 2
	}
	if *mode != "" {
		m, err := finetune.ParseMode(*mode)
		if err != nil {
			fmt.Fprintln(os.Stderr, "acl export: -finetune:", phrase(err, map[string]string{"mode": "-finetune"}))
			return 2
		}
		if opts.AllBranches {
			fmt.Fprintln(os.Stderr, "acl export: -branches all exports a pretrained encoder; a -finetune classifier has one BN branch")
			return 2
		}
		opts.Finetuned = m
	}
	if *sidecar == "" {
		*sidecar = torchio.SidecarPath(*out)
	}
	if *sidecar == *out {
		fmt.Fprintf(os.Stderr, "acl export: the sidecar would overwrite the weights %s: give -sidecar\n", *out)
		return 2
	}
	if !*force {
		for _, p := range []string{*out, *sidecar} {
			if _, err := os.Stat(p); err == nil {
				fmt.Fprintf(os.Stderr, "acl export: %s exists (pass -force to replace it)\n", p)
				return 1
			}
		}
	}
	e, err := torchio.ExportRun(*runDir, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl export:", err)
		return 1
	}
	if err := e.WriteFiles(*out, *sidecar); err != nil {
		fmt.Fprintln(os.Stderr, "acl export:", err)
		return 1
	}
	fmt.Printf("wrote %s: %d tensors, %s, from %s (step %d)\n", *out, len(e.StateDict), e.Layout, e.Model.Checkpoint.Path, e.Model.Checkpoint.Step)
	if len(e.Report.OtherBranches) > 0 {
		fmt.Printf("left out %d variables of the BN branches the protocol does not read\n", len(e.Report.OtherBranches))
	}
	fmt.Printf("wrote %s; in PyTorch: goacl_models.model_from_sidecar(%q).load_state_dict(load_file(%q), strict=True)\n", *sidecar, *sidecar, *out)
	return 0
}
