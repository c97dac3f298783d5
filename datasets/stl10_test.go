package datasets

import (
	"math"
	"path/filepath"
	"testing"
)

// stlPixel is the value of row y, column x, channel c of synthetic STL-10 image i; it is
// not symmetric in x and y, so a transposed reader fails.
func stlPixel(i, y, x, c int) byte { return byte((i*31 + y*7 + x*2 + c*50) % 256) }

// writeSTL10 writes a small STL-10 folder in the official layout (column-major planes,
// labels 1..10).
func writeSTL10(t *testing.T, nTrain, nTest int) string {
	t.Helper()
	dir := t.TempDir()
	for _, s := range []struct {
		split string
		n     int
	}{{"train", nTrain}, {"test", nTest}} {
		x := make([]byte, 0, s.n*stl10Pixels)
		y := make([]byte, s.n)
		for i := 0; i < s.n; i++ {
			for c := 0; c < 3; c++ {
				for col := 0; col < 96; col++ { // Fortran order: column-major
					for row := 0; row < 96; row++ {
						x = append(x, stlPixel(i, row, col, c))
					}
				}
			}
			y[i] = byte(i%10 + 1)
		}
		writeTestFile(t, dir, s.split+"_X.bin", x)
		writeTestFile(t, dir, s.split+"_y.bin", y)
	}
	writeTestFile(t, dir, "class_names.txt", []byte("airplane\nbird\ncar\ncat\ndeer\ndog\nhorse\nmonkey\nship\ntruck\n"))
	return dir
}

func TestLoadSTL10Small(t *testing.T) {
	dir := writeSTL10(t, 12, 3)
	counts := splitCounts{train: 12, test: 3}
	train, err := loadSTL10Split(dir, Train, counts)
	if err != nil {
		t.Fatal(err)
	}
	test, err := loadSTL10Split(dir, Test, counts)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 12 || test.Len() != 3 || train.Height != 96 || train.Width != 96 {
		t.Fatalf("train %d test %d shape %dx%d", train.Len(), test.Len(), train.Height, train.Width)
	}
	for i := 0; i < 12; i++ {
		if train.Labels[i] != int32(i%10) {
			t.Fatalf("record %d label %d, want %d (file value minus 1)", i, train.Labels[i], i%10)
		}
		for _, p := range [][3]int{{0, 1, 0}, {1, 0, 0}, {10, 80, 1}, {80, 10, 2}, {95, 95, 2}} {
			y, x, c := p[0], p[1], p[2]
			if got, want := train.Pixels(i)[(y*96+x)*3+c], stlPixel(i, y, x, c); got != want {
				t.Fatalf("image %d row %d col %d chan %d = %d, want %d", i, y, x, c, got, want)
			}
		}
	}
	if train.ClassNames[7] != "monkey" {
		t.Error(train.ClassNames)
	}

	// Resize(32) of the 96×96 images (values are checked in TestResizeAntialiasUint8).
	small, err := train.Resize(32, 32)
	if err != nil {
		t.Fatal(err)
	}
	if small.Height != 32 || small.Len() != 12 || len(small.Images) != 12*32*32*3 {
		t.Fatalf("resized: %dx%d, %d images", small.Height, small.Width, small.Len())
	}
}

func TestResizeAntialiasUint8(t *testing.T) {
	// Constant image stays constant.
	src := make([]uint8, 96*96*3)
	for i := range src {
		src[i] = 200
	}
	out, err := ResizeAntialiasUint8(src, 96, 96, 3, 32, 32, Bilinear)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range out {
		if v != 200 {
			t.Fatalf("constant image: value %d at %d", v, i)
		}
	}
	// Ramp p(x) = x along the columns: weights 1,2,3,2,1 (/9) centred on 3i+1 give exactly
	// 3i+1; the border taps (2/3,1,2/3,1/3 and 1/3,2/3,1,2/3) give 1.25 -> 1 and 93.75 -> 94.
	for i := 0; i < 96; i++ {
		for x := 0; x < 96; x++ {
			for c := 0; c < 3; c++ {
				src[(i*96+x)*3+c] = uint8(x)
			}
		}
	}
	out, err = ResizeAntialiasUint8(src, 96, 96, 3, 32, 32, Bilinear)
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			want := uint8(3*x + 1)
			switch x {
			case 0:
				want = 1
			case 31:
				want = 94
			}
			if got := out[(y*32+x)*3+1]; got != want {
				t.Fatalf("ramp: out(%d,%d) = %d, want %d", y, x, got, want)
			}
		}
	}
	// Random image: within 1 of the float separable filter (exact PIL rounding aside).
	for i := range src {
		src[i] = uint8((i*7919 + i/288*13) % 256)
	}
	out, _ = ResizeAntialiasUint8(src, 96, 96, 3, 32, 32, Bilinear)
	w := func(o, i int) float64 { // normalised tap weight of input i for output o
		center := (float64(o) + 0.5) * 3
		lo, hi := max(int(center-3+0.5), 0), min(int(center+3+0.5), 96)
		sum, wi := 0.0, 0.0
		for k := lo; k < hi; k++ {
			v := math.Max(0, 1-math.Abs((float64(k)-center+0.5)/3))
			sum += v
			if k == i {
				wi = v
			}
		}
		return wi / sum
	}
	for _, p := range [][3]int{{0, 0, 0}, {5, 7, 1}, {31, 31, 2}, {16, 0, 0}} {
		oy, ox, c := p[0], p[1], p[2]
		want := 0.0
		for y := 0; y < 96; y++ {
			for x := 0; x < 96; x++ {
				want += w(oy, y) * w(ox, x) * float64(src[(y*96+x)*3+c])
			}
		}
		if got := float64(out[(oy*32+ox)*3+c]); math.Abs(got-want) > 1 {
			t.Errorf("pixel %v = %v, float reference %.3f", p, got, want)
		}
	}
	if _, err := ResizeAntialiasUint8(src[:10], 96, 96, 3, 32, 32, Bilinear); err == nil {
		t.Error("short input accepted")
	}
	if out, err := ResizeAntialiasUint8(src, 96, 96, 3, 48, 48, Bicubic); err != nil || len(out) != 48*48*3 {
		t.Errorf("bicubic: %v", err)
	}
}

func TestSTL10Errors(t *testing.T) {
	dir := writeSTL10(t, 2, 1)
	_, _, err := LoadSTL10(dir)
	wantErrContains(t, err, filepath.Join(dir, "train_X.bin"), "truncated", "expected 138240000 bytes", "got 55296")

	y := []byte{1, 11}
	_, _, err = decodeSTL10(make([]byte, 2*stl10Pixels), y, "train_X.bin", "train_y.bin", 2)
	wantErrContains(t, err, "train_y.bin", "record 1", "label 11 out of range [1,10]")
	_, _, err = decodeSTL10(make([]byte, 2*stl10Pixels), []byte{0, 1}, "train_X.bin", "train_y.bin", 2)
	wantErrContains(t, err, "record 0", "label 0")

	missing := filepath.Join(t.TempDir(), "stl")
	_, err = LoadSTL10Split(missing, Train)
	wantErrContains(t, err, missing, "stl10_binary.tar.gz", "tar xzf")
}
