// Package testbackend gives the tests of every package the project's default backend
// (engine.New: the pure-Go goacl backend unless GOMLX_BACKEND says otherwise), created
// once per test binary.
package testbackend

import (
	"sync"
	"testing"

	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/backends"
)

var (
	once    sync.Once
	backend backends.Backend
	err     error
)

// Get returns the shared backend, failing the test if it cannot be created.
func Get(t testing.TB) backends.Backend {
	t.Helper()
	once.Do(func() { backend, err = engine.New() })
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	return backend
}
