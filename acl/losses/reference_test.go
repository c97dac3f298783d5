package losses

// An independent, deliberately plain float64 implementation of the loss family, written
// from the spec's formulas with loops (no matrices, masks or graph ops), used to check the
// graph implementation in both quirk modes. Stop-gradient is modelled by two copies of the
// features: zv (the varying copy, used wherever gradient flows) and zf (a frozen copy, used
// for detached occurrences). Central differences with respect to zv at zv = zf therefore
// give exactly the gradient that the stop-gradient graph computes.

import (
	"math"
)

type refCase struct {
	layout Layout
	cfg    Config
	B, V   int // V is the number of views of the layout (3 RoCL, ≥2 AdvCL, 4 ACLDS)
	d      int
}

// rows returns the view-major rows of a layout's flat features: AdvCL [B][V][d] → row
// v·B+i; RoCL/ACLDS are already [R][d].
func (rc refCase) rows(x []float64) [][]float64 {
	R := rc.B * rc.V
	out := make([][]float64, R)
	for r := range R {
		if rc.layout == LayoutAdvCL {
			v, i := r/rc.B, r%rc.B
			off := (i*rc.V + v) * rc.d
			out[r] = x[off : off+rc.d]
		} else {
			out[r] = x[r*rc.d : (r+1)*rc.d]
		}
	}
	return out
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func norm(a []float64) float64 { return math.Sqrt(dot(a, a)) }

// refLoss evaluates the loss with gradient-carrying features zv and frozen features zf.
func (rc refCase) refLoss(zv, zf []float64) float64 {
	switch rc.layout {
	case LayoutRoCL:
		return rc.refRoCL(rc.rows(zv), rc.rows(zf))
	case LayoutAdvCL:
		return rc.refAdvCL(rc.rows(zv), rc.rows(zf))
	case LayoutACLDS:
		return rc.refACLDS(rc.rows(zv), rc.rows(zf))
	}
	panic("bad layout")
}

// sameInst / isPos / isNeg for view-major rows of batch B.
func isPos(r, c, B int) bool { return r != c && r%B == c%B }
func isNeg(r, c, B int) bool { return r%B != c%B }

// refHN returns the per-pair HN losses ℓ[r][c] for logits L (already shifted by shift[r],
// shift nil when unshifted), per spec §3.4 and the quirk flags.
func refHN(L [][]float64, shift []float64, V, B int, cfg Config, columnDen bool) [][]float64 {
	R := len(L)
	N := float64(V * (B - 1))
	q := cfg.Quirks
	e := make([][]float64, R)
	pos := make([]float64, R)
	for r := range R {
		e[r] = make([]float64, R)
		for c := range R {
			e[r][c] = math.Exp(L[r][c])
			if isPos(r, c, B) {
				pos[r] += e[r][c]
			}
		}
		pos[r] /= float64(V - 1)
	}
	rs := make([]float64, R)
	if q.Has(FixHNNormaliser) {
		for r := range R {
			wsum, ews := 0.0, 0.0
			for c := range R {
				if isNeg(r, c, B) {
					w := math.Pow(e[r][c], cfg.Beta)
					wsum += w
					ews += e[r][c] * w
				}
			}
			rs[r] = ews / (wsum / N)
		}
	} else {
		imp := func(r, c int) float64 {
			en := 0.0
			if isNeg(r, c, B) {
				en = e[r][c]
			}
			return math.Pow(en+1e-9, cfg.Beta)
		}
		rowMean := make([]float64, R)
		for k := range R {
			for j := range R {
				rowMean[k] += imp(k, j)
			}
			rowMean[k] /= float64(R)
		}
		for r := range R {
			for c := range R {
				if isNeg(r, c, B) {
					rs[r] += imp(r, c) * e[r][c] / rowMean[c]
				}
			}
		}
	}
	D := make([]float64, R)
	for r := range R {
		ng := (-cfg.TauPlus*N*pos[r] + rs[r]) / (1 - cfg.TauPlus)
		if !cfg.NoClamp {
			floor := N * math.Exp(-1/0.5)
			if q.Has(FixClampFloor) {
				m := 0.0
				if shift != nil {
					m = shift[r]
				}
				floor = N * math.Exp(-1/cfg.Temperature-m)
			}
			ng = math.Max(ng, floor)
		}
		D[r] = pos[r] + ng
	}
	ell := make([][]float64, R)
	for r := range R {
		ell[r] = make([]float64, R)
		for c := range R {
			den := D[r]
			if columnDen && !q.Has(FixHNDenominator) {
				den = D[c]
			}
			ell[r][c] = -math.Log(e[r][c] / den)
		}
	}
	return ell
}

// refSoftmaxPairs returns −log softmax over k ≠ r of logits L.
func refSoftmaxPairs(L [][]float64) [][]float64 {
	R := len(L)
	ell := make([][]float64, R)
	for r := range R {
		s := 0.0
		for k := range R {
			if k != r {
				s += math.Exp(L[r][k])
			}
		}
		ell[r] = make([]float64, R)
		for c := range R {
			ell[r][c] = math.Log(s) - L[r][c]
		}
	}
	return ell
}

func (rc refCase) refRoCL(zv, zf [][]float64) float64 {
	cfg, B := rc.cfg, rc.B
	R := len(zv)
	unit := func(z []float64) []float64 {
		n := norm(z) + 1e-8
		out := make([]float64, len(z))
		for i := range z {
			out[i] = z[i] / n
		}
		return out
	}
	S := make([][]float64, R)
	for r := range R {
		S[r] = make([]float64, R)
		for c := range R {
			S[r][c] = dot(unit(zv[r]), unit(zf[c])) / cfg.Temperature
		}
	}
	var ell [][]float64
	if cfg.Variant.HasHN() {
		ell = refHN(S, nil, 3, B, cfg, false)
	} else {
		ell = make([][]float64, R)
		for r := range R {
			s := 0.0
			for k := range R {
				if k != r {
					s += math.Exp(S[r][k])
				}
			}
			ell[r] = make([]float64, R)
			for c := range R {
				if c != r {
					ell[r][c] = -math.Log(math.Exp(S[r][c])/(s+1e-8) + 1e-8)
				}
			}
		}
	}
	total := 0.0
	for i := range B {
		x1, x2, a := i, B+i, 2*B+i
		total += ell[x1][x2] + ell[x2][x1]
		if cfg.Variant.HasIP() {
			total += cfg.Lambda * (cfg.Alpha*(ell[x1][a]+ell[x2][a]) + (1-cfg.Alpha)*(ell[a][x1]+ell[a][x2]))
		} else {
			total += ell[x1][a] + ell[a][x1] + ell[x2][a] + ell[a][x2]
		}
	}
	return total / float64(R)
}

func (rc refCase) refAdvCL(zv, zf [][]float64) float64 {
	cfg, B, V := rc.cfg, rc.B, rc.V
	R := len(zv)
	t := cfg.Temperature
	shift := make([]float64, R)
	for r := range R {
		shift[r] = math.Inf(-1)
		for k := range R {
			shift[r] = math.Max(shift[r], dot(zf[r], zf[k])/t)
		}
	}
	logits := func(detach bool) [][]float64 {
		L := make([][]float64, R)
		for r := range R {
			L[r] = make([]float64, R)
			for c := range R {
				other := zv[c]
				if detach {
					other = zf[c]
				}
				L[r][c] = dot(zv[r], other)/t - shift[r]
			}
		}
		return L
	}
	pairs := func(detach bool) [][]float64 {
		if cfg.Variant.HasHN() {
			return refHN(logits(detach), shift, V, B, cfg, true)
		}
		return refSoftmaxPairs(logits(detach))
	}
	ell := pairs(false)
	var sg [][]float64
	if cfg.Variant.HasIP() {
		sg = pairs(true)
	}
	lam, al := cfg.Lambda, cfg.Alpha
	total := 0.0
	for r := range R {
		for c := range R {
			if !isPos(r, c, B) {
				continue
			}
			rAdv, cAdv := r < B, c < B
			switch {
			case rAdv && !cAdv: // adversarial anchor, clean positive
				if cfg.Variant.HasIP() {
					total += lam * (al*sg[c][r] + (1-al)*sg[r][c])
				} else {
					total += lam * ell[r][c]
				}
			case !rAdv && cAdv: // clean anchor, adversarial positive
				if cfg.Variant.HasIP() {
					total += lam * (al*sg[r][c] + (1-al)*sg[c][r])
					continue
				}
				v := ell[c][r] // official: overwritten by the adversarial anchor's term
				if cfg.Quirks.Has(FixBlockOverwrite) {
					v = ell[r][c]
				}
				if cfg.Quirks.Has(FixLambdaSquared) {
					total += lam * v
				} else {
					total += lam * lam * v
				}
			default:
				total += ell[r][c]
			}
		}
	}
	return t / cfg.BaseTemperature * total / float64(R*(V-1))
}

// refCos returns x·y / max(‖x‖‖y‖, 1e-8).
func refCos(x, y []float64) float64 { return dot(x, y) / math.Max(norm(x)*norm(y), 1e-8) }

// refACLNT is ACL's nt_xent for view-major rows [v1; v2] (written per anchor c).
func refACLNT(x [][]float64, t float64, q Quirks) float64 {
	R := len(x)
	B := R / 2
	total := 0.0
	for c := range R {
		den := 0.0
		for k := range R {
			if k == c && q.Has(FixSelfSimilarity) {
				continue
			}
			den += math.Exp(refCos(x[k], x[c]) / t)
		}
		if !q.Has(FixSelfSimilarity) {
			den -= math.Exp(1 / t)
		}
		p := (c + B) % R
		total += -math.Log(math.Exp(refCos(x[p], x[c])/t) / den)
	}
	return total / float64(R)
}

func (rc refCase) refACLDS(zv, zf [][]float64) float64 {
	cfg, B := rc.cfg, rc.B
	t := cfg.Temperature
	L := 0.5 * (refACLNT(zv[:2*B], t, cfg.Quirks) + refACLNT(zv[2*B:], t, cfg.Quirks))
	for v := range 2 {
		// rows [x^v; a^v]
		var xv, xf [][]float64
		xv = append(append(xv, zv[v*B:(v+1)*B]...), zv[(2+v)*B:(3+v)*B]...)
		xf = append(append(xf, zf[v*B:(v+1)*B]...), zf[(2+v)*B:(3+v)*B]...)
		R := 2 * B
		S := func(detach bool) [][]float64 {
			m := make([][]float64, R)
			for r := range R {
				m[r] = make([]float64, R)
				for c := range R {
					if detach {
						m[r][c] = dot(xv[r], xf[c]) / math.Max(norm(xv[r])*norm(xf[c]), 1e-8) / t
					} else {
						m[r][c] = refCos(xv[r], xv[c]) / t
					}
				}
			}
			return m
		}
		pairs := func(detach bool) [][]float64 {
			if cfg.Variant.HasHN() {
				return refHN(S(detach), nil, 2, B, cfg, false)
			}
			return refSoftmaxPairs(S(detach))
		}
		X := 0.0
		if cfg.Variant.HasIP() {
			ell := pairs(true)
			for i := range B {
				X += cfg.Lambda * (cfg.Alpha*ell[i][B+i] + (1-cfg.Alpha)*ell[B+i][i])
			}
		} else {
			ell := pairs(false)
			for i := range B {
				X += cfg.Lambda / 2 * (ell[i][B+i] + ell[B+i][i])
			}
		}
		L += 0.25 * X / float64(B)
	}
	return L
}

// refGrad returns the central-difference gradient of refLoss with respect to the varying
// copy, at zv = zf = x.
func (rc refCase) refGrad(x []float64, h float64) []float64 {
	zv := append([]float64(nil), x...)
	g := make([]float64, len(x))
	for j := range x {
		zv[j] = x[j] + h
		fp := rc.refLoss(zv, x)
		zv[j] = x[j] - h
		fm := rc.refLoss(zv, x)
		zv[j] = x[j]
		g[j] = (fp - fm) / (2 * h)
	}
	return g
}

// dims returns the features' dimensions for the layout.
func (rc refCase) dims() []int {
	if rc.layout == LayoutAdvCL {
		return []int{rc.B, rc.V, rc.d}
	}
	return []int{rc.B * rc.V, rc.d}
}
