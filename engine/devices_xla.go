//go:build ((linux && amd64) || darwin) && !noxla

package engine

import (
	"strings"

	"github.com/gomlx/go-xla/pkg/pjrt"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"
)

// newXLAWithDevices creates GoMLX's XLA backend for a resolved configuration
// ("xla:/path/plugin.so,options") whose PJRT client has n host devices.
func newXLAWithDevices(config string, n int) (backends.Backend, error) {
	_, opts, _ := strings.Cut(config, ":")
	return xla.NewWithOptions(opts, pjrt.NamedValuesMap{cpuDeviceCountOption: int64(n)})
}
