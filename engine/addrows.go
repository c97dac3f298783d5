package engine

// addRows adds `rows` rows of n values: dst[r·ldd + j] += src[r·lds + j] for r < rows,
// j < n (the col2im of transposedConv). The whole 32-byte groups of each row are added by
// AVX assembly where the CPU has it (addrows_amd64.go), the rest in Go.
func addRows[T float](rows int, dst []T, ldd int, src []T, lds, n int) {
	if rows <= 0 || n <= 0 {
		return
	}
	// Bounds: the assembly trusts these.
	_ = dst[(rows-1)*ldd+n-1]
	_ = src[(rows-1)*lds+n-1]
	done := addRowsSIMD(rows, dst, ldd, src, lds, n)
	if done == n {
		return
	}
	for r := range rows {
		d := dst[r*ldd+done : r*ldd+n]
		s := src[r*lds+done : r*lds+n]
		for j, v := range s {
			d[j] += v
		}
	}
}
