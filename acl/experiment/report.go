package experiment

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ainfonce/goacl/acl/report"
)

// Files WriteReport writes into the results folder.
const (
	// ReportFile is the markdown report (README.md, so that a repository browser shows it).
	ReportFile = "README.md"
	// CurvesFile is the kNN curves as a PNG.
	CurvesFile = "knn-curves.png"
	// ResultsFile is every number of the report, machine-readable.
	ResultsFile = "results.json"
)

// KNNPlot is the kNN accuracy against the epochs trained: per row the mean over its
// seeds at each epoch the monitor measured (the random-encoder baseline, never trained, as
// a flat line at its value).
func (res *Results) KNNPlot() *report.LinePlot {
	p := &report.LinePlot{Title: "kNN accuracy during pretraining (mean over seeds)", XLabel: "epochs trained", YLabel: "kNN top-1 accuracy"}
	for _, r := range res.Rows {
		xs, ys := r.knnMeans()
		if len(xs) == 0 {
			continue
		}
		if r.Row.Baseline == RandomInit && len(xs) == 1 {
			xs, ys = []float64{0, float64(res.Plan.Scale.Epochs)}, []float64{ys[0], ys[0]}
		}
		_ = p.Add(r.Row.Label, xs, ys) // equal lengths by construction
	}
	return p
}

// knnMeans are the epochs the monitor measured in any seed of the row and the mean
// accuracy over the seeds measured at each.
func (rr *RowResult) knnMeans() (epochs, means []float64) {
	sum, n := map[int]float64{}, map[int]int{}
	for _, s := range rr.Seeds {
		for _, p := range s.KNN {
			sum[p.Epoch] += p.Accuracy
			n[p.Epoch]++
		}
	}
	var es []int
	for e := range sum {
		es = append(es, e)
	}
	sort.Ints(es)
	for _, e := range es {
		epochs = append(epochs, float64(e))
		means = append(means, sum[e]/float64(n[e]))
	}
	return epochs, means
}

// KNNTable lists the kNN curves' values: a row per plan row, a column per epoch measured.
func (res *Results) KNNTable() *Table {
	set := map[float64]bool{}
	for _, r := range res.Rows {
		es, _ := r.knnMeans()
		for _, e := range es {
			set[e] = true
		}
	}
	var epochs []float64
	for e := range set {
		epochs = append(epochs, e)
	}
	sort.Float64s(epochs)
	cols := []string{"row"}
	for _, e := range epochs {
		cols = append(cols, fmt.Sprintf("epoch %.0f", e))
	}
	t := &Table{name: "experiment-knn", caption: "kNN accuracy (%) after each epoch, mean over seeds", columns: cols}
	for _, r := range res.Rows {
		es, ms := r.knnMeans()
		cells := []report.HTMLCell{report.HTMLText(r.Row.Label)}
		for _, e := range epochs {
			v := math.NaN()
			for i := range es {
				if es[i] == e {
					v = ms[i]
				}
			}
			c := report.HTMLNumber(100*v, "%.1f")
			c.Value = v
			cells = append(cells, c)
		}
		t.add(cells...)
	}
	return t
}

