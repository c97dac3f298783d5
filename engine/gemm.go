package engine

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// A cache-blocked, goroutine-parallel matrix multiplication in pure Go (float32 and
// float64), the engine of the fast DotGeneral and ConvGeneral kernels.
//
// It follows the BLIS structure: B is packed into panels of gemmNR columns and A, block by
// block, into panels of gemmMR rows (both k-major), and a 2×4 register-blocked micro-kernel
// accumulates a 2×4 tile of C over a k-block of gemmKC. Go does not vectorise, so the
// micro-kernel is scalar: 8 independent accumulators keep the two FP adders busy without
// spilling registers (a 4×4 tile spills and runs at a third of the speed). On the
// project's 2-core AMD EPYC it runs at ≈10 GFLOP/s per core in cache (GOAMD64=v1, no FMA);
// see docs/performance.md.
//
// Work is split over goroutines by tiles of C (rows × columns); when C is too small to
// split (a weight gradient: few rows and columns, a long contraction) the contraction is
// split instead and the partial products are summed.

const (
	gemmMR = 2   // rows of the micro-kernel tile
	gemmNR = 4   // columns of the micro-kernel tile
	gemmKC = 256 // k-block: an A panel (2×256) and a B panel (4×256) stay in L1
	gemmNC = 512 // columns of a C tile at most
)

type float interface{ ~float32 | ~float64 }

// aSource supplies the A operand of a GEMM by packing blocks of it; im2col implements it
// to feed a convolution's patches to the GEMM without materialising them.
type aSource[T float] interface {
	// packA writes rows [i0, i0+rows) and columns [k0, k0+kc) of A into dst as panels of
	// gemmMR rows: dst[(ip·kc + p)·gemmMR + r] = A[i0 + ip·gemmMR + r, k0 + p], with zeros
	// for the rows past `rows` up to the next multiple of gemmMR.
	packA(dst []T, i0, rows, k0, kc int)
}

// matrix is a strided view of a matrix: element (i, j) is data[off + i·rs + j·cs].
type matrix[T float] struct {
	data        []T
	off, rs, cs int
}

func (m matrix[T]) packA(dst []T, i0, rows, k0, kc int) {
	panels := (rows + gemmMR - 1) / gemmMR
	for ip := range panels {
		d := dst[ip*kc*gemmMR : (ip+1)*kc*gemmMR]
		for r := range gemmMR {
			i := ip*gemmMR + r
			if i >= rows {
				for p := range kc {
					d[p*gemmMR+r] = 0
				}
				continue
			}
			base := m.off + (i0+i)*m.rs + k0*m.cs
			if m.cs == 1 {
				src := m.data[base : base+kc]
				for p, v := range src {
					d[p*gemmMR+r] = v
				}
			} else {
				for p := range kc {
					d[p*gemmMR+r] = m.data[base+p*m.cs]
				}
			}
		}
	}
}

// packB writes rows [k0, k0+kc) and columns [j0, j0+cols) of B into dst as panels of
// gemmNR columns: dst[(jp·kc + p)·gemmNR + c] = B[k0 + p, j0 + jp·gemmNR + c], zero past
// `cols`.
func (m matrix[T]) packB(dst []T, k0, kc, j0, cols int) {
	panels := (cols + gemmNR - 1) / gemmNR
	for jp := range panels {
		d := dst[jp*kc*gemmNR : (jp+1)*kc*gemmNR]
		jn := min(gemmNR, cols-jp*gemmNR)
		if m.cs == 1 && jn == gemmNR {
			for p := range kc {
				base := m.off + (k0+p)*m.rs + j0 + jp*gemmNR
				s := m.data[base : base+gemmNR : base+gemmNR]
				o := d[p*gemmNR : p*gemmNR+gemmNR : p*gemmNR+gemmNR]
				o[0], o[1], o[2], o[3] = s[0], s[1], s[2], s[3]
			}
			continue
		}
		for c := range gemmNR {
			if c >= jn {
				for p := range kc {
					d[p*gemmNR+c] = 0
				}
				continue
			}
			base := m.off + k0*m.rs + (j0+jp*gemmNR+c)*m.cs
			for p := range kc {
				d[p*gemmNR+c] = m.data[base+p*m.rs]
			}
		}
	}
}

// gemmFlops counts the floating-point operations of every GEMM (2·m·n·k each).
var gemmFlops atomic.Int64

