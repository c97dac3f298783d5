package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/ainfonce/goacl/acl/rundir"
)

// Exit codes of acl's commands (docs/reliability.md): 0 done (also a run stopped by
// -max-steps: it asked for that), 1 failed, 2 bad flags or input refused before any work,
// 3 a training that went NaN or ±Inf, and exitInterrupted for a command stopped by
// SIGINT or SIGTERM (the first one stops cleanly and resumably, a second one at once),
// whatever the command: scripts can tell an interrupted run from a finished one.
const exitInterrupted = 130

// interruptible returns a context that the first SIGINT or SIGTERM cancels, printing
// "<name>: interrupted: <what the command does now>" where now() says it (e.g. finishing
// the current step and saving a checkpoint). A second signal stops the process at once:
// every run directory it writes is marked interrupted with its newest checkpoint
// (rundir.InterruptWriters; nothing written later overrides that) and it exits with
// exitInterrupted. Call done when the command's work is over.
func interruptible(name string, now func() string) (ctx context.Context, done func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	finished := make(chan struct{})
	go func() {
		select {
		case <-finished:
			return
		case <-sig:
		}
		cancel()
		fmt.Fprintf(os.Stderr, "%s: interrupted: %s (Ctrl-C again quits at once; the newest checkpoint stays valid)\n", name, now())
		select {
		case <-finished:
			return
		case <-sig:
		}
		marked := rundir.InterruptWriters("stopped at once by a second interrupt (the step in progress was dropped); resumable from its newest checkpoint")
		msg := "nothing was being written"
		if len(marked) > 0 {
			msg = "marked interrupted: " + strings.Join(marked, ", ")
		}
		fmt.Fprintf(os.Stderr, "%s: stopped at once (%s)\n", name, msg)
		os.Exit(exitInterrupted)
	}()
	return ctx, func() {
		close(finished)
		signal.Stop(sig)
		cancel()
	}
}

// phase is what a command is doing, for the message of an interruption.
type phase struct{ v atomic.Value }

func (p *phase) set(s string) { p.v.Store(s) }

func (p *phase) get() string {
	s, _ := p.v.Load().(string)
	return s
}
