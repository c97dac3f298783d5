package layers

import (
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// refBN is a plain-Go BatchNorm over all axes but the last of row-major data with c
// channels. With mean/variance nil it uses the batch statistics and returns them
// (biased variance).
func refBN(x []float64, c int, gamma, beta, mean, variance []float64, eps float64) (y, bMean, bVar []float64) {
	n := len(x) / c
	if mean == nil {
		mean, variance = make([]float64, c), make([]float64, c)
		for i, v := range x {
			mean[i%c] += v / float64(n)
		}
		for i, v := range x {
			d := v - mean[i%c]
			variance[i%c] += d * d / float64(n)
		}
	}
	y = make([]float64, len(x))
	for i, v := range x {
		k := i % c
		y[i] = (v-mean[k])/math.Sqrt(variance[k]+eps)*gamma[k] + beta[k]
	}
	return y, mean, variance
}

func fill(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// bnExec builds an Exec running NewBatchNorm(ctx.In("bn"), x) in the given mode and
// returning y, weightedSum(y) and its gradients with respect to x, gamma and beta.
func bnExec(t *testing.T, ctx *context.Context, train, freeze bool, branch string) *context.Exec {
	t.Helper()
	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		g := x.Graph()
		ctx.SetTraining(g, train)
		if freeze {
			FreezeBNStats(ctx, g)
		}
		y := NewBatchNorm(ctx.In("bn"), x).Branch(branch).Done()
		loss := weightedSum(y)
		scope := "/bn"
		if branch != "" {
			scope += "/" + branch
		}
		gamma := ctx.GetVariableByScopeAndName(scope, "gamma").ValueGraph(g)
		beta := ctx.GetVariableByScopeAndName(scope, "beta").ValueGraph(g)
		return append([]*graph.Node{y, loss}, graph.Gradient(loss, x, gamma, beta)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	return exec
}

// fdCheck compares analytic gradients with central differences of loss(perturbed data).
func fdCheck(t *testing.T, what string, data []float64, analytic []float64, loss func() float64) {
	t.Helper()
	const h = 1e-6
	num := make([]float64, len(data))
	for i := range data {
		orig := data[i]
		data[i] = orig + h
		fp := loss()
		data[i] = orig - h
		fm := loss()
		data[i] = orig
		num[i] = (fp - fm) / (2 * h)
	}
	e := relErr(analytic, num)
	if e > 1e-6 {
		t.Errorf("%s: finite-difference relative error %.3g > 1e-6", what, e)
	} else {
		t.Logf("%s: finite-difference relative error %.2g", what, e)
	}
}

// TestBatchNormTrainGradient checks the train-mode gradient of the BN layer, which flows
// through the batch mean and variance, against finite differences in float64, for
// BatchNorm1d ([N,C]) and BatchNorm2d (NHWC), with respect to x, gamma and beta.
func TestBatchNormTrainGradient(t *testing.T) {
	for _, dims := range [][]int{{5, 3}, {2, 3, 3, 4}} {
		t.Run(fmt.Sprint(dims), func(t *testing.T) {
			c := dims[len(dims)-1]
			ctx := newCtx(t)
			gammaV := []float64{1.3, -0.7, 0.9, 1.1}[:c]
			betaV := []float64{0.2, -0.1, 0.5, 0.05}[:c]
			ctx.InAbsPath("/bn").VariableWithValue("gamma", tensors.FromFlatDataAndDimensions(append([]float64(nil), gammaV...), c))
			ctx.InAbsPath("/bn").VariableWithValue("beta", tensors.FromFlatDataAndDimensions(append([]float64(nil), betaV...), c))
			exec := bnExec(t, ctx, true, true, "")
			size := 1
			for _, d := range dims {
				size *= d
			}
			x := lcg(7, size)
			for i := range x { // Give channels distinct scales.
				x[i] = x[i]*float64(1+i%c) + 0.3*float64(i%c)
			}
			run := func() []*tensors.Tensor {
				ctx.GetVariableByScopeAndName("/bn", "gamma").MustSetValue(tensors.FromFlatDataAndDimensions(gammaV, c))
				ctx.GetVariableByScopeAndName("/bn", "beta").MustSetValue(tensors.FromFlatDataAndDimensions(betaV, c))
				outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, dims...))
				if err != nil {
					t.Fatal(err)
				}
				return outs
			}
			outs := run()
			yWant, _, _ := refBN(x, c, gammaV, betaV, nil, nil, 1e-5)
			requireClose(t, "train y", flat(t, outs[0]), yWant, 1e-12)
			gx, gg, gb := flat(t, outs[2]), flat(t, outs[3]), flat(t, outs[4])
			loss := func() float64 { return flat(t, run()[1])[0] }
			fdCheck(t, "d/dx", x, gx, loss)
			fdCheck(t, "d/dgamma", gammaV, gg, loss)
			fdCheck(t, "d/dbeta", betaV, gb, loss)
			// The gradient through the statistics is not the frozen-statistics one: with a
			// weighted loss the x-gradient of each channel sums to zero.
			for k := range c {
				s := 0.0
				for i := k; i < len(gx); i += c {
					s += gx[i]
				}
				if math.Abs(s) > 1e-9 {
					t.Errorf("channel %d: Σ dL/dx = %.3g, want 0 (gradient through the batch mean)", k, s)
				}
			}
		})
	}
}

// TestBatchNormEval checks eval mode: running statistics normalise, nothing is updated,
// and the gradient matches finite differences.
func TestBatchNormEval(t *testing.T) {
	for _, dims := range [][]int{{4, 3}, {2, 2, 3, 3}} {
		t.Run(fmt.Sprint(dims), func(t *testing.T) {
			c := 3
			ctx := newCtx(t)
			rm, rv := []float64{0.5, -0.2, 1.0}, []float64{2.0, 0.5, 1.5}
			gammaV, betaV := []float64{1.2, 0.8, -1.0}, []float64{0.1, 0.0, -0.3}
			scope := ctx.InAbsPath("/bn")
			scope.VariableWithValue("running_mean", tensors.FromFlatDataAndDimensions(rm, c))
			scope.VariableWithValue("running_var", tensors.FromFlatDataAndDimensions(rv, c))
			scope.VariableWithValue("gamma", tensors.FromFlatDataAndDimensions(gammaV, c))
			scope.VariableWithValue("beta", tensors.FromFlatDataAndDimensions(betaV, c))
			exec := bnExec(t, ctx, false, false, "")
			size := 1
			for _, d := range dims {
				size *= d
			}
			x := lcg(3, size)
			run := func() []*tensors.Tensor {
				outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, dims...))
				if err != nil {
					t.Fatal(err)
				}
				return outs
			}
			outs := run()
			yWant, _, _ := refBN(x, c, gammaV, betaV, rm, rv, 1e-5)
			requireClose(t, "eval y", flat(t, outs[0]), yWant, 1e-12)
			requireClose(t, "running_mean unchanged", varValue(t, ctx, "/bn", "running_mean"), rm, 0)
			requireClose(t, "running_var unchanged", varValue(t, ctx, "/bn", "running_var"), rv, 0)
			fdCheck(t, "eval d/dx", x, flat(t, outs[2]), func() float64 { return flat(t, run()[1])[0] })
		})
	}
}

