package acl

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ainfonce/goacl/acl/pretrain"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/attack"
)

// The Table-1 grid: one row per pretraining run (method × variant × dataset), and for each
// finetuning mode (SLF, ALF, AFF) three columns: SA (clean accuracy), RA (PGD robust
// accuracy) and AA (AutoAttack robust accuracy), all on the test images of the selected
// checkpoint. Every cell is read from one results file of its run directory and keeps its
// path; cells measured differently from the rest of their column (another protocol,
// attack, step size, subset, selection rule or finetuning scale) carry a numbered note,
// and every cell selected on the test set is labelled so.

// Table metrics.
const (
	MetricSA = "sa"
	MetricRA = "ra"
	MetricAA = "aa"
)

// TableMetrics lists the metrics of each mode, in column order.
var TableMetrics = []string{MetricSA, MetricRA, MetricAA}

// TableColumn is one column of the grid.
type TableColumn struct {
	Mode   FinetuneMode
	Metric string
}

// Key is the column's name in CSV, e.g. "slf_ra".
func (c TableColumn) Key() string { return string(c.Mode) + "_" + c.Metric }

// Title is the column's heading, e.g. "SLF RA".
func (c TableColumn) Title() string {
	return strings.ToUpper(string(c.Mode)) + " " + strings.ToUpper(c.Metric)
}

// TableCell is one number of the grid.
type TableCell struct {
	// Accuracy in percent.
	Value float64
	// Source is the results file the value was read from.
	Source string
	// Settings are the evaluation settings the value depends on, by name (compared down
	// the column).
	Settings map[string]string
	// Notes are the numbers of the footnotes that apply (1-based).
	Notes []int
}

// TableRow is one pretraining run.
type TableRow struct {
	Run     string
	Method  string
	Variant string
	Dataset string
	Cells   map[TableColumn]*TableCell
}

// Table is the built grid.
type Table struct {
	Columns []TableColumn
	Rows    []*TableRow
	// Shared lists the settings every cell of the table shares ("name: value");
	// Common, per column, the further settings shared by all the column's cells.
	Shared []string
	Common map[TableColumn][]string
	// Footnotes are the notes' texts; cell note n refers to Footnotes[n−1].
	Footnotes []string
}

// BuildTable reads the results of the given pretraining run directories and builds the
// grid. A folder that is not a run directory is an error; a run without results gives a
// row of empty cells.
func BuildTable(runDirs []string) (*Table, error) {
	if len(runDirs) == 0 {
		return nil, errors.New("table: no run directories given (-runs DIR...)")
	}
	t := &Table{Common: map[TableColumn][]string{}}
	for _, m := range FinetuneModes {
		for _, metric := range TableMetrics {
			t.Columns = append(t.Columns, TableColumn{m, metric})
		}
	}
	for _, dir := range runDirs {
		row, err := readTableRow(dir)
		if err != nil {
			return nil, err
		}
		t.Rows = append(t.Rows, row)
	}
	sort.SliceStable(t.Rows, func(i, j int) bool {
		a, b := t.Rows[i], t.Rows[j]
		if a.Dataset != b.Dataset {
			return a.Dataset < b.Dataset
		}
		if a.Method != b.Method {
			return a.Method < b.Method
		}
		return variantOrder(a.Variant) < variantOrder(b.Variant)
	})
	t.annotate()
	return t, nil
}

func variantOrder(v string) int {
	if i := slices.Index([]string{"base", "ip", "hn", "iphn"}, v); i >= 0 {
		return i
	}
	return 100
}

