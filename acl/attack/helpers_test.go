package attack

import (
	"testing"

	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/gomlx/gomlx/backends"
)

// testBackend returns the project's default backend, shared by all tests of the package.
func testBackend(t testing.TB) backends.Backend { return testbackend.Get(t) }
