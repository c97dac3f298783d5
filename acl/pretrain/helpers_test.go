package pretrain

import (
	"strings"
	"testing"

	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/ainfonce/goacl/internal/testvals"
)

// The shared test helpers: the default backend, float tensor values, seeded data.
var (
	testBackend = testbackend.Get
	toF64       = testvals.Float64s
	maxRelErr   = testvals.MaxRelErr
	randomData  = testvals.RandomData
)

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