// SeedTable lists every run: its state, each measurement and its pretraining time.
func (res *Results) SeedTable() *Table {
	cols := []string{"row", "seed", "state"}
	for _, m := range res.Plan.Eval.Modes {
		u := strings.ToUpper(string(m))
		cols = append(cols, u+" clean", u+" PGD-20")
	}
	cols = append(cols, "AutoAttack", "kNN", "pretraining wall / CPU", "run directory")
	t := &Table{name: "experiment-runs", caption: "Every run (accuracies in %)", columns: cols}
	pct := func(v float64) report.HTMLCell {
		c := report.HTMLNumber(100*v, "%.2f")
		c.Value = v
		return c
	}
	for _, r := range res.Rows {
		for i := range r.Seeds {
			s := &r.Seeds[i]
			state := s.State
			if state == "" {
				state = "not started"
			}
			if s.Reason != "" {
				state += ": " + s.Reason
			}
			cells := []report.HTMLCell{report.HTMLText(r.Row.Label), report.HTMLNumber(float64(s.Seed), "%.0f"), report.HTMLText(state)}
			for _, m := range res.Plan.Eval.Modes {
				cells = append(cells, pct(finetuneValue(s, m, false)), pct(finetuneValue(s, m, true)))
			}
			aa := math.NaN()
			if s.AutoAttack != nil {
				aa = s.AutoAttack.Accuracy.Robust
			}
			rel, err := filepath.Rel(res.Runs, s.RunDir)
			if err != nil {
				rel = s.RunDir
			}
			cells = append(cells, pct(aa), pct(finalKNN(s)), report.HTMLText(durationPair(timeOf(s, PiecePretrain, false), timeOf(s, PiecePretrain, true))), report.HTMLText(rel))
			t.add(cells...)
		}
	}
	return t
}

// Summary is the console form of the results: the results table as aligned text with
// its notes, and the verdicts.
func (res *Results) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%s\n\n", res.Plan.Title, wrap(res.Plan.Describe(), 90))
	b.WriteString(res.ResultsTable().Text())
	for _, v := range res.Verdicts() {
		b.WriteString("\n" + wrap(v, 90) + "\n")
	}
	return b.String()
}

// wrap breaks s into lines of at most width runes at spaces.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(s) {
		l := len([]rune(w))
		if i > 0 && n+1+l > width {
			b.WriteString("\n")
			n = 0
		} else if i > 0 {
			b.WriteString(" ")
			n++
		}
		b.WriteString(w)
		n += l
	}
	return b.String()
}

