package datasets

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ainfonce/goacl/internal/testdirs"
)

// sharedDir returns ../shared/datasets/<name> relative to the repository root.
func sharedDir(t testing.TB, name string) string {
	t.Helper()
	return testdirs.Shared(t, "datasets", name)
}

// cifar10Dir returns $ACL_CIFAR10_DIR or ../shared/datasets/cifar-10, skipping the test
// when the folder is absent.
func cifar10Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("ACL_CIFAR10_DIR")
	if dir == "" {
		dir = sharedDir(t, "cifar-10")
	}
	if _, err := os.Stat(filepath.Join(dir, "data_batch_1.bin")); err != nil {
		t.Skipf("CIFAR-10 not available in %s (set ACL_CIFAR10_DIR): %v", dir, err)
	}
	return dir
}

// pseudoDir returns ../shared/datasets/advcl-pseudo-labels/<sub>, skipping if absent.
func pseudoDir(t testing.TB, sub string) string {
	t.Helper()
	dir := filepath.Join(sharedDir(t, "advcl-pseudo-labels"), sub)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("pseudo labels not available in %s: %v", dir, err)
	}
	return dir
}

var (
	cifarOnce             sync.Once
	cifarTrain, cifarTest *Dataset
	cifarErr              error
)

// loadCIFAR10 loads the real CIFAR-10 once per test binary.
func loadCIFAR10(t testing.TB) (train, test *Dataset) {
	t.Helper()
	dir := cifar10Dir(t)
	cifarOnce.Do(func() { cifarTrain, cifarTest, cifarErr = LoadCIFAR10(dir) })
	if cifarErr != nil {
		t.Fatal(cifarErr)
	}
	return cifarTrain, cifarTest
}

// randomDataset returns n random 32×32×3 images with labels i%10.
func randomDataset(n int, seed uint64) *Dataset {
	r := rand.New(rand.NewPCG(seed, 1))
	d := &Dataset{Name: "random", Split: Train, Height: 32, Width: 32, Channels: 3, NumClasses: 10,
		ClassNames: CIFAR10ClassNames, Images: make([]uint8, n*3072), Labels: make([]int32, n)}
	for i := range d.Images {
		d.Images[i] = uint8(r.IntN(256))
	}
	for i := range d.Labels {
		d.Labels[i] = int32(i % 10)
	}
	return d
}

// randomImage returns an h×w×3 image with uniform values in [0,1].
func randomImage(h, w int, r *rand.Rand) Image {
	img := NewImage(h, w, 3)
	for i := range img.Pix {
		img.Pix[i] = r.Float32()
	}
	return img
}

// wantErrContains fails unless err is non-nil and contains every fragment.
func wantErrContains(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error containing %q, got nil", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
}

// writeFile writes data to dir/name, failing the test on error.
func writeTestFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
