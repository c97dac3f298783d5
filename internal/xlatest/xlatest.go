// Package xlatest gives tests the XLA CPU backend (GOMLX_BACKEND=xla:cpu, the plugin that
// scripts/install-xla-cpu.sh installs), whatever backend the rest of the test run uses.
//
// Without a plugin, a test calling Backend is skipped with a message saying how to
// install one, so that `go test ./...` works on a machine without it; with
// GOACL_REQUIRE_XLA=1 (scripts/test.sh, and so CI, sets it after installing the plugin)
// it fails instead: in CI an XLA test never passes by not running.
package xlatest

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/backends"
)

// RequireEnv is the variable that turns a missing or unloadable XLA plugin from a skip into
// a failure.
const RequireEnv = "GOACL_REQUIRE_XLA"

// Config is the backend configuration of the XLA tests.
const Config = "xla:cpu"

var (
	once    sync.Once
	backend backends.Backend
	err     error

	mu      sync.Mutex
	devices = map[int]backends.Backend{}
)

// Required reports whether XLA tests must run (GOACL_REQUIRE_XLA=1).
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Backend returns the process's XLA CPU backend, created once. Without a usable plugin it
// skips t, or fails it when Required.
func Backend(t testing.TB) backends.Backend {
	t.Helper()
	once.Do(func() { backend, err = engine.NewWithConfig(Config) })
	if err != nil {
		if Required() {
			t.Fatalf("%s=1 but the XLA CPU backend is not usable: %v", RequireEnv, err)
		}
		t.Skipf("XLA test skipped: %v (run `bash scripts/install-xla-cpu.sh` to enable it; scripts/test.sh does, and sets %s=1)", err, RequireEnv)
	}
	return backend
}

// BackendWithDevices returns an XLA CPU backend with n host devices (engine's
// "xla:cpu,devices=n"), created once per n in the process; without a usable plugin it
// skips t, or fails it when Required.
func BackendWithDevices(t testing.TB, n int) backends.Backend {
	t.Helper()
	Backend(t) // the plugin's absence is reported once, the same way
	mu.Lock()
	defer mu.Unlock()
	if b, ok := devices[n]; ok {
		return b
	}
	b, err := engine.NewWithConfig(fmt.Sprintf("%s,%s=%d", Config, engine.DevicesOption, n))
	if err != nil {
		t.Fatalf("XLA CPU backend with %d host devices: %v", n, err)
	}
	if b.NumDevices() != n {
		t.Fatalf("XLA CPU backend asked for %d host devices has %d", n, b.NumDevices())
	}
	devices[n] = b
	return b
}
