// Package report turns results into what people read: HTML tables whose numbers keep
// their exact value (HTMLTable), image grids and heatmaps (PNG), line plots (PNG through
// gonum/plot, and interactive plotly.js charts), training curves from metrics.jsonl, the
// Table-1 grid built from run directories alone with every cell's source and the settings
// it was measured with (BuildTable, rendered as Markdown, CSV, LaTeX or HTML), and the
// published reference numbers with their provenance (RobustSSL).
package report
