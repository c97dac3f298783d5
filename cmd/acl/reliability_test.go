//go:build linux

package main

// Reliability of `acl pretrain` as a real process: flags rejected before any work, an
// unwritable -out and a NaN reported with their exit codes, SIGKILL at random moments and
// during checkpoint writes never leaving a corrupt checkpoint and resuming to the same
// bytes as an uninterrupted run, Ctrl-C stopping cleanly and resumably, a second Ctrl-C
// quitting at once. See docs/reliability.md.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/internal/testdirs"
)

// buildACL compiles this command into dir and returns the binary's path.
func buildACL(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "acl")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startACL starts the binary; exited receives cmd.Wait's result once it ends.
func startACL(t *testing.T, bin string, args ...string) (cmd *exec.Cmd, stdout, stderr *syncBuffer, exited <-chan error) {
	t.Helper()
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	cmd = exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, stdout, stderr, done
}

// runACL runs the binary to completion and returns its output and exit code.
func runACL(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// tinyPretrainArgs is a RoCL-IP run of a width-4 CNN on 64 images, batch 16, 2 epochs of
// 4 steps, a one-step attack, a checkpoint after every step (the newest 2 kept).
func tinyPretrainArgs(data, out string, extra ...string) []string {
	return append([]string{"pretrain", "-method", "rocl", "-variant", "ip", "-preset", "smoke", "-data", data,
		"-width", "4", "-subset", "64", "-batch", "16", "-epochs", "4", "-attack-steps", "1",
		"-checkpoint-every", "1", "-log-every", "1", "-out", out}, extra...)
}

const tinySteps = 16 // 4 epochs × 4 batches: long enough for several kills to land with the fast kernels

func readRunStatus(t *testing.T, run string) rundir.Status {
	t.Helper()
	var st rundir.Status
	data, err := os.ReadFile(filepath.Join(run, rundir.StatusFile))
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	if err != nil {
		t.Fatalf("status.json of %s: %v", run, err)
	}
	return st
}

func TestCLIReliability(t *testing.T) {
	data := testdirs.CIFAR10(t)
	root := t.TempDir()
	bin := buildACL(t, root)

	t.Run("bad flags rejected before any work", func(t *testing.T) {
		cases := []struct {
			args []string
			want []string
		}{
			{[]string{"-width", "0"}, []string{"-width = 0: must be ≥ 1", "omit -width to keep the preset's width (8)"}},
			{[]string{"-width", "-3"}, []string{"-width = -3: must be ≥ 1"}},
			{[]string{"-alpha", "1.5"}, []string{"-alpha", "α ∈ [0, 1]"}},
			{[]string{"-alpha", "-0.1"}, []string{"-alpha", "α ∈ [0, 1]"}},
			{[]string{"-variant", "iphn", "-tau-plus", "1"}, []string{"-tau-plus", "τ⁺ ∈ [0, 1)"}},
			{[]string{"-variant", "hn", "-beta", "-1"}, []string{"-beta", "β ≥ 0"}},
			{[]string{"-lambda", "0"}, []string{"-lambda", "λ > 0"}},
			{[]string{"-batch", "1"}, []string{"-batch = 1: must be ≥ 2"}},
			{[]string{"-subset", "-5"}, []string{"-subset = -5: must be ≥ 0"}},
			{[]string{"-subset", "8"}, []string{"-subset = 8 is smaller than -batch = 16"}},
			{[]string{"-epochs", "-1"}, []string{"-epochs = -1: must be ≥ 1"}},
			{[]string{"-lr", "0"}, []string{"-lr", "must be > 0"}},
			{[]string{"-log-every", "0"}, []string{"-log-every = 0: must be ≥ 1"}},
			{[]string{"-attack-steps", "-1"}, []string{"-attack-steps = -1: must be in [0, 200]"}},
			{[]string{"-attack-objective", "hardest"}, []string{"-attack-objective", "plain or training"}},
			{[]string{"-quirks", "some"}, []string{"-quirks", "official or corrected"}},
			{[]string{"-encoder", "vgg"}, []string{"-encoder", "unknown encoder \"vgg\""}},
			{[]string{"-method", "simclr"}, []string{"-method", "unknown method \"simclr\""}},
			{[]string{"-variant", "both"}, []string{"-variant", "base, ip, hn or iphn"}},
			{[]string{"-preset", "tiny"}, []string{"-preset \"tiny\": unknown; use one of"}},
			{[]string{"-no-such-flag"}, []string{"flag provided but not defined: -no-such-flag"}},
		}
		for _, c := range cases {
			out := filepath.Join(t.TempDir(), "run")
			_, stderr, code := runACL(t, bin, tinyPretrainArgs(data, out, c.args...)...)
			if code != 2 {
				t.Errorf("%v: exit code %d, want 2\n%s", c.args, code, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%v: stderr lacks %q:\n%s", c.args, w, stderr)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%v: -out was created", c.args)
			}
		}
		if _, stderr, code := runACL(t, bin, "pretrain", "-preset", "smoke"); code != 2 || !strings.Contains(stderr, "-out is required") {
			t.Errorf("no -out: exit %d, %s", code, stderr)
		}
		// A subset larger than the data: known once the data is read, before -out exists.
		out := filepath.Join(t.TempDir(), "run")
		stdout, stderr, code := runACL(t, bin, tinyPretrainArgs(data, out, "-subset", "60000")...)
		if code != 1 || !strings.Contains(stderr, "-subset = 60000 is larger than the 50000 training images") || strings.Contains(stdout, "step") {
			t.Errorf("-subset 60000: exit %d\n%s%s", code, stdout, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("-subset 60000: -out was created")
		}
	})

	t.Run("unwritable out reported before training", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := runACL(t, bin, tinyPretrainArgs(data, filepath.Join(file, "run"))...)
		if code != 1 || !strings.Contains(stderr, "cannot create it") || strings.Contains(stdout, "step") {
			t.Errorf("exit %d\n%s%s", code, stdout, stderr)
		}
	})

	t.Run("NaN loss exits 3 with status failed", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "run")
		_, stderr, code := runACL(t, bin, tinyPretrainArgs(data, out, "-lr", "1e30")...)
		st := readRunStatus(t, out)
		if code != 3 || !strings.Contains(stderr, "non-finite loss") || st.State != "failed" || st.Loss != "NaN" || len(st.Terms) == 0 {
			t.Errorf("exit %d, status %+v\n%s", code, st, stderr)
		}
	})

	// The uninterrupted reference; its timing scales the kill moments below, so the legs
	// land inside start-up and training however fast this machine and backend are.
	ref := filepath.Join(root, "reference")
	pace := timeReference(t, bin, tinyPretrainArgs(data, ref), ref)
	t.Logf("reference run: start-up %v, %v per step", pace.startup.Round(time.Millisecond), pace.step.Round(time.Millisecond))

	t.Run("SIGKILL at random moments and during checkpoint writes", func(t *testing.T) {
		seed := uint64(time.Now().UnixNano())
		if s, err := strconv.ParseUint(os.Getenv("ACL_RELIABILITY_SEED"), 10, 64); err == nil {
			seed = s
		}
		t.Logf("kill timings seeded with %d (ACL_RELIABILITY_SEED reproduces the choices, not the machine's timing)", seed)
		rng := rand.New(rand.NewPCG(seed, 1))
		out := filepath.Join(t.TempDir(), "run")
		ckdir := filepath.Join(out, rundir.CheckpointsDir)
		if err := os.MkdirAll(ckdir, 0o755); err != nil {
			t.Fatal(err)
		}
		legs := []string{"during-write", "random-start", "after-rename", "double-ctrl-c", "random-training", "during-write", "random-training", "during-write"}
		newest, midWrite, kills := int64(-1), 0, 0
		for i, mode := range legs {
			res := killLeg(t, bin, tinyPretrainArgs(data, out, "-resume"), out, mode, rng, pace)
			if res.finished {
				t.Logf("leg %d (%s): the run finished before the kill", i, mode)
				break
			}
			kills++
			n := checkRunIntact(t, out, res.tmpLeft, &midWrite)
			if n < newest {
				t.Fatalf("leg %d (%s): the newest checkpoint went back from step %d to %d", i, mode, newest, n)
			}
			t.Logf("leg %d (%s): killed after %v; newest checkpoint step %d; killed inside a checkpoint write: %v", i, mode, res.after.Round(time.Millisecond), n, res.tmpLeft)
			newest = n
		}
		stdout, stderr, code := runACL(t, bin, tinyPretrainArgs(data, out, "-resume")...)
		// A leg that was not killed in time finishes the run; the final resume then reports
		// the finished run instead of training.
		finished := strings.Contains(stdout, fmt.Sprintf("done: %d steps", tinySteps)) ||
			strings.Contains(stdout, fmt.Sprintf("already finished (%d steps", tinySteps))
		if code != 0 || !finished {
			t.Fatalf("final resume: exit %d\n%s%s", code, stdout, stderr)
		}
		if kills < 3 {
			t.Errorf("only %d kills landed before the run finished", kills)
		}
		if midWrite == 0 {
			t.Errorf("no kill landed inside a checkpoint write (between the temporary file's creation and its rename)")
		}
		sameAsReference(t, ref, out)
		if left, _ := filepath.Glob(filepath.Join(ckdir, ".*.tmp-*")); len(left) > 0 {
			t.Errorf("temporary files of killed writes remain after the resumed run: %v", left)
		}
	})

	t.Run("Ctrl-C stops cleanly and resumes", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "run")
		var o, e bytes.Buffer
		cmd := exec.Command(bin, tinyPretrainArgs(data, out)...)
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for metricLines(out) < 2 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		// An interrupted command exits with 130 (exitInterrupted), whatever the command.
		if err := cmd.Wait(); cmd.ProcessState.ExitCode() != exitInterrupted {
			t.Fatalf("after Ctrl-C: %v, want exit %d\n%s%s", err, exitInterrupted, o.String(), e.String())
		}
		st := readRunStatus(t, out)
		if st.State != "interrupted" || st.Step < 2 || st.Step >= tinySteps || !strings.HasSuffix(st.Checkpoint, fmt.Sprintf("ckpt-%09d.ckpt", st.Step)) ||
			!strings.Contains(o.String(), fmt.Sprintf("stopped after %d steps", st.Step)) || !strings.Contains(e.String(), "interrupted: finishing the current step") {
			t.Fatalf("status %+v\n%s%s", st, o.String(), e.String())
		}
		if _, err := rundir.ReadCheckpoint(st.Checkpoint); err != nil {
			t.Fatal(err)
		}
		if stdout, stderr, code := runACL(t, bin, tinyPretrainArgs(data, out, "-resume")...); code != 0 || !strings.Contains(stdout, fmt.Sprintf("resuming %s from step %d", out, st.Step)) {
			t.Fatalf("resume: exit %d\n%s%s", code, stdout, stderr)
		}
		sameAsReference(t, ref, out)
	})
}

