package experiment

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/report"
)

// Table is a report table rendered as markdown (Markdown), aligned text (Text) or a
// notebook HTML table (HTML): cells are text with, for numbers, the value (a fraction for
// accuracies).
type Table struct {
	name, caption string
	columns       []string
	rows          [][]report.HTMLCell
	notes         []string
}

func (t *Table) add(cells ...report.HTMLCell) { t.rows = append(t.rows, cells) }

// summaryCell shows a summary of fractions in percent with its interval, its value the mean.
func summaryCell(s Summary) report.HTMLCell {
	return report.HTMLCell{Text: s.Percent(), Value: s.Mean, IsNumber: s.N > 0}
}

// deltaCell shows a paired difference in points with its interval, e.g. "+1.2 [−0.5, +2.9]".
func deltaCell(s Summary) report.HTMLCell {
	switch s.N {
	case 0:
		return report.HTMLText("–")
	case 1:
		return report.HTMLCell{Text: fmt.Sprintf("%+.1f (n = 1)", 100*s.Mean), Value: s.Mean, IsNumber: true}
	}
	return report.HTMLCell{Text: fmt.Sprintf("%+.1f [%+.1f, %+.1f]", 100*s.Mean, 100*s.Low, 100*s.High), Value: s.Mean, IsNumber: true}
}

// HTML renders the table for a notebook.
func (t *Table) HTML() *report.HTMLTable {
	h := report.NewHTMLTable(t.name, t.caption, t.columns...)
	for _, r := range t.rows {
		_ = h.AddRow(r...) // rows are built with one cell per column
	}
	for _, n := range t.notes {
		h.AddNote(n)
	}
	return h
}

// Markdown renders the table as GitHub markdown, notes as a paragraph under it.
func (t *Table) Markdown() string {
	var b strings.Builder
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	b.WriteString("| " + strings.Join(mapStrings(t.columns, esc), " | ") + " |\n|")
	for i := range t.columns {
		if i == 0 {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = esc(c.Text)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	if len(t.notes) > 0 {
		b.WriteString("\n" + strings.Join(t.notes, "\n") + "\n")
	}
	return b.String()
}

// Text renders the table as aligned plain text (first column left, the others right).
func (t *Table) Text() string {
	widths := make([]int, len(t.columns))
	for i, c := range t.columns {
		widths[i] = utf8.RuneCountInString(c)
	}
	for _, r := range t.rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c.Text))
		}
	}
	line := func(cells []string) string {
		var b strings.Builder
		for i, c := range cells {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i == 0 {
				b.WriteString("  " + c + pad)
			} else {
				b.WriteString("   " + pad + c)
			}
		}
		return strings.TrimRight(b.String(), " ") + "\n"
	}
	var b strings.Builder
	b.WriteString(line(t.columns))
	for _, r := range t.rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = c.Text
		}
		b.WriteString(line(cells))
	}
	for _, n := range t.notes {
		b.WriteString("\n" + n)
	}
	if len(t.notes) > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

