package report

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ainfonce/goacl/acl/finetune"
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
	// Mode is the finetuning mode and Metric one of TableMetrics.
	Mode   finetune.Mode
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
	// Mark, when set, says the value must not be read as a result of the run as it
	// stands: MarkStale, MarkUnfinished or MarkUnverified (a note says why).
	Mark string
	// Protocol and Selection are the finetuning's protocol and selection rule.
	Protocol  string
	Selection finetune.Selection
	// reasons are the mark's and the warnings' texts, turned into notes by annotate.
	reasons []string
}

// Cell marks (TableCell.Mark).
const (
	// MarkStale: the number was measured on weights the run no longer ends with (a
	// finetuning of an older pretraining checkpoint).
	MarkStale = "stale"
	// MarkUnfinished: the pretraining (or the finetuning) did not finish.
	MarkUnfinished = "unfinished"
	// MarkUnverified: the files predate the checksums that would tell; re-run it.
	MarkUnverified = "unverified"
)

// TableRow is one pretraining run.
type TableRow struct {
	// Run is the run directory; Method, Variant and Dataset come from its config.json;
	// Cells are the row's numbers by column (absent: not measured).
	Run     string
	Method  string
	Variant string
	Dataset string
	Cells   map[TableColumn]*TableCell
	// Ignored lists the row's results files the table did not use, each with the reason
	// (e.g. an evaluation of an earlier finetuning).
	Ignored []string
}

// Table is the built grid.
type Table struct {
	// Columns and Rows are the grid in display order.
	Columns []TableColumn
	Rows    []*TableRow
	// Shared lists the settings every cell of the table shares ("name: value");
	// Common, per column, the further settings shared by all the column's cells.
	Shared []string
	Common map[TableColumn][]string
	// Footnotes are the notes' texts; cell note n refers to Footnotes[n−1].
	Footnotes []string
	// Remarks are table-level remarks (a run directory named twice).
	Remarks []string
}

// BuildTable reads the results of the given pretraining run directories and builds the
// grid. A folder that is not a pretraining run directory (a finetuning's folder, any
// other folder) is an error; a run named twice is shown once; a run without results gives
// a row of empty cells. Nothing is taken on trust: cells of an unfinished run, of a
// finetuning of a checkpoint the run no longer ends with, and of files too old to be
// checked are marked (TableCell.Mark) with a note saying why; evaluation records of an
// earlier finetuning are ignored (TableRow.Ignored); evaluation warnings are noted.
func BuildTable(runDirs []string) (*Table, error) {
	if len(runDirs) == 0 {
		return nil, errors.New("table: no run directories given")
	}
	t := &Table{Common: map[TableColumn][]string{}}
	for _, m := range finetune.Modes {
		for _, metric := range TableMetrics {
			t.Columns = append(t.Columns, TableColumn{m, metric})
		}
	}
	seen := map[string]string{}
	for _, dir := range runDirs {
		key := canonicalPath(dir)
		if first, ok := seen[key]; ok {
			t.Remarks = append(t.Remarks, fmt.Sprintf("%s was named twice (also as %s): shown once", dir, first))
			continue
		}
		seen[key] = dir
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
			if c.Settings["selection"] == finetune.SelectTestRA.Label() {
				c.Notes = appendUnique(c.Notes, note(finetune.SelectTestRA.Label()+": the reported epoch was chosen on the test set itself (spec §8.9)"))
			}
			for _, r := range c.reasons {
				c.Notes = appendUnique(c.Notes, note(r))
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
