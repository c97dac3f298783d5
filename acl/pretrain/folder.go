package pretrain

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/datasets"
)

// ErrRunExists is wrapped by the error of a fresh pretraining into a folder that already
// holds a run (its config.json): resume it (Options.Resume), replace it
// (Options.Overwrite) or choose another folder. Nothing is written.
var ErrRunExists = errors.New("the folder already holds a run")

// ErrFolderNotEmpty is wrapped by the error of a pretraining into a folder that holds
// files but no run: choose an empty or new folder. Nothing is written (Overwrite never
// clears a folder that is not a run's).
var ErrFolderNotEmpty = errors.New("the folder is not empty and holds no run")

// ErrNothingToResume is wrapped by the error of a resumed pretraining whose folder does
// not exist (a missing or mistyped path): nothing is created.
var ErrNothingToResume = errors.New("nothing to resume")

// checkFolder decides, before anything is read, created or written, whether a pretraining
// may start or resume in out, which holds occ (entries: its top-level names): a new run
// needs a missing or empty folder (or Overwrite and a run folder), a resumed one an
// existing run folder (whose configuration the caller compares with SameTraining once the
// data's fingerprint is known), or the empty folder a run killed during its start-up
// left. It returns the stored configuration of a run folder.
func checkFolder(out string, occ rundir.Occupancy, entries []string, opts Options) (*Config, error) {
	if opts.Resume && opts.Overwrite {
		return nil, errors.New("resume and overwrite exclude each other")
	}
	listed := func() string {
		if len(entries) > 8 {
			return strings.Join(entries[:8], ", ") + ", …"
		}
		return strings.Join(entries, ", ")
	}
	var stored *Config
	if occ == rundir.FolderRun {
		var err error
		if stored, err = ReadConfig(out); err != nil {
			return nil, fmt.Errorf("%s: %w", out, err)
		}
		var prior rundir.Provenance
		if !opts.Overwrite && (&rundir.Dir{Path: out}).ReadJSON(rundir.ProvenanceFile, &prior) == nil && prior.Import != nil {
			return nil, fmt.Errorf("%w: %s was made from %s (sha256 %s); it holds the encoder only (no projection heads, optimizer state or training position), so it cannot be resumed or trained further: finetune or evaluate it, or pretrain into another run directory",
				ErrImportedRun, out, prior.Import.Source, prior.Import.SHA256)
		}
	}
	switch {
	case opts.Resume && occ == rundir.FolderMissing:
		return nil, fmt.Errorf("%w: %s does not exist", ErrNothingToResume, out)
	case opts.Resume && occ == rundir.FolderOther:
		return nil, fmt.Errorf("%w: %s holds no run (no %s; it holds %s)", ErrNothingToResume, out, rundir.ConfigFile, listed())
	case opts.Resume:
	case occ == rundir.FolderRun && !opts.Overwrite:
		newest := "no valid checkpoint"
		if c, _, err := rundir.LatestCheckpoint(filepath.Join(out, rundir.CheckpointsDir)); err == nil {
			newest = fmt.Sprintf("newest checkpoint: step %d", c.Step)
		}
		return nil, fmt.Errorf("%w: %s holds the run %s (%s): resume it, replace it, or choose another folder", ErrRunExists, out, stored.RunName(), newest)
	case occ == rundir.FolderOther:
		return nil, fmt.Errorf("%w: %s holds %s: choose an empty or new folder", ErrFolderNotEmpty, out, listed())
	}
	return stored, nil
}

// RecordData makes the data folders of c absolute and sets DataFingerprint from the
// files in DataDir, as a run records them (Pretrain does; so does an import of weights).
// When the files cannot be fingerprinted the folders are still made absolute and the
// error (a *field.Error of data_dir) says why.
func (c *Config) RecordData() error {
	if err := c.absolutePaths(); err != nil {
		return err
	}
	fp, err := datasets.Fingerprint(c.Dataset, c.DataDir)
	if err != nil {
		return field.Wrap("data_dir", err)
	}
	c.DataFingerprint = fp
	return nil
}

// absolutePaths makes the data folders of cfg absolute and clean, so that config.json
// names them whatever the directory a later stage runs from (a trailing "/" or a "./"
// changes nothing).
func (c *Config) absolutePaths() error {
	for _, p := range []*string{&c.DataDir, &c.PseudoLabelDir} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	return nil
}

// dataMoved says, for the provenance of a resume, that the data folder changed (same
// files: the fingerprints matched); "" when it did not.
func dataMoved(stored *Config, now *Config) string {
	if stored == nil || filepath.Clean(stored.DataDir) == now.DataDir {
		return ""
	}
	return fmt.Sprintf("data folder %s (was %s; same files: fingerprint %s)", now.DataDir, stored.DataDir, now.DataFingerprint)
}
