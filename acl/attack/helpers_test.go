package attack

import "github.com/ainfonce/goacl/internal/testbackend"

// testBackend returns the project's default backend, shared by all tests of the package.
var testBackend = testbackend.Get
