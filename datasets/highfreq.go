package datasets

import (
	"fmt"
	"math"
	"sync"
)

// AdvCLRadius is the radius of AdvCL's high-frequency filter (`--radius 8`).
const AdvCLRadius = 8

// AdvCLHighPass is the 32×32, radius-8 filter of AdvCL's high-frequency view.
var AdvCLHighPass = mustHighPass(32, 32, AdvCLRadius)

// HighPassFilter is AdvCL's fr_util.generate_high as an exact real linear operator.
// generate_high computes, per channel,
//
//	real(ifft2(ifftshift(fftshift(fft2(x)) · (1 − mask))))
//
// with mask[i][j] = 1 where (i − H/2)² + (j − H/2)² < r² (both offsets measured from
// H/2, as the reference does with imageSize = rows). Since fft2(x) summed over all
// frequencies gives back x, the result equals x − Re(lowpass(x)), where lowpass keeps
// only the masked frequencies. The filter stores those frequencies and evaluates the
// low-pass as partial DFTs with precomputed float64 cosine/sine tables (row DFT for the
// columns in use, column DFT for the kept frequencies, and back), which costs a few
// hundred thousand flops per 32×32×3 image. The output is not clamped: high-frequency
// components can be negative.
type HighPassFilter struct {
	h, w   int
	radius float64
	cols   []int      // distinct unshifted column frequencies v of the kept set
	freqs  [][]int    // freqs[k]: the unshifted row frequencies u kept with column cols[k]
	weight []float64  // weight[k]: 2 for a column standing for itself and its conjugate, else 1
	total  int        // number of frequencies removed
	cosH   []float64  // cos(2πk/H)
	sinH   []float64  // sin(2πk/H)
	cosW   []float64  // cos(2πk/W)
	sinW   []float64  // sin(2πk/W)
	pool   *sync.Pool // *hpScratch
}

type hpScratch struct{ rRe, rIm, tRe, tIm, low []float64 }

// NewHighPassFilter returns the filter of generate_high for h×w images and radius r.
func NewHighPassFilter(h, w int, r float64) (*HighPassFilter, error) {
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("high-pass filter: invalid size %dx%d", h, w)
	}
	if !(r >= 0) || math.IsInf(r, 0) {
		return nil, fmt.Errorf("high-pass filter: invalid radius %v", r)
	}
	f := &HighPassFilter{h: h, w: w, radius: r}
	colIndex := map[int]int{}
	centre := float64(h) / 2
	for i := 0; i < h; i++ { // shifted coordinates
		for j := 0; j < w; j++ {
			di, dj := float64(i)-centre, float64(j)-centre
			if math.Sqrt(di*di+dj*dj) >= r {
				continue
			}
			u := ((i-h/2)%h + h) % h // fftshift: shifted[i] = orig[(i − n/2) mod n]
			v := ((j-w/2)%w + w) % w
			k, ok := colIndex[v]
			if !ok {
				k = len(f.cols)
				colIndex[v] = k
				f.cols = append(f.cols, v)
				f.freqs = append(f.freqs, nil)
			}
			f.freqs[k] = append(f.freqs[k], u)
		}
	}
	for _, us := range f.freqs {
		f.total += len(us)
	}
	f.weight = make([]float64, len(f.cols))
	for k := range f.weight {
		f.weight[k] = 1
	}
	f.foldConjugates(colIndex)
	f.cosH, f.sinH = trigTable(h)
	f.cosW, f.sinW = trigTable(w)
	nc := len(f.cols)
	f.pool = &sync.Pool{New: func() any {
		return &hpScratch{
			rRe: make([]float64, h*nc), rIm: make([]float64, h*nc),
			tRe: make([]float64, h*nc), tIm: make([]float64, h*nc),
			low: make([]float64, h*w),
		}
	}}
	return f, nil
}

// foldConjugates halves the work when the kept set is symmetric under negation (always
// the case for even square sizes): the input is real, so the contribution of column −v is
// the complex conjugate of that of column v, and the real part of their sum is twice the
// real part of column v's. Column −v is then dropped and column v weighted 2.
func (f *HighPassFilter) foldConjugates(colIndex map[int]int) {
	kept := map[[2]int]bool{}
	for k, v := range f.cols {
		for _, u := range f.freqs[k] {
			kept[[2]int{u, v}] = true
		}
	}
	for uv := range kept {
		if !kept[[2]int{(f.h - uv[0]) % f.h, (f.w - uv[1]) % f.w}] {
			return // not symmetric: keep every column
		}
	}
	var cols []int
	var freqs [][]int
	var weight []float64
	for k, v := range f.cols {
		partner := (f.w - v) % f.w
		switch {
		case partner == v:
			weight = append(weight, 1)
		case v < partner:
			weight = append(weight, 2)
		default:
			continue // folded into its partner
		}
		cols = append(cols, v)
		freqs = append(freqs, f.freqs[k])
	}
	f.cols, f.freqs, f.weight = cols, freqs, weight
}

