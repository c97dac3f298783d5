package train

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress reports a run's progress the way GoMLX's command-line UI does: on a terminal a
// progress bar with the step count, rate and ETA and the latest loss (the same
// schollz/progressbar GoMLX's ui/commandline uses), elsewhere (CI logs, notebooks, pipes)
// plain lines. Lines printed while a bar is shown go above it. A nil *Progress, or one on
// a nil writer, reports nothing.
type Progress struct {
	w   io.Writer
	mu  sync.Mutex
	bar *progressbar.ProgressBar
	// offset is the step the bar started at (a resumed run counts from there).
	offset int64
	// tty is true when w is a terminal.
	tty bool
}

// NewProgress returns the reporter writing to w (nil: none).
func NewProgress(w io.Writer) *Progress {
	p := &Progress{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// IsTerminal reports whether the progress goes to a terminal (and is shown as a bar).
func (p *Progress) IsTerminal() bool { return p != nil && p.tty }

// Printf writes one line (format should end with a newline), above the bar if one is
// shown.
func (p *Progress) Printf(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintf(p.w, format, args...)
	if p.bar != nil {
		_ = p.bar.RenderBlank()
	}
}

// start shows a bar for total steps, of which done are already done (a resumed run), on a
// terminal; elsewhere it does nothing.
func (p *Progress) start(name string, done, total int64) {
	if !p.IsTerminal() || p.w == nil || total <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.offset = done
	p.bar = progressbar.NewOptions64(total-done,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(name),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("steps"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetTheme(progressbar.ThemeASCII),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(0),
	)
}

// step advances the bar to step and shows the latest loss; it does nothing without a bar.
func (p *Progress) step(name string, step int64, loss float64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		return
	}
	p.bar.Describe(fmt.Sprintf("%s loss %.4f", name, loss))
	_ = p.bar.Set64(step - p.offset)
}

// finish removes the bar (the run's own lines say how it ended).
func (p *Progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
		p.bar = nil
	}
}
