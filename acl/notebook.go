package acl

import (
	"fmt"
	"html"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ainfonce/goacl/acl/pretrain"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/backends"
)

// Environment variables read by OpenNotebook.
const (
	// NotebookScaleEnv selects the notebooks' scale: smoke (default), cpu or gpu.
	NotebookScaleEnv = "ACL_NOTEBOOK_SCALE"
	// NotebookRunsEnv is the folder holding the notebooks' run directories (default
	// <repo>/notebooks/runs); each scale uses its own sub-folder.
	NotebookRunsEnv = "ACL_NOTEBOOK_RUNS"
	// NotebookDataEnv is the CIFAR-10 folder (default: <repo>/../shared/datasets/cifar-10
	// when it holds files, else the user cache, as `acl pretrain -data`;
	// datasets.DefaultDir). It is the variable the tests read too.
	NotebookDataEnv = "ACL_CIFAR10_DIR"
)

// Notebook is the environment of a notebook: its scale, where the data and the run
// directories are, and the settings of the scale. Every GoNB cell is a new process, so
// cells call OpenNotebook again and find earlier cells' work in the run directories.
type Notebook struct {
	// Scale is the notebook's scale (ACL_NOTEBOOK_SCALE).
	Scale NotebookScale `json:"scale"`
	// Preset is the pretraining preset of the scale (smoke, cpu or paper).
	Preset string `json:"preset"`
	// DataDir holds CIFAR-10's binary files.
	DataDir string `json:"data_dir"`
	// RunsDir holds this scale's run directories (<runs folder>/<scale>).
	RunsDir string `json:"runs_dir"`
	// RepoRoot is the repository the notebook belongs to ("" if not found).
	RepoRoot string `json:"repo_root"`
	// Settings are the scale's sizes.
	Settings NotebookSettings `json:"settings"`

	backend backends.Backend
}

// OpenNotebook reads the scale (ACL_NOTEBOOK_SCALE, default smoke), the data folder
// (ACL_CIFAR10_DIR, default datasets.DefaultDir: <repo>/../shared/datasets/cifar-10 when
// it holds files, else the user cache, downloaded there on first use) and the runs folder
// (ACL_NOTEBOOK_RUNS, default <repo>/notebooks/runs) and returns the notebook's
// environment. The repository is found by walking up from $GONB_DIR (the notebook's
// folder under GoNB) or the working directory to the go.mod of this module.
func OpenNotebook() (*Notebook, error) {
	return OpenNotebookAt(NotebookPlaces{Scale: os.Getenv(NotebookScaleEnv), DataDir: os.Getenv(NotebookDataEnv), Runs: os.Getenv(NotebookRunsEnv)})
}

// NotebookPlaces are what OpenNotebook reads from the environment: the scale's name, the
// CIFAR-10 folder and the runs folder; "" takes the default of each.
type NotebookPlaces struct {
	// Scale is the scale's name, DataDir the CIFAR-10 folder and Runs the runs folder.
	Scale, DataDir, Runs string
}