func mustHighPass(h, w int, r float64) *HighPassFilter {
	f, err := NewHighPassFilter(h, w, r)
	if err != nil {
		panic(err) // constant arguments: cannot fail
	}
	return f
}

var highPassCache sync.Map // [2]int{h,w} -> *HighPassFilter with AdvCLRadius

// Shape returns the image height and width the filter was built for.
func (f *HighPassFilter) Shape() (h, w int) { return f.h, f.w }

// NumKept returns how many of the H×W frequencies the filter removes (those inside the
// radius; 193 for 32×32 and radius 8).
func (f *HighPassFilter) NumKept() int { return f.total }

func trigTable(n int) (c, s []float64) {
	c, s = make([]float64, n), make([]float64, n)
	for k := 0; k < n; k++ {
		a := 2 * math.Pi * float64(k) / float64(n)
		c[k], s[k] = math.Cos(a), math.Sin(a)
	}
	return c, s
}

// Apply returns the high-frequency component of img, every channel filtered
// independently. It returns an error if img is not of the filter's size.
func (f *HighPassFilter) Apply(img Image) (Image, error) {
	if img.H != f.h || img.W != f.w || len(img.Pix) != img.H*img.W*img.C {
		return Image{}, fmt.Errorf("high-pass filter: built for %dx%d, got %dx%dx%d image with %d values", f.h, f.w, img.H, img.W, img.C, len(img.Pix))
	}
	out := NewImage(img.H, img.W, img.C)
	sc := f.pool.Get().(*hpScratch)
	defer f.pool.Put(sc)
	for ch := 0; ch < img.C; ch++ {
		f.lowPass(img, ch, sc)
		for p := 0; p < f.h*f.w; p++ {
			out.Pix[p*img.C+ch] = float32(float64(img.Pix[p*img.C+ch]) - sc.low[p])
		}
	}
	return out, nil
}

// lowPass writes Re(ifft2(L · fft2(x_ch))) into sc.low, L being the kept frequencies.
func (f *HighPassFilter) lowPass(img Image, ch int, sc *hpScratch) {
	h, w, c, nc := f.h, f.w, img.C, len(f.cols)
	// 1. Row DFT at the used column frequencies: R[m][k] = Σ_n x[m,n] e^{−2πi v_k n/W}.
	for m := 0; m < h; m++ {
		for k, v := range f.cols {
			var re, im float64
			idx := 0
			for n := 0; n < w; n++ {
				x := float64(img.Pix[(m*w+n)*c+ch])
				re += x * f.cosW[idx]
				im -= x * f.sinW[idx]
				idx += v
				if idx >= w {
					idx -= w
				}
			}
			sc.rRe[m*nc+k], sc.rIm[m*nc+k] = re, im
		}
	}
	// 2–3. For each kept (u, v): X = Σ_m R[m][v] e^{−2πi u m/H}; T[m][v] += X e^{+2πi u m/H}.
	for i := range sc.tRe {
		sc.tRe[i], sc.tIm[i] = 0, 0
	}
	for k, us := range f.freqs {
		for _, u := range us {
			var xr, xi float64
			idx := 0
			for m := 0; m < h; m++ {
				cr, ci := f.cosH[idx], -f.sinH[idx]
				rr, ri := sc.rRe[m*nc+k], sc.rIm[m*nc+k]
				xr += rr*cr - ri*ci
				xi += rr*ci + ri*cr
				idx += u
				if idx >= h {
					idx -= h
				}
			}
			idx = 0
			for m := 0; m < h; m++ {
				cr, ci := f.cosH[idx], f.sinH[idx]
				sc.tRe[m*nc+k] += xr*cr - xi*ci
				sc.tIm[m*nc+k] += xr*ci + xi*cr
				idx += u
				if idx >= h {
					idx -= h
				}
			}
		}
	}
	// 4. low[m,n] = Re Σ_k T[m][k] e^{+2πi v_k n/W} / (H·W).
	norm := 1 / float64(h*w)
	for m := 0; m < h; m++ {
		row := sc.low[m*w : (m+1)*w]
		for n := range row {
			row[n] = 0
		}
		for k, v := range f.cols {
			tr, ti := f.weight[k]*sc.tRe[m*nc+k], f.weight[k]*sc.tIm[m*nc+k]
			idx := 0
			for n := 0; n < w; n++ {
				row[n] += tr*f.cosW[idx] - ti*f.sinW[idx]
				idx += v
				if idx >= w {
					idx -= w
				}
			}
		}
		for n := range row {
			row[n] *= norm
		}
	}
}

// highPassFor returns the cached radius-8 filter for h×w images.
func highPassFor(h, w int) (*HighPassFilter, error) {
	if h == AdvCLHighPass.h && w == AdvCLHighPass.w {
		return AdvCLHighPass, nil
	}
	key := [2]int{h, w}
	if f, ok := highPassCache.Load(key); ok {
		return f.(*HighPassFilter), nil
	}
	f, err := NewHighPassFilter(h, w, AdvCLRadius)
	if err != nil {
		return nil, err
	}
	actual, _ := highPassCache.LoadOrStore(key, f)
	return actual.(*HighPassFilter), nil
}
