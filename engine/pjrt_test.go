package engine

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends/simplego"
)

// TestFindPlugin checks the search order of FindPlugin and the error without a plugin.
func TestFindPlugin(t *testing.T) {
	repo := t.TempDir()
	sub := filepath.Join(repo, "acl", "deep")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	t.Setenv(PluginPathEnv, "")
	t.Setenv("HOME", t.TempDir())

	// Nothing installed: the error names the install script and the package.
	_, err := FindPlugin("cpu")
	if !errors.Is(err, ErrPluginNotFound) {
		t.Fatalf("FindPlugin without a plugin: %v, want ErrPluginNotFound", err)
	}
	for _, want := range []string{"bash scripts/install-xla-cpu.sh", "xla-cpu-pjrt", PluginPathEnv} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := NewWithConfig("xla:cpu"); err == nil || !strings.Contains(err.Error(), "install-xla-cpu.sh") {
		t.Errorf("NewWithConfig(xla:cpu) without a plugin: %v, want the install script named", err)
	}
	if _, err := NewWithConfig("xla:cuda"); err == nil || !strings.Contains(err.Error(), "install-xla-cuda.sh") {
		t.Errorf("NewWithConfig(xla:cuda) without a plugin: %v, want the install script named", err)
	}
	if _, err := NewWithConfig("xla:/no/such/plugin.so"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("NewWithConfig with a missing absolute path: %v", err)
	}

	// The install script's folder, found from a subfolder of the repository.
	installed := filepath.Join(repo, PluginDir, "cpu", "pjrt_c_api_cpu_plugin.so")
	writeFile(t, installed)
	got, err := FindPlugin("cpu")
	if err != nil || got != installed {
		t.Fatalf("FindPlugin(cpu) = %q, %v; want %q", got, err, installed)
	}
	if _, err := FindPlugin("cuda"); err == nil {
		t.Errorf("FindPlugin(cuda) found a plugin: only a CPU one is installed")
	}
	resolved, err := resolveXLAConfig("xla:cpu")
	if err != nil || resolved != "xla:"+installed+",shared_buffers" {
		t.Errorf("resolveXLAConfig(xla:cpu) = %q, %v", resolved, err)
	}
	if resolved, err = resolveXLAConfig("xla"); err != nil || !strings.HasPrefix(resolved, "xla:"+installed) {
		t.Errorf("resolveXLAConfig(xla) = %q, %v", resolved, err)
	}

	// PJRT_PLUGIN_LIBRARY_PATH comes first: a folder with a wheel's file name, or a file.
	other := filepath.Join(t.TempDir(), "xla_cpu_pjrt.so")
	writeFile(t, other)
	t.Setenv(PluginPathEnv, "/nonexistent:"+filepath.Dir(other))
	if got, err = FindPlugin("cpu"); err != nil || got != other {
		t.Errorf("with %s=folder: FindPlugin(cpu) = %q, %v; want %q", PluginPathEnv, got, err, other)
	}
	cuda := filepath.Join(t.TempDir(), "xla_cuda_plugin.so")
	writeFile(t, cuda)
	t.Setenv(PluginPathEnv, cuda)
	if got, err = FindPlugin("cuda"); err != nil || got != cuda {
		t.Errorf("with %s=file: FindPlugin(cuda) = %q, %v; want %q", PluginPathEnv, got, err, cuda)
	}
}

func writeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("not a plugin"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPureGoSilentParallelism: creating the backend prints nothing (simplego's option
// parser prints "SimpleGo backend: parallelism set to N") and still sets simplego's
// worker limit.
func TestPureGoSilentParallelism(t *testing.T) {
	for _, tc := range []struct {
		config string
		want   int
	}{{"", -1}, {"parallelism=3", 3}, {"kernels=simplego,parallelism=0", 0}} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout := os.Stdout
		os.Stdout = w
		b, err := NewPureGo(tc.config)
		os.Stdout = stdout
		_ = w.Close()
		printed, _ := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(printed) > 0 {
			t.Errorf("NewPureGo(%q) printed %q", tc.config, printed)
		}
		sg := b.(*PureGo).Backend
		got := reflect.ValueOf(sg).Elem().FieldByName("workers").FieldByName("maxParallelism").Int()
		if int(got) != tc.want {
			t.Errorf("NewPureGo(%q): simplego parallelism %d, want %d", tc.config, got, tc.want)
		}
		var _ *simplego.Backend = sg
	}
}

// TestFindCUDAPlugin: the layout scripts/install-xla-cuda.sh makes (a private
// site-packages folder) is found, and XLA is pointed at the ptxas installed next to it.
func TestFindCUDAPlugin(t *testing.T) {
	repo := t.TempDir()
	t.Chdir(repo)
	t.Setenv(PluginPathEnv, "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
	t.Setenv("GOPJRT_CUDA_CHECKS", "")
	site := filepath.Join(repo, PluginDir, "cuda", "site")
	plugin := filepath.Join(site, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
	writeFile(t, plugin)
	writeFile(t, filepath.Join(site, "nvidia", "cu13", "bin", "ptxas"))
	got, err := FindPlugin("cuda")
	if err != nil || got != plugin {
		t.Fatalf("FindPlugin(cuda) = %q, %v; want %q", got, err, plugin)
	}
	resolved, err := resolveXLAConfig("xla:cuda")
	if err != nil || resolved != "xla:"+plugin {
		t.Fatalf("resolveXLAConfig(xla:cuda) = %q, %v", resolved, err)
	}
	want := "--xla_dump_to=/tmp/x --xla_gpu_cuda_data_dir=" + filepath.Join(site, "nvidia", "cu13")
	if got := os.Getenv("XLA_FLAGS"); got != want {
		t.Errorf("XLA_FLAGS = %q, want %q", got, want)
	}
}
