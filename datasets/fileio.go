package datasets

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// readSized reads file name in dir and checks that it holds exactly want bytes; what
// describes the expected content for the error message (e.g. "10000 records of 3073
// bytes"). A missing file yields an error that says how to fill dir with the named
// data set.
func readSized(dataset, dir, name string, want int64, what string) ([]byte, error) {
	p := filepath.Join(dir, name)
	st, err := os.Stat(p)
	if err != nil {
		return nil, missingFileError(dataset, dir, p, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	if err := checkSize(p, st.Size(), want, what); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if err := checkSize(p, int64(len(data)), want, what); err != nil { // file changed under us
		return nil, err
	}
	return data, nil
}

func checkSize(p string, got, want int64, what string) error {
	switch {
	case got < want:
		return fmt.Errorf("%s: truncated: expected %d bytes (%s), got %d", p, want, what, got)
	case got > want:
		return fmt.Errorf("%s: wrong size: expected %d bytes (%s), got %d", p, want, what, got)
	}
	return nil
}

func missingFileError(dataset, dir, p string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := os.Stat(dir); derr != nil {
			return fmt.Errorf("%s: data folder %s does not exist (%w); %s", p, dir, err, fillHint(dataset, dir))
		}
		return fmt.Errorf("%s: missing file (%w); %s", p, err, fillHint(dataset, dir))
	}
	return fmt.Errorf("%s: %w", p, err)
}

// readNames reads a class-name file: one name per non-empty line, surrounding blanks
// trimmed. It checks that there are exactly want names.
func readNames(dataset, dir, name string, want int) ([]string, error) {
	p := filepath.Join(dir, name)
	f, err := os.Open(p)
	if err != nil {
		return nil, missingFileError(dataset, dir, p, err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			names = append(names, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if len(names) != want {
		return nil, fmt.Errorf("%s: expected %d class names (one per line), got %d", p, want, len(names))
	}
	return names, nil
}

// classNamesOrDefault reads a class-name file if it exists and falls back to the
// built-in names if it does not; a file that exists but is malformed is an error.
func classNamesOrDefault(dataset, dir, name string, builtin []string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, name)); errors.Is(err, fs.ErrNotExist) {
		return append([]string(nil), builtin...), nil
	}
	return readNames(dataset, dir, name, len(builtin))
}
