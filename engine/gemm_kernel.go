package engine

// The micro-kernels of the GEMM, written out for float32 and float64 (the float64 file
// section is the float32 one with the type changed): 2×4 register tiles, unrolled twice
// over k. Go keeps the 8 accumulators, 2 A values and 4 B values in registers (a 4×4 tile
// spills); without FMA (GOAMD64 < v3) each step is 8 MULSS + 8 ADDSS + 6 loads.

// macroKernel32 is macroKernel for float32.
func macroKernel32(rows, cols, kc int, ap, bp []float32, c []float32, ldc int, acc bool) {
	var tmp [gemmMR * gemmNR]float32
	for jp := 0; jp*gemmNR < cols; jp++ {
		b := bp[jp*kc*gemmNR : (jp+1)*kc*gemmNR]
		cn := min(gemmNR, cols-jp*gemmNR)
		for ip := 0; ip*gemmMR < rows; ip++ {
			a := ap[ip*kc*gemmMR : (ip+1)*kc*gemmMR]
			rn := min(gemmMR, rows-ip*gemmMR)
			ct := c[ip*gemmMR*ldc+jp*gemmNR:]
			if rn == gemmMR && cn == gemmNR {
				kernel2x4F32(kc, a, b, ct, ldc, acc)
				continue
			}
			kernel2x4F32(kc, a, b, tmp[:], gemmNR, false)
			for r := range rn {
				for q := range cn {
					if acc {
						ct[r*ldc+q] += tmp[r*gemmNR+q]
					} else {
						ct[r*ldc+q] = tmp[r*gemmNR+q]
					}
				}
			}
		}
	}
}

// kernel2x4F32 computes the 2×4 tile Σ_p a[p]ᵀ·b[p] of packed panels and stores it into C
// (acc false) or adds it (acc true).
func kernel2x4F32(kc int, ap, bp []float32, c []float32, ldc int, acc bool) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	ap = ap[:kc*2]
	bp = bp[:kc*4]
	p := 0
	for ; p+1 < kc; p += 2 {
		a := ap[p*2 : p*2+4 : p*2+4]
		b := bp[p*4 : p*4+8 : p*4+8]
		a0, a1 := a[0], a[1]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a0, a1 = a[2], a[3]
		b0, b1, b2, b3 = b[4], b[5], b[6], b[7]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	if p < kc {
		a := ap[p*2 : p*2+2 : p*2+2]
		b := bp[p*4 : p*4+4 : p*4+4]
		a0, a1 := a[0], a[1]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	r0 := c[0:4:4]
	r1 := c[ldc : ldc+4 : ldc+4]
	if acc {
		r0[0] += c00
		r0[1] += c01
		r0[2] += c02
		r0[3] += c03
		r1[0] += c10
		r1[1] += c11
		r1[2] += c12
		r1[3] += c13
		return
	}
	r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
	r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
}

// macroKernel64 is macroKernel for float64.
func macroKernel64(rows, cols, kc int, ap, bp []float64, c []float64, ldc int, acc bool) {
	var tmp [gemmMR * gemmNR]float64
	for jp := 0; jp*gemmNR < cols; jp++ {
		b := bp[jp*kc*gemmNR : (jp+1)*kc*gemmNR]
		cn := min(gemmNR, cols-jp*gemmNR)
		for ip := 0; ip*gemmMR < rows; ip++ {
			a := ap[ip*kc*gemmMR : (ip+1)*kc*gemmMR]
			rn := min(gemmMR, rows-ip*gemmMR)
			ct := c[ip*gemmMR*ldc+jp*gemmNR:]
			if rn == gemmMR && cn == gemmNR {
				kernel2x4F64(kc, a, b, ct, ldc, acc)
				continue
			}
			kernel2x4F64(kc, a, b, tmp[:], gemmNR, false)
			for r := range rn {
				for q := range cn {
					if acc {
						ct[r*ldc+q] += tmp[r*gemmNR+q]
					} else {
						ct[r*ldc+q] = tmp[r*gemmNR+q]
					}
				}
			}
		}
	}
}

// kernel2x4F64 computes the 2×4 tile Σ_p a[p]ᵀ·b[p] of packed panels and stores it into C
// (acc false) or adds it (acc true).
func kernel2x4F64(kc int, ap, bp []float64, c []float64, ldc int, acc bool) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float64
	ap = ap[:kc*2]
	bp = bp[:kc*4]
	p := 0
	for ; p+1 < kc; p += 2 {
		a := ap[p*2 : p*2+4 : p*2+4]
		b := bp[p*4 : p*4+8 : p*4+8]
		a0, a1 := a[0], a[1]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a0, a1 = a[2], a[3]
		b0, b1, b2, b3 = b[4], b[5], b[6], b[7]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	if p < kc {
		a := ap[p*2 : p*2+2 : p*2+2]
		b := bp[p*4 : p*4+4 : p*4+4]
		a0, a1 := a[0], a[1]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	r0 := c[0:4:4]
	r1 := c[ldc : ldc+4 : ldc+4]
	if acc {
		r0[0] += c00
		r0[1] += c01
		r0[2] += c02
		r0[3] += c03
		r1[0] += c10
		r1[1] += c11
		r1[2] += c12
		r1[3] += c13
		return
	}
	r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
	r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
}