// Markdown is the report: the plan and its scale, the results with intervals, the
// comparisons with the baselines and between variants (with the verdicts), the kNN curves
// (CurvesFile), the time per row, the machine and its load, the exact commands and every
// run. reportCommand is the command that regenerates it.
func (res *Results) Markdown(reportCommand string) string {
	var b strings.Builder
	p := &res.Plan
	fmt.Fprintf(&b, "# %s\n\n%s\n\n**Scale.** %s\n\n", p.Title, p.Purpose, p.Describe())
	fmt.Fprintf(&b, "*Generated by `%s` from the run directories under `%s`; no number in this file is typed by hand.*\n\n", reportCommand, res.Runs)
	b.WriteString("## Results\n\n" + res.ResultsTable().Markdown() + "\n")
	if t := res.ComparisonTable("baseline"); len(t.rows) > 0 {
		b.WriteString("## Against the baselines\n\nHow far each pretrained encoder lands from \"nothing learned\" (the random encoder) and from \"labels used\" (supervised PGD-AT), paired by seed.\n\n")
		b.WriteString(t.Markdown() + "\n")
	}
	if t := res.ComparisonTable("variant"); len(t.rows) > 0 {
		b.WriteString("## Do the A-InfoNCE variants change robustness?\n\n" + t.Markdown() + "\n")
		for _, v := range res.Verdicts() {
			b.WriteString("- " + v + "\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("## kNN accuracy during pretraining\n\n![kNN accuracy during pretraining](" + CurvesFile + ")\n\n" + res.KNNTable().Markdown() + "\n")
	b.WriteString("## Time\n\n" + res.TimeTable().Markdown() + "\n" + res.spanLine() + "\n\n")
	b.WriteString("## Machine and load\n\n" + res.machineLines() + "\n")
	b.WriteString("## Commands\n\n```bash\n")
	seen := map[string]bool{}
	for _, inv := range res.Invocations {
		c := strings.Join(inv.Command, " ")
		if !seen[c] {
			seen[c] = true
			b.WriteString(c + "\n")
		}
	}
	b.WriteString(reportCommand + "\n```\n\n")
	fmt.Fprintf(&b, "The experiment command ran %d time(s) (a rerun skips finished pieces); the first at %s.\n\n", len(res.Invocations), res.firstInvocation())
	b.WriteString("## Every run\n\n" + res.SeedTable().Markdown())
	return b.String()
}

// spanLine is the experiment's span and total time.
func (res *Results) spanLine() string {
	if len(res.Legs) == 0 {
		return "No piece has run yet."
	}
	first, last := res.Legs[0].Start, res.Legs[0].Start
	var wall, cpu float64
	for _, l := range res.Legs {
		if l.Start.Before(first) {
			first = l.Start
		}
		if end := l.Start.Add(time.Duration(l.Wall * float64(time.Second))); end.After(last) {
			last = end
		}
		wall += l.Wall
		cpu += l.CPU
	}
	return fmt.Sprintf("In all: %d legs, %s of wall time and %s of CPU time; from the first leg's start (%s) to the last leg's end (%s): %s.",
		len(res.Legs), duration(wall), duration(cpu), first.Format(time.RFC3339), last.Format(time.RFC3339), duration(last.Sub(first).Seconds()))
}

// machineLines describes the machines of the invocations and the load during the legs.
func (res *Results) machineLines() string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, inv := range res.Invocations {
		m := inv.Machine
		line := fmt.Sprintf("- %s: %s, %d logical CPUs (GOMAXPROCS %d), %.1f GiB; backend %s; %s; commit %s",
			m.Host, orUnknown(m.CPUModel), m.NumCPU, m.GOMAXPROCS, m.MemoryGiB, m.Backend, m.GoVersion, orUnknown(m.GitCommit))
		if m.GitDirty {
			line += " (with local changes)"
		}
		if !seen[line] {
			seen[line] = true
			b.WriteString(line + "\n")
		}
	}
	var loads []float64
	for _, l := range res.Legs {
		for _, v := range []float64{l.Load1Start, l.Load1End} {
			if v >= 0 {
				loads = append(loads, v)
			}
		}
	}
	if len(loads) > 0 {
		sort.Float64s(loads)
		fmt.Fprintf(&b, "- 1-minute load average at the start and end of the %d legs: min %.2f, median %.2f, max %.2f (the experiment itself keeps up to GOMAXPROCS cores busy; more means other processes shared the machine).\n",
			len(res.Legs), loads[0], loads[len(loads)/2], loads[len(loads)-1])
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// firstInvocation is the time of the first invocation.
func (res *Results) firstInvocation() string {
	if len(res.Invocations) == 0 {
		return "unknown"
	}
	return res.Invocations[0].Time.Format(time.RFC3339)
}

// HTMLTables are the report's tables for a notebook: the results, the comparisons with
// the baselines and between variants, and the time per row.
func (res *Results) HTMLTables() []*report.HTMLTable {
	out := []*report.HTMLTable{res.ResultsTable().HTML()}
	for _, kind := range []string{"baseline", "variant"} {
		if t := res.ComparisonTable(kind); len(t.rows) > 0 {
			if kind == "variant" {
				t.notes = res.Verdicts()
			}
			out = append(out, t.HTML())
		}
	}
	return append(out, res.TimeTable().HTML())
}

// WriteReport writes the report into the folder dir: ReportFile, CurvesFile and
// ResultsFile. reportCommand is the command line that regenerates it (quoted in it).
func (res *Results) WriteReport(dir, reportCommand string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results folder: %w", err)
	}
	if png, err := res.KNNPlot().PNG(16, 10); err == nil {
		if err := os.WriteFile(filepath.Join(dir, CurvesFile), png, 0o644); err != nil {
			return err
		}
	} else if len(res.KNNPlot().Series) > 0 {
		return err
	}
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ResultsFile), append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ReportFile), []byte(res.Markdown(reportCommand)), 0o644)
}
