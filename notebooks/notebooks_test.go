// Package notebooks holds the GoNB notebooks that walk through the paper, and the test
// that executes them headless and checks their outputs.
//
// TestNotebooks runs every notebooks/*.ipynb with Jupyter's nbconvert and the GoNB kernel at
// smoke scale (ACL_NOTEBOOK_SCALE=smoke) on fresh run directories, then fails on any
// error output and on any "exit status N" / "signal: ..." / "panic: ..." line on a cell's
// stderr (nbconvert alone exits 0 when a cell panics), and asserts each notebook's key
// outputs: its tables (by data-name) with the expected rows and numbers in range, and
// its images. The executed notebooks and their markdown renderings go to
// notebooks/.executed/; with ACL_NOTEBOOK_DOCS=1 the markdown is also written to
// docs/notebooks/.
//
// The tools come from scripts/install-notebook-tools.sh. Without them the test is
// skipped, except in CI (CI=true), where their absence is a failure.
package notebooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ainfonce/goacl/internal/testdirs"
	"github.com/janpfeifer/gonb/gonbui/protocol"
)

// notebookFile is the part of an .ipynb file the checks read.
type notebookFile struct {
	Cells []struct {
		CellType string   `json:"cell_type"`
		Source   []string `json:"source"`
		Outputs  []output `json:"outputs"`
	} `json:"cells"`
}

type output struct {
	OutputType string                     `json:"output_type"`
	Name       string                     `json:"name"`
	Text       json.RawMessage            `json:"text"`
	Data       map[string]json.RawMessage `json:"data"`
	EName      string                     `json:"ename"`
	EValue     string                     `json:"evalue"`
}

// joinText decodes a Jupyter multiline string (a string or a list of strings).
func joinText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []string
	if json.Unmarshal(raw, &parts) == nil {
		return strings.Join(parts, "")
	}
	return string(raw)
}

// failureLine matches what GoNB prints on a cell's stderr when the cell's program or shell
// command fails.
var failureLine = regexp.MustCompile(`(?m)^(exit status \d+|signal: .+|panic: .+)$`)

// Problem is one failure found in an executed notebook.
type Problem struct {
	Cell int // index in the notebook's cells
	What string
}

func (p Problem) String() string { return fmt.Sprintf("cell %d: %s", p.Cell, p.What) }

// CheckExecuted returns the failures recorded in an executed notebook: error outputs,
// and failure lines (exit status, signal, panic) on stderr streams.
func CheckExecuted(nb *notebookFile) []Problem {
	var out []Problem
	for i, c := range nb.Cells {
		for _, o := range c.Outputs {
			switch o.OutputType {
			case "error":
				out = append(out, Problem{i, fmt.Sprintf("error output %s: %s", o.EName, o.EValue)})
			case "stream":
				if o.Name != "stderr" {
					continue
				}
				text := joinText(o.Text)
				for _, m := range failureLine.FindAllString(text, -1) {
					out = append(out, Problem{i, fmt.Sprintf("stderr %q (stderr was: %s)", m, tail(text, 1500))})
				}
			}
		}
	}
	return out
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// htmlTable is a table found in an executed notebook: its rows of cells, each with the
// text and, for numeric cells, the data-value.
type htmlTable struct {
	Name    string
	Headers []string
	Rows    [][]tableCell
}

type tableCell struct {
	Text     string
	Value    float64
	HasValue bool
}

var (
	tableRE = regexp.MustCompile(`(?s)<table class="acl-table" data-name="([^"]*)">(.*?)</table>`)
	bodyRE  = regexp.MustCompile(`(?s)<tbody>(.*?)</tbody>`)
	headRE  = regexp.MustCompile(`(?s)<th>(.*?)</th>`)
	rowRE   = regexp.MustCompile(`(?s)<tr>(.*?)</tr>`)
	cellRE  = regexp.MustCompile(`(?s)<td([^>]*)>(.*?)</td>`)
	valueRE = regexp.MustCompile(`data-value="([^"]*)"`)
)

// outputsOf collects the HTML tables and counts the PNG images of an executed notebook.
func outputsOf(nb *notebookFile) (tables map[string]htmlTable, pngs int, err error) {
	tables = map[string]htmlTable{}
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			if _, ok := o.Data[string(protocol.MIMEImagePNG)]; ok {
				pngs++
			}
			raw, ok := o.Data[string(protocol.MIMETextHTML)]
			if !ok {
				continue
			}
			for _, m := range tableRE.FindAllStringSubmatch(joinText(raw), -1) {
				t := htmlTable{Name: m[1]}
				for _, h := range headRE.FindAllStringSubmatch(m[2], -1) {
					t.Headers = append(t.Headers, html.UnescapeString(h[1]))
				}
				body := bodyRE.FindStringSubmatch(m[2])
				if body == nil {
					return nil, 0, fmt.Errorf("table %s has no <tbody>", t.Name)
				}
				for _, r := range rowRE.FindAllStringSubmatch(body[1], -1) {
					var row []tableCell
					for _, c := range cellRE.FindAllStringSubmatch(r[1], -1) {
						cell := tableCell{Text: html.UnescapeString(c[2])}
						if v := valueRE.FindStringSubmatch(c[1]); v != nil {
							f, err := strconv.ParseFloat(v[1], 64)
							if err != nil {
								return nil, 0, fmt.Errorf("table %s: data-value %q: %w", t.Name, v[1], err)
							}
							cell.Value, cell.HasValue = f, true
						}
						row = append(row, cell)
					}
					t.Rows = append(t.Rows, row)
				}
				if _, dup := tables[t.Name]; dup {
					return nil, 0, fmt.Errorf("table %s shown twice", t.Name)
				}
				tables[t.Name] = t
			}
		}
	}
	return tables, pngs, nil
}

