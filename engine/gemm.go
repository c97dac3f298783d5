package engine

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// A cache-blocked, goroutine-parallel matrix multiplication in pure Go (float32 and
// float64), the engine of the fast DotGeneral and ConvGeneral kernels.
//
// It follows the BLIS structure: B is packed into panels of nr columns and A, block by
// block, into panels of mr rows (both k-major), and a register-blocked micro-kernel
// accumulates an mr×nr tile of C over a k-block of gemmKC (gemm_kernel.go: AVX-512 or
// AVX2 assembly on x86-64, chosen per product by its number of columns; a scalar 2×4
// kernel elsewhere). Operands whose layout allows it are not packed at all: a row-major B,
// a column-major A or a row-major A (the Rows kernels) are read where they are, and a
// convolution's patch rows are gathered or read in place (kernels_conv*.go). See
// docs/performance.md for what each reaches.
//
// Work is split over goroutines by tiles of C (rows × columns); when C is too small to
// split (a weight gradient: few rows and columns, a long contraction) the contraction is
// split instead and the partial products are summed.

const (
	gemmKC = 256 // k-block: a B panel (256×32 float32 = 32 KiB) stays in L1
	gemmNC = 512 // columns of a C tile at most
)

type float interface{ ~float32 | ~float64 }

// aSource supplies the A operand of a GEMM, block by block; im2col and the padded
// convolution implement it to feed a convolution's patches to the GEMM without
// materialising them.
type aSource[T float] interface {
	// rowsA returns rows [i0, i0+rows) and columns [k0, k0+kc) of A as rows lda apart
	// (element (i, p) at block[(i−i0)·lda + p−k0]): a view of A itself when its rows are
	// contiguous (no copy), or dst (rows·kc long) filled with the rows (lda = kc).
	rowsA(dst []T, i0, rows, k0, kc int) (block []T, lda int)
	// colsA returns A from element (i0, k0) on as a column-major view (element (i, p) at
	// view[(i−i0) + (p−k0)·step]) when A is stored so; ok is false otherwise.
	colsA(i0, k0 int) (view []T, step int, ok bool)
}

// matrix is a strided view of a matrix: element (i, j) is data[off + i·rs + j·cs].
type matrix[T float] struct {
	data        []T
	off, rs, cs int
}

func (m matrix[T]) rowsA(dst []T, i0, rows, k0, kc int) ([]T, int) {
	if m.cs == 1 {
		return m.data[m.off+i0*m.rs+k0:], m.rs
	}
	for i := range rows {
		base := m.off + (i0+i)*m.rs + k0*m.cs
		d := dst[i*kc : (i+1)*kc]
		for p := range d {
			d[p] = m.data[base+p*m.cs]
		}
	}
	return dst, kc
}

func (m matrix[T]) colsA(i0, k0 int) ([]T, int, bool) {
	if m.rs != 1 {
		return nil, 0, false
	}
	return m.data[m.off+i0+k0*m.cs:], m.cs, true
}

// packRowPanels writes rows×kc values of A, given as rows lda apart (block[i·lda + p]),
// into dst as panels of mr rows, k-major: dst[(ip·kc + p)·mr + r] = block[(ip·mr + r)·lda
// + p], with zeros for the rows past `rows` up to the next multiple of mr.
func packRowPanels[T float](dst, block []T, lda, rows, kc, mr int) {
	for ip := 0; ip*mr < rows; ip++ {
		d := dst[ip*kc*mr : (ip+1)*kc*mr]
		for r := range mr {
			i := ip*mr + r
			if i >= rows {
				for p := range kc {
					d[p*mr+r] = 0
				}
				continue
			}
			for p, v := range block[i*lda : i*lda+kc] {
				d[p*mr+r] = v
			}
		}
	}
}

// packColPanel writes rows [r0, r0+n) (n ≤ mr) of a column-major view (element (i, p) at
// view[i + p·step]) into dst as one panel of mr rows, zero past n.
func packColPanel[T float](dst, view []T, step, r0, n, kc, mr int) {
	for p := range kc {
		o := dst[p*mr : p*mr+mr]
		copy(o, view[r0+p*step:r0+p*step+n])
		clear(o[n:])
	}
}

