package rundir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// A checkpoint is one file, ckpt-<step>.ckpt. Format v2 (written since issue 18):
//
//	GOACL-CHECKPOINT v2
//	sha256 <hex digest of every byte after this line>
//	{header: step, the trainer's host state, per variable scope, name, dtype, dims, byte range}
//	<the variables' raw little-endian bytes, back to back in header order>
//
// The digest covers the header as well as the data, so a changed step, state, offset or
// variable name is refused like changed data. Format v1 (the files written before) has no
// digest line and a header carrying the SHA-256 of the data only ("blob_sha256"): v1 files
// still load, with Checkpoint.Format = 1 telling callers that their header could not be
// verified (only its layout: variables stored back to back, covering the data exactly).
// A file is written to a temporary file, synced and renamed, so a process killed at any
// moment leaves either the previous checkpoint or the new one, never a torn file; and a
// file damaged later fails its checksum and is skipped by LatestCheckpoint.

// CheckpointMagic is the first line of the checkpoints SaveCheckpoint writes (format v2);
// CheckpointMagicV1 that of format v1, still read.
const (
	CheckpointMagic   = "GOACL-CHECKPOINT v2"
	CheckpointMagicV1 = "GOACL-CHECKPOINT v1"
)

// checkpointSumPrefix starts the second line of a v2 checkpoint.
const checkpointSumPrefix = "sha256 "

// CheckpointVar describes one stored variable.
type CheckpointVar struct {
	// Scope and Name locate the variable in the context; DType and Dims are its shape;
	// Offset and Size place its bytes in the checkpoint's data.
	Scope  string `json:"scope"`
	Name   string `json:"name"`
	DType  string `json:"dtype"`
	Dims   []int  `json:"dims"`
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
	// Trainable is the variable's Trainable flag (false for BN running statistics,
	// optimizer state, the global step).
	Trainable bool `json:"trainable"`
}

// Key is the variable's full path, scope and name, e.g. "/resnet18/stem/conv/weights".
func (v CheckpointVar) Key() string { return context.JoinScope(v.Scope, v.Name) }

type checkpointHeader struct {
	Step       int64           `json:"step"`
	State      json.RawMessage `json:"state,omitempty"`
	Variables  []CheckpointVar `json:"variables"`
	BlobSHA256 string          `json:"blob_sha256,omitempty"` // format v1 only
}

// Checkpoint is a checkpoint read from disk: its step, the host state saved with it and
// its variables (values loaded lazily by Restore).
type Checkpoint struct {
	// Path is the file, Step the training step it was written after, State the host
	// state saved with it (e.g. pretrain.TrainState as JSON) and Variables its index.
	Path      string
	Step      int64
	State     json.RawMessage
	Variables []CheckpointVar
	// Format is the file's format version: 2 when the checksum covered the whole file, 1
	// for a file written before (its data verified, its header only checked for layout:
	// see HeaderVerified).
	Format int
	// SHA256 is the hex SHA-256 of the whole file as read (header included): what results
	// record to name the exact weights they came from.
	SHA256 string
	blob   []byte
}

// HeaderVerified reports whether the checkpoint's header (step, host state, variable
// names and byte ranges) was covered by its checksum: false for format v1 files.
func (c *Checkpoint) HeaderVerified() bool { return c.Format >= 2 }

// SaveCheckpoint writes every variable of ctx that has a value, with the host state
// (any JSON-serialisable value), to dir/ckpt-<step>.ckpt atomically, and then removes all
// but the newest keep checkpoints (keep ≤ 0 keeps all). It returns the file's path.
func SaveCheckpoint(ctx *context.Context, dir string, step int64, state any, keep int) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint folder %s: %w", dir, err)
	}
	var blob bytes.Buffer
	var vars []CheckpointVar
	var ferr error
	ctx.EnumerateVariables(func(v *context.Variable) {
		if ferr != nil || !v.HasValue() {
			return
		}
		t, err := v.Value()
		if err != nil {
			ferr = fmt.Errorf("variable %s: %w", v.ScopeAndName(), err)
			return
		}
		cv := CheckpointVar{Scope: v.Scope(), Name: v.Name(), DType: t.DType().String(),
			Dims: append([]int{}, t.Shape().Dimensions...), Offset: int64(blob.Len()), Trainable: v.Trainable}
		if err := t.ConstBytes(func(data []byte) { blob.Write(data) }); err != nil {
			ferr = fmt.Errorf("variable %s: %w", v.ScopeAndName(), err)
			return
		}
		cv.Size = int64(blob.Len()) - cv.Offset
		vars = append(vars, cv)
	})
	if ferr != nil {
		return "", ferr
	}
	stateJSON, err := json.Marshal(state)
	if err != nil {
		return "", fmt.Errorf("checkpoint state: %w", err)
	}
	header, err := json.Marshal(checkpointHeader{Step: step, State: stateJSON, Variables: vars})
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(header)
	h.Write([]byte("\n"))
	h.Write(blob.Bytes())
	final := filepath.Join(dir, fmt.Sprintf("ckpt-%09d.ckpt", step))
	if err := writeFileAtomic(final, func(w io.Writer) error {
		if _, err := fmt.Fprintf(w, "%s\n%s%x\n%s\n", CheckpointMagic, checkpointSumPrefix, h.Sum(nil), header); err != nil {
			return err
		}
		_, err := w.Write(blob.Bytes())
		return err
	}); err != nil {
		return "", fmt.Errorf("writing checkpoint %s: %w", final, err)
	}
	if keep > 0 {
		paths, _ := CheckpointFiles(dir)
		for i := 0; i+keep < len(paths); i++ {
			_ = os.Remove(paths[i])
		}
	}
	return final, nil
}