// tableExpectation is what a notebook's table must hold.
type tableExpectation struct {
	// FirstColumn lists texts the first column must contain (each at least once).
	FirstColumn []string
	// MinRows is the least number of rows.
	MinRows int
	// Ranges maps a column header to the closed range every cell in that column must lie
	// in (each cell must be a number).
	Ranges map[string][2]float64
	// RangeRows, when set, limits Ranges to the rows whose first cell is listed: a table
	// that also shows runs other notebooks made (with only some of the columns) checks
	// the rows its own notebook computed.
	RangeRows []string
}

// expectation is what an executed notebook must show.
type expectation struct {
	Tables map[string]tableExpectation
	// MinPNGs is the least number of PNG images.
	MinPNGs int
	// Text lists strings some output must contain.
	Text []string
}

// unit is the range of accuracies and shares.
var unit = [2]float64{0, 1}

// expectations lists every notebook; a notebook without an entry fails the test.
var expectations = map[string]expectation{
	"01-quickstart.ipynb": {
		Tables: map[string]tableExpectation{
			"cifar10":    {FirstColumn: []string{"train", "test"}},
			"quickstart": {FirstColumn: []string{"rocl-ip"}, Ranges: map[string][2]float64{"probe train accuracy": unit, "probe test accuracy": unit}},
		},
		MinPNGs: 3,
		Text:    []string{`data-scale="smoke"`, "max |δ|", "training rocl-ip"},
	},
	"02-asymmetric-infonce.ipynb": {
		Tables: map[string]tableExpectation{
			"ip-shares": {FirstColumn: []string{"0", "0.2", "0.5", "1"}, Ranges: map[string][2]float64{"clean share (clean/adv pairs)": unit, "clean share (whole loss)": unit}},
			"hn-beta":   {FirstColumn: []string{"0", "1", "4"}, Ranges: map[string][2]float64{"clamped rows": unit}},
			"hn-tau":    {MinRows: 3, Ranges: map[string][2]float64{"clamped rows": unit}},
		},
		MinPNGs: 6,
		Text:    []string{`data-scale="smoke"`},
	},
	"03-attacks.ipynb": {
		Tables: map[string]tableExpectation{
			"attack-epsilon":    {FirstColumn: []string{"0", "8"}, Ranges: map[string][2]float64{"mean feature cosine": {-1, 1}}},
			"pgd-vs-autoattack": {FirstColumn: []string{"clean", "PGD-20", "AutoAttack"}, Ranges: map[string][2]float64{"accuracy": unit}},
		},
		MinPNGs: 3,
		Text:    []string{`data-scale="smoke"`},
	},
	"04-ablation-table.ipynb": {
		Tables: map[string]tableExpectation{
			"experiment-results": {FirstColumn: []string{"RoCL base", "RoCL IP", "random encoder (baseline)", "supervised PGD-AT (baseline)"},
				Ranges: map[string][2]float64{"SLF clean": unit, "SLF PGD-20": unit, "kNN": unit}},
			"experiment-baseline-differences":       {MinRows: 4},
			"experiment-variant-differences":        {FirstColumn: []string{"RoCL IP − RoCL base"}},
			"experiment-knn":                        {MinRows: 4, Ranges: map[string][2]float64{"epoch 0": unit}},
			"experiment-time":                       {MinRows: 5},
			"reference-robustssl-cifar10-cifar10":   {FirstColumn: []string{"A-InfoNCE", "AdvCL", "RoCL"}, Ranges: map[string][2]float64{"SLF SA": unit, "SLF RA (AutoAttack)": unit}},
			"reference-robustssl-cifar100-cifar100": {FirstColumn: []string{"A-InfoNCE", "AdvCL", "RoCL"}},
		},
		MinPNGs: 1,
		Text:    []string{`data-scale="smoke"`, "Plan `smoke`", "seed pairs", "RobustSSL"},
	},
	"05-sensitivity.ipynb": {
		Tables: map[string]tableExpectation{
			"sensitivity": {FirstColumn: []string{"α", "λ", "β", "τ⁺"}, Ranges: map[string][2]float64{"probe clean accuracy": unit, "feature cosine under attack": {-1, 1}}},
		},
		MinPNGs: 4,
		Text:    []string{`data-scale="smoke"`},
	},
	"06-at-scale.ipynb": {
		Tables: map[string]tableExpectation{
			// rocl-base is the row the notebook's script runs; other grid runs the earlier
			// notebooks made (e.g. rocl-ip, SLF only) show "–" where they were not finetuned.
			"ablation": {FirstColumn: []string{"rocl-base"}, Ranges: tableRanges, RangeRows: []string{"rocl-base"}},
		},
		Text: []string{`data-scale="smoke"`, "pretrain -method", "table: "},
	},
}

