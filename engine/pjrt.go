package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// XLA plugins by kind. GOMLX_BACKEND=xla:cpu (or plain "xla") and xla:cuda name a PJRT
// plugin by kind instead of by path; New resolves the kind to the plugin file installed by
// the project's scripts (scripts/install-xla-cpu.sh, scripts/install-xla-cuda.sh), or found
// through PJRT_PLUGIN_LIBRARY_PATH or go-xla's own folders, and hands GoMLX the absolute
// path. GoMLX would otherwise try to download a CPU plugin from GitHub and fail without a
// word about how this project installs one.

// PluginDir is where the project's install scripts put the PJRT plugins, relative to the
// repository root: PluginDir/cpu and PluginDir/cuda. The folder is ignored by git.
const PluginDir = ".cache/pjrt"

// PluginPathEnv is the variable go-xla also reads: a colon-separated list of folders (or
// plugin files) searched for a plugin named by kind.
const PluginPathEnv = "PJRT_PLUGIN_LIBRARY_PATH"

// pluginKinds maps a plugin kind to the file names it is known under: go-xla's convention
// first, then the names inside the PyPI wheels (xla-cpu-pjrt, jax-cuda13/12-pjrt).
var pluginKinds = map[string]struct {
	files   []string
	install string
	pkg     string
}{
	"cpu": {files: []string{"pjrt_c_api_cpu_plugin.so", "xla_cpu_pjrt.so"},
		install: "bash scripts/install-xla-cpu.sh", pkg: "PyPI package xla-cpu-pjrt"},
	"cuda": {files: []string{"pjrt_c_api_cuda_plugin.so", "xla_cuda_plugin.so",
		"site/jax_plugins/xla_cuda13/xla_cuda_plugin.so", "site/jax_plugins/xla_cuda12/xla_cuda_plugin.so"},
		install: "bash scripts/install-xla-cuda.sh", pkg: "PyPI package jax-cuda13-pjrt or jax-cuda12-pjrt"},
}

// PluginKinds lists the plugin kinds FindPlugin resolves ("cpu", "cuda").
func PluginKinds() []string { return []string{"cpu", "cuda"} }

