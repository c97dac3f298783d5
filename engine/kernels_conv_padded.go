package engine

// Stride-1 2-D convolutions without gathering patches. The patch matrix of an im2col
// convolution repeats every input value taps times; gathering it (im2col.rowsA) costs a
// copy per patch element, as much as the multiply-adds themselves when the layer has few
// output channels (16 at width 16). For a stride-1 convolution the patches need not be
// gathered at all: in a zero-padded copy P [B, Hp, Wp, C] of the input, output position
// (b, y, x) and tap (ky, kx) read the C channels at P[b, y+ky, x+kx, :], which is
//
//	P_flat[r·C + (ky·Wp + kx)·C + c]   with r = (b·Hp + y)·Wp + x,
//
// so, for each tap, the rows r of the patch matrix are rows of one matrix with leading
// dimension C, read in place by the Rows micro-kernels. The GEMM runs over the "virtual"
// rows r (every padded position, Hp·Wp per image, of which Hout·Wout are real outputs),
// with k-blocks that stay within one tap, into a virtual output that is then compacted.
// The extra rows cost (Hp·Wp)/(Hout·Wout) − 1 more multiply-adds (13% at 32×32 with
// padding 1, 27% at 16×16), so the path is taken for outputs of at least 16×16; smaller
// maps (deeper layers, many channels) keep the gathered patches, whose cost per
// multiply-add falls with the number of output channels.

// paddedRows is the A operand of such a convolution: the padded input read per tap.
type paddedRows[T float] struct {
	p      []T   // the padded input, [B, Hp, Wp, C]
	ch     int   // C
	kw     int   // taps per kernel row
	kb     int   // the k-block: a whole kernel row of taps (kw·C), or a divisor of C
	tapOff []int // per tap (ky, kx): (ky·Wp + kx)·C
}

// paddedConvApplies reports whether the canonical convolution g takes the padded path.
func paddedConvApplies(g *convGeometry) bool {
	if len(g.in) != 2 || g.ch < 8 {
		return false
	}
	for i := range 2 {
		if g.strides[i] != 1 || g.inDil[i] != 1 || g.kerDil[i] != 1 || g.padLo[i] < 0 || g.out[i] < 16 {
			return false
		}
		if padHi := g.out[i] + g.ker[i] - 1 - g.in[i] - g.padLo[i]; padHi < 0 {
			return false
		}
	}
	return true
}

// paddedConv computes the canonical convolution g (paddedConvApplies) of in [B, H, W, C]
// with kerC [kh, kw, C, F] into out [B, Hout, Wout, F].
func paddedConv[T float](g *convGeometry, in, kerC, out []T, workers int) {
	h, w, c, f := g.in[0], g.in[1], g.ch, g.feat
	kh, kw := g.ker[0], g.ker[1]
	oh, ow := g.out[0], g.out[1]
	hp, wp := oh+kh-1, ow+kw-1
	top, left := g.padLo[0], g.padLo[1]

	// The zero-padded input.
	p := getScratch[T](g.batch * hp * wp * c)
	defer putScratch(p)
	parallelFor(g.batch, workers, func(b int) {
		img := p[b*hp*wp*c : (b+1)*hp*wp*c]
		clear(img[:top*wp*c])
		for y := range h {
			row := img[(top+y)*wp*c : (top+y+1)*wp*c]
			clear(row[:left*c])
			copy(row[left*c:(left+w)*c], in[(b*h+y)*w*c:(b*h+y+1)*w*c])
			clear(row[(left+w)*c:])
		}
		clear(img[(top+h)*wp*c:])
	})

	src := &paddedRows[T]{p: p, ch: c, kw: kw, tapOff: make([]int, kh*kw)}
	for ky := range kh {
		for kx := range kw {
			src.tapOff[ky*kw+kx] = (ky*wp + kx) * c
		}
	}
	// The taps of one kernel row are adjacent in the padded input, (kx·C) apart, so a
	// k-block may span the whole row (3·C values at 3×3): fewer, longer micro-kernel
	// calls, and C's tile is loaded and stored once per kernel row instead of per tap.
	src.kb = kw * c
	if src.kb > gemmKC {
		src.kb = c
		for src.kb > gemmKC || c%src.kb != 0 {
			src.kb--
		}
	}
	// Virtual rows: every padded position up to the last real output of the last image
	// (whose last tap reads the last padded value); rows of padding positions hold
	// garbage and are dropped below.
	rows := (g.batch-1)*hp*wp + (oh-1)*wp + ow
	v := getScratch[T](rows * f)
	defer putScratch(v)
	gemm(rows, f, kh*kw*c, aSource[T](src), matrix[T]{data: kerC, rs: f, cs: 1}, v, f, workers)
	// GEMMFlops counts the convolution's own work, not the garbage rows.
	gemmFlops.Add(-2 * int64(rows-g.batch*oh*ow) * int64(f) * int64(kh*kw*c))
	parallelFor(g.batch, workers, func(b int) {
		for y := range oh {
			r := (b*hp + y) * wp
			copy(out[(b*oh+y)*ow*f:(b*oh+y+1)*ow*f], v[r*f:(r+ow)*f])
		}
	})
}

// kBlock keeps every k-block within one kernel row of taps.
func (pr *paddedRows[T]) kBlock() int { return pr.kb }

// rowsA returns the block in place: rows lda = C apart, starting at the first tap's
// offset (the block's later taps of the same kernel row follow it contiguously).
func (pr *paddedRows[T]) rowsA(dst []T, i0, rows, k0, kc int) ([]T, int) {
	t := k0 / pr.ch
	if ((k0+kc-1)/pr.ch)/pr.kw != t/pr.kw {
		panic("engine: paddedRows k-block crosses a kernel row")
	}
	return pr.p[i0*pr.ch+pr.tapOff[t]+k0-t*pr.ch:], pr.ch
}

// colsA: the rows are not column-major.
func (pr *paddedRows[T]) colsA(i0, k0 int) ([]T, int, bool) { return nil, 0, false }