// TestBatchNormRunningStats checks the running-statistics update (momentum 0.1, unbiased
// variance), its accumulation over runs and over several passes in one graph, and the
// default initial values.
func TestBatchNormRunningStats(t *testing.T) {
	const c = 2
	x1 := []float64{1, 10, 2, 20, 4, 30, 5, 60} // [4,2]
	x2 := []float64{-1, 3, 0, 3, 2, 5}          // [3,2]
	stats := func(x []float64) (mean, unbiased []float64) {
		n := float64(len(x) / c)
		_, m, v := refBN(x, c, fill(c, 1), fill(c, 0), nil, nil, 0)
		u := make([]float64, c)
		for k := range u {
			u[k] = v[k] * n / (n - 1)
		}
		return m, u
	}
	step := func(rm, rv []float64, x []float64) ([]float64, []float64) {
		m, u := stats(x)
		outM, outV := make([]float64, c), make([]float64, c)
		for k := range c {
			outM[k] = 0.9*rm[k] + 0.1*m[k]
			outV[k] = 0.9*rv[k] + 0.1*u[k]
		}
		return outM, outV
	}

	ctx := newCtx(t)
	exec := bnExec(t, ctx, true, false, "")
	rm, rv := fill(c, 0), fill(c, 1)
	for i, x := range [][]float64{x1, x2, x1} {
		if _, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, len(x)/c, c)); err != nil {
			t.Fatal(err)
		}
		rm, rv = step(rm, rv, x)
		requireClose(t, fmt.Sprintf("run %d running_mean", i), varValue(t, ctx, "/bn", "running_mean"), rm, 1e-14)
		requireClose(t, fmt.Sprintf("run %d running_var", i), varValue(t, ctx, "/bn", "running_var"), rv, 1e-14)
	}

	// Two passes through the same BN in one graph chain their updates in call order.
	ctx = newCtx(t)
	two, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, a, b *graph.Node) []*graph.Node {
		ctx.SetTraining(a.Graph(), true)
		return []*graph.Node{NewBatchNorm(ctx.In("bn"), a).Done(), NewBatchNorm(ctx.In("bn"), b).Done()}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := two.Exec(tensors.FromFlatDataAndDimensions(x1, 4, c), tensors.FromFlatDataAndDimensions(x2, 3, c)); err != nil {
		t.Fatal(err)
	}
	rm, rv = step(fill(c, 0), fill(c, 1), x1)
	rm, rv = step(rm, rv, x2)
	requireClose(t, "chained running_mean", varValue(t, ctx, "/bn", "running_mean"), rm, 1e-14)
	requireClose(t, "chained running_var", varValue(t, ctx, "/bn", "running_var"), rv, 1e-14)
	requireClose(t, "gamma init", varValue(t, ctx, "/bn", "gamma"), fill(c, 1), 0)
	requireClose(t, "beta init", varValue(t, ctx, "/bn", "beta"), fill(c, 0), 0)
}