// CheckpointFiles lists the checkpoint files of dir (ckpt-<step>.ckpt, verified or not),
// oldest (lowest step) first.
func CheckpointFiles(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "ckpt-*.ckpt"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths) // zero-padded steps sort numerically
	return paths, nil
}

// ReadCheckpoint reads and verifies one checkpoint file: magic line, the checksum of
// everything after it (format v2; the data's only in format v1), the header and the
// layout of every variable. Any mismatch is an error naming the file.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return parseCheckpoint(path, data)
}

// parseCheckpoint verifies and decodes the content data of the checkpoint file path.
func parseCheckpoint(path string, data []byte) (*Checkpoint, error) {
	magic, rest, ok := bytes.Cut(data, []byte("\n"))
	format := 0
	switch string(magic) {
	case CheckpointMagic:
		format = 2
	case CheckpointMagicV1:
		format = 1
	}
	if !ok || format == 0 {
		return nil, fmt.Errorf("checkpoint %s: not a goacl checkpoint (first line %q, want %q)", path, truncate(string(magic), 40), CheckpointMagic)
	}
	if format == 2 {
		sumLine, covered, ok := bytes.Cut(rest, []byte("\n"))
		want, hasPrefix := bytes.CutPrefix(sumLine, []byte(checkpointSumPrefix))
		if !ok || !hasPrefix {
			return nil, fmt.Errorf("checkpoint %s: truncated or corrupt checksum line", path)
		}
		sum := sha256.Sum256(covered)
		if hex.EncodeToString(sum[:]) != string(want) {
			return nil, fmt.Errorf("checkpoint %s: checksum mismatch (file truncated or corrupted, header or data: %d bytes after the checksum line)", path, len(covered))
		}
		rest = covered
	}
	headerLine, blob, ok := bytes.Cut(rest, []byte("\n"))
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: truncated header", path)
	}
	var h checkpointHeader
	if err := json.Unmarshal(headerLine, &h); err != nil {
		return nil, fmt.Errorf("checkpoint %s: corrupt header: %w", path, err)
	}
	if format == 1 {
		sum := sha256.Sum256(blob)
		if hex.EncodeToString(sum[:]) != h.BlobSHA256 {
			return nil, fmt.Errorf("checkpoint %s: data checksum mismatch (file truncated or corrupted: %d data bytes)", path, len(blob))
		}
	}
	seen := map[string]bool{}
	next := int64(0)
	for _, v := range h.Variables {
		if v.Offset < 0 || v.Size < 0 || v.Offset > int64(len(blob)) || v.Size > int64(len(blob))-v.Offset {
			return nil, fmt.Errorf("checkpoint %s: variable %s lies outside the data", path, v.Key())
		}
		// Writers store the variables back to back in header order: anything else is a
		// damaged header (the only check a v1 header gets beyond its JSON).
		if v.Offset != next {
			return nil, fmt.Errorf("checkpoint %s: variable %s starts at byte %d of the data, want %d (variables are stored back to back): damaged header", path, v.Key(), v.Offset, next)
		}
		next += v.Size
		if err := checkVarShape(v); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", path, err)
		}
		if seen[v.Key()] {
			return nil, fmt.Errorf("checkpoint %s: variable %s is listed twice", path, v.Key())
		}
		seen[v.Key()] = true
	}
	if next != int64(len(blob)) {
		return nil, fmt.Errorf("checkpoint %s: the variables cover %d of the %d data bytes: damaged header", path, next, len(blob))
	}
	whole := sha256.Sum256(data)
	return &Checkpoint{Path: path, Step: h.Step, State: h.State, Variables: h.Variables, Format: format,
		SHA256: hex.EncodeToString(whole[:]), blob: blob}, nil
}

