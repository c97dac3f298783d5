package datasets

import (
	"bytes"
	"slices"
	"testing"
)

// cifarRecordSeed returns n valid records of labelBytes label bytes + 3072 pixels.
func cifarRecordSeed(n, labelBytes int) []byte {
	b := make([]byte, n*(labelBytes+cifarPixels))
	for i := range b {
		b[i] = byte(i * 7)
	}
	for i := 0; i < n; i++ {
		for k := 0; k < labelBytes; k++ {
			b[i*(labelBytes+cifarPixels)+k] = byte(i % 10)
		}
	}
	return b
}

// FuzzDecodeCIFAR10 checks that any input to the CIFAR-10 record decoder gives either
// an error or consistent output, never a panic.
func FuzzDecodeCIFAR10(f *testing.F) {
	f.Add(cifarRecordSeed(1, 1), uint8(1))
	f.Add(cifarRecordSeed(2, 1), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, records uint8) {
		n := int(records % 4)
		imgs, labels, coarse, err := decodeCIFAR(data, "fuzz.bin", 1, n, 10, 0)
		if err != nil {
			return
		}
		if len(imgs) != n*3072 || len(labels) != n || coarse != nil || len(data) != n*3073 {
			t.Fatalf("inconsistent output for %d records", n)
		}
		for i, l := range labels {
			if l < 0 || l >= 10 || int32(data[i*3073]) != l {
				t.Fatalf("label %d", l)
			}
		}
	})
}

// FuzzDecodeCIFAR100 is FuzzDecodeCIFAR10 for the two-label-byte CIFAR-100 records.
func FuzzDecodeCIFAR100(f *testing.F) {
	f.Add(cifarRecordSeed(1, 2), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, records uint8) {
		n := int(records % 4)
		imgs, fine, coarse, err := decodeCIFAR(data, "fuzz.bin", 2, n, 100, 20)
		if err != nil {
			return
		}
		if len(imgs) != n*3072 || len(fine) != n || len(coarse) != n {
			t.Fatalf("inconsistent output for %d records", n)
		}
		for i := range fine {
			if fine[i] < 0 || fine[i] >= 100 || coarse[i] < 0 || coarse[i] >= 20 {
				t.Fatalf("labels %d/%d", fine[i], coarse[i])
			}
		}
	})
}

// FuzzDecodeSTL10 checks the STL-10 image/label decoder on arbitrary inputs.
func FuzzDecodeSTL10(f *testing.F) {
	img := make([]byte, stl10Pixels)
	for i := range img {
		img[i] = byte(i)
	}
	f.Add(img, []byte{3}, uint8(1))
	f.Fuzz(func(t *testing.T, x, y []byte, count uint8) {
		n := int(count % 3)
		imgs, labels, err := decodeSTL10(x, y, "fuzz_X.bin", "fuzz_y.bin", n)
		if err != nil {
			return
		}
		if len(imgs) != n*stl10Pixels || len(labels) != n {
			t.Fatalf("inconsistent output for %d images", n)
		}
		for i, l := range labels {
			if l < 0 || l > 9 || int(y[i]) != int(l)+1 {
				t.Fatalf("label %d from byte %d", l, y[i])
			}
		}
	})
}

// FuzzDecodeNPY checks that any input to the .npy reader gives an error or an array
// that survives a write/read round trip, never a panic.
func FuzzDecodeNPY(f *testing.F) {
	var b bytes.Buffer
	WriteNPYInt32(&b, []int32{0, 1, -1, 499})
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseNPYHeader(data)
		vals, err := DecodeNPYInt32(data)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteNPYInt32(&out, vals); err != nil {
			t.Fatal(err)
		}
		again, err := DecodeNPYInt32(out.Bytes())
		if err != nil || !slices.Equal(again, vals) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
