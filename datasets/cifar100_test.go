package datasets

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeCIFAR100 writes a small CIFAR-100 folder in the official layout: nTrain/nTest
// records whose pixel (y,x,c) of record i is (i*7+y*3+x*5+c*11)%256, fine label
// (i*13)%100 and coarse label i%20.
func writeCIFAR100(t *testing.T, nTrain, nTest int) string {
	t.Helper()
	dir := t.TempDir()
	for _, s := range []struct {
		name string
		n    int
	}{{"train.bin", nTrain}, {"test.bin", nTest}} {
		var b []byte
		for i := 0; i < s.n; i++ {
			b = append(b, byte(i%20), byte((i*13)%100))
			for c := 0; c < 3; c++ {
				for y := 0; y < 32; y++ {
					for x := 0; x < 32; x++ {
						b = append(b, byte((i*7+y*3+x*5+c*11)%256))
					}
				}
			}
		}
		writeTestFile(t, dir, s.name, b)
	}
	var fine, coarse []string
	for i := 0; i < 100; i++ {
		fine = append(fine, fmt.Sprintf("fine%d", i))
	}
	for i := 0; i < 20; i++ {
		coarse = append(coarse, fmt.Sprintf("coarse%d", i))
	}
	writeTestFile(t, dir, "fine_label_names.txt", []byte(strings.Join(fine, "\n")+"\n"))
	writeTestFile(t, dir, "coarse_label_names.txt", []byte(strings.Join(coarse, "\n")+"\n"))
	return dir
}

func TestLoadCIFAR100Small(t *testing.T) {
	dir := writeCIFAR100(t, 30, 4)
	counts := splitCounts{train: 30, test: 4}
	train, err := loadCIFAR100Split(dir, Train, counts)
	if err != nil {
		t.Fatal(err)
	}
	test, err := loadCIFAR100Split(dir, Test, counts)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 30 || test.Len() != 4 || train.NumClasses != 100 || len(train.CoarseClassNames) != 20 {
		t.Fatalf("train %d test %d classes %d coarse names %d", train.Len(), test.Len(), train.NumClasses, len(train.CoarseClassNames))
	}
	if err := train.Validate(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		if train.Labels[i] != int32((i*13)%100) || train.CoarseLabels[i] != int32(i%20) {
			t.Fatalf("record %d: fine %d coarse %d", i, train.Labels[i], train.CoarseLabels[i])
		}
		for _, p := range [][3]int{{0, 0, 0}, {3, 29, 2}, {31, 31, 1}} {
			y, x, c := p[0], p[1], p[2]
			if got, want := train.Pixels(i)[(y*32+x)*3+c], byte((i*7+y*3+x*5+c*11)%256); got != want {
				t.Fatalf("record %d pixel %v = %d, want %d", i, p, got, want)
			}
		}
	}
	if train.ClassNames[99] != "fine99" || train.CoarseClassNames[0] != "coarse0" {
		t.Errorf("names %q %q", train.ClassNames[99], train.CoarseClassNames[0])
	}
	sub := train.Subset(5, 1)
	if len(sub.CoarseLabels) != 5 || sub.CoarseLabels[0] != train.CoarseLabels[sub.SourceIndex[0]] {
		t.Error("Subset loses coarse labels")
	}
}

func TestCIFAR100Errors(t *testing.T) {
	dir := writeCIFAR100(t, 3, 2)
	// Official sizes: the small files are truncated.
	_, _, err := LoadCIFAR100(dir)
	wantErrContains(t, err, filepath.Join(dir, "train.bin"), "truncated", "expected 153700000 bytes", "got 9222")

	missing := filepath.Join(t.TempDir(), "c100")
	_, err = LoadCIFAR100Split(missing, Test)
	wantErrContains(t, err, missing, "cifar-100-binary.tar.gz", "tar xzf")

	bad := make([]byte, 2*3074)
	bad[3074] = 20 // coarse label of record 1
	_, _, _, err = decodeCIFAR(bad, "train.bin", 2, 2, 100, 20)
	wantErrContains(t, err, "train.bin", "record 1", "coarse label 20 out of range [0,20)")
	bad[3074], bad[3075] = 0, 100
	_, _, _, err = decodeCIFAR(bad, "train.bin", 2, 2, 100, 20)
	wantErrContains(t, err, "record 1", "label 100 out of range [0,100)")

	writeTestFile(t, dir, "coarse_label_names.txt", []byte("a\nb\n"))
	_, err = loadCIFAR100Split(dir, Train, splitCounts{3, 2})
	wantErrContains(t, err, "coarse_label_names.txt", "expected 20 class names", "got 2")
}

func TestDatasetNames(t *testing.T) {
	if !slices.Equal(Names(), []string{"cifar10", "cifar100", "stl10"}) {
		t.Error(Names())
	}
	for _, n := range Names() {
		a, err := OfficialArchive(n)
		if err != nil || a.URL == "" || len(a.MD5) != 32 || len(a.Files) == 0 {
			t.Errorf("%s: %+v %v", n, a, err)
		}
	}
	if _, err := OfficialArchive("mnist"); err == nil {
		t.Error("unknown data set accepted")
	}
}