// checkpointDTypes are the dtypes a checkpoint may hold (those with a Go element type).
var checkpointDTypes = []dtypes.DType{dtypes.Bool, dtypes.Int8, dtypes.Int16, dtypes.Int32, dtypes.Int64,
	dtypes.Uint8, dtypes.Uint16, dtypes.Uint32, dtypes.Uint64, dtypes.Float16, dtypes.BFloat16,
	dtypes.Float32, dtypes.Float64, dtypes.Complex64, dtypes.Complex128}

// checkVarShape checks that a stored variable's key is an absolute scope path, its dtype
// is known, its dimensions are non-negative and its byte size is exactly that of its shape.
func checkVarShape(v CheckpointVar) error {
	if err := checkKey(v.Key()); err != nil {
		return err
	}
	dtype, err := dtypes.DTypeString(v.DType)
	if err != nil || !slices.Contains(checkpointDTypes, dtype) {
		return fmt.Errorf("variable %s has unknown dtype %q", v.Key(), v.DType)
	}
	elems := int64(1)
	for _, d := range v.Dims {
		if d < 0 {
			return fmt.Errorf("variable %s has a negative dimension in %v", v.Key(), v.Dims)
		}
		if d > 0 && elems > v.Size/int64(d) { // elems·d > Size: cannot match, and avoids overflow
			return fmt.Errorf("variable %s: shape %v does not fit its %d bytes", v.Key(), v.Dims, v.Size)
		}
		elems *= int64(d)
	}
	if want := elems * int64(dtype.Size()); want != v.Size {
		return fmt.Errorf("variable %s: shape %s%v needs %d bytes, the file has %d", v.Key(), v.DType, v.Dims, want, v.Size)
	}
	return nil
}

// ErrNoCheckpoint is returned by LatestCheckpoint when dir has no valid checkpoint.
var ErrNoCheckpoint = errors.New("no checkpoint")

// LatestCheckpoint returns the newest checkpoint of dir that verifies. Damaged newer files
// are skipped and reported in skipped (path: reason), so the caller can say so.
func LatestCheckpoint(dir string) (ckpt *Checkpoint, skipped []string, err error) {
	paths, err := CheckpointFiles(dir)
	if err != nil {
		return nil, nil, err
	}
	for i := len(paths) - 1; i >= 0; i-- {
		c, err := ReadCheckpoint(paths[i])
		if err == nil {
			return c, skipped, nil
		}
		skipped = append(skipped, err.Error())
	}
	return nil, skipped, fmt.Errorf("%s: %w", dir, ErrNoCheckpoint)
}

// Tensor returns the stored value of variable v.
func (c *Checkpoint) Tensor(v CheckpointVar) (*tensors.Tensor, error) {
	if err := checkVarShape(v); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	if v.Offset < 0 || v.Size > int64(len(c.blob))-v.Offset {
		return nil, fmt.Errorf("checkpoint %s: variable %s lies outside the data", c.Path, v.Key())
	}
	dtype, _ := dtypes.DTypeString(v.DType)
	t := tensors.FromShape(shapes.Make(dtype, v.Dims...))
	err := t.MutableBytes(func(data []byte) { copy(data, c.blob[v.Offset:v.Offset+v.Size]) })
	return t, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// DifferentValues lists, sorted, the keys of the variables whose stored bytes differ
// between c and other, and of those only one of them holds: empty when both checkpoints
// hold the same variables with the same values, byte for byte (what an exact resume must
// give).
func (c *Checkpoint) DifferentValues(other *Checkpoint) []string {
	theirs := map[string]CheckpointVar{}
	for _, v := range other.Variables {
		theirs[v.Key()] = v
	}
	var diff []string
	for _, v := range c.Variables {
		w, ok := theirs[v.Key()]
		delete(theirs, v.Key())
		if !ok || v.DType != w.DType || !slices.Equal(v.Dims, w.Dims) ||
			!bytes.Equal(c.blob[v.Offset:v.Offset+v.Size], other.blob[w.Offset:w.Offset+w.Size]) {
			diff = append(diff, v.Key())
		}
	}
	for k := range theirs {
		diff = append(diff, k)
	}
	sort.Strings(diff)
	return diff
}
