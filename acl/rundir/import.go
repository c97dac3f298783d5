package rundir

import "time"

// Import records where the weights of a run directory made by importing a PyTorch file
// (acl import) came from, and how they were read. It is provenance.json's "import" and
// goes into the sidecar of any export of the run.
type Import struct {
	// Source is the file read (absolute path), SHA256 the hex digest of its bytes and
	// Size their number; Format is "torch-zip" (torch.save of PyTorch ≥ 1.6),
	// "torch-legacy" (PyTorch 0.4–1.5) or "safetensors".
	Source string `json:"source"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Format string `json:"format"`
	// StateDictKey is the key of the dict the state dict was nested under ("" for the
	// root) and ClassifierKey that of a classifier kept in a dict of its own (AdvCL's
	// finetuning checkpoints: "classifier").
	StateDictKey  string `json:"state_dict_key,omitempty"`
	ClassifierKey string `json:"classifier_key,omitempty"`
	// Layout describes the official layout the names were read in
	// (torchnames.Layout.String), TorchPrefix the name prefix of the model read (DynACL:
	// "encoder_k.") and StrippedPrefix DataParallel's "module." when it was removed.
	Layout         string `json:"layout"`
	TorchPrefix    string `json:"torch_prefix,omitempty"`
	StrippedPrefix string `json:"stripped_prefix,omitempty"`
	// Mapped counts the tensors read; Ignored lists those dropped on purpose (projection
	// heads, the other encoder, an unused classifier); Converted those whose dtype changed.
	Mapped    int      `json:"mapped"`
	Ignored   []string `json:"ignored,omitempty"`
	Converted []string `json:"converted,omitempty"`
	// BatchesTracked is the largest num_batches_tracked of the file (−1: none).
	BatchesTracked int64 `json:"batches_tracked"`
	// Finetuned is the finetuning mode the file's classifier is recorded as ("" for a
	// pretrained encoder).
	Finetuned string `json:"finetuned,omitempty"`
	// Time is when the file was imported.
	Time time.Time `json:"time"`
}