// killLegResult is what one killed attempt did.
type killLegResult struct {
	finished bool          // the process exited by itself before the kill
	after    time.Duration // time from start to kill
	tmpLeft  bool          // a checkpoint's temporary file remained: the kill hit a write
}

// killLeg starts the binary on run and kills it: "random-start" with SIGKILL at a random
// moment between 10% and 120% of the reference run's start-up (data loading, compilation
// or the first step), "random-training" with SIGKILL at a random moment within 4 reference
// steps after the leg's first logged step, "during-write" with SIGKILL as soon as the
// leg's second checkpoint temporary file is created (inotify), "after-rename" with SIGKILL
// as soon as the leg's second checkpoint is renamed into place, "double-ctrl-c" with a
// SIGINT during start-up and a second one once the first was taken (the second must end
// the process at once, exit 130). The random legs are also killed as soon as they have logged
// maxLegSteps steps, so that a slow moment of the machine cannot let a leg run to the end.
func killLeg(t *testing.T, bin string, args []string, run, mode string, rng *rand.Rand, pace runPace) killLegResult {
	t.Helper()
	ckdir := filepath.Join(run, rundir.CheckpointsDir)
	tmpBefore := map[string]bool{}
	if tmp, _ := filepath.Glob(filepath.Join(ckdir, ".ckpt-*.tmp-*")); len(tmp) > 0 {
		for _, p := range tmp {
			tmpBefore[p] = true
		}
	}
	linesBefore := metricLines(run)
	w, err := watchDir(ckdir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	cmd, o, e, exited := startACL(t, bin, args...)
	start := time.Now()
	finished := func(err error) killLegResult {
		if err != nil {
			t.Fatalf("%s leg: the run failed before the kill: %v\n%s%s", mode, err, o.String(), e.String())
		}
		return killLegResult{finished: true}
	}
	seen := 0
	switch mode {
	case "random-start":
		delay := time.Duration((0.1 + 1.1*rng.Float64()) * float64(pace.startup))
		if done, err := waitLeg(exited, start.Add(delay), run, linesBefore+maxLegSteps); done {
			return finished(err)
		}
	case "random-training":
		if done, err := waitLeg(exited, time.Time{}, run, linesBefore+1); done {
			return finished(err)
		}
		delay := time.Duration(rng.Float64() * 4 * float64(pace.step))
		if done, err := waitLeg(exited, time.Now().Add(delay), run, linesBefore+maxLegSteps); done {
			return finished(err)
		}
	case "during-write", "after-rename":
		prefix, mask := ".ckpt-", uint32(syscall.IN_CREATE)
		if mode == "after-rename" {
			prefix, mask = "ckpt-", syscall.IN_MOVED_TO
		}
	wait:
		for {
			select {
			case err := <-exited:
				return finished(err)
			case ev := <-w.events:
				if ev.mask&mask != 0 && strings.HasPrefix(ev.name, prefix) {
					if seen++; seen == 2 {
						break wait
					}
				}
			}
		}
	case "double-ctrl-c":
		// The first SIGINT once the handler is installed (the start line is printed just
		// before training begins loading data), the second once it was taken.
		waitFor := func(b *syncBuffer, s string) {
			for !strings.Contains(b.String(), s) {
				select {
				case err := <-exited:
					t.Fatalf("the run ended before %q appeared: %v\n%s%s", s, err, o.String(), e.String())
				case <-time.After(time.Millisecond):
				}
			}
		}
		waitFor(o, "pretraining ")
		_ = cmd.Process.Signal(os.Interrupt)
		waitFor(e, "Ctrl-C again quits at once")
		_ = cmd.Process.Signal(os.Interrupt)
		err := <-exited
		if cmd.ProcessState.ExitCode() != exitInterrupted || !strings.Contains(e.String(), "stopped at once") {
			t.Fatalf("a second Ctrl-C must end the process at once with exit %d; got %v\n%s%s", exitInterrupted, err, o.String(), e.String())
		}
		return killLegResult{after: time.Since(start)}
	default:
		t.Fatalf("unknown leg %q", mode)
	}
	after := time.Since(start)
	_ = cmd.Process.Kill()
	<-exited
	tmp, _ := filepath.Glob(filepath.Join(ckdir, ".ckpt-*.tmp-*"))
	left := false
	for _, p := range tmp {
		left = left || !tmpBefore[p]
	}
	return killLegResult{after: after, tmpLeft: left}
}

// maxLegSteps caps the steps a randomly killed leg may log before it is killed.
const maxLegSteps = 3

// runPace is how long the reference run took to start (to its first logged step) and
// how long each later step took.
type runPace struct{ startup, step time.Duration }

// timeReference runs the binary to completion on run, requires it to finish all
// tinySteps, and measures its pace from the moments metrics.jsonl grew.
func timeReference(t *testing.T, bin string, args []string, run string) runPace {
	t.Helper()
	_, o, e, exited := startACL(t, bin, args...)
	start := time.Now()
	var first, last time.Time
	lines := 0
	for err, done := error(nil), false; !done; {
		select {
		case err = <-exited:
			done = true
		case <-time.After(2 * time.Millisecond):
		}
		if n := metricLines(run); n > lines {
			lines, last = n, time.Now()
			if first.IsZero() {
				first = last
			}
		}
		if done && (err != nil || !strings.Contains(o.String(), fmt.Sprintf("done: %d steps", tinySteps))) {
			t.Fatalf("reference run: %v\n%s%s", err, o.String(), e.String())
		}
	}
	if lines < 2 {
		t.Fatalf("reference run logged %d steps; want %d", lines, tinySteps)
	}
	return runPace{startup: first.Sub(start), step: last.Sub(first) / time.Duration(lines-1)}
}

// waitLeg waits until the process exits (done: true, with its error), the deadline
// passes (a zero deadline never passes), or run's metrics.jsonl holds maxLines lines.
func waitLeg(exited <-chan error, deadline time.Time, run string, maxLines int) (done bool, err error) {
	for deadline.IsZero() || time.Now().Before(deadline) {
		if metricLines(run) >= maxLines {
			return false, nil
		}
		select {
		case err := <-exited:
			return true, err
		case <-time.After(2 * time.Millisecond):
		}
	}
	return false, nil
}

// checkRunIntact checks what a kill left: every checkpoint file verifies, the JSON files
// parse, and returns the newest checkpoint's step (−1: none yet). A temporary file left
// by the kill counts as a kill inside a checkpoint write.
func checkRunIntact(t *testing.T, run string, tmpLeft bool, midWrite *int) int64 {
	t.Helper()
	if tmpLeft {
		*midWrite++
	}
	paths, _ := filepath.Glob(filepath.Join(run, rundir.CheckpointsDir, "ckpt-*.ckpt"))
	newest := int64(-1)
	for _, p := range paths {
		c, err := rundir.ReadCheckpoint(p)
		if err != nil {
			t.Fatalf("a kill left a corrupt checkpoint: %v", err)
		}
		newest = max(newest, c.Step)
	}
	for _, name := range []string{rundir.ConfigFile, rundir.ProvenanceFile, rundir.StatusFile} {
		data, err := os.ReadFile(filepath.Join(run, name))
		if err != nil {
			continue // not written yet
		}
		if !json.Valid(data) {
			t.Fatalf("a kill left a torn %s: %q", name, data)
		}
	}
	return newest
}

// sameAsReference checks that run ended exactly like the uninterrupted reference: the
// final checkpoint files are byte-identical (weights, optimizer state, RNG state and
// trainer state) and metrics.jsonl holds each step once with the same loss.
func sameAsReference(t *testing.T, ref, run string) {
	t.Helper()
	name := fmt.Sprintf("ckpt-%09d.ckpt", tinySteps)
	a, errA := os.ReadFile(filepath.Join(ref, rundir.CheckpointsDir, name))
	b, errB := os.ReadFile(filepath.Join(run, rundir.CheckpointsDir, name))
	if errA != nil || errB != nil {
		t.Fatalf("final checkpoints: %v, %v", errA, errB)
	}
	if !bytes.Equal(a, b) {
		ca, _ := rundir.ReadCheckpoint(filepath.Join(ref, rundir.CheckpointsDir, name))
		cb, _ := rundir.ReadCheckpoint(filepath.Join(run, rundir.CheckpointsDir, name))
		for i, v := range ca.Variables {
			ta, _ := ca.Tensor(v)
			tb, err := cb.Tensor(cb.Variables[i])
			if err != nil || !ta.Equal(tb) {
				t.Errorf("variable %s differs from the uninterrupted run", v.Key())
			}
		}
		t.Fatalf("the final checkpoint differs from the uninterrupted run's (%d vs %d bytes)", len(a), len(b))
	}
	lossA, lossB := stepLosses(t, ref), stepLosses(t, run)
	if len(lossB) != tinySteps {
		t.Errorf("metrics.jsonl holds %d step records, want %d (each step once)", len(lossB), tinySteps)
	}
	for s := 1; s <= tinySteps; s++ {
		if lossA[s] != lossB[s] {
			t.Errorf("step %d: loss %v, uninterrupted %v", s, lossB[s], lossA[s])
		}
	}
}

// stepLosses maps each logged step to its loss, failing on a step logged twice.
func stepLosses(t *testing.T, run string) map[int]float64 {
	t.Helper()
	mets, err := (&rundir.Dir{Path: run}).ReadMetrics()
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]float64{}
	for _, m := range mets {
		s := int(m["step"].(float64))
		if _, dup := out[s]; dup {
			t.Errorf("%s: step %d logged twice", run, s)
		}
		out[s], _ = m["loss"].(float64)
	}
	return out
}

func metricLines(run string) int {
	data, _ := os.ReadFile(filepath.Join(run, rundir.MetricsFile))
	return bytes.Count(data, []byte("\n"))
}

// syncBuffer is a bytes.Buffer safe for a process's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dirWatch reports file creations and renames into a folder (Linux inotify).
type dirWatch struct {
	f      *os.File
	events chan dirEvent
}

type dirEvent struct {
	mask uint32
	name string
}

func watchDir(dir string) (*dirWatch, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE|syscall.IN_MOVED_TO); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	w := &dirWatch{f: os.NewFile(uintptr(fd), "inotify"), events: make(chan dirEvent, 256)}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := w.f.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				mask := binary.NativeEndian.Uint32(buf[off+4:])
				nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
				name := strings.TrimRight(string(buf[off+syscall.SizeofInotifyEvent:off+syscall.SizeofInotifyEvent+nameLen]), "\x00")
				select {
				case w.events <- dirEvent{mask, name}:
				default: // nobody is waiting for more
				}
				off += syscall.SizeofInotifyEvent + nameLen
			}
		}
	}()
	return w, nil
}

func (w *dirWatch) close() { w.f.Close() }
