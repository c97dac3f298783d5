// Package engine owns the choice and the repair of the GoMLX backend, so that no other
// package of goacl ever thinks about backends.
//
// GoMLX v0.26.0's pure-Go backend ("go", package simplego) cannot train a CNN as shipped:
// it lacks the Reverse and Pad ops that convolution and slice gradients emit, its
// convolution gradient passes nil strides and dilations, it deadlocks at its default
// parallelism, its matmul gradient builds an I×J×K outer product and its native
// convolution is a naive loop. This package fixes each of these:
//
//   - PureGo (registered as GOMLX_BACKEND=goacl) wraps simplego, adds Reverse and Pad by
//     composition of ops simplego has, fills nil strides/dilations in ConvGeneral, and
//     runs with parallelism=-1 (no deadlock) unless the config says otherwise.
//   - Its fast kernels (kernels_*.go, on by default; "goacl:kernels=simplego" turns them
//     off) run DotGeneral and ConvGeneral as a cache-blocked, goroutine-parallel GEMM
//     (gemm.go; convolutions as im2col packed straight into the GEMM) and the broadcasting
//     Add/Sub/Mul/Div over contiguous runs, replacing simplego's executors (see
//     kernels_hook.go for how, and docs/performance.md for the measurements).
//   - The Dot/DotGeneral gradients are replaced, on pure-Go graphs only, by two matmuls
//     (see dotgrad.go), and with fast kernels the Max/Min (ReLU) gradient by one
//     comparison and two selects (minmaxgrad.go); XLA graphs keep GoMLX's own gradients.
//   - Conv2D emits the native convolution on XLA and on the fast pure-Go backend, and
//     lowers it to im2col in the graph on simplego's own kernels (see conv.go).
//
// New chooses the backend: GOMLX_BACKEND when it is set (e.g. "xla:/path/plugin.so"
// selects XLA untouched, "go" the stock simplego), otherwise the repaired pure-Go backend.
package engine

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/default" // registers "xla" and "go".
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// DefaultConfig is the backend configuration used when GOMLX_BACKEND is unset: the
// repaired pure-Go backend, which needs no plugin, no cgo and no network.
const DefaultConfig = PureGoName

// New returns the backend this process should use: the one named by the GOMLX_BACKEND
// environment variable when it is set, otherwise DefaultConfig. Unknown names are an
// error that lists the registered backends.
func New() (backends.Backend, error) {
	config, ok := os.LookupEnv(backends.ConfigEnvVar)
	if !ok || strings.TrimSpace(config) == "" {
		config = DefaultConfig
	}
	return NewWithConfig(config)
}

// NewWithConfig returns the backend for a GOMLX_BACKEND-style configuration string
// ("name" or "name:options"), converting GoMLX's panics into errors.
func NewWithConfig(config string) (b backends.Backend, err error) {
	name, _, _ := strings.Cut(config, ":")
	known := backends.List()
	found := false
	for _, k := range known {
		if k == name {
			found = true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("engine: unknown backend %q in %s=%q; registered backends: %s",
			name, backends.ConfigEnvVar, config, strings.Join(known, ", "))
	}
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("engine: creating backend %q: %v", config, r)
		}
	}()
	b, err = backends.NewWithConfig(config)
	if err != nil {
		return nil, fmt.Errorf("engine: creating backend %q: %w", config, err)
	}
	return b, nil
}

// IsPureGo reports whether b is one of GoMLX's pure-Go backends (the stock "go" or the
// repaired PureGo wrapper), where the graph-level fixes of this package apply.
func IsPureGo(b backends.Backend) bool {
	if b == nil {
		return false
	}
	switch b.String() {
	case PureGoName, "go":
		return true
	}
	return false
}

// isPureGoGraph reports whether g is being built for a pure-Go backend.
func isPureGoGraph(g *graph.Graph) bool { return IsPureGo(g.Backend()) }

// Describe returns a one-line description of the backend and the machine, for run
// provenance: backend name and description, device, GOMAXPROCS, OS and architecture.
func Describe(b backends.Backend) string {
	if b == nil {
		return "no backend"
	}
	return fmt.Sprintf("%s (%s; %s) on %s/%s, GOMAXPROCS=%d",
		b.String(), b.Description(), b.DeviceDescription(0), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
}