// OpenNotebookAt is OpenNotebook with the scale and folders given (the command line's
// `acl grid` uses it).
func OpenNotebookAt(p NotebookPlaces) (*Notebook, error) {
	scale, err := ParseNotebookScale(p.Scale)
	if err != nil {
		return nil, err
	}
	nb := &Notebook{Scale: scale, Preset: scale.Preset(), Settings: DefaultNotebookSettings(scale)}
	start := os.Getenv("GONB_DIR")
	if start == "" {
		if start, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	nb.RepoRoot = findModuleRoot(start)
	nb.DataDir = p.DataDir
	if nb.DataDir == "" {
		nb.DataDir, _ = datasets.DefaultDir(datasets.CIFAR10, nb.RepoRoot)
	}
	runs := p.Runs
	if runs == "" {
		if nb.RepoRoot == "" {
			return nil, fmt.Errorf("set %s to a folder for the notebooks' run directories (no goacl repository above %s to find the default)", NotebookRunsEnv, start)
		}
		runs = filepath.Join(nb.RepoRoot, "notebooks", "runs")
	}
	if nb.DataDir, err = filepath.Abs(nb.DataDir); err != nil {
		return nil, err
	}
	if nb.RunsDir, err = filepath.Abs(filepath.Join(runs, string(scale))); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(nb.RunsDir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: cannot create the runs folder %s: %w", NotebookRunsEnv, nb.RunsDir, err)
	}
	return nb, nil
}

// findModuleRoot walks up from dir to the folder whose go.mod declares this module.
func findModuleRoot(dir string) string {
	dir, _ = filepath.Abs(dir)
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(data), "module github.com/ainfonce/goacl\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Backend returns the backend the notebook's runs and analyses use (engine.New: the
// pure-Go backend unless GOMLX_BACKEND selects XLA), created once per process.
func (nb *Notebook) Backend() (backends.Backend, error) {
	if nb.backend == nil {
		b, err := engine.New()
		if err != nil {
			return nil, err
		}
		nb.backend = b
	}
	return nb.backend, nil
}

// Pretrained loads the pretrained model of the notebook run called name (or of a run
// directory given by its path) on the notebook's backend (LoadPretrained).
func (nb *Notebook) Pretrained(name string) (*Pretrained, error) {
	backend, err := nb.Backend()
	if err != nil {
		return nil, err
	}
	dir := name
	if !filepath.IsAbs(name) {
		dir = nb.RunDir(name)
	}
	return LoadPretrained(backend, dir)
}

// BannerHTML is the HTML block every notebook shows first: the scale and what it means,
// the data and run folders, and how to change the scale.
func (nb *Notebook) BannerHTML(title string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="acl-banner" data-scale="%s" style="border:1px solid #888;padding:6px 10px">`, nb.Scale)
	fmt.Fprintf(&b, "<b>%s</b><br>", html.EscapeString(title))
	fmt.Fprintf(&b, "Scale: <b>%s</b> — %s<br>", nb.Scale, html.EscapeString(strings.TrimPrefix(nb.Scale.Describe(), string(nb.Scale)+": ")))
	fmt.Fprintf(&b, "Pretraining preset <code>%s</code>; runs in <code>%s</code>; data in <code>%s</code>.<br>",
		nb.Preset, html.EscapeString(nb.DisplayPath(nb.RunsDir)), html.EscapeString(nb.DisplayPath(nb.DataDir)))
	fmt.Fprintf(&b, "Change the scale with <code>%s=smoke|cpu|gpu</code> and the runs folder with <code>%s</code> before starting Jupyter.</div>",
		NotebookScaleEnv, NotebookRunsEnv)
	return b.String()
}

// DisplayPath returns p relative to the repository when it lies in it or next to it
// (e.g. "notebooks/runs/smoke/rocl-ip", "../shared/datasets/cifar-10"), else p: paths as
// notebooks show them, the same on every machine.
func (nb *Notebook) DisplayPath(p string) string {
	if nb.RepoRoot == "" {
		return p
	}
	rel, err := filepath.Rel(nb.RepoRoot, p)
	if err != nil || strings.HasPrefix(rel, filepath.Join("..", "..")) {
		return p
	}
	return rel
}

// RunDir returns the path of the notebook run called name.
func (nb *Notebook) RunDir(name string) string { return filepath.Join(nb.RunsDir, name) }

// PretrainConfig returns the configuration of a method/variant at the notebook's scale
// (Preset with the scale's preset and the notebook's data folder).
func (nb *Notebook) PretrainConfig(method, variant string) (pretrain.Config, error) {
	return pretrain.Preset(method, variant, nb.Preset, nb.DataDir)
}

// say writes one progress line to w (nil: nowhere).
func say(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// Command builds the acl command of the notebook's repository into the runs folder
// (go build ./cmd/acl) and returns its path: notebooks run the command line with it, as a
// GPU machine would.
func (nb *Notebook) Command() (string, error) {
	if nb.RepoRoot == "" {
		return "", fmt.Errorf("no goacl repository found to build the acl command from")
	}
	bin := filepath.Join(nb.RunsDir, "acl")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/acl")
	cmd.Dir = nb.RepoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/acl: %v: %s", err, out)
	}
	return bin, nil
}