// packB writes rows [k0, k0+kc) and columns [j0, j0+cols) of B into dst as panels of
// nr columns: dst[(jp·kc + p)·nr + c] = B[k0 + p, j0 + jp·nr + c], zero past `cols`.
func (m matrix[T]) packB(dst []T, k0, kc, j0, cols, nr int) {
	panels := ceilDiv(cols, nr)
	for jp := range panels {
		d := dst[jp*kc*nr : (jp+1)*kc*nr]
		jn := min(nr, cols-jp*nr)
		if m.cs == 1 {
			for p := range kc {
				base := m.off + (k0+p)*m.rs + j0 + jp*nr
				o := d[p*nr : p*nr+nr]
				copy(o, m.data[base:base+jn])
				clear(o[jn:])
			}
			continue
		}
		for c := range nr {
			if c >= jn {
				for p := range kc {
					d[p*nr+c] = 0
				}
				continue
			}
			base := m.off + k0*m.rs + (j0+jp*nr+c)*m.cs
			for p := range kc {
				d[p*nr+c] = m.data[base+p*m.rs]
			}
		}
	}
}

// gemmFlops counts the floating-point operations of every GEMM (2·m·n·k each).
var gemmFlops atomic.Int64

// GEMMFlops returns the floating-point operations (2 per multiply-add) done so far in this
// process by the fast kernels' matrix multiplications: DotGeneral and ConvGeneral on the
// repaired pure-Go backend (a convolution counts its own multiply-adds, not the padding
// rows its stride-1 path also computes). Benchmarks and tests use it to check how much work a graph
// really does (e.g. that an attack computes no weight gradients).
func GEMMFlops() int64 { return gemmFlops.Load() }

// gemm computes C = A·B for A [m,k] (from a), B [k,n] and C [m,n] row-major with row
// stride ldc (overwritten), using up to `workers` goroutines.
func gemm[T float](m, n, k int, a aSource[T], b matrix[T], c []T, ldc, workers int) {
	gemmFlops.Add(2 * int64(m) * int64(n) * int64(k))
	if m <= 0 || n <= 0 {
		return
	}
	if k <= 0 {
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	if am, ok := a.(matrix[T]); ok && b.rs == 1 && b.cs != 1 && 4*m <= n {
		gemmTransposed(m, n, k, am, b, c, ldc, workers)
		return
	}
	mk := pickKernel[T](n)
	kcb := kBlockOf(a)
	workers = max(workers, 1)
	if float64(m)*float64(n)*float64(k) < 1<<17 {
		workers = 1
	}
	npad := roundUp(n, mk.nr)
	nc := min(npad, roundUp(gemmNC, mk.nr))
	// Row tiles: about four per worker, between 16 and 128 rows (rounded to whole
	// panels), so that the packed A block (mc×gemmKC) stays in L2.
	mc := roundUp(clampInt(ceilDiv(m, 4*workers), 16, 128), mk.mr)
	tiles := ceilDiv(m, mc) * ceilDiv(npad, nc)
	if workers > 1 && tiles < 2*workers && k >= 2*kcb*workers {
		gemmSplitK(mk, kcb, m, n, k, a, b, c, ldc, workers, mc, nc)
		return
	}
	if bInPlace(mk, b, n) {
		runTiles(mk, kcb, m, n, k, 0, k, a, b, nil, npad, c, ldc, false, mc, nc, workers)
		return
	}
	bp := getScratch[T](k * npad)
	defer putScratch(bp)
	packAllB(b, kcb, k, n, npad, mk.nr, bp, workers)
	runTiles(mk, kcb, m, n, k, 0, k, a, b, bp, npad, c, ldc, false, mc, nc, workers)
}

// kBlockOf is the k-block of a product: gemmKC, or what the A source requires (a
// source read in place per convolution tap needs blocks that stay within one tap).
func kBlockOf[T float](a aSource[T]) int {
	if kb, ok := a.(interface{ kBlock() int }); ok {
		return kb.kBlock()
	}
	return gemmKC
}

// gemmTransposed computes C = A·B for a column-major B and few rows (m ≤ n/4; a linear
// layer's input gradient dy·Wᵀ): packing B would copy all of it for a handful of rows, so
// it computes Cᵀ = Bᵀ·Aᵀ instead, where Bᵀ is row-major and read in place, packs only the
// small Aᵀ, and transposes the m×n result into C.
func gemmTransposed[T float](m, n, k int, a, b matrix[T], c []T, ldc, workers int) {
	ct := getScratch[T](n * m)
	defer putScratch(ct)
	bt := matrix[T]{data: b.data, off: b.off, rs: b.cs, cs: 1}
	at := matrix[T]{data: a.data, off: a.off, rs: a.cs, cs: a.rs}
	gemm(n, m, k, aSource[T](bt), at, ct, m, workers)
	gemmFlops.Add(-2 * int64(m) * int64(n) * int64(k)) // counted by the inner gemm
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			row[j] = ct[j*m+i]
		}
	}
}