// TestBatchNormFreeze checks FreezeBNStats: train mode still normalises with the batch
// statistics (same output and gradient as unfrozen) but the running statistics stay;
// UpdateStats overrides the switch; BNStatsUpdating reports the state.
func TestBatchNormFreeze(t *testing.T) {
	const c = 3
	x := lcg(11, 4*2*2*c)
	dims := []int{4, 2, 2, c}
	run := func(freeze bool) (*context.Context, []*tensors.Tensor) {
		ctx := newCtx(t)
		outs, err := bnExec(t, ctx, true, freeze, "").Exec(tensors.FromFlatDataAndDimensions(x, dims...))
		if err != nil {
			t.Fatal(err)
		}
		return ctx, outs
	}
	ctxU, outU := run(false)
	ctxF, outF := run(true)
	yWant, _, _ := refBN(x, c, fill(c, 1), fill(c, 0), nil, nil, 1e-5)
	requireClose(t, "frozen y = batch-statistics y", flat(t, outF[0]), yWant, 1e-12)
	requireClose(t, "frozen dL/dx = unfrozen dL/dx", flat(t, outF[2]), flat(t, outU[2]), 1e-14)
	requireClose(t, "frozen running_mean", varValue(t, ctxF, "/bn", "running_mean"), fill(c, 0), 0)
	requireClose(t, "frozen running_var", varValue(t, ctxF, "/bn", "running_var"), fill(c, 1), 0)
	if relErr(varValue(t, ctxU, "/bn", "running_mean"), fill(c, 0)) == 0 {
		t.Errorf("unfrozen train pass did not update running_mean")
	}

	// Per-call override and the query function.
	ctx := newCtx(t)
	var states []bool
	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		g := x.Graph()
		states = append(states, BNStatsUpdating(ctx, g))
		ctx.SetTraining(g, true)
		states = append(states, BNStatsUpdating(ctx, g))
		FreezeBNStats(ctx, g)
		states = append(states, BNStatsUpdating(ctx, g), BNStatsUpdating(ctx.In("deep").In("er"), g))
		a := NewBatchNorm(ctx.In("a"), x).Done()
		b := NewBatchNorm(ctx.In("b"), x).UpdateStats(true).Done()
		SetBNStatsUpdate(ctx.In("c"), g, true) // re-enable for one sub-scope only
		states = append(states, BNStatsUpdating(ctx.In("c"), g), BNStatsUpdating(ctx.In("d"), g))
		cc := NewBatchNorm(ctx.In("c"), x).Done()
		return []*graph.Node{a, b, cc}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, dims...)); err != nil {
		t.Fatal(err)
	}
	if want := []bool{false, true, false, false, true, false}; fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("BNStatsUpdating sequence %v, want %v", states, want)
	}
	if relErr(varValue(t, ctx, "/a", "running_mean"), fill(c, 0)) != 0 {
		t.Errorf("frozen BN /a updated its running_mean")
	}
	_, m, _ := refBN(x, c, fill(c, 1), fill(c, 0), nil, nil, 0)
	for k := range m {
		m[k] *= 0.1
	}
	requireClose(t, "UpdateStats(true) overrides the freeze", varValue(t, ctx, "/b", "running_mean"), m, 1e-14)
	requireClose(t, "SetBNStatsUpdate(sub-scope, true)", varValue(t, ctx, "/c", "running_mean"), m, 1e-14)
}