// tableRanges are the columns the ablation table's rows must fill (AA is optional).
var tableRanges = map[string][2]float64{"SLF SA": unit, "SLF RA": unit, "ALF SA": unit, "ALF RA": unit, "AFF SA": unit, "AFF RA": unit}

// checkExpectation returns what an executed notebook lacks.
func checkExpectation(nb *notebookFile, want expectation) []string {
	var missing []string
	tables, pngs, err := outputsOf(nb)
	if err != nil {
		return []string{err.Error()}
	}
	if pngs < want.MinPNGs {
		missing = append(missing, fmt.Sprintf("%d PNG images, want at least %d", pngs, want.MinPNGs))
	}
	names := make([]string, 0, len(want.Tables))
	for n := range want.Tables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		te := want.Tables[name]
		t, ok := tables[name]
		if !ok {
			missing = append(missing, fmt.Sprintf("no table %q", name))
			continue
		}
		if len(t.Rows) < max(te.MinRows, 1) {
			missing = append(missing, fmt.Sprintf("table %q has %d rows, want at least %d", name, len(t.Rows), max(te.MinRows, 1)))
		}
		first := map[string]bool{}
		for _, r := range t.Rows {
			if len(r) > 0 {
				first[r[0].Text] = true
			}
		}
		for _, f := range te.FirstColumn {
			if !first[f] {
				missing = append(missing, fmt.Sprintf("table %q has no row %q", name, f))
			}
		}
		cols := make([]string, 0, len(te.Ranges))
		for h := range te.Ranges {
			cols = append(cols, h)
		}
		sort.Strings(cols)
		for _, h := range cols {
			rng := te.Ranges[h]
			col := slices.Index(t.Headers, h)
			if col < 0 {
				missing = append(missing, fmt.Sprintf("table %q has no column %q (columns: %q)", name, h, t.Headers))
				continue
			}
			for i, r := range t.Rows {
				if len(te.RangeRows) > 0 && (len(r) == 0 || !slices.Contains(te.RangeRows, r[0].Text)) {
					continue
				}
				if col >= len(r) {
					missing = append(missing, fmt.Sprintf("table %q row %d has no cell in column %q", name, i, h))
					continue
				}
				c := r[col]
				if !c.HasValue || !(c.Value >= rng[0] && c.Value <= rng[1]) {
					missing = append(missing, fmt.Sprintf("table %q row %d column %q = %q (value %v): want a number in [%g, %g]", name, i, h, c.Text, c.Value, rng[0], rng[1]))
				}
			}
		}
	}
	var all strings.Builder
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			all.WriteString(joinText(o.Text))
			for _, d := range o.Data {
				all.WriteString(joinText(d))
			}
		}
	}
	for _, s := range want.Text {
		if !strings.Contains(all.String(), s) {
			missing = append(missing, fmt.Sprintf("no output contains %q", s))
		}
	}
	return missing
}

