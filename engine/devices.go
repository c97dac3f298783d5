package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/backends"
)

// Several devices in one process (data-parallel training, acl/train's Loop.Devices).
//
// A GPU plugin has one device per visible GPU. The XLA CPU plugin exposes "host devices",
// each a share of the same CPU: 4 by default for the plugin scripts/install-xla-cpu.sh
// installs. Their number is the PJRT client's create option "cpu_device_count" (measured:
// the plugin ignores XLA_FLAGS=--xla_force_host_platform_device_count, which is read only
// by XLA's in-process CPU client), so it is a backend option here:
// GOMLX_BACKEND=xla:cpu,devices=8. Each backend is its own PJRT client, so one process can
// hold XLA CPU backends of different device counts (the tests do).

// DevicesOption is the option of an XLA CPU backend configuration that sets its number of
// host devices ("xla:cpu,devices=4").
const DevicesOption = "devices"

// cpuDeviceCountOption is the XLA CPU plugin's PJRT client create option.
const cpuDeviceCountOption = "cpu_device_count"

// splitDevicesOption removes a "devices=N" option from an XLA configuration and returns
// N (0 when absent).
func splitDevicesOption(config string) (rest string, n int, err error) {
	name, opts, found := strings.Cut(config, ":")
	if !found {
		return config, 0, nil
	}
	parts := strings.Split(opts, ",")
	kept := parts[:0]
	for i, p := range parts {
		v, ok := strings.CutPrefix(p, DevicesOption+"=")
		if !ok || i == 0 {
			kept = append(kept, p)
			continue
		}
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			return "", 0, fmt.Errorf("option %s=%q: want a number of host devices ≥ 1", DevicesOption, v)
		}
	}
	return name + ":" + strings.Join(kept, ","), n, nil
}

// WithDevices returns config (a GOMLX_BACKEND-style configuration) asking for n host
// devices when it selects the XLA CPU plugin and sets no device count itself; any other
// configuration (a GPU plugin, the pure-Go backend) is returned as it is, and so is every
// configuration for n ≤ 1.
func WithDevices(config string, n int) string {
	if n <= 1 || !IsXLAConfig(config) || !cpuPluginConfig(config) || strings.Contains(config, ","+DevicesOption+"=") {
		return config
	}
	if name, opts, _ := strings.Cut(config, ":"); opts == "" {
		config = name + ":cpu"
	}
	return config + "," + DevicesOption + "=" + strconv.Itoa(n)
}

// NewForDevices is New for a training over n devices: with the XLA CPU plugin, the
// backend has n host devices (WithDevices); otherwise it is New's backend. Whether the
// backend can run n devices is CheckDevices's question.
func NewForDevices(n int) (backends.Backend, error) {
	config, ok := os.LookupEnv(backends.ConfigEnvVar)
	if !ok || strings.TrimSpace(config) == "" {
		config = DefaultConfig
	}
	return NewWithConfig(WithDevices(config, n))
}

// CheckDevices returns an error saying why b cannot run one graph over n devices: the
// pure-Go backends run on one device only (several devices need GoMLX's XLA backend),
// and an XLA backend needs at least n devices. n ≤ 1 is always possible.
func CheckDevices(b backends.Backend, n int) error {
	if n <= 1 {
		return nil
	}
	if IsPureGo(b) {
		return fmt.Errorf("the pure-Go backend %q runs on one device: %d devices need the XLA backend "+
			"(%s=xla:cpu for host devices of this CPU, xla:cuda for GPUs; see docs/pretraining.md)", b.Name(), n, backends.ConfigEnvVar)
	}
	if have := b.NumDevices(); have < n {
		return fmt.Errorf("backend %s has %d device(s), %d asked for (with the XLA CPU plugin set %s=xla:cpu,%s=%d; a GPU plugin sees the visible GPUs)",
			b.Name(), have, n, backends.ConfigEnvVar, DevicesOption, n)
	}
	return nil
}

// cpuPluginConfig reports whether an XLA configuration names the CPU plugin: by kind
// ("xla", "xla:cpu") or by a path whose file name says cpu.
func cpuPluginConfig(config string) bool {
	_, opts, _ := strings.Cut(config, ":")
	plugin, _, _ := strings.Cut(opts, ",")
	return plugin == "" || plugin == "cpu" || strings.Contains(filepath.Base(plugin), "cpu")
}