// TestBatchNormBranches checks that branches of one call site hold separate parameters
// and running statistics, and that each pass uses (and updates) only its own.
func TestBatchNormBranches(t *testing.T) {
	const c = 2
	xa := []float64{1, 2, 3, 5, 6, 9}        // [3,2], through 'normal'
	xb := []float64{-4, 0, 2, 1, 8, 4, 0, 1} // [4,2], through 'pgd'
	ctx := newCtx(t)
	ctx.InAbsPath("/bn/pgd").VariableWithValue("gamma", tensors.FromFlatDataAndDimensions([]float64{2, 3}, c))
	train, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, a, b *graph.Node) []*graph.Node {
		ctx.SetTraining(a.Graph(), true)
		return []*graph.Node{
			NewBatchNorm(ctx.In("bn"), a).Branch("normal").Done(),
			NewBatchNorm(ctx.In("bn"), b).Branch("pgd").Done(),
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := train.Exec(tensors.FromFlatDataAndDimensions(xa, 3, c), tensors.FromFlatDataAndDimensions(xb, 4, c))
	if err != nil {
		t.Fatal(err)
	}
	ya, ma, va := refBN(xa, c, fill(c, 1), fill(c, 0), nil, nil, 1e-5)
	yb, mb, vb := refBN(xb, c, []float64{2, 3}, fill(c, 0), nil, nil, 1e-5)
	requireClose(t, "normal y", flat(t, outs[0]), ya, 1e-12)
	requireClose(t, "pgd y (own gamma)", flat(t, outs[1]), yb, 1e-12)
	for _, br := range []struct {
		name       string
		mean, bvar []float64
		n          float64
	}{{"normal", ma, va, 3}, {"pgd", mb, vb, 4}} {
		wm, wv := make([]float64, c), make([]float64, c)
		for k := range c {
			wm[k] = 0.1 * br.mean[k]
			wv[k] = 0.9 + 0.1*br.bvar[k]*br.n/(br.n-1)
		}
		requireClose(t, br.name+" running_mean", varValue(t, ctx, "/bn/"+br.name, "running_mean"), wm, 1e-14)
		requireClose(t, br.name+" running_var", varValue(t, ctx, "/bn/"+br.name, "running_var"), wv, 1e-14)
	}
	if v := ctx.GetVariableByScopeAndName("/bn", "gamma"); v != nil {
		t.Errorf("branched BN created an unbranched variable %s", v.ScopeAndName())
	}
	if v := ctx.GetVariableByScopeAndName("/bn/pgd_ce", "gamma"); v != nil {
		t.Errorf("unused branch pgd_ce has variables")
	}

	// Eval mode with one branch uses that branch's running statistics.
	eval, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, a *graph.Node) *graph.Node {
		return NewBatchNorm(ctx.In("bn"), a).Branch("pgd").Done()
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := eval.Exec(tensors.FromFlatDataAndDimensions(xa, 3, c))
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := refBN(xa, c, []float64{2, 3}, fill(c, 0), varValue(t, ctx, "/bn/pgd", "running_mean"), varValue(t, ctx, "/bn/pgd", "running_var"), 1e-5)
	requireClose(t, "eval pgd y", flat(t, out[0]), want, 1e-12)
}

// TestBatchNormTrainNeedsTwoValues mirrors PyTorch's "Expected more than 1 value per
// channel when training".
func TestBatchNormTrainNeedsTwoValues(t *testing.T) {
	ctx := newCtx(t)
	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		ctx.SetTraining(x.Graph(), true)
		return NewBatchNorm(ctx.In("bn"), x).Done()
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Exec(tensors.FromFlatDataAndDimensions([]float64{1, 2}, 1, 2)); err == nil {
		t.Fatal("train-mode BN on one value per channel did not fail")
	}
}
