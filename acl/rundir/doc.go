// Package rundir stores runs: a run directory per run (config.json, provenance.json,
// metrics.jsonl, status.json, checkpoints/, results/) with one writer at a time (a lock
// the kernel releases when the process dies) and atomic writes, and checkpoints: one
// file per step holding every variable of a context and the trainer's host state, written
// atomically, verified by a checksum when read, restored strictly when asked. Tables and
// notebooks are built from run directories alone; a run directory written by an earlier
// version of goacl still loads.
package rundir
