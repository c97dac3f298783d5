package engine

import (
	"os"
	"unsafe"
)

// The micro-kernels of the GEMM and the choice between them. A micro-kernel computes one
// mr×nr tile of C from packed panels (A: kc groups of mr values, B: kc groups of nr
// values) and stores it into C or adds it to C:
//
//	fn(kc, a, b, c, ldc, acc): C[r·ldc + q] (+)= Σ_p a[p·mr + r]·b[p·nr + q]
//
// On x86-64 the SIMD kernels of gemm_amd64.s run (AVX-512: 12×32 and 24×16 float32
// tiles, ≈24 vector accumulators; AVX2: 6×16); elsewhere, and with the purego build tag,
// the scalar 2×4 kernel below. GOACL_GEMM_KERNEL=name forces one (tests and benchmarks
// compare them; "scalar" is always available).

// microKernel is one register-tile kernel for element type T.
type microKernel[T float] struct {
	name   string
	mr, nr int
	auto   bool // chosen by pickKernel (else only when forced)
	// fn computes the tile from A panels sa elements apart per k step and B panels sb
	// apart: packed panels (sa = mr, sb = nr), or a column-major A / row-major B in place.
	fn func(kc int, a *T, sa int, b *T, sb int, c *T, ldc, acc int)
	// rowsFn is the same kernel reading A as rows lda elements apart
	// (A[r, p] = a[r·lda + p]); nil if it has none.
	rowsFn func(kc int, a *T, lda int, b *T, sb int, c *T, ldc, acc int)
}

// maxTile bounds mr·nr over all kernels (the scratch tile of partial tiles).
const maxTile = 24 * 32

var (
	scalarKernel32 = microKernel[float32]{"scalar-2x4", 2, 4, false, func(kc int, a *float32, sa int, b *float32, sb int, c *float32, ldc, acc int) {
		kernel2x4(kc, unsafe.Slice(a, (kc-1)*sa+2), sa, unsafe.Slice(b, (kc-1)*sb+4), sb, unsafe.Slice(c, ldc+4), ldc, acc != 0)
	}, nil}
	scalarKernel64 = microKernel[float64]{"scalar-2x4", 2, 4, false, func(kc int, a *float64, sa int, b *float64, sb int, c *float64, ldc, acc int) {
		kernel2x4(kc, unsafe.Slice(a, (kc-1)*sa+2), sa, unsafe.Slice(b, (kc-1)*sb+4), sb, unsafe.Slice(c, ldc+4), ldc, acc != 0)
	}, nil}
	// kernels32 and kernels64 are the kernels this CPU runs, best first, scalar last.
	kernels32, kernels64 = func() ([]microKernel[float32], []microKernel[float64]) {
		k32, k64 := simdKernels()
		return append(k32, scalarKernel32), append(k64, scalarKernel64)
	}()
	// forcedKernel is the kernel named by GOACL_GEMM_KERNEL ("" picks by shape).
	forcedKernel = os.Getenv("GOACL_GEMM_KERNEL")
)

// GEMMKernels returns the names of the float32 GEMM micro-kernels chosen automatically on
// this CPU (e.g. [avx512-12x32 avx512-24x16], or [scalar-2x4] without SIMD kernels), or
// the one forced by GOACL_GEMM_KERNEL: what benchmarks and Describe report.
func GEMMKernels() []string {
	var names []string
	for _, k := range kernels32 {
		if k.auto || k.name == forcedKernel {
			names = append(names, k.name)
		}
	}
	if len(names) == 0 {
		names = append(names, scalarKernel32.name)
	}
	return names
}

// pickKernel chooses the kernel for a product with n output columns: the one that pads n
// the least (a 16-channel convolution takes the 24×16 tile rather than half-empty 12×32
// ones), the earlier (faster) kernel on ties; or the forced one.
func pickKernel[T float](n int) microKernel[T] {
	list, ok := any(kernels32).([]microKernel[T])
	if !ok {
		list = any(kernels64).([]microKernel[T])
	}
	if forcedKernel != "" {
		for _, k := range list {
			if k.name == forcedKernel {
				return k
			}
		}
	}
	best := list[len(list)-1] // the scalar kernel, when no SIMD kernel runs here
	found := false
	for _, k := range list {
		if k.auto && (!found || roundUp(n, k.nr) < roundUp(n, best.nr)) {
			best, found = k, true
		}
	}
	return best
}

// panelSet locates the panels of one GEMM operand within a k-block: panel i starts at
// data[i·stride], and its k steps are step elements apart (packed panels: stride kc·mr
// and step mr; a column-major A or row-major B read in place: stride mr or nr and step
// the leading dimension).
type panelSet[T float] struct {
	data         []T
	stride, step int
}

// at returns panel i, checking that a kernel reading kc steps of width w stays inside.
func (ps panelSet[T]) at(i, kc, w int) *T {
	first := i * ps.stride
	_ = ps.data[first+(kc-1)*ps.step+w-1]
	return &ps.data[first]
}

