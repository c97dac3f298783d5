package datasets

import "fmt"

// CIFAR binary record geometry shared by CIFAR-10 and CIFAR-100.
const (
	cifarSide   = 32
	cifarPlane  = cifarSide * cifarSide // 1024 bytes per colour plane
	cifarPixels = 3 * cifarPlane        // 3072 pixel bytes per record
)

// decodeCIFAR decodes a CIFAR binary file holding exactly records records, each made of
// labelBytes label bytes followed by 3072 pixel bytes (R, G and B planes of 32×32,
// row-major). With one label byte it is the fine label (CIFAR-10); with two, CIFAR-100's
// coarse then fine label. It returns the images in HWC order. file only names the
// source in error messages.
func decodeCIFAR(data []byte, file string, labelBytes, records, numFine, numCoarse int) (images []uint8, fine, coarse []int32, err error) {
	if labelBytes != 1 && labelBytes != 2 {
		return nil, nil, nil, fmt.Errorf("%s: internal error: %d label bytes", file, labelBytes)
	}
	rec := labelBytes + cifarPixels
	if records < 0 {
		return nil, nil, nil, fmt.Errorf("%s: invalid record count %d", file, records)
	}
	what := fmt.Sprintf("%d records of %d bytes", records, rec)
	if err := checkSize(file, int64(len(data)), int64(records)*int64(rec), what); err != nil {
		return nil, nil, nil, err
	}
	images = make([]uint8, records*cifarPixels)
	fine = make([]int32, records)
	if labelBytes == 2 {
		coarse = make([]int32, records)
	}
	for i := 0; i < records; i++ {
		r := data[i*rec : (i+1)*rec]
		f := int32(r[labelBytes-1])
		if int(f) >= numFine {
			return nil, nil, nil, fmt.Errorf("%s: record %d (byte offset %d): label %d out of range [0,%d)", file, i, i*rec+labelBytes-1, f, numFine)
		}
		fine[i] = f
		if labelBytes == 2 {
			c := int32(r[0])
			if int(c) >= numCoarse {
				return nil, nil, nil, fmt.Errorf("%s: record %d (byte offset %d): coarse label %d out of range [0,%d)", file, i, i*rec, c, numCoarse)
			}
			coarse[i] = c
		}
		planesToHWC(images[i*cifarPixels:(i+1)*cifarPixels], r[labelBytes:], cifarSide, cifarSide)
	}
	return images, fine, coarse, nil
}

// planesToHWC converts 3 row-major colour planes of h×w bytes to interleaved HWC.
func planesToHWC(dst, src []uint8, h, w int) {
	plane := h * w
	r, g, b := src[:plane], src[plane:2*plane], src[2*plane:3*plane]
	dst = dst[:3*plane]
	for p := range r {
		d := dst[3*p : 3*p+3 : 3*p+3]
		d[0], d[1], d[2] = r[p], g[p], b[p]
	}
}