// readTableRow reads one run directory's results.
func readTableRow(dir string) (*TableRow, error) {
	run, err := rundir.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	var pre pretrain.Config
	if err := run.ReadJSON(rundir.ConfigFile, &pre); err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	row := &TableRow{Run: dir, Method: pre.Method, Variant: pre.Variant, Dataset: pre.Dataset, Cells: map[TableColumn]*TableCell{}}
	for _, mode := range FinetuneModes {
		var res FinetuneResult
		resPath := filepath.Join(FinetuneDir(mode), FinetuneResultFile)
		if err := readOptionalJSON(run, resPath, &res); err != nil {
			return nil, err
		} else if res.Config.Mode == "" {
			continue
		}
		ft := finetuneSettings(&res)
		// SA and RA: a later PGD evaluation (acl eval -attack pgd20) of the selected
		// checkpoint replaces the finetuning's own numbers; both come from one file.
		sa, ra := res.Test.Clean, res.Test.Robust
		src := run.File(resPath)
		attackLabel := res.AttackLabel
		images, subset := res.Test.Images, res.Config.TestSubset
		var pgd EvalRecord
		pgdPath := EvalFile(mode, attack.NamePGD20)
		if err := readOptionalJSON(run, pgdPath, &pgd); err != nil {
			return nil, err
		} else if pgd.Attack.Name != "" {
			sa, ra, src, attackLabel = pgd.Accuracy.Clean, pgd.Accuracy.Robust, run.File(pgdPath), pgd.AttackLabel
			images, subset = pgd.Accuracy.Images, pgd.TestSubset
		}
		testSet := testSetLabel(images, subset)
		row.Cells[TableColumn{mode, MetricSA}] = &TableCell{Value: 100 * sa, Source: src,
			Settings: withSettings(ft, "test images", testSet)}
		row.Cells[TableColumn{mode, MetricRA}] = &TableCell{Value: 100 * ra, Source: src,
			Settings: withSettings(ft, "test images", testSet, "attack", attackLabel)}
		var aa EvalRecord
		aaPath := EvalFile(mode, attack.NameAutoAttack)
		if err := readOptionalJSON(run, aaPath, &aa); err != nil {
			return nil, err
		} else if aa.Attack.Name != "" {
			row.Cells[TableColumn{mode, MetricAA}] = &TableCell{Value: 100 * aa.Accuracy.Robust, Source: run.File(aaPath),
				Settings: withSettings(ft, "test images", testSetLabel(aa.Accuracy.Images, aa.TestSubset), "attack", aa.AttackLabel)}
		}
	}
	return row, nil
}

// readOptionalJSON reads name from run into v; a missing file leaves v untouched.
func readOptionalJSON(run *rundir.Dir, name string, v any) error {
	err := run.ReadJSON(name, v)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("table: %w", err)
	}
	return nil
}

func testSetLabel(images, subset int) string {
	if subset == 0 {
		return fmt.Sprintf("all %d", images)
	}
	return fmt.Sprintf("%d-image subset", images)
}

// finetuneSettings are the finetuning settings every cell of a mode depends on. The
// learning rate is left out: it differs between rows by design (spec §4.4).
func finetuneSettings(r *FinetuneResult) map[string]string {
	c := &r.Config
	s := map[string]string{
		"protocol":  c.Protocol,
		"selection": c.Selection.Label(),
		"schedule":  fmt.Sprintf("%d epochs, batch %d, milestones %v", c.Epochs, c.BatchSize, c.Milestones),
		"training images": func() string {
			if c.TrainSubset == 0 {
				return fmt.Sprintf("all %d", r.TrainImages)
			}
			return fmt.Sprintf("%d-image subset", r.TrainImages)
		}(),
	}
	if c.Selection == SelectValRA {
		s["validation images"] = fmt.Sprint(r.ValImages)
	}
	switch c.Mode {
	case ALF:
		s["training attack"] = c.TrainAttack.Settings(1).Label()
	case AFF:
		s["training attack"] = fmt.Sprintf("TRADES β=%g, %d steps of %s at ε=%s", c.TRADES.Beta, c.TRADES.Steps, attack.Fraction255(c.TRADES.StepSize), attack.Fraction255(c.TRADES.Epsilon))
	}
	return s
}

