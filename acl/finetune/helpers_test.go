package finetune

import (
	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/ainfonce/goacl/internal/testvals"
)

// The shared test helpers: the default backend and float tensor values.
var (
	testBackend = testbackend.Get
	toF64       = testvals.Float64s
	maxRelErr   = testvals.MaxRelErr
)
