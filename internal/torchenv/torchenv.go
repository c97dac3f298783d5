// Package torchenv gives tests the Python interpreter with PyTorch and safetensors that
// scripts/install-python-tools.sh prepares, so tests can check goacl against PyTorch.
//
// The interpreter is $ACL_TORCH_PYTHON (default /usr/bin/python3, Debian's python3 with
// python3-torch) and its extra PyPI packages are in $ACL_PYTHON_TOOLS (default
// ${XDG_CACHE_HOME:-$HOME/.cache}/goacl/python-tools), put on PYTHONPATH. When they are
// missing, a test skips with the command that installs them, or fails when
// ACL_REQUIRE_TORCH=1 (scripts/test.sh sets it, so CI never skips these tests silently).
package torchenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Python runs scripts with PyTorch.
type Python struct {
	// Exe is the interpreter.
	Exe string
	// Env is the environment scripts run with (PYTHONPATH includes ToolsDir).
	Env []string
}

var (
	once   sync.Once
	python *Python
	errPy  error
)

// Require returns the PyTorch interpreter, or skips the test (fails it under
// ACL_REQUIRE_TORCH=1) with the reason and the install command.
func Require(t testing.TB) *Python {
	t.Helper()
	once.Do(func() { python, errPy = find() })
	if errPy != nil {
		msg := fmt.Sprintf("PyTorch is not available (%v): run bash scripts/install-python-tools.sh", errPy)
		if os.Getenv("ACL_REQUIRE_TORCH") == "1" {
			t.Fatal(msg + " (ACL_REQUIRE_TORCH=1: this test must run)")
		}
		t.Skip(msg)
	}
	return python
}

// RequireModules is Require for scripts that import more than torch and safetensors: it
// also checks that the Python modules mods import (e.g. "torchattacks"), and skips (fails
// under ACL_REQUIRE_TORCH=1) naming the install command when one does not.
func RequireModules(t testing.TB, mods ...string) *Python {
	t.Helper()
	p := Require(t)
	for _, m := range mods {
		if _, err := p.output("-c", "import "+m); err != nil {
			msg := fmt.Sprintf("Python module %s is not available (%v): run bash scripts/install-python-tools.sh", m, err)
			if os.Getenv("ACL_REQUIRE_TORCH") == "1" {
				t.Fatal(msg + " (ACL_REQUIRE_TORCH=1: this test must run)")
			}
			t.Skip(msg)
		}
	}
	return p
}

// ToolsDir returns the folder of the PyPI packages: $ACL_PYTHON_TOOLS or the default.
func ToolsDir() string {
	if d := os.Getenv("ACL_PYTHON_TOOLS"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "goacl", "python-tools")
}

func find() (*Python, error) {
	exe := os.Getenv("ACL_TORCH_PYTHON")
	if exe == "" {
		exe = "/usr/bin/python3"
	}
	if _, err := os.Stat(exe); err != nil {
		return nil, fmt.Errorf("interpreter %s: %w", exe, err)
	}
	pythonPath := ToolsDir()
	if old := os.Getenv("PYTHONPATH"); old != "" {
		pythonPath += string(os.PathListSeparator) + old
	}
	env := append(os.Environ(), "PYTHONPATH="+pythonPath, "PYTHONDONTWRITEBYTECODE=1", "OMP_NUM_THREADS=1")
	p := &Python{Exe: exe, Env: env}
	if _, err := p.output("-c", "import torch, safetensors.torch"); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Python) output(args ...string) ([]byte, error) {
	cmd := exec.Command(p.Exe, args...)
	cmd.Env = p.Env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %v: %s", p.Exe, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Start starts the Python script with args and returns a function that waits for it and
// returns its standard output (failing the test with the script's standard error), so
// that a test can do its own work while the script runs. It logs how long the script took.
func (p *Python) Start(t testing.TB, script string, args ...string) (wait func() []byte) {
	t.Helper()
	start := time.Now()
	cmd := exec.Command(p.Exe, append([]string{script}, args...)...)
	cmd.Env = p.Env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() []byte {
		t.Helper()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s %s: %v: %s", p.Exe, script, err, strings.TrimSpace(stderr.String()))
		}
		t.Logf("%s ran in %.1fs", filepath.Base(script), time.Since(start).Seconds())
		return stdout.Bytes()
	}
}

// Run runs the Python script with args and returns its standard output; a failure fails
// the test with the script's standard error. It logs how long the script took.
func (p *Python) Run(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	return p.Start(t, script, args...)()
}
