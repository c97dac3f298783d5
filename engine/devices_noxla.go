//go:build !(((linux && amd64) || darwin) && !noxla)

package engine

import (
	"errors"

	"github.com/gomlx/gomlx/backends"
)

// newXLAWithDevices: this build has no XLA backend.
func newXLAWithDevices(string, int) (backends.Backend, error) {
	return nil, errors.New("this build of goacl has no XLA backend")
}