func withSettings(base map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// annotate compares each cell's settings with the most common value of each setting in
// its column, records the shared settings per column, numbers a footnote for every
// distinct deviation, and labels every test-set selection.
func (t *Table) annotate() {
	notes := map[string]int{}
	note := func(text string) int {
		if n, ok := notes[text]; ok {
			return n
		}
		t.Footnotes = append(t.Footnotes, text)
		notes[text] = len(t.Footnotes)
		return notes[text]
	}
	for _, col := range t.Columns {
		var cells []*TableCell
		for _, r := range t.Rows {
			if c := r.Cells[col]; c != nil {
				cells = append(cells, c)
			}
		}
		if len(cells) == 0 {
			continue
		}
		keys := map[string]bool{}
		for _, c := range cells {
			for k := range c.Settings {
				keys[k] = true
			}
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		// The reference value of a setting is its most common one in the column; when
		// two values tie for it there is none, and every cell is noted with its own.
		ref, hasRef := map[string]string{}, map[string]bool{}
		var common []string
		for _, k := range sorted {
			counts := map[string]int{}
			for _, c := range cells {
				counts[c.Settings[k]]++
			}
			bestV, bestN, tie := "", 0, false
			for v, n := range counts {
				switch {
				case n > bestN:
					bestV, bestN, tie = v, n, false
				case n == bestN:
					tie = true
				}
			}
			ref[k], hasRef[k] = bestV, !tie
			if bestN == len(cells) && bestV != "" {
				common = append(common, k+": "+bestV)
			}
		}
		t.Common[col] = common
		for _, c := range cells {
			for _, k := range sorted {
				v := c.Settings[k]
				switch {
				case hasRef[k] && v == ref[k]:
				case hasRef[k]:
					c.Notes = appendUnique(c.Notes, note(fmt.Sprintf("%s: %s (rest of the column: %s)", k, orNone(v), orNone(ref[k]))))
				default:
					c.Notes = appendUnique(c.Notes, note(fmt.Sprintf("%s: %s (the column mixes settings)", k, orNone(v))))
				}
			}
			if c.Settings["selection"] == SelectTestRA.Label() {
				c.Notes = appendUnique(c.Notes, note(SelectTestRA.Label()+": the reported epoch was chosen on the test set itself (spec §8.9)"))
			}
			sort.Ints(c.Notes)
		}
	}
	t.factorShared()
}

// factorShared moves the settings common to every non-empty column into Shared.
func (t *Table) factorShared() {
	count := map[string]int{}
	cols := 0
	for _, col := range t.Columns {
		if len(t.Common[col]) == 0 && !t.hasCells(col) {
			continue
		}
		cols++
		for _, s := range t.Common[col] {
			count[s]++
		}
	}
	if cols == 0 {
		return
	}
	for s, n := range count {
		if n == cols {
			t.Shared = append(t.Shared, s)
		}
	}
	sort.Strings(t.Shared)
	for col, list := range t.Common {
		t.Common[col] = slices.DeleteFunc(list, func(s string) bool { return count[s] == cols })
	}
}

func (t *Table) hasCells(col TableColumn) bool {
	for _, r := range t.Rows {
		if r.Cells[col] != nil {
			return true
		}
	}
	return false
}

func appendUnique(s []int, n int) []int {
	if slices.Contains(s, n) {
		return s
	}
	return append(s, n)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

var methodNames = map[string]string{"rocl": "RoCL", "advcl": "AdvCL", "acl": "ACL", "acl-ds": "ACL-DS", "dynacl": "DynACL"}
var variantNames = map[string]string{"base": "base", "ip": "IP", "hn": "HN", "iphn": "IPHN"}
var datasetNames = map[string]string{"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}

func displayName(m map[string]string, s string) string {
	if v, ok := m[s]; ok {
		return v
	}
	return s
}

func (c *TableCell) text(mark func(n int) string) string {
	if c == nil {
		return "–"
	}
	s := fmt.Sprintf("%.2f", c.Value)
	for _, n := range c.Notes {
		s += mark(n)
	}
	return s
}

// commonLines describes the settings shared by the whole table, then those shared down
// each column.
func (t *Table) commonLines() []string {
	var out []string
	if len(t.Shared) > 0 {
		out = append(out, "every cell — "+strings.Join(t.Shared, "; "))
	}
	for _, col := range t.Columns {
		if c := t.Common[col]; len(c) > 0 {
			out = append(out, fmt.Sprintf("%s — %s", col.Title(), strings.Join(c, "; ")))
		}
	}
	return out
}

// Markdown renders the grid as a GitHub-flavoured Markdown table followed by the shared
// settings, the notes and every cell's source file.
func (t *Table) Markdown() string {
	var b strings.Builder
	b.WriteString("| Method | Variant | Dataset | Run |")
	for _, c := range t.Columns {
		b.WriteString(" " + c.Title() + " |")
	}
	b.WriteString("\n|---|---|---|---|")
	for range t.Columns {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |", displayName(methodNames, r.Method), displayName(variantNames, r.Variant),
			displayName(datasetNames, r.Dataset), filepath.Base(r.Run))
		for _, c := range t.Columns {
			b.WriteString(" " + r.Cells[c].text(func(n int) string { return fmt.Sprintf(" [%d]", n) }) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\nAccuracies in % on the test images of the selected checkpoint; – = not run.\n")
	if lines := t.commonLines(); len(lines) > 0 {
		b.WriteString("\nSettings shared by the table and by each column:\n\n")
		for _, l := range lines {
			b.WriteString("- " + l + "\n")
		}
	}
	if len(t.Footnotes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for i, f := range t.Footnotes {
			fmt.Fprintf(&b, "- [%d] %s\n", i+1, f)
		}
	}
	b.WriteString("\nSources:\n\n")
	for _, r := range t.Rows {
		fmt.Fprintf(&b, "- %s:", r.Run)
		srcs := t.rowSources(r)
		if len(srcs) == 0 {
			b.WriteString(" no results\n")
			continue
		}
		b.WriteString("\n")
		for _, s := range srcs {
			b.WriteString("  - " + s + "\n")
		}
	}
	return b.String()
}

// rowSources lists "SLF SA, SLF RA ← file" for each source file of a row.
func (t *Table) rowSources(r *TableRow) []string {
	var order []string
	byFile := map[string][]string{}
	for _, c := range t.Columns {
		cell := r.Cells[c]
		if cell == nil {
			continue
		}
		if _, ok := byFile[cell.Source]; !ok {
			order = append(order, cell.Source)
		}
		byFile[cell.Source] = append(byFile[cell.Source], c.Title())
	}
	out := make([]string, len(order))
	for i, f := range order {
		out[i] = strings.Join(byFile[f], ", ") + " ← " + f
	}
	return out
}

// CSV renders the grid with one line per run: method, variant, dataset, run, the nine
// values (empty when not run), the notes that apply ("column: [n] text; …") and each
// cell's source file ("column=path; …").
func (t *Table) CSV() string {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	head := []string{"method", "variant", "dataset", "run"}
	for _, c := range t.Columns {
		head = append(head, c.Key())
	}
	_ = w.Write(append(head, "notes", "sources"))
	for _, r := range t.Rows {
		rec := []string{r.Method, r.Variant, r.Dataset, r.Run}
		var notes, sources []string
		for _, c := range t.Columns {
			cell := r.Cells[c]
			if cell == nil {
				rec = append(rec, "")
				continue
			}
			rec = append(rec, fmt.Sprintf("%.2f", cell.Value))
			for _, n := range cell.Notes {
				notes = append(notes, fmt.Sprintf("%s: [%d] %s", c.Key(), n, t.Footnotes[n-1]))
			}
			sources = append(sources, c.Key()+"="+cell.Source)
		}
		_ = w.Write(append(rec, strings.Join(notes, "; "), strings.Join(sources, "; ")))
	}
	w.Flush()
	return buf.String()
}

// LaTeX renders the grid as a booktabs tabular with footnote marks, the shared settings
// and the notes below it; each row's run directory is a LaTeX comment.
func (t *Table) LaTeX() string {
	var b strings.Builder
	b.WriteString("% Built by acl table from run directories; every number is traceable to the files listed in the comments.\n")
	b.WriteString("\\begin{tabular}{lll" + strings.Repeat("r", len(t.Columns)) + "}\n\\toprule\n")
	b.WriteString("& & ")
	for _, m := range FinetuneModes {
		fmt.Fprintf(&b, "& \\multicolumn{%d}{c}{%s} ", len(TableMetrics), strings.ToUpper(string(m)))
	}
	b.WriteString("\\\\\n")
	for i := range FinetuneModes {
		start := 4 + i*len(TableMetrics)
		fmt.Fprintf(&b, "\\cmidrule(lr){%d-%d}", start, start+len(TableMetrics)-1)
	}
	b.WriteString("\nMethod & Variant & Dataset")
	for _, c := range t.Columns {
		b.WriteString(" & " + strings.ToUpper(c.Metric))
	}
	b.WriteString(" \\\\\n\\midrule\n")
	for _, r := range t.Rows {
		for _, s := range t.rowSources(r) {
			b.WriteString("% " + latexComment(s) + "\n")
		}
		fmt.Fprintf(&b, "%s & %s & %s", latexEscape(displayName(methodNames, r.Method)), latexEscape(displayName(variantNames, r.Variant)),
			latexEscape(displayName(datasetNames, r.Dataset)))
		for _, c := range t.Columns {
			b.WriteString(" & " + r.Cells[c].text(func(n int) string { return fmt.Sprintf("$^{%d}$", n) }))
		}
		b.WriteString(" \\\\\n")
	}
	b.WriteString("\\bottomrule\n\\end{tabular}\n")
	if lines := t.commonLines(); len(lines) > 0 {
		b.WriteString("\n% Settings shared by the table and by each column:\n")
		for _, l := range lines {
			b.WriteString("% " + latexComment(l) + "\n")
		}
	}
	for i, f := range t.Footnotes {
		fmt.Fprintf(&b, "\n\\noindent$^{%d}$ %s\n", i+1, latexEscape(f))
	}
	return b.String()
}

func latexEscape(s string) string {
	r := strings.NewReplacer(`\`, `\textbackslash{}`, "_", `\_`, "%", `\%`, "&", `\&`, "#", `\#`, "$", `\$`, "{", `\{`, "}", `\}`,
		"ε", `$\varepsilon$`, "β", `$\beta$`, "∞", `$\infty$`, "§", `\S{}`, "←", `$\leftarrow$`, "~", `\textasciitilde{}`, "^", `\^{}`)
	return r.Replace(s)
}

func latexComment(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// Format renders the table in format: "md", "csv" or "latex".
func (t *Table) Format(format string) (string, error) {
	switch format {
	case "md", "markdown":
		return t.Markdown(), nil
	case "csv":
		return t.CSV(), nil
	case "latex", "tex":
		return t.LaTeX(), nil
	}
	return "", fmt.Errorf("-format %q: use md, csv or latex", format)
}

// WriteFile writes the table in format to path.
func (t *Table) WriteFile(path, format string) error {
	s, err := t.Format(format)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
