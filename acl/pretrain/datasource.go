package pretrain

import (
	"fmt"
	"path/filepath"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/datasets"
)

// DataSource is the data folder a later stage (finetuning, evaluation, the probe) read a
// run's data set from, and how it relates to the data the run was trained on; results
// record it.
type DataSource struct {
	// Dir is the absolute folder read and Fingerprint its datasets.Fingerprint.
	Dir         string `json:"dir"`
	Fingerprint string `json:"fingerprint"`
	// Override is set when Dir was given explicitly instead of the run's data_dir.
	Override bool `json:"override,omitempty"`
	// Note says how Dir differs from what the run recorded ("" when it is the run's
	// folder with the run's files).
	Note string `json:"note,omitempty"`
}

// ResolveData returns the data folder a later stage reads the run's data set from: the
// run's data_dir, whose files must still have the run's fingerprint, or override when it
// is given (recorded as such; files other than the run's are then used, with a note,
// because they were asked for). A run recorded before fingerprints existed is read from
// its data_dir when that is absolute (not verifiable: noted); a relative one is refused,
// since it was relative to a directory no longer known. Errors are *field.Error values of
// the key data_dir.
func (c *Config) ResolveData(override string) (*DataSource, error) {
	dir := c.DataDir
	if override != "" {
		dir = override
	} else if !filepath.IsAbs(dir) {
		return nil, field.Errorf("data_dir", "{data_dir} %q: the run recorded its data folder relative to the directory it was started from (an older goacl), and no fingerprint of its files: give the folder explicitly", dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, field.Wrap("data_dir", err)
	}
	fp, err := datasets.Fingerprint(c.Dataset, abs)
	if err != nil {
		what := "the run's data folder"
		if override != "" {
			what = "the data folder given"
		}
		return nil, field.Errorf("data_dir", "{data_dir}: %s: %v", what, err)
	}
	ds := &DataSource{Dir: abs, Fingerprint: fp, Override: override != ""}
	switch {
	case c.DataFingerprint == "":
		ds.Note = "not verified: the run recorded no fingerprint of its data (an older goacl)"
	case fp != c.DataFingerprint && override == "":
		return nil, field.Errorf("data_dir", "{data_dir} %s: its files are not those the run was trained on (fingerprint %s, the run recorded %s): restore them, or give the folder to use explicitly", abs, fp, c.DataFingerprint)
	case fp != c.DataFingerprint:
		ds.Note = fmt.Sprintf("other files than the run was trained on (the run recorded fingerprint %s): used because the folder was given explicitly", c.DataFingerprint)
	case abs != filepath.Clean(c.DataDir):
		ds.Note = fmt.Sprintf("the run's files in another folder (the run recorded %s)", c.DataDir)
	}
	return ds, nil
}
