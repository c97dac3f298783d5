package experiment

import (
	"bufio"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/ainfonce/goacl/acl/rundir"
)

// Machine describes where an experiment ran.
type Machine struct {
	// Host, CPUModel, NumCPU (logical CPUs), GOMAXPROCS and MemoryGiB describe the
	// machine; Backend the graphs' backend; GoVersion, GitCommit and GitDirty the build.
	Host       string  `json:"host"`
	CPUModel   string  `json:"cpu_model"`
	NumCPU     int     `json:"num_cpu"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	MemoryGiB  float64 `json:"memory_gib"`
	Backend    string  `json:"backend"`
	GoVersion  string  `json:"go_version"`
	GitCommit  string  `json:"git_commit"`
	GitDirty   bool    `json:"git_dirty"`
}

// DescribeMachine describes this machine and build, with the backend's description.
func DescribeMachine(backend string) Machine {
	p := rundir.CollectProvenance(backend)
	m := Machine{Host: p.Host, NumCPU: p.NumCPU, GOMAXPROCS: runtime.GOMAXPROCS(0), Backend: backend,
		GoVersion: p.GoVersion, GitCommit: p.GitCommit, GitDirty: p.GitDirty}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseFloat(strings.Fields(procField("/proc/meminfo", "MemTotal") + " 0")[0], 64); err == nil && kb > 0 {
		m.MemoryGiB = math.Round(kb/(1<<20)*10) / 10
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc file ("" when
// absent).
func procField(file, key string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadAverage is the 1-minute load average (-1 where the system does not say).
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return -1
	}
	return v
}
