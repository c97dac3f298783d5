package rundir

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func testContext() *context.Context {
	ctx := context.New()
	ctx.In("enc").In("conv").VariableWithValue("weights", [][]float32{{1, 2}, {3, 4}})
	ctx.In("enc").In("bn").VariableWithValue("mean", []float32{0.5, -0.5}).SetTrainable(false)
	ctx.In("head").VariableWithValue("bias", []float64{7})
	return ctx
}

func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext()
	state := map[string]int{"epoch": 3, "step_in_epoch": 5}
	path, err := SaveCheckpoint(ctx, dir, 42, state, 2)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "ckpt-000000042.ckpt" {
		t.Fatalf("checkpoint name %s", path)
	}
	c, skipped, err := LatestCheckpoint(dir)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("LatestCheckpoint: %v (skipped %v)", err, skipped)
	}
	var got map[string]int
	if err := json.Unmarshal(c.State, &got); err != nil || got["epoch"] != 3 || c.Step != 42 {
		t.Fatalf("state %v step %d err %v", got, c.Step, err)
	}
	fresh := context.New()
	if err := c.Restore(fresh, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	w := tensors.MustCopyFlatData[float32](fresh.GetVariableByScopeAndName("/enc/conv", "weights").MustValue())
	if len(w) != 4 || w[3] != 4 {
		t.Fatalf("restored weights %v", w)
	}
	if fresh.GetVariableByScopeAndName("/enc/bn", "mean").Trainable {
		t.Fatal("running mean restored as trainable")
	}
}

func TestCheckpointKeepsNewestAndSkipsDamaged(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext()
	for step := int64(1); step <= 4; step++ {
		if _, err := SaveCheckpoint(ctx, dir, step, nil, 3); err != nil {
			t.Fatal(err)
		}
	}
	paths, _ := CheckpointFiles(dir)
	if len(paths) != 3 || !strings.HasSuffix(paths[0], "ckpt-000000002.ckpt") {
		t.Fatalf("kept %v, want steps 2..4", paths)
	}
	// Damage the newest: truncate it.
	data, _ := os.ReadFile(paths[2])
	if err := os.WriteFile(paths[2], data[:len(data)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	// A leftover temporary file from a killed write must be ignored.
	if err := os.WriteFile(filepath.Join(dir, ".ckpt-000000005.ckpt.tmp-123"), data[:10], 0o644); err != nil {
		t.Fatal(err)
	}
	c, skipped, err := LatestCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Step != 3 || len(skipped) != 1 || !strings.Contains(skipped[0], "checksum") {
		t.Fatalf("got step %d, skipped %v; want step 3 and the damaged step 4 reported", c.Step, skipped)
	}
	if _, _, err := LatestCheckpoint(t.TempDir()); err == nil {
		t.Fatal("empty folder: want ErrNoCheckpoint")
	}
}

func TestCheckpointStrictRestoreListsMismatches(t *testing.T) {
	dir := t.TempDir()
	if _, err := SaveCheckpoint(testContext(), dir, 1, nil, 0); err != nil {
		t.Fatal(err)
	}
	c, _, err := LatestCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Restore(context.New(), RestoreOptions{
		Only:     []string{"/enc/"},
		Expected: []string{"/enc/conv/weights", "/enc/bn/mean", "/enc/bn/var"},
	})
	if err == nil || !strings.Contains(err.Error(), "/enc/bn/var") {
		t.Fatalf("want an error listing the missing /enc/bn/var, got %v", err)
	}
	err = c.Restore(context.New(), RestoreOptions{Expected: []string{"/enc/conv/weights"}})
	if err == nil || !strings.Contains(err.Error(), "/head/bias") || !strings.Contains(err.Error(), "/enc/bn/mean") {
		t.Fatalf("want an error listing the unexpected variables, got %v", err)
	}
	// Renaming a branch prefix and restricting to it.
	ok := context.New()
	err = c.Restore(ok, RestoreOptions{Rename: map[string]string{"/enc/": "/encoder/"}, Only: []string{"/encoder/"},
		Expected: []string{"/encoder/conv/weights", "/encoder/bn/mean"}})
	if err != nil {
		t.Fatal(err)
	}
	// A shape mismatch against an existing variable is an error naming it.
	wrong := context.New()
	wrong.In("enc").In("conv").VariableWithValue("weights", []float32{1, 2, 3})
	if err := c.Restore(wrong, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "/enc/conv/weights") {
		t.Fatalf("want a shape error naming /enc/conv/weights, got %v", err)
	}
}
