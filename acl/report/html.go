package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// This file renders results for notebooks and documents: HTML tables whose numeric cells
// carry their exact value (data-value), and PNG image grids and heatmaps. PNG is used
// for every picture so that the markdown renderings of executed notebooks show them
// offline (no JavaScript).

// HTMLCell is one cell of an HTMLTable: its text, and for numbers the exact value.
type HTMLCell struct {
	// Text is what the cell shows.
	Text string
	// Value is the number the cell shows when IsNumber (written as data-value).
	Value    float64
	IsNumber bool
}

// HTMLText is a cell holding text.
func HTMLText(s string) HTMLCell { return HTMLCell{Text: s} }

// HTMLNumber is a cell showing v with a fmt verb such as "%.4f" ("—" for NaN).
func HTMLNumber(v float64, format string) HTMLCell {
	if math.IsNaN(v) {
		return HTMLCell{Text: "—", Value: v, IsNumber: true}
	}
	return HTMLCell{Text: fmt.Sprintf(format, v), Value: v, IsNumber: true}
}

// HTMLPercent is a cell showing a fraction v ∈ [0,1] as a percentage with two decimals;
// its data-value is the fraction itself.
func HTMLPercent(v float64) HTMLCell {
	if math.IsNaN(v) {
		return HTMLCell{Text: "—", Value: v, IsNumber: true}
	}
	return HTMLCell{Text: fmt.Sprintf("%.2f %%", 100*v), Value: v, IsNumber: true}
}

// HTMLTable is a table for notebooks: a name (written as data-name, so tests and scripts
// can find it in an executed notebook), a caption, column headers, rows and notes shown
// under it.
type HTMLTable struct {
	// Name is written as data-name; Caption above the table; Columns are the headers,
	// Rows the cells and Notes the lines shown under it.
	Name    string
	Caption string
	Columns []string
	Rows    [][]HTMLCell
	Notes   []string
}

// NewHTMLTable starts a table with a name, a caption and column headers.
func NewHTMLTable(name, caption string, columns ...string) *HTMLTable {
	return &HTMLTable{Name: name, Caption: caption, Columns: columns}
}

// AddRow appends a row; it must have one cell per column.
func (t *HTMLTable) AddRow(cells ...HTMLCell) error {
	if len(cells) != len(t.Columns) {
		return fmt.Errorf("table %s: row with %d cells for %d columns", t.Name, len(cells), len(t.Columns))
	}
	t.Rows = append(t.Rows, cells)
	return nil
}

// AddNote appends a line shown under the table.
func (t *HTMLTable) AddNote(note string) { t.Notes = append(t.Notes, note) }

// HTML renders the table: <table class="acl-table" data-name=...>, numeric cells with
// data-value (12 significant digits) and right alignment, notes in a <p> under it.
func (t *HTMLTable) HTML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<table class=\"acl-table\" data-name=\"%s\">\n", html.EscapeString(t.Name))
	if t.Caption != "" {
		fmt.Fprintf(&b, "<caption>%s</caption>\n", html.EscapeString(t.Caption))
	}
	b.WriteString("<thead><tr>")
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(c))
	}
	b.WriteString("</tr></thead>\n<tbody>\n")
	for _, row := range t.Rows {
		b.WriteString("<tr>")
		for _, c := range row {
			if c.IsNumber {
				fmt.Fprintf(&b, "<td align=\"right\" data-value=\"%s\">%s</td>", strconv.FormatFloat(c.Value, 'g', 12, 64), html.EscapeString(c.Text))
			} else {
				fmt.Fprintf(&b, "<td>%s</td>", html.EscapeString(c.Text))
			}
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody>\n</table>\n")
	if len(t.Notes) > 0 {
		b.WriteString("<p>")
		for i, n := range t.Notes {
			if i > 0 {
				b.WriteString("<br>\n")
			}
			b.WriteString(html.EscapeString(n))
		}
		b.WriteString("</p>\n")
	}
	return b.String()
}
