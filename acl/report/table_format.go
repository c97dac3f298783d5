package report

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ainfonce/goacl/acl/finetune"
)

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
	if c.Mark != "" {
		s = fmt.Sprintf("(%s, %s)", s, c.Mark)
	}
	for _, n := range c.Notes {
		s += mark(n)
	}
	return s
}

// rowSummary lists the distinct values f gives the row's cells, in column order: the
// protocol or the selection rule the row was measured with (normally one; several are
// named per mode, e.g. "slf: rocl; aff: advcl").
func (t *Table) rowSummary(r *TableRow, f func(*TableCell) string) string {
	var modes, vals []string
	byMode := map[string]string{}
	for _, c := range t.Columns {
		cell := r.Cells[c]
		if cell == nil {
			continue
		}
		m := string(c.Mode)
		if _, ok := byMode[m]; !ok {
			byMode[m] = f(cell)
			modes = append(modes, m)
			if !slices.Contains(vals, f(cell)) {
				vals = append(vals, f(cell))
			}
		}
	}
	switch len(vals) {
	case 0:
		return "–"
	case 1:
		return vals[0]
	}
	parts := make([]string, len(modes))
	for i, m := range modes {
		parts[i] = m + ": " + byMode[m]
	}
	return strings.Join(parts, "; ")
}

func cellProtocol(c *TableCell) string  { return c.Protocol }
func cellSelection(c *TableCell) string { return string(c.Selection) }

// remarkLines are the table's remarks and every row's ignored files.
func (t *Table) remarkLines() []string {
	out := slices.Clone(t.Remarks)
	for _, r := range t.Rows {
		for _, ig := range r.Ignored {
			out = append(out, "ignored "+ig)
		}
	}
	return out
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
	b.WriteString("| Method | Variant | Dataset | Run | Protocol | Selection |")
	for _, c := range t.Columns {
		b.WriteString(" " + c.Title() + " |")
	}
	b.WriteString("\n|---|---|---|---|---|---|")
	for range t.Columns {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |", displayName(methodNames, r.Method), displayName(variantNames, r.Variant),
			displayName(datasetNames, r.Dataset), filepath.Base(r.Run), t.rowSummary(r, cellProtocol), t.rowSummary(r, cellSelection))
		for _, c := range t.Columns {
			b.WriteString(" " + r.Cells[c].text(func(n int) string { return fmt.Sprintf(" [%d]", n) }) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\nAccuracies in % on the test images of the selected checkpoint; – = not run; (value, mark) = not a result of the run as it stands (stale, unfinished or unverified: the notes say why).\n")
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
	if lines := t.remarkLines(); len(lines) > 0 {
		b.WriteString("\nNot used:\n\n")
		for _, l := range lines {
			b.WriteString("- " + l + "\n")
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

// CSV renders the grid with one line per run: method, variant, dataset, run, protocol,
// selection, the nine values (empty when not run), the cells' marks ("column=mark; …"),
// the notes that apply ("column: [n] text; …"), the files not used and each cell's source
// file ("column=path; …").
func (t *Table) CSV() string {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	head := []string{"method", "variant", "dataset", "run", "protocol", "selection"}
	for _, c := range t.Columns {
		head = append(head, c.Key())
	}
	_ = w.Write(append(head, "marks", "notes", "ignored", "sources"))
	for _, r := range t.Rows {
		rec := []string{r.Method, r.Variant, r.Dataset, r.Run, t.rowSummary(r, cellProtocol), t.rowSummary(r, cellSelection)}
		var marks, notes, sources []string
		for _, c := range t.Columns {
			cell := r.Cells[c]
			if cell == nil {
				rec = append(rec, "")
				continue
			}
			rec = append(rec, fmt.Sprintf("%.2f", cell.Value))
			if cell.Mark != "" {
				marks = append(marks, c.Key()+"="+cell.Mark)
			}
			for _, n := range cell.Notes {
				notes = append(notes, fmt.Sprintf("%s: [%d] %s", c.Key(), n, t.Footnotes[n-1]))
			}
			sources = append(sources, c.Key()+"="+cell.Source)
		}
		_ = w.Write(append(rec, strings.Join(marks, "; "), strings.Join(notes, "; "), strings.Join(r.Ignored, "; "), strings.Join(sources, "; ")))
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
	for _, m := range finetune.Modes {
		fmt.Fprintf(&b, "& \\multicolumn{%d}{c}{%s} ", len(TableMetrics), strings.ToUpper(string(m)))
	}
	b.WriteString("\\\\\n")
	for i := range finetune.Modes {
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
	for _, l := range t.remarkLines() {
		b.WriteString("% not used: " + latexComment(l) + "\n")
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