// eachTile runs kernel on every mr×nr tile of a rows×cols block of C (row stride ldc),
// B panel jp of the k-block being b.at(jp): whole tiles are computed in C directly (with
// the acc flag), edge tiles into a scratch tile whose corner is then stored into C or
// added to it. kernel(ip, bp, ct, ldct, accFlag) computes row panel ip against bp into ct.
func eachTile[T float](mk microKernel[T], rows, cols, kc int, b panelSet[T], c []T, ldc int, acc bool, kernel func(ip int, bp, ct *T, ldct, accFlag int)) {
	mr, nr := mk.mr, mk.nr
	accFlag := 0
	if acc {
		accFlag = 1
	}
	var tmp []T // scratch tile for edge tiles, taken when first needed
	defer func() {
		if tmp != nil {
			putScratch(tmp)
		}
	}()
	for jp := 0; jp*nr < cols; jp++ {
		bp := b.at(jp, kc, nr)
		cn := min(nr, cols-jp*nr)
		for ip := 0; ip*mr < rows; ip++ {
			rn := min(mr, rows-ip*mr)
			ct := c[ip*mr*ldc+jp*nr:]
			if rn == mr && cn == nr {
				_ = ct[(mr-1)*ldc+nr-1] // the kernel writes this far
				kernel(ip, bp, &ct[0], ldc, accFlag)
				continue
			}
			if tmp == nil {
				tmp = getScratch[T](maxTile)
			}
			kernel(ip, bp, &tmp[0], nr, 0)
			addTile(ct, ldc, tmp, nr, rn, cn, acc)
		}
	}
}

// macroKernel multiplies the A panels of a rows×kc block by the B panels of a kc×cols
// block into C (row stride ldc), overwriting or accumulating. aEdge, when not nil, is the
// packed last A panel (rows not a multiple of mr), used instead of A's own.
func macroKernel[T float](mk microKernel[T], rows, cols, kc int, a panelSet[T], aEdge []T, b panelSet[T], c []T, ldc int, acc bool) {
	eachTile(mk, rows, cols, kc, b, c, ldc, acc, func(ip int, bp, ct *T, ldct, accFlag int) {
		if aEdge != nil && rows-ip*mk.mr < mk.mr {
			mk.fn(kc, &aEdge[0], mk.mr, bp, b.step, ct, ldct, accFlag)
			return
		}
		mk.fn(kc, a.at(ip, kc, mk.mr), a.step, bp, b.step, ct, ldct, accFlag)
	})
}

// addTile stores (acc false) or adds the rn×cn corner of a scratch tile into C.
func addTile[T float](c []T, ldc int, tile []T, nr, rn, cn int, acc bool) {
	for r := range rn {
		dst, src := c[r*ldc:r*ldc+cn], tile[r*nr:r*nr+cn]
		if acc {
			for q, v := range src {
				dst[q] += v
			}
		} else {
			copy(dst, src)
		}
	}
}

// macroKernelRows is macroKernel with A read unpacked, as rows lda elements apart
// (a[r·lda + p], rows×kc): whole row panels go to the Rows kernel in place; the last,
// partial one is copied into a zero-padded scratch panel first (the kernel reads mr rows).
func macroKernelRows[T float](mk microKernel[T], rows, cols, kc int, a []T, lda int, b panelSet[T], c []T, ldc int, acc bool) {
	mr := mk.mr
	var edge []T
	if rem := rows % mr; rem != 0 {
		edge = getScratch[T](mr * kc)
		defer putScratch(edge)
		base := (rows - rem) * lda
		for r := range mr {
			if r < rem {
				copy(edge[r*kc:r*kc+kc], a[base+r*lda:base+r*lda+kc])
			} else {
				clear(edge[r*kc : r*kc+kc])
			}
		}
	}
	eachTile(mk, rows, cols, kc, b, c, ldc, acc, func(ip int, bp, ct *T, ldct, accFlag int) {
		if rows-ip*mr < mr {
			mk.rowsFn(kc, &edge[0], kc, bp, b.step, ct, ldct, accFlag)
			return
		}
		ap := a[ip*mr*lda:]
		_ = ap[(mr-1)*lda+kc-1] // the kernel reads this far
		mk.rowsFn(kc, &ap[0], lda, bp, b.step, ct, ldct, accFlag)
	})
}

// kernel2x4 computes the 2×4 tile Σ_p a[p·sa : p·sa+2]ᵀ·b[p·sb : p·sb+4] and stores it
// into C (acc false) or adds it (acc true): the portable kernel, for architectures without
// the assembly ones. Go keeps the 8 accumulators, 2 A values and 4 B values in registers
// (a 4×4 tile spills).
func kernel2x4[T float](kc int, ap []T, sa int, bp []T, sb int, c []T, ldc int, acc bool) {
	var c00, c01, c02, c03, c10, c11, c12, c13 T
	for p := range kc {
		a := ap[p*sa : p*sa+2 : p*sa+2]
		b := bp[p*sb : p*sb+4 : p*sb+4]
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