// FindPlugin returns the absolute path of the installed PJRT plugin of kind ("cpu" or
// "cuda"). It searches, in order: each entry of PJRT_PLUGIN_LIBRARY_PATH (a plugin file,
// or a folder holding one under a known name); PluginDir/<kind> under the current
// directory, the executable's folder and every folder above them (the repository root,
// where the install scripts put it); then go-xla's folders ~/.local/lib/go-xla and
// /usr/local/lib/go-xla. A plugin that is not found is an error naming the install script
// and every place searched.
func FindPlugin(kind string) (string, error) {
	k, ok := pluginKinds[kind]
	if !ok {
		return "", fmt.Errorf("engine: unknown PJRT plugin kind %q: use one of %s", kind, strings.Join(PluginKinds(), ", "))
	}
	var searched []string
	try := func(dir string) string {
		searched = append(searched, dir)
		for _, f := range k.files {
			p := filepath.Join(dir, f)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p
			}
		}
		return ""
	}
	if env := os.Getenv(PluginPathEnv); env != "" {
		for _, entry := range strings.Split(env, ":") {
			if entry == "" {
				continue
			}
			if st, err := os.Stat(entry); err == nil && st.Mode().IsRegular() {
				if matchesKind(entry, k.files) {
					return filepath.Abs(entry)
				}
				searched = append(searched, entry)
				continue
			}
			if p := try(entry); p != "" {
				return filepath.Abs(p)
			}
		}
	} else {
		searched = append(searched, "$"+PluginPathEnv+" (unset)")
	}
	seen := map[string]bool{}
	for _, start := range searchRoots() {
		for dir := start; ; dir = filepath.Dir(dir) {
			cand := filepath.Join(dir, PluginDir, kind)
			if !seen[cand] {
				seen[cand] = true
				if _, err := os.Stat(filepath.Join(dir, PluginDir)); err == nil {
					if p := try(cand); p != "" {
						return filepath.Abs(p)
					}
				}
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	searched = append(searched, filepath.Join("<current and executable folders and their parents>", PluginDir, kind))
	var goXLA []string
	if home, err := os.UserHomeDir(); err == nil {
		goXLA = append(goXLA, filepath.Join(home, ".local", "lib", "go-xla"))
	}
	goXLA = append(goXLA, "/usr/local/lib/go-xla")
	for _, dir := range goXLA {
		if p := try(dir); p != "" {
			return p, nil
		}
		if kind == "cuda" {
			if p := try(filepath.Join(dir, "nvidia")); p != "" {
				return p, nil
			}
		}
	}
	return "", &PluginNotFoundError{Kind: kind, Searched: searched, Install: k.install, Package: k.pkg}
}

// PluginNotFoundError is FindPlugin's error when no plugin of Kind is installed.
type PluginNotFoundError struct {
	// Kind is the plugin kind asked for ("cpu", "cuda"); Searched lists the places looked
	// in, in order.
	Kind     string
	Searched []string
	Install  string // the command that installs it, run from the repository root
	Package  string // where the plugin comes from
}

// Error names the install script, the package, the variable to set and what was searched.
func (e *PluginNotFoundError) Error() string {
	return fmt.Sprintf("no XLA %s PJRT plugin found: install it with `%s` from the repository root (%s), "+
		"or set %s to the folder or file that holds it, or use GOMLX_BACKEND=xla:/absolute/path/to/plugin.so (searched: %s)",
		strings.ToUpper(e.Kind), e.Install, e.Package, PluginPathEnv, strings.Join(e.Searched, ", "))
}

// ErrPluginNotFound matches PluginNotFoundError with errors.Is.
var ErrPluginNotFound = errors.New("PJRT plugin not found")

// Is makes errors.Is(err, ErrPluginNotFound) true for a PluginNotFoundError.
func (e *PluginNotFoundError) Is(target error) bool { return target == ErrPluginNotFound }

func matchesKind(path string, files []string) bool {
	base := filepath.Base(path)
	for _, f := range files {
		if base == filepath.Base(f) {
			return true
		}
	}
	return false
}

// cudaDataDir returns the folder holding ptxas (bin/) and libdevice (nvvm/) installed from
// PyPI next to a CUDA plugin laid out as in site-packages (<site>/jax_plugins/xla_cudaNN/
// with <site>/nvidia/cu13 or <site>/nvidia/cuda_nvcc), or "".
func cudaDataDir(plugin string) string {
	site := filepath.Dir(filepath.Dir(filepath.Dir(plugin)))
	for _, d := range []string{"nvidia/cu13", "nvidia/cuda_nvcc"} {
		dir := filepath.Join(site, d)
		if _, err := os.Stat(filepath.Join(dir, "bin", "ptxas")); err == nil {
			return dir
		}
	}
	return ""
}

// searchRoots are the folders whose ancestors may hold PluginDir: the working directory
// (tests run in their package folder, commands usually at the repository root) and the
// executable's folder (a binary built into build/ and run from elsewhere).
func searchRoots() []string {
	var roots []string
	if wd, err := os.Getwd(); err == nil {
		roots = append(roots, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		roots = append(roots, filepath.Dir(exe))
	}
	return roots
}

// xlaNames are the names GoMLX registers its XLA backend under.
var xlaNames = map[string]bool{"xla": true, "stablehlo": true, "hlo": true, "shlo": true}

// IsXLAConfig reports whether a GOMLX_BACKEND-style configuration selects GoMLX's XLA
// backend.
func IsXLAConfig(config string) bool {
	name, _, _ := strings.Cut(config, ":")
	return xlaNames[name]
}

// resolveXLAConfig rewrites an XLA configuration naming a plugin kind ("xla", "xla:cpu",
// "xla:cuda", each optionally followed by ",options") into one naming the plugin's
// absolute path, which GoMLX loads without trying to download anything. An absolute path
// is checked to exist. Other plugin names pass through unchanged.
func resolveXLAConfig(config string) (string, error) {
	name, opts, _ := strings.Cut(config, ":")
	plugin, rest, _ := strings.Cut(opts, ",")
	if rest != "" {
		rest = "," + rest
	}
	switch {
	case plugin == "" || plugin == "cpu":
		path, err := FindPlugin("cpu")
		if err != nil {
			return "", err
		}
		// GoMLX reads XLA CPU buffers in place ("shared buffers") only for a plugin named
		// "cpu"; loaded by path, the option says so.
		if !strings.Contains(rest, "shared_buffers") {
			rest += ",shared_buffers"
		}
		return name + ":" + path + rest, nil
	case plugin == "cuda" || plugin == "gpu":
		path, err := FindPlugin("cuda")
		if err != nil {
			return "", err
		}
		// go-xla's CUDA check may otherwise put a hard-coded developer path into
		// XLA_FLAGS (go-xla v0.1.4, pjrt/cuda_linux.go).
		if _, set := os.LookupEnv("GOPJRT_CUDA_CHECKS"); !set {
			_ = os.Setenv("GOPJRT_CUDA_CHECKS", "0")
		}
		// XLA compiles its kernels with ptxas and libdevice: point it at the ones
		// scripts/install-xla-cuda.sh (or JAX's pip packages) put next to the plugin.
		if flags := os.Getenv("XLA_FLAGS"); !strings.Contains(flags, "--xla_gpu_cuda_data_dir") {
			if dir := cudaDataDir(path); dir != "" {
				_ = os.Setenv("XLA_FLAGS", strings.TrimSpace(flags+" --xla_gpu_cuda_data_dir="+dir))
			}
		}
		return name + ":" + path + rest, nil
	case filepath.IsAbs(plugin):
		if st, err := os.Stat(plugin); err != nil || !st.Mode().IsRegular() {
			return "", fmt.Errorf("PJRT plugin %s does not exist or is not a file: install one with `bash scripts/install-xla-cpu.sh` "+
				"(CPU) or `bash scripts/install-xla-cuda.sh` (CUDA), or use GOMLX_BACKEND=xla:cpu / xla:cuda to find the installed one", plugin)
		}
	}
	return config, nil
}
