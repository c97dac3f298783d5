package engine

import (
	"reflect"
	"slices"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// execConvGeneralFast replaces simplego's ConvGeneral executor (a direct loop at ≈0.4
// GFLOP/s) with im2col + GEMM for ungrouped convolutions of any axis layout, strides,
// padding (negative too), input and kernel dilations: the patches of the input are packed
// straight into the GEMM's A panels (the patch matrix is never materialised) and
// multiplied by the kernel seen as a [taps·C, F] matrix. Operands whose axes are not in the
// canonical order ([B, spatial…, C] input, [spatial…, C, F] kernel, [B, spatial…, F]
// output — GoMLX's NHWC convolution) are permuted into scratch first; the gradients of a
// convolution (GoMLX's convVJPWrtX/convVJPWrtKernel) are such convolutions.
//
// Gradients with respect to the input of a strided convolution arrive as a convolution of
// the input-dilated output gradient (mostly zeros); when all strides are 1 and the input
// is dilated, they are computed as a transposed convolution instead (GEMM then col2im
// scatter-add), which does no work on the injected zeros.
func execConvGeneralFast(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (out *simplego.Buffer, err error) {
	workers, ok := fastWorkers(backend)
	if !ok {
		return origConv(backend, node, inputs, owned)
	}
	p := reflect.ValueOf(nodeData(node)).Elem()
	if readInt(p, "channelGroupCount") > 1 || readInt(p, "batchGroupCount") > 1 {
		return origConv(backend, node, inputs, owned)
	}
	axesField := p.FieldByName("axes")
	cp := convParams{
		axes:     *(*backends.ConvolveAxesConfig)(unsafe.Pointer(axesField.UnsafeAddr())),
		strides:  readInts(p, "strides"),
		inDil:    readInts(p, "inputDilations"),
		kerDil:   readInts(p, "kernelDilations"),
		inShape:  bufferShape(inputs[0]),
		kerShape: bufferShape(inputs[1]),
		outShape: nodeShape(node),
	}
	pads := p.FieldByName("paddings")
	s := len(cp.axes.InputSpatial)
	cp.padLo = make([]int, s)
	for i := range min(s, pads.Len()) {
		cp.padLo[i] = int(pads.Index(i).Index(0).Int())
	}
	cp.strides = onesIfEmpty(cp.strides, s)
	cp.inDil = onesIfEmpty(cp.inDil, s)
	cp.kerDil = onesIfEmpty(cp.kerDil, s)
	if len(cp.strides) != s || len(cp.inDil) != s || len(cp.kerDil) != s {
		return origConv(backend, node, inputs, owned)
	}
	defer recoverToError("ConvGeneral", &err)
	switch in := bufferFlat(inputs[0]).(type) {
	case []float32:
		return runConv(backend, &cp, in, bufferFlat(inputs[1]).([]float32), workers)
	case []float64:
		return runConv(backend, &cp, in, bufferFlat(inputs[1]).([]float64), workers)
	}
	return origConv(backend, node, inputs, owned)
}

// convParams are a ConvGeneral's configuration and operand shapes.
type convParams struct {
	axes                        backends.ConvolveAxesConfig
	strides, padLo              []int
	inDil, kerDil               []int
	inShape, kerShape, outShape shapes.Shape
}

func runConv[T float](backend *simplego.Backend, cp *convParams, in, ker []T, workers int) (*simplego.Buffer, error) {
	ax := cp.axes
	s := len(ax.InputSpatial)
	inD, kerD, outD := cp.inShape.Dimensions, cp.kerShape.Dimensions, cp.outShape.Dimensions
	g := convGeometry{
		batch: inD[ax.InputBatch], ch: inD[ax.InputChannels], feat: kerD[ax.KernelOutputChannels],
		in: make([]int, s), ker: make([]int, s), out: make([]int, s),
		strides: cp.strides, padLo: cp.padLo, inDil: cp.inDil, kerDil: cp.kerDil,
	}
	for i := range s {
		g.in[i] = inD[ax.InputSpatial[i]]
		g.ker[i] = kerD[ax.KernelSpatial[i]]
		g.out[i] = outD[ax.OutputSpatial[i]]
	}
	if wgradConvApplies[T](&g, ax) {
		// A kernel gradient: x [N, H, W, C] and dy [N, Ho, Wo, F] read as they are.
		return runConvInto(backend, cp, workers, func(outC []T) { wgradConv(&g, in, ker, outC, workers) })
	}
	// Canonical input [B, in…, C] and kernel [ker…, C, F].
	inPerm := append(append([]int{ax.InputBatch}, ax.InputSpatial...), ax.InputChannels)
	kerPerm := append(append(slices.Clone(ax.KernelSpatial), ax.KernelInputChannels), ax.KernelOutputChannels)
	inC, freeIn := canonical(in, inD, inPerm, workers)
	defer freeIn()
	return runConvInto(backend, cp, workers, func(outC []T) {
		switch {
		case transposedConvApplies(&g):
			// Kernel as [C, ker…, F].
			kerT, freeKer := canonical(ker, kerD, append(append([]int{ax.KernelInputChannels}, ax.KernelSpatial...), ax.KernelOutputChannels), workers)
			transposedConv(&g, inC, kerT, outC, workers)
			freeKer()
		case paddedConvApplies(&g):
			kerC, freeKer := canonical(ker, kerD, kerPerm, workers)
			paddedConv(&g, inC, kerC, outC, workers)
			freeKer()
		default:
			kerC, freeKer := canonical(ker, kerD, kerPerm, workers)
			taps := g.taps()
			a := newIm2col(&g, inC)
			b := matrix[T]{data: kerC, rs: g.feat, cs: 1}
			gemm(g.batch*prod(g.out), g.feat, taps*g.ch, aSource[T](a), b, outC, g.feat, workers)
			freeKer()
		}
	})
}

// runConvInto allocates the convolution's output, has compute fill it in canonical
// layout [B, out…, F] (scratch when the output's axes are in another order) and permutes
// it into the output's layout.
func runConvInto[T float](backend *simplego.Backend, cp *convParams, workers int, compute func(outC []T)) (*simplego.Buffer, error) {
	ax := cp.axes
	outD := cp.outShape.Dimensions
	outPerm := append(append([]int{ax.OutputBatch}, ax.OutputSpatial...), ax.OutputChannels)
	out, err := newOutputBuffer(backend, cp.outShape)
	if err != nil {
		return nil, err
	}
	outFlat := bufferFlat(out).([]T)
	outC := outFlat
	outIsCanonical := isIdentity(outPerm)
	if !outIsCanonical {
		outC = getScratch[T](len(outFlat))
		defer putScratch(outC)
	}
	compute(outC)
	if !outIsCanonical {
		// outC is [B, out…, F]; output axis outPerm[j] holds canonical axis j.
		canonDims := make([]int, len(outD))
		for j, a := range outPerm {
			canonDims[j] = outD[a]
		}
		inv := make([]int, len(outD))
		for j, a := range outPerm {
			inv[a] = j
		}
		permuteInto(outFlat, outC, canonDims, inv, workers)
	}
	return out, nil
}

// convGeometry is a convolution in canonical layout: input [batch, in…, ch], kernel
// [ker…, ch, feat], output [batch, out…, feat]; output position o and kernel tap k read
// the input-dilated, padded position o·stride + k·kerDil − padLo.
type convGeometry struct {
	batch, ch, feat int
	in, ker, out    []int
	strides, padLo  []int
	inDil, kerDil   []int
}

func (g *convGeometry) taps() int { return prod(g.ker) }

// canonical returns x (dims) permuted so that axis j of the result is axis perm[j] of x,
// and a function releasing the scratch it may have taken.
func canonical[T float](x []T, dims, perm []int, workers int) ([]T, func()) {
	if isIdentity(perm) {
		return x, func() {}
	}
	out := getScratch[T](len(x))
	srcStrides := shapes.Make(0, dims...).Strides()
	outDims := make([]int, len(perm))
	strides := make([]int, len(perm))
	for j, a := range perm {
		outDims[j] = dims[a]
		strides[j] = srcStrides[a]
	}
	permuteCopy(out, x, outDims, strides, workers)
	return out, func() { putScratch(out) }
}

// permuteInto writes src (row-major with dims srcDims) into dst, where axis i of dst is
// axis perm[i] of src.
func permuteInto[T float](dst, src []T, srcDims, perm []int, workers int) {
	srcStrides := shapes.Make(0, srcDims...).Strides()
	dims := make([]int, len(perm))
	strides := make([]int, len(perm))
	for i, a := range perm {
		dims[i] = srcDims[a]
		strides[i] = srcStrides[a]
	}
	permuteCopy(dst, src, dims, strides, workers)
}

// permuteCopy fills dst row-major over dims with src[Σ idx_i·srcStrides_i], on up to
// `workers` goroutines. When the source is contiguous along dst's last axis it copies
// rows; otherwise, when some axis q is contiguous in the source, it transposes 16×16
// tiles of the (q, last) planes, so that both sides are read and written a cache line
// at a time (the layout changes of convolution gradients, e.g. [B,H,W,C] → [C,H,W,B]).
func permuteCopy[T float](dst, src []T, dims, srcStrides []int, workers int) {
	r := len(dims)
	if r == 0 {
		dst[0] = src[0]
		return
	}
	last, ls := dims[r-1], srcStrides[r-1]
	q := -1
	if ls != 1 {
		for a := r - 2; a >= 0; a-- {
			if srcStrides[a] == 1 && dims[a] > 1 {
				q = a
				break
			}
		}
	}
	if len(dst) < 1<<14 {
		workers = 1
	}
	dstStrides := shapes.Make(0, dims...).Strides()
	// Outer axes: all but the last (and q when transposing tiles).
	var outer []int
	for a := range r - 1 {
		if a != q {
			outer = append(outer, a)
		}
	}
	nOuter := 1
	for _, a := range outer {
		nOuter *= dims[a]
	}
	offsets := func(o int) (srcOff, dstOff int) {
		for i := len(outer) - 1; i >= 0; i-- {
			a := outer[i]
			x := o % dims[a]
			o /= dims[a]
			srcOff += x * srcStrides[a]
			dstOff += x * dstStrides[a]
		}
		return
	}
	if q < 0 {
		// Row by row: contiguous copies, or a strided gather when no axis is contiguous.
		parallelFor(workers, workers, func(w int) {
			for o := w * nOuter / workers; o < (w+1)*nOuter/workers; o++ {
				so, do := offsets(o)
				row := dst[do : do+last]
				if ls == 1 {
					copy(row, src[so:so+last])
					continue
				}
				for j := range row {
					row[j] = src[so+j*ls]
				}
			}
		})
		return
	}
	const tile = 16
	nq, qs := dims[q], dstStrides[q]
	iBlocks := ceilDiv(nq, tile)
	parallelFor(nOuter*iBlocks, workers, func(u int) {
		so, do := offsets(u / iBlocks)
		i0 := (u % iBlocks) * tile
		i1 := min(i0+tile, nq)
		for j0 := 0; j0 < last; j0 += tile {
			j1 := min(j0+tile, last)
			for i := i0; i < i1; i++ {
				row := dst[do+i*qs+j0 : do+i*qs+j1]
				s0 := so + i + j0*ls
				for j := range row {
					row[j] = src[s0+j*ls]
				}
			}
		}
	})
}

// im2col is the patch matrix of a canonical convolution as a GEMM A operand: row
// (b, o…) and column (tap, c) hold the input at the tap's position, or 0 outside the
// input or between input-dilated samples.
type im2col[T float] struct {
	g        *convGeometry
	in       []T
	tapPos   []int // per tap and spatial axis: k·kerDil − padLo
	inStride []int // canonical input strides of the spatial axes
	rowsPer  int   // output positions per batch item
	inPer    int   // input values per batch item
}

func newIm2col[T float](g *convGeometry, in []T) *im2col[T] {
	s := len(g.in)
	taps := g.taps()
	ic := &im2col[T]{g: g, in: in, tapPos: make([]int, taps*s), inStride: make([]int, s),
		rowsPer: prod(g.out), inPer: prod(g.in) * g.ch}
	st := g.ch
	for i := s - 1; i >= 0; i-- {
		ic.inStride[i] = st
		st *= g.in[i]
	}
	for t := range taps {
		r := t
		for i := s - 1; i >= 0; i-- {
			k := r % g.ker[i]
			r /= g.ker[i]
			ic.tapPos[t*s+i] = k*g.kerDil[i] - g.padLo[i]
		}
	}
	return ic
}

// colsA: patches are never stored column-major.
func (ic *im2col[T]) colsA(i0, k0 int) ([]T, int, bool) { return nil, 0, false }

// rowsA gathers the patch rows with contiguous copies: per row and tap, a run of
// channels of one input position (or zeros outside the input).
func (ic *im2col[T]) rowsA(dst []T, i0, rows, k0, kc int) ([]T, int) {
	g := ic.g
	s := len(g.in)
	if s == 2 && g.inDil[0] == 1 && g.inDil[1] == 1 && g.kerDil[1] == 1 {
		ic.rowsA2D(dst, i0, rows, k0, kc)
		return dst, kc
	}
	var obuf [8]int
	o := obuf[:s]
	if s > len(obuf) {
		o = make([]int, s)
	}
	for i := range rows {
		d := dst[i*kc : (i+1)*kc]
		row := i0 + i
		b, rem := row/ic.rowsPer, row%ic.rowsPer
		for a := s - 1; a >= 0; a-- {
			o[a] = rem % g.out[a]
			rem /= g.out[a]
		}
		inBase := b * ic.inPer
		for col := k0; col < k0+kc; {
			t, c0 := col/g.ch, col%g.ch
			c1 := min(g.ch, c0+(k0+kc-col))
			off, valid := ic.tapOffset(o, t, inBase)
			p0 := col - k0
			if valid {
				copy(d[p0:p0+c1-c0], ic.in[off+c0:off+c1])
			} else {
				clear(d[p0 : p0+c1-c0])
			}
			col += c1 - c0
		}
	}
	return dst, kc
}

// tapOffset returns where tap t of output position o (spatial indices) reads the input of
// the batch item starting at inBase, or valid false when that position is padding or falls
// between input-dilated samples.
func (ic *im2col[T]) tapOffset(o []int, t, inBase int) (off int, valid bool) {
	g := ic.g
	s := len(g.in)
	off = inBase
	for a := range s {
		pos := o[a]*g.strides[a] + ic.tapPos[t*s+a]
		if pos < 0 {
			return 0, false
		}
		if g.inDil[a] > 1 {
			if pos%g.inDil[a] != 0 {
				return 0, false
			}
			pos /= g.inDil[a]
		}
		if pos >= g.in[a] {
			return 0, false
		}
		off += pos * ic.inStride[a]
	}
	return off, true
}

// rowsA2D is rowsA for 2-D convolutions without input dilation and with unit kernel
// dilation along x: the kw taps of one kernel row read kw·C consecutive input values
// (positions x … x+kw−1 of one input row), copied at once when all lie inside the input.
func (ic *im2col[T]) rowsA2D(dst []T, i0, rows, k0, kc int) {
	g := ic.g
	h, w := g.in[0], g.in[1]
	ow := g.out[1]
	sy, sx := g.strides[0], g.strides[1]
	ch, kw := g.ch, g.ker[1]
	run := kw * ch
	end := k0 + kc
	for i := range rows {
		d := dst[i*kc : (i+1)*kc]
		row := i0 + i
		b, rem := row/ic.rowsPer, row%ic.rowsPer
		y0, x0 := (rem/ow)*sy, (rem%ow)*sx
		inBase := b * ic.inPer
		for col := k0; col < end; {
			t, c0 := col/ch, col%ch
			y, x := y0+ic.tapPos[2*t], x0+ic.tapPos[2*t+1]
			p0 := col - k0
			yIn := uint(y) < uint(h)
			if c0 == 0 && t%kw == 0 && col+run <= end && yIn && x >= 0 && x+kw <= w {
				off := inBase + (y*w+x)*ch
				copy(d[p0:p0+run], ic.in[off:off+run])
				col += run
				continue
			}
			n := min(ch-c0, end-col)
			if yIn && uint(x) < uint(w) {
				off := inBase + (y*w+x)*ch + c0
				copy(d[p0:p0+n], ic.in[off:off+n])
			} else {
				clear(d[p0 : p0+n])
			}
			col += n
		}
	}
}

// transposedConvApplies reports whether the convolution is better computed as a
// transposed convolution: unit strides and a dilated input (the gradient of a strided
// convolution with respect to its input).
func transposedConvApplies(g *convGeometry) bool {
	dilated := false
	for i := range g.in {
		if g.strides[i] != 1 {
			return false
		}
		if g.inDil[i] > 1 {
			dilated = true
		}
	}
	return dilated
}

// transposedConv computes the canonical convolution of an input-dilated input with unit
// strides by scattering: every input sample x[b, i…, :] meets tap k at the output
// position o = i·inDil + padLo − k·kerDil, so P = X·K ([B·in, C]·[C, taps·F]) is computed
// by GEMM and each row's taps are added into their output rows (col2im). kerT is the
// kernel as [C, ker…, F]. Output rows are processed in batch blocks, bounding P's size.
func transposedConv[T float](g *convGeometry, in, kerT, out []T, workers int) {
	s := len(g.in)
	taps := g.taps()
	inPer, outPer := prod(g.in), prod(g.out)
	tf := taps * g.feat
	clear(out[:g.batch*outPer*g.feat])
	// Offsets of each tap: k·kerDil − padLo per axis.
	tapOff := make([]int, taps*s)
	for t := range taps {
		r := t
		for a := s - 1; a >= 0; a-- {
			k := r % g.ker[a]
			r /= g.ker[a]
			tapOff[t*s+a] = g.padLo[a] - k*g.kerDil[a]
		}
	}
	outStride := make([]int, s)
	st := g.feat
	for a := s - 1; a >= 0; a-- {
		outStride[a] = st
		st *= g.out[a]
	}
	// Batch items per block so that P stays under ~16M values.
	per := max(1, (16<<20)/max(1, inPer*tf))
	b := matrix[T]{data: kerT, rs: tf, cs: 1}
	for b0 := 0; b0 < g.batch; b0 += per {
		nb := min(per, g.batch-b0)
		rows := nb * inPer
		pm := getScratch[T](rows * tf)
		a := matrix[T]{data: in, off: b0 * inPer * g.ch, rs: g.ch, cs: 1}
		gemm(rows, tf, g.ch, aSource[T](a), b, pm, tf, workers)
		// Scatter-add: parallel over batch items (disjoint outputs).
		parallelFor(nb, workers, func(bi int) {
			if s == 2 {
				scatterAdd2D(g, pm[bi*inPer*tf:(bi+1)*inPer*tf], out[(b0+bi)*outPer*g.feat:(b0+bi+1)*outPer*g.feat], tapOff)
				return
			}
			idx := make([]int, s)
			outBase := (b0 + bi) * outPer * g.feat
			for i := range inPer {
				r := i
				for a := s - 1; a >= 0; a-- {
					idx[a] = r % g.in[a]
					r /= g.in[a]
				}
				prow := pm[(bi*inPer+i)*tf : (bi*inPer+i+1)*tf]
				for t := range taps {
					off, valid := outBase, true
					for a := range s {
						o := idx[a]*g.inDil[a] + tapOff[t*s+a]
						if o < 0 || o >= g.out[a] {
							valid = false
							break
						}
						off += o * outStride[a]
					}
					if !valid {
						continue
					}
					dst := out[off : off+g.feat]
					src := prow[t*g.feat : (t+1)*g.feat]
					for j, v := range src {
						dst[j] += v
					}
				}
			}
		})
		putScratch(pm)
	}
}

// scatterAdd2D is transposedConv's col2im for one image of a 2-D convolution: pm holds
// per input position (iy, ix) and tap (ky, kx) the F values to add at output position
// (iy·inDil + tapOff_y, ix·inDil + tapOff_x), when it lies inside the output. Validity
// and offsets are worked out per row and tap, and the F values of each (row, tap) added by one call of addRows.
func scatterAdd2D[T float](g *convGeometry, pm, out []T, tapOff []int) {
	h, w := g.in[0], g.in[1]
	oh, ow := g.out[0], g.out[1]
	kh, kw := g.ker[0], g.ker[1]
	dy, dx := g.inDil[0], g.inDil[1]
	f := g.feat
	tf := kh * kw * f
	for iy := range h {
		for ky := range kh {
			oy := iy*dy + tapOff[2*ky*kw]
			if oy < 0 || oy >= oh {
				continue
			}
			orow := out[oy*ow*f : (oy+1)*ow*f]
			for kx := range kw {
				t := ky*kw + kx
				off := tapOff[2*t+1]
				// Input columns ix with 0 ≤ ix·dx + off < ow.
				ix0 := 0
				if off < 0 {
					ix0 = (-off + dx - 1) / dx
				}
				ix1 := min(w, (ow-off+dx-1)/dx)
				if ix1 > ix0 {
					addRows(ix1-ix0, orow[(ix0*dx+off)*f:], dx*f, pm[(iy*w+ix0)*tf+t*f:], tf, f)
				}
			}
		}
	}
}

func prod(dims []int) int {
	p := 1
	for _, d := range dims {
		p *= d
	}
	return p
}