// tools are the programs the test runs.
type tools struct {
	jupyter string
	path    string // PATH for the kernel: gonb, goimports and go first
}

// findTools locates Jupyter, GoNB, goimports and the GoNB kernel spec; it skips the test
// when one is missing outside CI and fails it in CI.
func findTools(t *testing.T) tools {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + "; install them with: bash scripts/install-notebook-tools.sh"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		missing("go is not on PATH")
	}
	gopath, err := exec.Command(goBin, "env", "GOPATH").Output()
	if err != nil {
		missing("go env GOPATH: %v", err)
	}
	binDir := filepath.Join(strings.TrimSpace(string(gopath)), "bin")
	path := binDir + string(os.PathListSeparator) + filepath.Dir(goBin) + string(os.PathListSeparator) + os.Getenv("PATH")
	for _, prog := range []string{"gonb", "goimports"} {
		if _, err := os.Stat(filepath.Join(binDir, prog)); err != nil {
			if _, err := exec.LookPath(prog); err != nil {
				missing("%s is not installed (looked in %s and PATH)", prog, binDir)
			}
		}
	}
	jupyter := os.Getenv("ACL_JUPYTER")
	if jupyter == "" {
		jupyter = "/usr/bin/jupyter" // Debian's, whatever python3 is first on PATH
		if _, err := os.Stat(jupyter); err != nil {
			jupyter = "jupyter"
		}
	}
	if out, err := exec.Command(jupyter, "nbconvert", "--version").CombinedOutput(); err != nil {
		missing("%s nbconvert does not run: %v: %s", jupyter, err, bytes.TrimSpace(out))
	}
	out, err := exec.Command(jupyter, "kernelspec", "list").CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^\s*gonb\s`).Match(out) {
		missing("the gonb Jupyter kernel is not installed (%v): %s", err, bytes.TrimSpace(out))
	}
	return tools{jupyter: jupyter, path: path}
}

// execute runs nbconvert on a notebook, writing the executed copy to outDir, and returns
// it parsed, nbconvert's combined output and its exit error (nil on success; a nil
// notebook comes with a non-nil error).
func execute(ctx context.Context, tl tools, nbPath, outDir string, env []string) (*notebookFile, string, error) {
	cmd := exec.CommandContext(ctx, tl.jupyter, "nbconvert", "--to", "notebook", "--execute",
		"--ExecutePreprocessor.timeout=1800", "--output-dir", outDir, filepath.Base(nbPath))
	cmd.Dir = filepath.Dir(nbPath)
	cmd.Env = env
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	runErr := cmd.Run()
	data, err := os.ReadFile(filepath.Join(outDir, filepath.Base(nbPath)))
	if err != nil {
		return nil, buf.String(), fmt.Errorf("nbconvert (%v) wrote no executed notebook: %w", runErr, err)
	}
	var nb notebookFile
	if err := json.Unmarshal(data, &nb); err != nil {
		return nil, buf.String(), fmt.Errorf("executed notebook %s: %w", nbPath, err)
	}
	return &nb, buf.String(), runErr
}

// renderMarkdown converts an executed notebook to markdown in dir (images in
// <name>_files/). An output that carries both an interactive HTML form and a PNG (the
// plots: acl.ShowPlot) is rendered as its PNG, since markdown viewers run no scripts.
func renderMarkdown(ctx context.Context, tl tools, executed, dir string, env []string) error {
	cmd := exec.CommandContext(ctx, tl.jupyter, "nbconvert", "--to", "markdown", "--output-dir", dir,
		`--NbConvertBase.display_data_priority=["image/png","text/html","text/markdown","image/svg+xml","image/jpeg","text/plain"]`, executed)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nbconvert --to markdown %s: %v: %s", executed, err, tail(string(out), 2000))
	}
	return nil
}

// environ returns the process environment with the given variables replaced.
func environ(path string, set map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; ok || k == "PATH" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PATH="+path)
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

func deadlineContext(t *testing.T) (context.Context, context.CancelFunc) {
	if d, ok := t.Deadline(); ok {
		return context.WithDeadline(context.Background(), d.Add(-30*time.Second))
	}
	return context.WithCancel(context.Background())
}

// TestNotebooks executes every notebook at smoke scale and checks it (see the package
// documentation).
func TestNotebooks(t *testing.T) {
	if testing.Short() {
		t.Skip("executing the notebooks takes minutes; skipped with -short")
	}
	tl := findTools(t)
	root := testdirs.RepoRoot(t)
	data := testdirs.CIFAR10(t)
	executedDir := filepath.Join(root, "notebooks", ".executed")
	runs := filepath.Join(executedDir, "runs")
	if err := os.RemoveAll(executedDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(runs, 0o755); err != nil {
		t.Fatal(err)
	}
	docs := os.Getenv("ACL_NOTEBOOK_DOCS") == "1"
	docsDir := filepath.Join(root, "docs", "notebooks")
	env := environ(tl.path, map[string]string{
		"ACL_NOTEBOOK_SCALE": "smoke",
		"ACL_NOTEBOOK_RUNS":  runs,
		"ACL_CIFAR10_DIR":    data,
	})
	paths, err := filepath.Glob(filepath.Join(root, "notebooks", "*.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no notebooks in notebooks/")
	}
	sort.Strings(paths)
	ctx, cancel := deadlineContext(t)
	defer cancel()
	for _, p := range paths {
		name := filepath.Base(p)
		t.Run(strings.TrimSuffix(name, ".ipynb"), func(t *testing.T) {
			want, ok := expectations[name]
			if !ok {
				t.Fatalf("notebook %s has no entry in expectations (notebooks_test.go): add the tables and images it must show", name)
			}
			start := time.Now()
			nb, log, runErr := execute(ctx, tl, p, executedDir, env)
			t.Logf("%s executed in %s", name, time.Since(start).Round(time.Second))
			if nb == nil {
				t.Fatalf("%v\n%s", runErr, tail(log, 4000))
			}
			if runErr != nil {
				t.Errorf("nbconvert failed: %v\n%s", runErr, tail(log, 4000))
			}
			for _, pr := range CheckExecuted(nb) {
				t.Error(pr)
			}
			for _, m := range checkExpectation(nb, want) {
				t.Error(m)
			}
			executed := filepath.Join(executedDir, name)
			if err := renderMarkdown(ctx, tl, executed, executedDir, env); err != nil {
				t.Error(err)
			} else if md, err := os.ReadFile(strings.TrimSuffix(executed, ".ipynb") + ".md"); err != nil || !bytes.Contains(md, []byte("acl-banner")) {
				t.Errorf("markdown rendering of %s lacks the banner (%v)", name, err)
			}
			if docs && !t.Failed() {
				base := strings.TrimSuffix(name, ".ipynb")
				_ = os.RemoveAll(filepath.Join(docsDir, base+"_files"))
				if err := renderMarkdown(ctx, tl, executed, docsDir, env); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestCheckerCatchesBrokenNotebook executes testdata/broken.ipynb, whose cells panic,
// exit with a status and run a failing shell command, and checks that CheckExecuted
// reports each of them (and nothing for its healthy cell): the checker can fail.
func TestCheckerCatchesBrokenNotebook(t *testing.T) {
	if testing.Short() {
		t.Skip("executes a notebook; skipped with -short")
	}
	tl := findTools(t)
	out := t.TempDir()
	ctx, cancel := deadlineContext(t)
	defer cancel()
	nb, log, runErr := execute(ctx, tl, filepath.Join("testdata", "broken.ipynb"), out, environ(tl.path, nil))
	if nb == nil {
		t.Fatalf("%v\n%s", runErr, tail(log, 4000))
	}
	t.Logf("nbconvert exit error on the broken notebook: %v (GoNB reports cell failures only on stderr)", runErr)
	problems := CheckExecuted(nb)
	byCell := map[int][]string{}
	for _, p := range problems {
		byCell[p.Cell] = append(byCell[p.Cell], p.What)
	}
	// Cells: 0 markdown, 1 healthy, 2 panic, 3 os.Exit(3), 4 failing shell command.
	if len(byCell[1]) != 0 {
		t.Errorf("healthy cell flagged: %v", byCell[1])
	}
	for cell, want := range map[int]string{2: "exit status 2", 3: "exit status 3", 4: "exit status 1"} {
		found := false
		for _, w := range byCell[cell] {
			found = found || strings.Contains(w, want)
		}
		if !found {
			t.Errorf("cell %d: checker did not report %q (reported %v)", cell, want, byCell[cell])
		}
	}
	if !strings.Contains(strings.Join(byCell[2], " "), "panic: deliberately broken") {
		t.Errorf("cell 2: panic line not reported: %v", byCell[2])
	}
	if missing := checkExpectation(nb, expectation{Tables: map[string]tableExpectation{"x": {}}, MinPNGs: 1}); len(missing) != 2 {
		t.Errorf("expectations on the broken notebook: %v (want a missing table and missing images)", missing)
	}
}

// TestCheckExpectation checks the output assertions on a synthetic executed notebook.
func TestCheckExpectation(t *testing.T) {
	table := `<table class="acl-table" data-name="probe">
