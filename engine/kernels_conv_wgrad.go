package engine

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
)

// Weight gradients of 2-D convolutions without permuting their operands.
//
// GoMLX computes the kernel gradient of a convolution (convVJPWrtKernel) as a "reverse"
// convolution: input x [N, H, W, C] with its channel axis as the batch and its batch axis
// as the channels, kernel dy [N, Ho, Wo, F] (input channels N, spatial Ho×Wo), output
// dW [kh, kw, C, F], unit strides and the original strides as kernel dilations. The
// general path permutes x to [C, H, W, N] and dy to [Ho, Wo, N, F] and gathers patches,
// three copies that cost more than the multiply-adds at few channels. Here instead
//
//	dW[ky, kx, c, f] = Σ_{n, oy, ox} x[n, oy·sy + ky − pad, ox·sx + kx − pad, c] · dy[n, oy, ox, f]
//
// is split by input phase: with Xpad the zero-padded input and (py, px) = (ky mod sy,
// kx mod sx), (qy, qx) = (ky div sy, kx div sx), the read position is
// sy·(oy + qy) + py, so phase image Xφ[n, i, j, :] = Xpad[n, sy·i + py, sx·j + px, :]
// ([N, Hq, Wq, C], Hq = Ho + ⌈kh/sy⌉ − 1) gives
//
//	dW[ky, kx, c, :] = Σ_r Xφ_flat[(r + qy·Wq)·C + qx·C + c] · D[r, :]
//
// over the "virtual" positions r = (n·Hq + i)·Wq + j, where D [N, Hq, Wq, F'] holds dy at
// the positions of real outputs (i < Ho, j < Wo) and zeros elsewhere. For one phase and
// one qy, the rows (qx, c) of dW are a column-major matrix with leading dimension C read
// in place (element (qx·C + c, r) at Xφ[(r + qy·Wq)·C + qx·C + c]), and D is a row-major
// B read in place: every tap is a GEMM of the micro-kernels on unpacked operands. The
// contraction (N·Hq·Wq, long) is split into one fixed range of k-blocks per worker, each
// accumulating a private partial dW, summed in worker order (deterministic); per k-block
// all taps reuse the same block of Xφ and D from cache. Only x (once, by phase) and dy (once, padded) are copied.

// wgradCalls counts the kernel gradients computed by wgradConv (tests check that graphs
// reach it).
var wgradCalls atomic.Int64

// wgradConvApplies reports whether the canonical convolution g with axes ax is such a
// kernel gradient (2-D, unit strides, no input dilation, x and dy stored as [N, H, W, C]
// and [N, Ho, Wo, F]) and the formulation pays: the virtual positions exceed the real
// ones by at most 40%, and at least half of the micro-kernel's rows are useful.
func wgradConvApplies[T float](g *convGeometry, ax backends.ConvolveAxesConfig) bool {
	if len(g.in) != 2 {
		return false
	}
	inPerm := append(append([]int{ax.InputChannels}, ax.InputSpatial...), ax.InputBatch)
	kerPerm := append(append([]int{ax.KernelInputChannels}, ax.KernelSpatial...), ax.KernelOutputChannels)
	if !isIdentity(inPerm) || !isIdentity(kerPerm) {
		return false
	}
	for i := range 2 {
		if g.strides[i] != 1 || g.inDil[i] != 1 || g.kerDil[i] < 1 {
			return false
		}
	}
	mk := pickKernel[T](g.feat)
	if g.batch < 1 || g.ch < 1 || g.feat < 1 || prod(g.ker) < 1 || prod(g.out) < 1 {
		return false
	}
	w := newWgradPlan(g, mk.mr, mk.nr)
	real := g.ch * prod(g.ker)
	if float64(w.virtualRows()) > 1.4*float64(real) {
		return false
	}
	useful, slots := 0, 0
	for _, b := range w.blocks {
		useful += b.m
		slots += roundUp(b.m, mk.mr)
	}
	return 2*useful >= slots
}

// wgradPlan is the layout of the phase images, D and the partial dW.
type wgradPlan struct {
	n, h, w, c, f  int // x [n, h, w, c], dy [n, ho, wo, f]
	ho, wo, kh, kw int
	sy, sx         int
	padY, padX     int
	hq, wq, fp     int
	phases         []wgradPhase
	blocks         []wgradBlock
	img            int // values per phase image (n·hq·wq·c)
}

