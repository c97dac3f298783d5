package attack

import (
	"math"
	"runtime"
	"slices"
	"sync"
)

// linfProjection is one row of projectRowsLinf: the point t, the hyperplane w·v = b, and
// the output d.
type linfProjection struct {
	t, w []float32
	b    float64
	d    []float64
}

// projectRowsLinf projects every row, in parallel.
func projectRowsLinf(rows []linfProjection) {
	workers := min(runtime.GOMAXPROCS(0), len(rows))
	var wg sync.WaitGroup
	next := make(chan int, len(rows))
	for i := range rows {
		next <- i
	}
	close(next)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scratch linfScratch
			for i := range next {
				r := rows[i]
				projectLinf(r.t, r.w, r.b, r.d, &scratch)
			}
		}()
	}
	wg.Wait()
}

type linfScratch struct {
	keys      []uint64
	order     []int32
	s, sb, p  []float64
	a, wSign  []float64
	nonzeroes []bool
}

// projectLinf writes to d the smallest-L∞ step δ with w·(t+δ) = b and t+δ ∈ [0,1]^D
// (fab_projections.py:projection_linf). Orient the hyperplane so that w·t ≥ b; each
// coordinate can move by at most p_i towards the side that lowers w·v (to 0 where w_i>0,
// to 1 where w_i<0). The change of w·v reachable with budget λ is the piecewise-linear
// −Σ|w_i|·min(p_i, λ); sort p, bisect for the segment holding the required change
// b − w·t, solve for λ there, and move every coordinate by min(λ, p_i). If even the full
// box corner does not reach the hyperplane, δ is that corner (the official fallback).
// Coordinates with w_i = 0 do not move. Computed in float64 (official: float32); the
// order of p is that of its float32 values, as in the official code.
func projectLinf(t, w []float32, bIn float64, d []float64, sc *linfScratch) {
	n := len(t)
	if cap(sc.keys) < n {
		*sc = linfScratch{
			keys: make([]uint64, n), order: make([]int32, n), s: make([]float64, n), sb: make([]float64, n),
			p: make([]float64, n), a: make([]float64, n), wSign: make([]float64, n), nonzeroes: make([]bool, n),
		}
	}
	keys, order, s, sb, p, a, ws := sc.keys[:n], sc.order[:n], sc.s[:n], sc.sb[:n], sc.p[:n], sc.a[:n], sc.wSign[:n]
	wt := 0.0
	for i := range n {
		wt += float64(w[i]) * float64(t[i])
	}
	sgn := -1.0
	if wt-bIn >= 0 {
		sgn = 1
	}
	b := sgn * bIn
	wtSigned, b0 := 0.0, 0.0
	for i := range n {
		wi := sgn * float64(w[i])
		ti := float64(t[i])
		ws[i] = wi
		a[i] = 0
		if wi < 0 {
			a[i] = 1
		}
		d[i] = 0
		if wi != 0 {
			d[i] = a[i] - ti
		}
		p[i] = a[i] - ti*(2*a[i]-1)
		// p ≥ 0: the bits of a non-negative float32 sort like its value; +0 turns −0 into +0.
		keys[i] = uint64(math.Float32bits(float32(p[i])+0))<<32 | uint64(i)
		wtSigned += wi * ti
		b0 += wi * d[i]
	}
	slices.Sort(keys)
	for i := range n {
		order[i] = int32(keys[i] & 0xffffffff) // ascending p
	}
	b -= wtSigned
	// Descending p: cumulative |w| and reachable change.
	cs, csb := 0.0, b0
	for j := range n {
		i := order[n-1-j]
		cs += math.Abs(ws[i])
		csb += -ws[i] * d[i]
		s[j], sb[j] = cs, csb
	}
	b2 := sb[n-1] - s[n-1]*p[order[0]]
	switch {
	case b-b2 > 0: // λ below every p_i
		lmbd := math.Max((b-sb[n-1])/(-s[n-1]), 0)
		for i := range n {
			d[i] = (2*a[i] - 1) * lmbd
		}
	case b-b0 > 0: // bisect the segment
		lb, ub := 0.0, float64(n-1)
		for range int(math.Ceil(math.Log2(float64(n)))) {
			mid := math.Floor((lb + ub) / 2)
			c := int(mid)
			cur := sb[c] - s[c]*p[order[n-1-c]]
			if b-cur > 0 {
				lb = mid
			} else {
				ub = mid
			}
		}
		c := int(lb)
		lmbd := math.Max((b-sb[c])/(-s[c]), 0)
		for i := range n {
			if a[i] == 1 {
				d[i] = math.Min(lmbd, d[i])
			} else {
				d[i] = math.Max(-lmbd, d[i])
			}
		}
	}
	for i := range n {
		if ws[i] == 0 {
			d[i] = 0
		}
	}
}
