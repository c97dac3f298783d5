package engine

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/backends"
)

// HostMemory returns the machine's physical memory in bytes (MemTotal of /proc/meminfo);
// ok is false where it cannot be read (other systems).
func HostMemory() (bytes uint64, ok bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// OnHostMemory reports whether the backend b keeps its buffers in the machine's memory
// (the pure-Go backends, XLA's CPU plugin), so that HostMemory bounds what a graph may
// use. A nil b stands for the backend New would make (GOMLX_BACKEND). GPU backends have
// their own memory, which GoMLX v0.26 does not report: false.
func OnHostMemory(b backends.Backend) bool {
	if b != nil {
		if IsPureGo(b) {
			return true
		}
		return strings.Contains(strings.ToLower(b.DeviceDescription(0)), "cpu")
	}
	config, ok := os.LookupEnv(backends.ConfigEnvVar)
	if !ok || strings.TrimSpace(config) == "" {
		config = DefaultConfig
	}
	name, opts, _ := strings.Cut(config, ":")
	if !IsXLAConfig(config) {
		return name == PureGoName || name == "go"
	}
	plugin, _, _ := strings.Cut(opts, ",")
	return plugin == "" || strings.Contains(strings.ToLower(plugin), "cpu")
}

// CheckMemory returns an error when need bytes (an estimate of what what needs, made
// before anything is built) exceed the memory of the backend b (nil: the one New would
// make) where that memory is known (OnHostMemory: the machine's). The error states the
// estimate and the memory, so that an oversized model or batch is refused with numbers
// instead of ending in Go's out-of-memory fatal error.
func CheckMemory(b backends.Backend, need float64, what string) error {
	if !OnHostMemory(b) {
		return nil
	}
	total, ok := HostMemory()
	if !ok || need <= float64(total) {
		return nil
	}
	return fmt.Errorf("%s needs at least %s of memory (estimated before building it), more than this machine's %s", what, FormatBytes(need), FormatBytes(float64(total)))
}

// FormatBytes writes a byte count with a binary unit, e.g. "23.4 GiB".
func FormatBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}