// bInPlace reports whether the kernel can read B where it is, without packing: B
// row-major and n a whole number of panels (the kernel reads nr columns).
func bInPlace[T float](mk microKernel[T], b matrix[T], n int) bool {
	return b.cs == 1 && n%mk.nr == 0
}

// packAllB packs the whole of B (all k-blocks of kcb) into bp in panels of nr columns,
// k-block after k-block: block pc starts at pc·npad and holds kc×npad values.
func packAllB[T float](b matrix[T], kcb, k, n, npad, nr int, bp []T, workers int) {
	blocks := ceilDiv(k, kcb)
	parallelFor(blocks, min(workers, blocks), func(blk int) {
		k0 := blk * kcb
		kc := min(kcb, k-k0)
		b.packB(bp[k0*npad:(k0+kc)*npad], k0, kc, 0, n, nr)
	})
}

// runTiles computes C (+)= A[:, k0:k1]·B[k0:k1, :] tile by tile on `workers` goroutines,
// with B already packed in bp (as packAllB, relative to k0), or read in place from b when
// bp is nil. A is read in place when it is column-major, otherwise in rows (in place or
// gathered) by the kernel's Rows form, or packed from those rows for a kernel without one. With accumulate
// false the first k-block overwrites C.
func runTiles[T float](mk microKernel[T], kcb, m, n, k, k0, k1 int, a aSource[T], b matrix[T], bp []T, npad int, c []T, ldc int, accumulate bool, mc, nc, workers int) {
	rowTiles, colTiles := ceilDiv(m, mc), ceilDiv(npad, nc)
	mr := mk.mr
	parallelFor(rowTiles*colTiles, workers, func(t int) {
		i0, j0 := (t/colTiles)*mc, (t%colTiles)*nc
		rows, cols := min(mc, m-i0), min(nc, n-j0)
		ap := getScratch[T](roundUp(rows, mr) * kcb)
		defer putScratch(ap)
		var rowsBuf []T
		for pc := k0; pc < k1; pc += kcb {
			kc := min(kcb, k1-pc)
			acc := accumulate || pc > k0
			var bPanels panelSet[T]
			if bp == nil {
				bPanels = panelSet[T]{data: b.data[b.off+pc*b.rs+j0:], stride: mk.nr, step: b.rs}
			} else {
				// Packed B of this k-block, from column j0 on.
				bPanels = panelSet[T]{data: bp[(pc-k0)*npad+j0*kc : (pc-k0+kc)*npad], stride: kc * mk.nr, step: mk.nr}
			}
			cTile := c[i0*ldc+j0:]
			if view, step, ok := a.colsA(i0, pc); ok {
				var edge []T
				if rem := rows % mr; rem != 0 {
					edge = ap[:mr*kc]
					packColPanel(edge, view, step, rows-rem, rem, kc, mr)
				}
				macroKernel(mk, rows, cols, kc, panelSet[T]{data: view, stride: mr, step: step}, edge, bPanels, cTile, ldc, acc)
				continue
			}
			if mk.rowsFn != nil {
				block, lda := a.rowsA(ap, i0, rows, pc, kc)
				macroKernelRows(mk, rows, cols, kc, block, lda, bPanels, cTile, ldc, acc)
				continue
			}
			// A kernel without a Rows form: the rows, viewed or gathered, packed in panels.
			if rowsBuf == nil {
				rowsBuf = getScratch[T](rows * kcb)
				defer putScratch(rowsBuf)
			}
			block, lda := a.rowsA(rowsBuf, i0, rows, pc, kc)
			packRowPanels(ap, block, lda, rows, kc, mr)
			macroKernel(mk, rows, cols, kc, panelSet[T]{data: ap, stride: kc * mr, step: mr}, nil, bPanels, cTile, ldc, acc)
		}
	})
}