// wgradPhase is one input phase (py, px) that some tap reads.
type wgradPhase struct{ py, px, nqy, nqx int }

// wgradBlock is the GEMM of one phase and one qy: m = nqx·C rows of the partial dW,
// starting at row `row`, reading phase image `phase` shifted by qy rows.
type wgradBlock struct{ phase, qy, m, row int }

func newWgradPlan(g *convGeometry, mr, nr int) *wgradPlan {
	p := &wgradPlan{n: g.ch, h: g.in[0], w: g.in[1], c: g.batch, f: g.feat,
		ho: g.ker[0], wo: g.ker[1], kh: g.out[0], kw: g.out[1],
		sy: g.kerDil[0], sx: g.kerDil[1], padY: g.padLo[0], padX: g.padLo[1]}
	p.hq = p.ho + ceilDiv(p.kh, p.sy) - 1
	p.wq = p.wo + ceilDiv(p.kw, p.sx) - 1
	p.fp = roundUp(p.f, nr)
	p.img = p.n * p.hq * p.wq * p.c
	row := 0
	for py := range p.sy {
		for px := range p.sx {
			nqy, nqx := ceilDiv(p.kh-py, p.sy), ceilDiv(p.kw-px, p.sx)
			if nqy <= 0 || nqx <= 0 {
				continue
			}
			ph := len(p.phases)
			p.phases = append(p.phases, wgradPhase{py, px, nqy, nqx})
			for qy := range nqy {
				p.blocks = append(p.blocks, wgradBlock{ph, qy, nqx * p.c, row})
				row += nqx * p.c
			}
		}
	}
	return p
}

// virtualRows is the contraction length: up to the last real output of the last image.
func (p *wgradPlan) virtualRows() int {
	return (p.n-1)*p.hq*p.wq + (p.ho-1)*p.wq + p.wo
}

