package report

import (
	"fmt"
	"path/filepath"
	"strings"
)

// HTML renders the grid for a notebook: one row per run (its name, method and variant),
// SA and RA per finetuning mode and AA where any cell has it, as percentages with the
// table's note marks; under it the notes given (e.g. the scale it was measured at), the
// settings shared by the table and by each column, and the numbered notes. The table's
// data-name is "ablation".
func (t *Table) HTML(caption string, notes ...string) *HTMLTable {
	var cols []TableColumn
	for _, c := range t.Columns {
		if c.Metric != MetricAA || t.hasCells(c) {
			cols = append(cols, c)
		}
	}
	heads := []string{"run", "method", "variant"}
	for _, c := range cols {
		heads = append(heads, c.Title())
	}
	h := NewHTMLTable("ablation", caption, heads...)
	for _, r := range t.Rows {
		row := []HTMLCell{HTMLText(filepath.Base(r.Run)), HTMLText(displayName(methodNames, r.Method)), HTMLText(displayName(variantNames, r.Variant))}
		for _, c := range cols {
			cell := r.Cells[c]
			if cell == nil {
				row = append(row, HTMLText("–"))
				continue
			}
			hc := HTMLPercent(cell.Value / 100)
			if cell.Mark != "" {
				hc.Text = fmt.Sprintf("(%s, %s)", hc.Text, cell.Mark)
			}
			for _, n := range cell.Notes {
				hc.Text += fmt.Sprintf(" [%d]", n)
			}
			row = append(row, hc)
		}
		_ = h.AddRow(row...)
	}
	for _, n := range notes {
		h.AddNote(n)
	}
	h.AddNote("SA: clean accuracy; RA: PGD-20 robust accuracy; AA: AutoAttack robust accuracy; – : not run. Each cell is read from the run directory's results (finetune-<mode>/result.json, eval-<mode>-<attack>.json).")
	if len(t.Shared) > 0 {
		h.AddNote("Shared by every cell: " + strings.Join(t.Shared, "; ") + ".")
	}
	for _, c := range cols {
		if len(t.Common[c]) > 0 {
			h.AddNote(c.Title() + ": " + strings.Join(t.Common[c], "; ") + ".")
		}
	}
	for i, f := range t.Footnotes {
		h.AddNote(fmt.Sprintf("[%d] %s", i+1, f))
	}
	for _, l := range t.remarkLines() {
		h.AddNote("Not used: " + l)
	}
	return h
}
