//go:build !linux

package rundir

import "errors"

// exchangeDirs is not available here: ReplaceDir falls back to two renames.
func exchangeDirs(a, b string) error { return errors.New("atomic exchange not supported") }
