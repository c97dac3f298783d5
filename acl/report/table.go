package report

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ainfonce/goacl/acl/eval"
	"github.com/ainfonce/goacl/acl/finetune"

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
}

// TableRow is one pretraining run.
type TableRow struct {
	// Run is the run directory; Method, Variant and Dataset come from its config.json;
	// Cells are the row's numbers by column (absent: not measured).
	Run     string
	Method  string
	Variant string
	Dataset string
	Cells   map[TableColumn]*TableCell
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
}

// BuildTable reads the results of the given pretraining run directories and builds the
// grid. A folder that is not a run directory is an error; a run without results gives a
// row of empty cells.
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
	for _, mode := range finetune.Modes {
		var res finetune.Result
		resPath := filepath.Join(finetune.Dir(mode), finetune.ResultFile)
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
		var pgd eval.Record
		pgdPath := eval.File(mode, attack.NamePGD20)
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
		var aa eval.Record
		aaPath := eval.File(mode, attack.NameAutoAttack)
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
	if subset == 0 || subset > images { // a "subset" larger than the images evaluated was all of them
		return fmt.Sprintf("all %d", images)
	}
	return fmt.Sprintf("%d-image subset", images)
}

// finetuneSettings are the finetuning settings every cell of a mode depends on. The
// learning rate is left out: it differs between rows by design (spec §4.4).
func finetuneSettings(r *finetune.Result) map[string]string {
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
	if c.Selection == finetune.SelectValRA {
		s["validation images"] = fmt.Sprint(r.ValImages)
	}
	switch c.Mode {
	case finetune.ALF:
		s["training attack"] = c.TrainAttack.Settings(1).Label()
	case finetune.AFF:
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
			if c.Settings["selection"] == finetune.SelectTestRA.Label() {
				c.Notes = appendUnique(c.Notes, note(finetune.SelectTestRA.Label()+": the reported epoch was chosen on the test set itself (spec §8.9)"))
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
