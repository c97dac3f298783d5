package rundir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// ReplaceDir puts the finished folder next in place of final in one step, so that a
// reader (or a process killed at any moment) sees either the previous content of final or
// next's, never a mix or nothing: where the system can exchange two paths atomically
// (Linux renameat2 RENAME_EXCHANGE) it does, then removes the previous content; elsewhere
// final is renamed aside, next renamed into place and the previous content removed (a
// kill between the two renames leaves the previous content under final's name plus
// ".old-<time>"). A missing final is a plain rename. next and final must be on the same
// file system (siblings, in practice).
func ReplaceDir(next, final string) error {
	if _, err := os.Stat(final); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(next, final); err != nil {
			return fmt.Errorf("moving %s into place: %w", next, err)
		}
		return syncDir(filepath.Dir(final))
	}
	if err := exchangeDirs(next, final); err == nil {
		// next now holds the previous content.
		if err := syncDir(filepath.Dir(final)); err != nil {
			return err
		}
		return os.RemoveAll(next)
	}
	old := final + ".old-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := os.Rename(final, old); err != nil {
		return fmt.Errorf("moving %s aside: %w", final, err)
	}
	if err := os.Rename(next, final); err != nil {
		_ = os.Rename(old, final)
		return fmt.Errorf("moving %s into place: %w", next, err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

// syncDir makes a folder's entries (renames) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
