//go:build linux

package main

// Issue 18 through the real binary: flags and folders refused before any work, data read
// from where the run recorded it, a second signal that stops at once, Ctrl-C during the
// probe, the exit codes. See docs/reliability.md.

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/internal/testdirs"
)

// smallPretrain is a RoCL-IP run of a width-4 CNN on 64 images, batch 16, one epoch of
// 4 steps with a one-step attack.
func smallPretrain(data, out string, extra ...string) []string {
	return append([]string{"pretrain", "-method", "rocl", "-variant", "ip", "-preset", "smoke", "-data", data,
		"-width", "4", "-subset", "64", "-batch", "16", "-epochs", "1", "-attack-steps", "1", "-out", out}, extra...)
}

// smallFinetune is an SLF finetuning of one epoch on 64 images, 32 held out, 32 tested.
func smallFinetune(run string, extra ...string) []string {
	return append([]string{"finetune", "-run", run, "-mode", "slf", "-epochs", "1", "-batch", "32", "-train-subset", "64",
		"-val-size", "32", "-test-subset", "32", "-eval-batch", "32", "-eval-step", "0.01"}, extra...)
}

func TestCLINothingSilent(t *testing.T) {
	data, err := filepath.Abs(testdirs.CIFAR10(t))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	bin := buildACL(t, root)
	mustRun := func(t *testing.T, want int, dir string, args ...string) (string, string) {
		t.Helper()
		cmd := execIn(dir, bin, args...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		_ = cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != want {
			t.Fatalf("acl %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, o.String(), e.String())
		}
		return o.String(), e.String()
	}

	t.Run("flags refused before any work", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"-variant", "base", "-alpha", "NaN"}, "-alpha = NaN"},
			{[]string{"-variant", "base", "-beta", "Inf"}, "-beta = +Inf"},
			{[]string{"-variant", "base", "-tau-plus", "NaN"}, "-tau-plus = NaN"},
			{[]string{"-attack-steps", "100000"}, "-attack-steps = 100000: must be in [0, 200]"},
			{[]string{"-input-norm", "nonesuch"}, `-input-norm "nonesuch"`},
			{[]string{"-input-norm", "noneimagenet"}, `-input-norm "noneimagenet"`},
			{[]string{"-pseudo-labels", data}, "method rocl reads no pseudo labels"},
			{[]string{"-resume", "-overwrite"}, "-resume and -overwrite exclude each other"},
		} {
			out := filepath.Join(t.TempDir(), "run")
			_, stderr, code := runACL(t, bin, smallPretrain(data, out, c.args...)...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Errorf("%v: exit %d, stderr lacks %q:\n%s", c.args, code, c.want, stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%v: -out was created", c.args)
			}
		}
		// -ce-weight NaN with the base variant of AdvCL.
		out := filepath.Join(t.TempDir(), "run")
		pseudo := filepath.Join(filepath.Dir(data), "advcl-pseudo-labels", "cifar-10")
		if _, stderr, code := runACL(t, bin, "pretrain", "-method", "advcl", "-variant", "base", "-preset", "smoke", "-data", data,
			"-pseudo-labels", pseudo, "-ce-weight", "NaN", "-out", out); code != 2 || !strings.Contains(stderr, "-ce-weight") {
			t.Errorf("-ce-weight NaN: exit %d\n%s", code, stderr)
		}
		for _, cmd := range []string{"pretrain", "finetune", "eval", "bench", "table"} {
			if _, _, code := runACL(t, bin, cmd, "-h"); code != 0 {
				t.Errorf("acl %s -h: exit %d, want 0", cmd, code)
			}
		}
		// acl eval checks every value before it reads the run (which does not exist here).
		for _, bad := range [][]string{{"-eps", "NaN"}, {"-eps", "-1"}, {"-eps", "Inf"}, {"-step", "NaN"}, {"-steps", "-5"},
			{"-restarts", "-3"}, {"-batch", "-1"}, {"-test-subset", "-5"}} {
			_, stderr, code := runACL(t, bin, append([]string{"eval", "-run", filepath.Join(root, "no-run")}, bad...)...)
			if code != 2 || !strings.Contains(stderr, bad[0]+" = ") {
				t.Errorf("acl eval %v: exit %d\n%s", bad, code, stderr)
			}
		}
	})

	t.Run("oversized model refused with the estimate", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "run")
		_, stderr, code := runACL(t, bin, smallPretrain(data, out, "-width", "100000")...)
		if code != 1 || !strings.Contains(stderr, "-width") || !strings.Contains(stderr, "TiB") || !strings.Contains(stderr, "more than this machine's") {
			t.Errorf("pretrain -width 100000: exit %d\n%s", code, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("-out was created")
		}
		_, stderr, code = runACL(t, bin, "bench", "-width", "100000", "-peer", "none")
		if code != 2 || !strings.Contains(stderr, "more than this machine's") {
			t.Errorf("bench -width 100000: exit %d\n%s", code, stderr)
		}
		// A PyTorch interpreter that does not exist is reported before the Go side runs.
		stdout, stderr, code := runACL(t, bin, "bench", "-pytorch", "/nonexistent", "-parity", t.TempDir(), "-width", "4", "-batch", "4")
		if code != 2 || !strings.Contains(stderr, "/nonexistent") || strings.Contains(stdout, "losses") {
			t.Errorf("bench -pytorch /nonexistent -parity: exit %d\n%s%s", code, stdout, stderr)
		}
	})

	t.Run("folders and resumes", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "run")
		mustRun(t, 0, "", smallPretrain(data, out)...)
		// A mistyped -out with -resume is an error and creates nothing.
		_, stderr := mustRun(t, 1, "", smallPretrain(data, out+"x", "-resume")...)
		if !strings.Contains(stderr, "nothing to resume") {
			t.Errorf("resume of a missing folder:\n%s", stderr)
		}
		if _, err := os.Stat(out + "x"); err == nil {
			t.Error("resume of a missing folder created it")
		}
		// The field that differs is named by its flag, with both values.
		_, stderr = mustRun(t, 1, "", smallPretrain(data, out, "-resume", "-alpha", "0.5")...)
		if !strings.Contains(stderr, "-alpha") || !strings.Contains(stderr, "0.5") || !strings.Contains(stderr, "(0.2)") {
			t.Errorf("resume with another -alpha:\n%s", stderr)
		}
		// A trailing / on -data is no difference.
		stdout, _ := mustRun(t, 0, "", smallPretrain(data+"/", out, "-resume")...)
		if !strings.Contains(stdout, "already finished") {
			t.Errorf("resume with -data %s/:\n%s", data, stdout)
		}
		// A new run over a run whose checkpoints were removed: refused, nothing changed.
		os.RemoveAll(filepath.Join(out, rundir.CheckpointsDir))
		before, _ := os.ReadFile(filepath.Join(out, rundir.ConfigFile))
		_, stderr = mustRun(t, 1, "", "pretrain", "-method", "acl", "-variant", "base", "-preset", "smoke", "-data", data,
			"-width", "4", "-subset", "64", "-batch", "16", "-epochs", "1", "-attack-steps", "1", "-out", out)
		after, _ := os.ReadFile(filepath.Join(out, rundir.ConfigFile))
		if !strings.Contains(stderr, "-overwrite") || !bytes.Equal(before, after) {
			t.Errorf("a new run over a run folder: config changed %v\n%s", !bytes.Equal(before, after), stderr)
		}
		mustRun(t, 0, "", smallPretrain(data, out, "-overwrite", "-max-steps", "1")...)
	})

	t.Run("data read from where the run recorded it", func(t *testing.T) {
		// The run is made from A with -data data/copy; from B, where data/copy holds other
		// pixels, finetuning used to train and test on B's files.
		a, b := filepath.Join(root, "A"), filepath.Join(root, "B")
		linkCIFAR(t, data, filepath.Join(a, "data", "copy"), false)
		linkCIFAR(t, data, filepath.Join(b, "data", "copy"), true)
		run := filepath.Join(root, "data-run")
		mustRun(t, 0, a, smallPretrain(filepath.Join("data", "copy"), run)...)
		var cfg pretrain.Config
		readJSON(t, filepath.Join(run, rundir.ConfigFile), &cfg)
		if cfg.DataDir != filepath.Join(a, "data", "copy") || cfg.DataFingerprint == "" {
			t.Fatalf("config.json: data_dir %q, fingerprint %q", cfg.DataDir, cfg.DataFingerprint)
		}
		os.RemoveAll(filepath.Join(a, "data"))
		linkCIFAR(t, data, filepath.Join(a, "data", "copy"), true) // A's files changed too
		_, stderr := mustRun(t, 1, b, smallFinetune(run)...)
		if !strings.Contains(stderr, "-data") || !strings.Contains(stderr, "not those the run was trained on") {
			t.Errorf("finetuning on other files:\n%s", stderr)
		}
		if _, err := os.Stat(filepath.Join(run, finetune.Dir(finetune.SLF))); err == nil {
			t.Error("a refused finetuning left its folder")
		}
		mustRun(t, 0, b, smallFinetune(run, "-data", data)...)
		var res finetune.Result
		readJSON(t, filepath.Join(run, finetune.Dir(finetune.SLF), finetune.ResultFile), &res)
		if res.Data == nil || !res.Data.Override || res.Data.Dir != data {
			t.Errorf("result.json data: %+v", res.Data)
		}
		// -test-subset larger than the test split is refused before evaluating.
		_, stderr = mustRun(t, 1, b, "eval", "-run", run, "-mode", "slf", "-data", data, "-test-subset", "100000")
		if !strings.Contains(stderr, "-test-subset = 100000 is larger than the 10000 test images") {
			t.Errorf("eval -test-subset 100000:\n%s", stderr)
		}
	})

	t.Run("a second signal stops at once, status interrupted", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "run")
		// A 200-step attack: its graph takes seconds to build, during which the first
		// SIGTERM can only wait.
		cmd, o, e, exited := startACL(t, bin, smallPretrain(data, out, "-attack-steps", "200")...)
		// Once the run says "running" (written before its graph is built).
		waitUntil(t, exited, func() bool { _, err := os.Stat(filepath.Join(out, rundir.StatusFile)); return err == nil })
		_ = cmd.Process.Signal(syscall.SIGTERM)
		waitUntil(t, exited, func() bool { return strings.Contains(e.String(), "Ctrl-C again quits at once") })
		second := time.Now()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		if code := cmd.ProcessState.ExitCode(); code != exitInterrupted || time.Since(second) > 5*time.Second {
			t.Fatalf("exit %d %v after the second SIGTERM\n%s%s", code, time.Since(second), o.String(), e.String())
		}
		if st := readRunStatus(t, out); st.State != rundir.StateInterrupted {
			t.Errorf("status %+v", st)
		}
	})

	t.Run("Ctrl-C during the probe stops it", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "run")
		cmd, o, e, exited := startACL(t, bin, smallPretrain(data, out, "-probe", "-probe-epochs", "100000", "-probe-test", "100")...)
		waitUntil(t, exited, func() bool { return strings.Contains(o.String(), "probe: epoch 1/") })
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("the probe ran on after Ctrl-C\n%s%s", o.String(), e.String())
		}
		if code := cmd.ProcessState.ExitCode(); code != exitInterrupted || !strings.Contains(e.String(), "stopping the linear probe") ||
			strings.Contains(e.String(), "saving a checkpoint") || strings.Contains(o.String(), "linear probe: clean") {
			t.Errorf("exit %d\n%s%s", code, o.String(), e.String())
		}
	})

	t.Run("an interrupted finetuning exits like an interrupted pretraining", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "run")
		mustRun(t, 0, "", smallPretrain(data, out)...)
		cmd, o, e, exited := startACL(t, bin, smallFinetune(out, "-epochs", "1000")...)
		waitUntil(t, exited, func() bool { return strings.Contains(o.String(), "slf epoch 1/") })
		_ = cmd.Process.Signal(os.Interrupt)
		<-exited
		if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
			t.Errorf("exit %d, want %d\n%s%s", code, exitInterrupted, o.String(), e.String())
		}
	})
}

// linkCIFAR makes dir a CIFAR-10 folder of links to src's files, or with noise set a
// folder whose test file holds other pixels (same size and labels in range).
func linkCIFAR(t *testing.T, src, dir string, noise bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin", "batches.meta.txt"} {
		if noise && f == "test_batch.bin" {
			b := make([]byte, 10000*3073)
			for i := range b {
				b[i] = byte(i*7919+13) % 10
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.Symlink(filepath.Join(src, f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
}

// waitUntil polls cond until it holds, failing if the process exits first or after two
// minutes.
func waitUntil(t *testing.T, exited <-chan error, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		select {
		case err := <-exited:
			t.Fatalf("the process ended first: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// execIn returns the command bin args run in dir ("" for the current directory).
func execIn(dir, bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	return cmd
}