// wgradConv computes the kernel gradient described by the canonical convolution g
// (wgradConvApplies): x [N, H, W, C] (N = g.ch, C = g.batch), dy [N, Ho, Wo, F] (the
// convolution's kernel), into outC, the canonical output [C, kh, kw, F].
func wgradConv[T float](g *convGeometry, x, dy, outC []T, workers int) {
	wgradCalls.Add(1)
	mk := pickKernel[T](g.feat)
	p := newWgradPlan(g, mk.mr, mk.nr)
	n, c, f, fp := p.n, p.c, p.f, p.fp
	hq, wq := p.hq, p.wq
	gemmFlops.Add(2 * int64(c*p.kh*p.kw) * int64(f) * int64(n*p.ho*p.wo))

	// Phase images, one after the other, and mr values of slack: the last row panel of a
	// block reads up to mr−1 rows past its own (their products are discarded).
	xs := getScratch[T](len(p.phases)*p.img + mk.mr)
	defer putScratch(xs)
	clear(xs[len(p.phases)*p.img:])
	parallelFor(len(p.phases)*n, workers, func(u int) {
		ph, b := p.phases[u/n], u%n
		dst := xs[(u/n)*p.img+b*hq*wq*c : (u/n)*p.img+(b+1)*hq*wq*c]
		src := x[b*p.h*p.w*c : (b+1)*p.h*p.w*c]
		for i := range hq {
			row := dst[i*wq*c : (i+1)*wq*c]
			y := p.sy*i + ph.py - p.padY
			if y < 0 || y >= p.h {
				clear(row)
				continue
			}
			srow := src[y*p.w*c : (y+1)*p.w*c]
			// Columns j with 0 ≤ sx·j + px − padX < W.
			j0 := max(0, ceilDiv(p.padX-ph.px, p.sx))
			j1 := min(wq, ceilDiv(p.w+p.padX-ph.px, p.sx))
			if j1 <= j0 {
				clear(row)
				continue
			}
			clear(row[:j0*c])
			clear(row[j1*c:])
			xs0 := p.sx*j0 + ph.px - p.padX
			if p.sx == 1 {
				copy(row[j0*c:j1*c], srow[xs0*c:(xs0+j1-j0)*c])
				continue
			}
			gatherPixels(row[j0*c:j1*c], srow[xs0*c:], c, p.sx*c)
		}
	})
	// D: dy on the virtual grid, F padded to whole B panels.
	d := getScratch[T](n * hq * wq * fp)
	defer putScratch(d)
	parallelFor(n, workers, func(b int) {
		img := d[b*hq*wq*fp : (b+1)*hq*wq*fp]
		for i := range p.ho {
			row := img[i*wq*fp : (i+1)*wq*fp]
			src := dy[(b*p.ho+i)*p.wo*f : (b*p.ho+i+1)*p.wo*f]
			if fp == f {
				copy(row, src)
			} else {
				for j := range p.wo {
					copy(row[j*fp:j*fp+f], src[j*f:(j+1)*f])
					clear(row[j*fp+f : (j+1)*fp])
				}
			}
			clear(row[p.wo*fp:])
		}
		clear(img[p.ho*wq*fp:])
	})

	// The contraction, split into one contiguous range of k-blocks per worker. The ranges
	// are fixed (not handed out on demand) and the partials summed in worker order, so the
	// result does not depend on scheduling: runs and resumed runs stay bit-identical.
	rows := c * p.kh * p.kw
	k := p.virtualRows()
	blocks := ceilDiv(k, gemmKC)
	workers = max(1, min(workers, blocks))
	partials := make([][]T, workers)
	var wg sync.WaitGroup
	run := func(w int) {
		part := getScratch[T](rows * fp)
		clear(part)
		k0 := (w * blocks / workers) * gemmKC
		k1 := min(k, ((w+1)*blocks/workers)*gemmKC)
		for pc := k0; pc < k1; pc += gemmKC {
			kc := min(gemmKC, k1-pc)
			bp := panelSet[T]{data: d[pc*fp:], stride: mk.nr, step: fp}
			for _, blk := range p.blocks {
				view := xs[blk.phase*p.img+(pc+blk.qy*wq)*c:]
				macroKernel(mk, blk.m, fp, kc, panelSet[T]{data: view, stride: mk.mr, step: c}, nil, bp, part[blk.row*fp:], fp, true)
			}
		}
		partials[w] = part
	}
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(w)
		}()
	}
	run(0)
	wg.Wait()

	// Sum the partials into [C, kh, kw, F].
	clear(outC[:rows*f])
	for _, part := range partials {
		if part == nil {
			continue
		}
		for _, blk := range p.blocks {
			ph := p.phases[blk.phase]
			ky := blk.qy*p.sy + ph.py
			for qx := range ph.nqx {
				kx := qx*p.sx + ph.px
				for ci := range c {
					src := part[(blk.row+qx*c+ci)*fp : (blk.row+qx*c+ci)*fp+f]
					dst := outC[((ci*p.kh+ky)*p.kw+kx)*f : ((ci*p.kh+ky)*p.kw+kx+1)*f]
					for j, v := range src {
						dst[j] += v
					}
				}
			}
		}
		putScratch(part)
	}
}

// gatherPixels fills dst (pixels of c values) with the pixels of src `stride` values
// apart: dst[j·c + k] = src[j·stride + k]. Pixels of a few cache lines are moved in
// 16-byte blocks, without a call to memmove per pixel.
func gatherPixels[T float](dst, src []T, c, stride int) {
	count := len(dst) / c
	if count == 0 {
		return
	}
	_ = src[(count-1)*stride+c-1]
	size := int(unsafe.Sizeof(dst[0]))
	nb := c * size / 16
	if c*size%16 != 0 || nb > 16 {
		for j := range count {
			copy(dst[j*c:(j+1)*c], src[j*stride:j*stride+c])
		}
		return
	}
	type block = [16]byte
	d := unsafe.Pointer(unsafe.SliceData(dst))
	s := unsafe.Pointer(unsafe.SliceData(src))
	rowBytes, strideBytes := uintptr(c*size), uintptr(stride*size)
	for j := range count {
		dp := unsafe.Add(d, uintptr(j)*rowBytes)
		sp := unsafe.Add(s, uintptr(j)*strideBytes)
		for q := range nb {
			*(*block)(unsafe.Add(dp, q*16)) = *(*block)(unsafe.Add(sp, q*16))
		}
	}
}
