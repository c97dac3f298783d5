package report

import (
	"fmt"
	"path/filepath"

	"github.com/ainfonce/goacl/acl/rundir"
)

// TrainingCurves plots the logged pretraining loss against the step for each run
// directory (one series per run, named after its folder).
func TrainingCurves(title string, runDirs ...string) (*LinePlot, error) {
	p := &LinePlot{Title: title, XLabel: "step", YLabel: "pretraining loss"}
	for _, dir := range runDirs {
		run, err := rundir.Open(dir)
		if err != nil {
			return nil, err
		}
		recs, err := run.ReadMetrics()
		if err != nil {
			return nil, err
		}
		var xs, ys []float64
		for _, r := range recs {
			step, ok1 := r["step"].(float64)
			loss, ok2 := r["loss"].(float64)
			if ok1 && ok2 {
				xs, ys = append(xs, step), append(ys, loss)
			}
		}
		if len(xs) == 0 {
			return nil, fmt.Errorf("run %s: no loss logged in %s", dir, rundir.MetricsFile)
		}
		if err := p.Add(filepath.Base(dir), xs, ys); err != nil {
			return nil, err
		}
	}
	return p, nil
}