// GEMMFlops returns the floating-point operations (2 per multiply-add) done so far in this
// process by the fast kernels' matrix multiplications: DotGeneral and ConvGeneral on the
// repaired pure-Go backend. Benchmarks and tests use it to check how much work a graph
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
	workers = max(workers, 1)
	if float64(m)*float64(n)*float64(k) < 1<<17 {
		workers = 1
	}
	npad := roundUp(n, gemmNR)
	nc := min(npad, gemmNC)
	mc := clampInt(roundUp(ceilDiv(m, 4*workers), gemmMR), 16, 128)
	tiles := ceilDiv(m, mc) * ceilDiv(npad, nc)
	if workers > 1 && tiles < 2*workers && k >= 2*gemmKC*workers {
		gemmSplitK(m, n, k, a, b, c, ldc, workers, mc, nc)
		return
	}
	bp := getScratch[T](k * npad)
	defer putScratch(bp)
	packAllB(b, k, n, npad, bp, workers)
	runTiles(m, n, k, 0, k, a, bp, npad, c, ldc, false, mc, nc, workers)
}

// packAllB packs the whole of B (all k-blocks) into bp, k-block after k-block: block pc
// starts at pc·npad and holds kc×npad values.
func packAllB[T float](b matrix[T], k, n, npad int, bp []T, workers int) {
	blocks := ceilDiv(k, gemmKC)
	parallelFor(blocks, min(workers, blocks), func(blk int) {
		k0 := blk * gemmKC
		kc := min(gemmKC, k-k0)
		b.packB(bp[k0*npad:(k0+kc)*npad], k0, kc, 0, n)
	})
}

// runTiles computes C (+)= A[:, k0:k1]·B[k0:k1, :] tile by tile on `workers` goroutines,
// with B already packed in bp (as packAllB, relative to k0). With accumulate false the
// first k-block overwrites C.
func runTiles[T float](m, n, k, k0, k1 int, a aSource[T], bp []T, npad int, c []T, ldc int, accumulate bool, mc, nc, workers int) {
	rowTiles, colTiles := ceilDiv(m, mc), ceilDiv(npad, nc)
	parallelFor(rowTiles*colTiles, workers, func(t int) {
		i0, j0 := (t/colTiles)*mc, (t%colTiles)*nc
		rows, cols := min(mc, m-i0), min(nc, n-j0)
		ap := getScratch[T](roundUp(rows, gemmMR) * gemmKC)
		defer putScratch(ap)
		for pc := k0; pc < k1; pc += gemmKC {
			kc := min(gemmKC, k1-pc)
			a.packA(ap, i0, rows, pc, kc)
			acc := accumulate || pc > k0
			// Packed B of this k-block, from column j0 on.
			bBlock := bp[(pc-k0)*npad+j0*kc : (pc-k0+kc)*npad]
			macroKernel(rows, cols, kc, ap, bBlock, c[i0*ldc+j0:], ldc, acc)
		}
	})
}

// gemmSplitK splits the contraction over the workers, each computing a private partial
// product, and sums them into C.
func gemmSplitK[T float](m, n, k int, a aSource[T], b matrix[T], c []T, ldc, workers, mc, nc int) {
	blocks := ceilDiv(k, gemmKC)
	parts := min(workers, blocks)
	npad := roundUp(n, gemmNR)
	partials := make([][]T, parts)
	var wg sync.WaitGroup
	for w := range parts {
		b0, b1 := w*blocks/parts, (w+1)*blocks/parts
		k0, k1 := b0*gemmKC, min(b1*gemmKC, k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			bp := getScratch[T]((k1 - k0) * npad)
			defer putScratch(bp)
			sub := b
			sub.off += k0 * b.rs
			packAllB(sub, k1-k0, n, npad, bp, 1)
			out := c
			outLd := ldc
			if w > 0 {
				out = getScratch[T](m * n)
				outLd = n
				partials[w] = out
			}
			runTiles(m, n, k, k0, k1, a, bp, npad, out, outLd, false, mc, nc, 1)
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

// macroKernel multiplies a packed A block (rows×kc in gemmMR panels) by packed B panels
// (kc×cols in gemmNR panels) into C (row stride ldc), overwriting or accumulating. It
// dispatches to the concrete float32/float64 versions of gemm_kernel.go: Go compiles the
// generic micro-kernel ~20% slower than a concrete one.
func macroKernel[T float](rows, cols, kc int, ap, bp []T, c []T, ldc int, acc bool) {
	if unsafe.Sizeof(ap[0]) == 4 {
		macroKernel32(rows, cols, kc, castSlice[float32](ap), castSlice[float32](bp), castSlice[float32](c), ldc, acc)
	} else {
		macroKernel64(rows, cols, kc, castSlice[float64](ap), castSlice[float64](bp), castSlice[float64](c), ldc, acc)
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