<thead><tr><th>run</th><th>SA</th></tr></thead>
<tbody>
<tr><td>rocl-ip</td><td align="right" data-value="0.25">25.00 %</td></tr>
<tr><td>rocl-hn</td><td align="right" data-value="1.5">150.00 %</td></tr>
</tbody>
</table>`
	raw, _ := json.Marshal(map[string]any{"cells": []any{map[string]any{"cell_type": "code", "source": []string{}, "outputs": []any{
		map[string]any{"output_type": "display_data", "data": map[string]any{"text/html": []string{table}, "image/png": "iVBORw0K"}},
		map[string]any{"output_type": "stream", "name": "stderr", "text": []string{"warning\n", "exit status 2\n"}},
		map[string]any{"output_type": "stream", "name": "stdout", "text": "exit status 3\n"},
	}}}})
	var nb notebookFile
	if err := json.Unmarshal(raw, &nb); err != nil {
		t.Fatal(err)
	}
	if got := CheckExecuted(&nb); len(got) != 1 || !strings.Contains(got[0].What, `"exit status 2"`) {
		t.Errorf("CheckExecuted = %v: want exactly the stderr exit status", got)
	}
	got := checkExpectation(&nb, expectation{
		Tables:  map[string]tableExpectation{"probe": {FirstColumn: []string{"rocl-ip", "advcl-ip"}, Ranges: map[string][2]float64{"SA": unit, "AA": unit}}},
		MinPNGs: 2, Text: []string{"rocl-hn", "absent"},
	})
	want := []string{"1 PNG images", `no row "advcl-ip"`, `no column "AA"`, `row 1 column "SA"`, `"absent"`}
	if len(got) != len(want) {
		t.Fatalf("checkExpectation = %q: want %d problems", got, len(want))
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("problem %d = %q: want it to mention %q", i, got[i], w)
		}
	}
}
