package attack

import (
	"sync"
	"testing"

	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/backends"
)

var (
	backendOnce sync.Once
	backendVal  backends.Backend
	backendErr  error
)

// testBackend returns the project's default backend, shared by all tests of the package.
func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	backendOnce.Do(func() { backendVal, backendErr = engine.New() })
	if backendErr != nil {
		t.Fatalf("engine.New: %v", backendErr)
	}
	return backendVal
}