func mapStrings(s []string, f func(string) string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

// hasAutoAttack reports whether any row has an AutoAttack measurement.
func (res *Results) hasAutoAttack() bool {
	for _, r := range res.Rows {
		if r.AutoAttack.N > 0 {
			return true
		}
	}
	return false
}

// ResultsTable is the main table: per row the seeds measured, each finetuning's clean and
// PGD-20 accuracy, the AutoAttack accuracy where run and the final kNN accuracy, as mean ±
// the half-width of the 95% t-interval over seeds (in %), baselines last as in the plan.
func (res *Results) ResultsTable() *Table {
	cols := []string{"row", "seeds"}
	for _, m := range res.Plan.Eval.Modes {
		u := strings.ToUpper(string(m))
		cols = append(cols, u+" clean", u+" PGD-20")
	}
	aa := res.hasAutoAttack()
	if aa {
		cols = append(cols, fmt.Sprintf("AutoAttack (%d imgs)", res.Plan.Eval.AutoAttackImages))
	}
	cols = append(cols, "kNN")
	t := &Table{name: "experiment-results", caption: res.Plan.Title + ": accuracy in % (mean ± 95% t-interval half-width over seeds)", columns: cols}
	for _, r := range res.Rows {
		n := 0
		for _, s := range r.Seeds {
			if s.State == "done" {
				n++
			}
		}
		cells := []report.HTMLCell{report.HTMLText(r.Row.Label), report.HTMLNumber(float64(n), "%.0f")}
		for _, m := range res.Plan.Eval.Modes {
			cells = append(cells, summaryCell(r.Clean[m]), summaryCell(r.Robust[m]))
		}
		if aa {
			cells = append(cells, summaryCell(r.AutoAttack))
		}
		t.add(append(cells, summaryCell(r.KNN))...)
	}
	t.notes = res.columnNotes()
	return t
}

// columnNotes explain the results table's columns.
func (res *Results) columnNotes() []string {
	e := res.Plan.Eval
	test := "all test images"
	if e.TestSubset > 0 {
		test = fmt.Sprintf("%d test images", e.TestSubset)
	}
	notes := []string{
		fmt.Sprintf("clean: a linear classifier trained on the frozen encoder's features (SLF: standard linear finetuning, %s protocol, %s, %s), the share of %s it labels correctly; chance is %.0f%%.",
			e.Protocol, plural(e.Epochs, "epoch"), finetune.Selection(e.Selection).Label(), test, 100/float64(numClasses(res.Plan.Dataset))),
		"PGD-20: the same classifier's accuracy when a 20-step PGD attack may change every pixel by up to 8/255 (step 2/255, random start), encoder and head attacked together.",
	}
	if slices.Contains(e.Modes, finetune.ALF) {
		notes = append(notes, "ALF: the linear head trained on PGD-20 examples instead of clean images (adversarial linear finetuning).")
	}
	if res.hasAutoAttack() {
		notes = append(notes, fmt.Sprintf("AutoAttack: the %s AutoAttack at ε 8/255 on the SLF classifier, %d test images (the first of the same draw), first %s only: a stronger attack than PGD-20, so a lower or equal accuracy.",
			e.AutoAttack, e.AutoAttackImages, plural(e.AutoAttackSeeds, "seed")))
	}
	k := res.Plan.Scale.KNN
	if k != nil {
		// The monitor votes with at most as many neighbours as there are training images.
		votes := k.K
		if n := res.Plan.Scale.Subset; n > 0 && n < votes {
			votes = n
		}
		notes = append(notes, fmt.Sprintf("kNN: no training at all: each of %d test images takes the label its %d most similar training images (cosine of encoder features) vote for, votes weighted exp(similarity/%g); after the last epoch.",
			k.TestImages, votes, k.Temperature))
	}
	notes = append(notes, "Intervals: mean ± t(0.975, n−1)·s/√n over the n seeds measured; one seed gives the value alone.")
	return notes
}

// numClasses is the number of classes of a data set (10 unless CIFAR-100).
func numClasses(dataset string) int {
	if dataset == "cifar100" {
		return 100
	}
	return 10
}

// ComparisonTable lists the paired differences of kind ("variant" or "baseline") in
// percentage points with their 95% t-intervals.
func (res *Results) ComparisonTable(kind string) *Table {
	t := &Table{name: "experiment-" + kind + "-differences", columns: []string{"comparison", "mode", "pairs", "Δ clean", "Δ PGD-20", "Δ kNN", "seed SD of PGD-20"}}
	if kind == "variant" {
		t.caption = "Each A-InfoNCE variant minus its method's base, paired by seed (percentage points, 95% t-interval)"
	} else {
		t.caption = "Each pretraining minus each baseline, paired by seed (percentage points, 95% t-interval)"
	}
	for _, c := range res.Comparisons {
		if c.Kind != kind {
			continue
		}
		t.add(report.HTMLText(res.label(c.Row)+" − "+res.label(c.Against)), report.HTMLText(strings.ToUpper(string(c.Mode))),
			report.HTMLNumber(float64(c.Robust.N), "%.0f"), deltaCell(c.Clean), deltaCell(c.Robust), deltaCell(c.KNN),
			report.HTMLNumber(100*c.AgainstSD, "%.1f"))
	}
	return t
}

// label is a row's label by name.
func (res *Results) label(name string) string {
	for _, r := range res.Rows {
		if r.Row.Name == name {
			return r.Row.Label
		}
	}
	return name
}

// Verdicts says in plain sentences, from the paired intervals, whether each variant
// changes PGD-20 robust accuracy against its base and by how much relative to the seed
// spread; a null result is said as such.
func (res *Results) Verdicts() []string {
	var out []string
	for _, c := range res.Comparisons {
		if c.Kind != "variant" {
			continue
		}
		d := c.Robust
		who := fmt.Sprintf("%s − %s (%s PGD-20 accuracy)", res.label(c.Row), res.label(c.Against), strings.ToUpper(string(c.Mode)))
		switch {
		case d.N == 0:
			out = append(out, who+": not measured yet.")
		case d.N == 1:
			out = append(out, fmt.Sprintf("%s: %+.1f points from one seed pair: no interval, no conclusion.", who, 100*d.Mean))
		case d.Low > 0:
			out = append(out, fmt.Sprintf("%s: %+.1f points, 95%% interval [%+.1f, %+.1f] over %d seed pairs: above 0, the variant is more robust at this scale (the base row's seed SD is %.1f points).",
				who, 100*d.Mean, 100*d.Low, 100*d.High, d.N, 100*c.AgainstSD))
		case d.High < 0:
			out = append(out, fmt.Sprintf("%s: %+.1f points, 95%% interval [%+.1f, %+.1f] over %d seed pairs: below 0, the variant is less robust at this scale (the base row's seed SD is %.1f points).",
				who, 100*d.Mean, 100*d.Low, 100*d.High, d.N, 100*c.AgainstSD))
		default:
			out = append(out, fmt.Sprintf("%s: %+.1f points, 95%% interval [%+.1f, %+.1f] over %d seed pairs: the interval contains 0, so no difference is detectable at this scale (the base row's seed SD is %.1f points).",
				who, 100*d.Mean, 100*d.Low, 100*d.High, d.N, 100*c.AgainstSD))
		}
	}
	return out
}

// TimeTable lists each row's wall and CPU time per piece (mean per seed) and in all.
func (res *Results) TimeTable() *Table {
	keys := map[string]bool{}
	for _, r := range res.Rows {
		for k := range r.Wall {
			keys[k] = true
		}
	}
	var pieces []string
	for k := range keys {
		pieces = append(pieces, k)
	}
	sort.Slice(pieces, func(i, j int) bool { return pieceOrder(pieces[i]) < pieceOrder(pieces[j]) })
	cols := []string{"row"}
	for _, p := range pieces {
		cols = append(cols, p+" per seed, wall / CPU")
	}
	cols = append(cols, "row total, wall / CPU")
	t := &Table{name: "experiment-time", caption: "Time per row: mean per seed of each piece (over the seeds that ran it) and the row's sum over all seeds",
		columns: cols}
	var allWall, allCPU float64
	for _, r := range res.Rows {
		cells := []report.HTMLCell{report.HTMLText(r.Row.Label)}
		var wall, cpu float64
		for _, p := range pieces {
			w, c := r.Wall[p], r.CPU[p]
			cells = append(cells, report.HTMLCell{Text: durationPair(w.Mean, c.Mean), Value: w.Mean, IsNumber: w.N > 0})
			for i := range w.Values {
				wall += w.Values[i]
			}
			for i := range c.Values {
				cpu += c.Values[i]
			}
		}
		allWall, allCPU = allWall+wall, allCPU+cpu
		t.add(append(cells, report.HTMLCell{Text: durationPair(wall, cpu), Value: wall, IsNumber: true})...)
	}
	total := []report.HTMLCell{report.HTMLText("all rows")}
	for range pieces {
		total = append(total, report.HTMLText(""))
	}
	t.add(append(total, report.HTMLCell{Text: durationPair(allWall, allCPU), Value: allWall, IsNumber: true})...)
	t.notes = []string{"Wall: elapsed time of the piece's legs (a piece resumed after an interruption sums its legs; a leg killed outright is not counted). CPU: the process's user + system time over the same legs (2 cores busy = 2 s of CPU per second)."}
	return t
}

// pieceOrder sorts piece keys: pretraining, finetunings, attacks.
func pieceOrder(k string) string {
	switch {
	case k == PiecePretrain:
		return "0"
	case strings.HasPrefix(k, PieceFinetune):
		return "1" + k
	}
	return "2" + k
}

// durationPair formats wall and CPU seconds, e.g. "12m05s / 21m40s".
func durationPair(wall, cpu float64) string {
	if math.IsNaN(wall) {
		return "–"
	}
	return duration(wall) + " / " + duration(cpu)
}

// duration formats seconds as 1h02m, 12m05s or 42.0s.
func duration(s float64) string {
	switch {
	case math.IsNaN(s):
		return "–"
	case s >= 3600:
		return fmt.Sprintf("%dh%02dm", int(s)/3600, (int(s)%3600)/60)
	case s >= 60:
		return fmt.Sprintf("%dm%02ds", int(s)/60, int(s)%60)
	}
	return fmt.Sprintf("%.1fs", s)
}
