//go:build !unix

package rundir

import "os"

// lockRunDir is a no-op where flock is not available: one writer per run directory is
// then the user's responsibility.
func lockRunDir(path string) (*os.File, error) { return nil, nil }

// unlockRunDir is the no-op counterpart of lockRunDir.
func unlockRunDir(f *os.File) {}
