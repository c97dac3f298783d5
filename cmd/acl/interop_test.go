package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/interop/torchnames"
)

// acl export and acl import through the commands: an AdvCL run exported (protocol branch,
// all branches) and imported back, the flags checked before any work, nothing
// overwritten, and the imported run refusing -resume.
func TestExportImportCommands(t *testing.T) {
	data := cifar10Dir(t)
	dir := t.TempDir()
	run := filepath.Join(dir, "advcl")
	pseudo := filepath.Join(filepath.Dir(data), "advcl-pseudo-labels", "cifar-10")
	pretrain := []string{"pretrain", "-method", "advcl", "-preset", "smoke", "-data", data, "-pseudo-labels", pseudo,
		"-width", "4", "-subset", "16", "-batch", "8", "-attack-steps", "1"}
	runCommand(t, 0, append(pretrain, "-out", run, "-max-steps", "1")...)
	enc, all := filepath.Join(dir, "enc.safetensors"), filepath.Join(dir, "all.safetensors")
	runCommand(t, 0, "export", "-run", run, "-o", enc)
	runCommand(t, 0, "export", "-run", run, "-branches", "all", "-o", all)
	side, err := torchnames.ReadSidecar(filepath.Join(dir, "enc.json"))
	if err != nil || side.Branch != "pgd" || side.Scheme != torchnames.CIFAR {
		t.Errorf("sidecar %+v: %v", side, err)
	}
	runCommand(t, 1, "export", "-run", run, "-o", enc) // exists: -force replaces it
	runCommand(t, 0, "export", "-run", run, "-o", enc, "-force")
	runCommand(t, 2, "export", "-run", run)
	runCommand(t, 2, "export", "-run", run, "-o", enc, "-format", "pt")
	runCommand(t, 2, "export", "-run", run, "-o", enc, "-branches", "some")
	runCommand(t, 2, "export", "-run", run, "-o", enc, "-finetune", "slf", "-branches", "all")
	runCommand(t, 1, "export", "-run", run, "-o", filepath.Join(dir, "slf.safetensors"), "-finetune", "slf") // not finetuned

	imported := filepath.Join(dir, "imported")
	runCommand(t, 2, "import", "-from", all, "-out", imported)
	runCommand(t, 2, "import", "-from", all, "-method", "advcl", "-out", imported, "-finetune", "xlf")
	runCommand(t, 2, "import", "-from", all, "-method", "nope", "-arch", "smallcnn", "-out", imported)
	runCommand(t, 0, "import", "-from", all, "-method", "advcl", "-arch", "smallcnn", "-out", imported, "-data", data)
	runCommand(t, 1, "import", "-from", enc, "-method", "advcl", "-arch", "smallcnn", "-out", imported, "-data", data)
	runCommand(t, 0, "import", "-from", enc, "-method", "advcl", "-arch", "smallcnn", "-out", filepath.Join(dir, "imported-pgd"), "-data", data)
	var prov rundir.Provenance
	r, err := rundir.Open(imported)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ReadJSON(rundir.ProvenanceFile, &prov); err != nil || prov.Import == nil || prov.Import.Format != "safetensors" {
		t.Fatalf("provenance %+v: %v", prov, err)
	}
	runCommand(t, 1, append(pretrain, "-out", imported, "-resume")...)
	if _, err := os.Stat(filepath.Join(imported, rundir.CheckpointsDir, "ckpt-000000000.ckpt")); err != nil {
		t.Errorf("the imported checkpoint: %v", err)
	}
}