// gemmSplitK splits the contraction over the workers, each computing a private partial
// product, and sums them into C.
func gemmSplitK[T float](mk microKernel[T], kcb, m, n, k int, a aSource[T], b matrix[T], c []T, ldc, workers, mc, nc int) {
	blocks := ceilDiv(k, kcb)
	parts := min(workers, blocks)
	npad := roundUp(n, mk.nr)
	partials := make([][]T, parts)
	var wg sync.WaitGroup
	for w := range parts {
		b0, b1 := w*blocks/parts, (w+1)*blocks/parts
		k0, k1 := b0*kcb, min(b1*kcb, k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var bp []T
			if !bInPlace(mk, b, n) {
				bp = getScratch[T]((k1 - k0) * npad)
				defer putScratch(bp)
				sub := b
				sub.off += k0 * b.rs
				packAllB(sub, kcb, k1-k0, n, npad, mk.nr, bp, 1)
			}
			out := c
			outLd := ldc
			if w > 0 {
				out = getScratch[T](m * n)
				outLd = n
				partials[w] = out
			}
			runTiles(mk, kcb, m, n, k, k0, k1, a, b, bp, npad, out, outLd, false, mc, nc, 1)
		}()
	}
	wg.Wait()
	for w := 1; w < parts; w++ {
		p := partials[w]
		for i := range m {
			row, src := c[i*ldc:i*ldc+n], p[i*n:i*n+n]
			for j, v := range src {
				row[j] += v
			}
		}
		putScratch(p)
	}
}

// castSlice reinterprets a float32 or float64 slice as a slice of U of the same size.
func castSlice[U, T float](s []T) []U {
	return unsafe.Slice((*U)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// parallelFor runs fn(0..n-1) on up to `workers` goroutines (the caller's included),
// handing out indices in order.
func parallelFor(n, workers int, fn func(i int)) {
	if n <= 0 {
		return
	}
	if workers <= 1 || n == 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	workers = min(workers, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	run := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			fn(i)
		}
	}
	for range workers - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run()
		}()
	}
	run()
	wg.Wait()
}

// Scratch buffers, pooled by exact length (a graph's shapes repeat every step).
var scratchPools sync.Map // scratchKey -> *sync.Pool

type scratchKey struct {
	float64 bool
	n       int
}

func getScratch[T float](n int) []T {
	var zero T
	_, is64 := any(zero).(float64)
	if p, ok := scratchPools.Load(scratchKey{is64, n}); ok {
		if v := p.(*sync.Pool).Get(); v != nil {
			return *(v.(*[]T))
		}
	}
	return make([]T, n)
}

func putScratch[T float](s []T) {
	var zero T
	_, is64 := any(zero).(float64)
	key := scratchKey{is64, len(s)}
	p, ok := scratchPools.Load(key)
	if !ok {
		p, _ = scratchPools.LoadOrStore(key, &sync.Pool{})
	}
	p.(*sync.Pool).Put(&s)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func roundUp(a, b int) int { return ceilDiv(a, b) * b }

func clampInt(v, lo, hi int) int { return max(lo, min(v, hi)) }
