//go:build linux

package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/internal/testdirs"
	"github.com/ainfonce/goacl/internal/xlatest"
)

// TestXLAKillResume runs the smoke pretraining of TestCLIReliability on XLA CPU three
// times: uninterrupted; killed with SIGKILL once it has logged a few steps; and resumed
// from what the kill left. The resumed run must end with the uninterrupted run's final
// checkpoint, byte for byte (weights, optimizer state, RNG state), and the same loss at
// every step: exact resume holds on XLA as on the pure-Go engine.
func TestXLAKillResume(t *testing.T) {
	data, root, bin := xlaCLI(t)

	ref := filepath.Join(root, "reference")
	t0 := time.Now()
	if stdout, stderr, code := runACL(t, bin, tinyPretrainArgs(data, ref)...); code != 0 {
		t.Fatalf("uninterrupted XLA run: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("uninterrupted XLA run: %.1f s", time.Since(t0).Seconds())

	out := filepath.Join(root, "killed")
	killedAt := killAfterSteps(t, bin, tinyPretrainArgs(data, out), out)
	t.Logf("killed after step %d was checkpointed", killedAt)
	if o, e, code := runACL(t, bin, tinyPretrainArgs(data, out, "-resume")...); code != 0 {
		t.Fatalf("resume on XLA: exit %d\n%s%s", code, o, e)
	}
	sameAsReference(t, ref, out)
	var prov rundir.Provenance
	run, err := rundir.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.ReadJSON(rundir.ProvenanceFile, &prov); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(prov.Backend, "xla") || len(prov.Resumes) != 1 {
		t.Errorf("provenance: backend %q, resumes %v; want the XLA backend and one resume", prov.Backend, prov.Resumes)
	}
}

// TestDataParallelKillResume: a run on 4 XLA CPU host devices (-devices 4, 4 images per
// device), killed with SIGKILL once it has checkpointed a few steps, resumes with
// -devices 1 from its newest checkpoint at the next step: the records of the steps
// trained before the kill are kept as they were, every step is logged once, the run
// finishes, and the provenance records the resume on 1 device after the 4-device leg.
// (That the continuation equals the one on 4 devices is acl/pretrain's
// TestDataParallelEquivalence, in float64.)
func TestDataParallelKillResume(t *testing.T) {
	data, root, bin := xlaCLI(t)
	out := filepath.Join(root, "dp")
	killedAt := killAfterSteps(t, bin, tinyPretrainArgs(data, out, "-devices", "4"), out)
	before := stepLosses(t, out)
	var cfg struct {
		Devices int `json:"devices"`
	}
	run, err := rundir.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.ReadJSON(rundir.ConfigFile, &cfg); err != nil || cfg.Devices != 4 {
		t.Fatalf("config.json of the 4-device leg: devices %d (%v)", cfg.Devices, err)
	}
	o, e, code := runACL(t, bin, tinyPretrainArgs(data, out, "-devices", "1", "-resume")...)
	if code != 0 || !strings.Contains(o, fmt.Sprintf("from step %d ", killedAt)) {
		t.Fatalf("resume on 1 device: exit %d\n%s%s", code, o, e)
	}
	after := stepLosses(t, out)
	if len(after) != tinySteps {
		t.Errorf("metrics.jsonl holds %d step records, want %d", len(after), tinySteps)
	}
	for s := 1; s <= int(killedAt); s++ {
		if after[s] != before[s] {
			t.Errorf("step %d: loss %v after the resume, %v before", s, after[s], before[s])
		}
	}
	if st := readRunStatus(t, out); st.State != rundir.StateDone || st.Step != tinySteps {
		t.Errorf("status after the resume: %+v", st)
	}
	var prov rundir.Provenance
	if err := run.ReadJSON(rundir.ProvenanceFile, &prov); err != nil {
		t.Fatal(err)
	}
	if len(prov.Resumes) != 1 || !strings.Contains(prov.Resumes[0], fmt.Sprintf("at step %d on 1 device(s) (until then: ", killedAt)) ||
		!strings.Contains(prov.Resumes[0], "data-parallel over 4 devices") {
		t.Errorf("provenance resumes %q: want the resume at step %d on 1 device after the 4-device leg", prov.Resumes, killedAt)
	}
	t.Logf("killed after step %d on 4 devices, resumed and finished on 1", killedAt)
}

// killAfterSteps starts the acl binary with args, whose run directory is out, kills it
// with SIGKILL once it has logged 5 steps, checks what it left intact, and returns the
// step of its newest checkpoint (between 1 and tinySteps−1).
func killAfterSteps(t *testing.T, bin string, args []string, out string) int64 {
	t.Helper()
	cmd, stdout, stderr, exited := startACL(t, bin, args...)
	done, err := waitLeg(exited, time.Now().Add(5*time.Minute), out, 5)
	if done {
		t.Fatalf("the run ended before it could be killed: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	killedAt := checkRunIntact(t, out, false, new(int))
	if killedAt < 1 || killedAt >= tinySteps {
		t.Fatalf("killed run holds checkpoint step %d; want one between 1 and %d", killedAt, tinySteps-1)
	}
	return killedAt
}

// xlaCLI prepares a test of the acl binary on XLA CPU: it skips (or fails, when XLA is
// required) without the plugin, selects the plugin for the binaries the test starts, and
// returns the CIFAR-10 folder, a temporary root and the binary built into it.
func xlaCLI(t *testing.T) (data, root, bin string) {
	t.Helper()
	xlatest.Backend(t)
	plugin, err := engine.FindPlugin("cpu")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOMLX_BACKEND", "xla:"+plugin)
	root = t.TempDir()
	return testdirs.CIFAR10(t), root, buildACL(t, root)
}
