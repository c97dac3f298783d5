//go:build unix

package rundir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockRunDir takes the exclusive writer lock of the run directory path (an advisory
// flock on path/.lock, released by the kernel when the process exits or is killed) and
// records the holder's pid in the file for the error another writer gets.
func lockRunDir(path string) (*os.File, error) {
	p := filepath.Join(path, runLockFile)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("run directory %s: lock file: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(p)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another writer"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(holder))); perr == nil {
				who = fmt.Sprintf("another writer (pid %d)", pid)
			}
			return nil, fmt.Errorf("run directory %s is in use by %s: wait for it to finish or stop it, or choose another run directory", path, who)
		}
		return nil, fmt.Errorf("run directory %s: locking %s: %w", path, p, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// unlockRunDir releases a lock taken by lockRunDir (nil: nothing to do).
func unlockRunDir(f *os.File) {
	if f != nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}
