package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/internal/xlatest"
)

// WithDevices adds the host-device option to XLA CPU configurations only.
func TestWithDevices(t *testing.T) {
	for _, c := range []struct {
		config string
		n      int
		want   string
	}{
		{"xla:cpu", 4, "xla:cpu,devices=4"},
		{"xla", 2, "xla:cpu,devices=2"},
		{"xla:cpu,shared_buffers", 8, "xla:cpu,shared_buffers,devices=8"},
		{"xla:/opt/pjrt/pjrt_c_api_cpu_plugin.so", 2, "xla:/opt/pjrt/pjrt_c_api_cpu_plugin.so,devices=2"},
		{"xla:cpu,devices=8", 4, "xla:cpu,devices=8"}, // the configuration's own count wins
		{"xla:cpu", 1, "xla:cpu"},
		{"xla:cuda", 4, "xla:cuda"}, // a GPU plugin has its GPUs
		{"goacl", 4, "goacl"},
	} {
		if got := engine.WithDevices(c.config, c.n); got != c.want {
			t.Errorf("WithDevices(%q, %d) = %q, want %q", c.config, c.n, got, c.want)
		}
	}
}

// The pure-Go backends run on one device; asking them for more names XLA. A bad or
// misplaced devices option is an error.
func TestDevicesErrors(t *testing.T) {
	pureGo, err := engine.NewPureGo("")
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.CheckDevices(pureGo, 1); err != nil {
		t.Errorf("one device on the pure-Go backend: %v", err)
	}
	if err := engine.CheckDevices(pureGo, 2); err == nil || !strings.Contains(err.Error(), "XLA") || !strings.Contains(err.Error(), "one device") {
		t.Errorf("two devices on the pure-Go backend: %v; want an error naming XLA", err)
	}
	for config, want := range map[string]string{
		"xla:cpu,devices=0":   "≥ 1",
		"xla:cpu,devices=two": "≥ 1",
		"xla:cuda,devices=2":  "GPU plugin",
	} {
		if _, err := engine.NewWithConfig(config); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewWithConfig(%q): %v; want an error saying %q", config, err, want)
		}
	}
}

// TestDataParallelHostDevices: the XLA CPU plugin gets the number of host devices asked
// for (the PJRT client option cpu_device_count; XLA_FLAGS' device count is not read by
// the plugin), several clients of different counts live in one process, and CheckDevices
// refuses more devices than a backend has.
func TestDataParallelHostDevices(t *testing.T) {
	xlatest.Backend(t)
	for _, n := range []int{1, 3, 8} {
		b, err := engine.NewWithConfig(fmt.Sprintf("xla:cpu,%s=%d", engine.DevicesOption, n))
		if err != nil {
			t.Fatal(err)
		}
		if b.NumDevices() != n {
			t.Errorf("xla:cpu,devices=%d has %d devices", n, b.NumDevices())
		}
		if err := engine.CheckDevices(b, n); err != nil {
			t.Errorf("CheckDevices(%d devices, %d): %v", b.NumDevices(), n, err)
		}
		if err := engine.CheckDevices(b, n+1); err == nil || !strings.Contains(err.Error(), "devices=") {
			t.Errorf("CheckDevices(%d devices, %d): %v; want an error naming the devices option", b.NumDevices(), n+1, err)
		}
	}
}
