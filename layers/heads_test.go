package layers

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// runHeads executes fn in train mode on h [n,d] (float64) and returns its outputs.
func runHeads(t *testing.T, ctx *context.Context, n, d int, train bool, fn func(ctx *context.Context, h *graph.Node) []*graph.Node) []*tensors.Tensor {
	t.Helper()
	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, h *graph.Node) []*graph.Node {
		ctx.SetTraining(h.Graph(), train)
		return fn(ctx, h)
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(lcg(13, n*d), n, d))
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

func requireShape(t *testing.T, what string, x *tensors.Tensor, dims ...int) {
	t.Helper()
	if fmt.Sprint(x.Shape().Dimensions) != fmt.Sprint(dims) {
		t.Errorf("%s: shape %v, want %v", what, x.Shape().Dimensions, dims)
	}
}

func requireVar(t *testing.T, ctx *context.Context, scope, name string, dims ...int) {
	t.Helper()
	v := ctx.GetVariableByScopeAndName(scope, name)
	if v == nil {
		t.Errorf("missing variable %s/%s", scope, name)
		return
	}
	if fmt.Sprint(v.Shape().Dimensions) != fmt.Sprint(dims) {
		t.Errorf("%s/%s: shape %v, want %v", scope, name, v.Shape().Dimensions, dims)
	}
}

// TestRoCLProjector: Linear(D,2048)→ReLU→Linear(2048,128) with biases, raw output.
func TestRoCLProjector(t *testing.T) {
	ctx := newCtx(t)
	outs := runHeads(t, ctx, 3, 16, true, func(ctx *context.Context, h *graph.Node) []*graph.Node {
		return []*graph.Node{NewRoCLProjector(ctx, h).Done(), NewRoCLProjector(ctx.In("small"), h).HiddenDim(8).OutDim(4).Done()}
	})
	requireShape(t, "RoCL projection", outs[0], 3, 128)
	requireShape(t, "RoCL projection (small)", outs[1], 3, 4)
	requireVar(t, ctx, "/projector/linear_1", "weights", 16, 2048)
	requireVar(t, ctx, "/projector/linear_1", "biases", 2048)
	requireVar(t, ctx, "/projector/linear_2", "weights", 2048, 128)
	requireVar(t, ctx, "/projector/linear_2", "biases", 128)
	if got, want := countTrainable(ctx), 16*2048+2048+2048*128+128+16*8+8+8*4+4; got != want {
		t.Errorf("RoCL projector parameters %d, want %d", got, want)
	}
	// Reference: relu(h W1 + b1) W2 + b2 from the variables.
	h := lcg(13, 3*16)
	z := dense(h, 3, 16, varValue(t, ctx, "/small/projector/linear_1", "weights"), varValue(t, ctx, "/small/projector/linear_1", "biases"), 8)
	for i := range z {
		z[i] = math.Max(z[i], 0)
	}
	z = dense(z, 3, 8, varValue(t, ctx, "/small/projector/linear_2", "weights"), varValue(t, ctx, "/small/projector/linear_2", "biases"), 4)
	requireClose(t, "RoCL projector values", flat(t, outs[1]), z, 1e-12)
}

// dense is a plain-Go x·W + b for x [n,in], W [in,out].
func dense(x []float64, n, in int, w, b []float64, out int) []float64 {
	y := make([]float64, n*out)
	for i := range n {
		for j := range out {
			s := 0.0
			if b != nil {
				s = b[j]
			}
			for k := range in {
				s += x[i*in+k] * w[k*out+j]
			}
			y[i*out+j] = s
		}
	}
	return y
}

// TestAdvCLProjector: Linear(D,D)→shared BN1d→ReLU→Linear(D,128)→F.normalize, and the
// five pseudo-label heads.
func TestAdvCLProjector(t *testing.T) {
	ctx := newCtx(t)
	const n, d = 6, 16
	outs := runHeads(t, ctx, n, d, true, func(ctx *context.Context, h *graph.Node) []*graph.Node {
		outs := []*graph.Node{NewAdvCLProjector(ctx, h).Done(), NewAdvCLProjector(ctx, h).Normalize(false).Done()}
		return append(outs, AdvCLPseudoLabelHeads(ctx, h)...)
	})
	requireShape(t, "AdvCL projection", outs[0], n, 128)
	z, raw := flat(t, outs[0]), flat(t, outs[1])
	for i := range n {
		norm, rawNorm := 0.0, 0.0
		for j := range 128 {
			norm += z[i*128+j] * z[i*128+j]
			rawNorm += raw[i*128+j] * raw[i*128+j]
		}
		rawNorm = math.Sqrt(rawNorm)
		if math.Abs(norm-1) > 1e-12 {
			t.Errorf("row %d: ‖z‖² = %.15g, want 1", i, norm)
		}
		for j := range 128 {
			if math.Abs(z[i*128+j]-raw[i*128+j]/rawNorm) > 1e-12 {
				t.Fatalf("row %d: normalised output is not raw/‖raw‖", i)
			}
		}
	}
	requireVar(t, ctx, "/head_proj/fc1", "weights", d, d)
	requireVar(t, ctx, "/head_proj/fc1", "biases", d)
	requireVar(t, ctx, "/head_proj/bn", "gamma", d)
	requireVar(t, ctx, "/head_proj/bn", "running_var", d)
	requireVar(t, ctx, "/head_proj/fc2", "weights", d, 128)
	for i, k := range AdvCLPseudoLabelClasses {
		requireShape(t, fmt.Sprintf("fc_%03d logits", k), outs[2+i], n, k)
		requireVar(t, ctx, fmt.Sprintf("/fc_%03d", k), "weights", d, k)
		requireVar(t, ctx, fmt.Sprintf("/fc_%03d", k), "biases", k)
	}
	// The projector's BN is shared: the two passes above chained two updates into one set.
	for v := range ctx.IterVariables() {
		if strings.HasPrefix(v.Scope(), "/head_proj/bn/") {
			t.Errorf("AdvCL projector BN has a branch scope: %s", v.ScopeAndName())
		}
	}
}

// TestACLProjector: fc1(bias)→BN→ReLU→fc2→BN→ReLU→fc3→BN with dual BN, D→D→D→D.
func TestACLProjector(t *testing.T) {
	ctx := newCtx(t)
	const n, d = 5, 12
	outs := runHeads(t, ctx, n, d, true, func(ctx *context.Context, h *graph.Node) []*graph.Node {
		return []*graph.Node{
			NewACLProjector(ctx, h).Branch("normal").Done(),
			NewACLProjector(ctx, h).Branch("pgd").Done(),
			NewACLProjector(ctx.In("two"), h).TwoLayer(true).Done(),
		}
	})
	requireShape(t, "ACL projection", outs[0], n, d)
	requireShape(t, "ACL projection (two-layer)", outs[2], n, d)
	requireVar(t, ctx, "/proj_head/fc1", "weights", d, d)
	requireVar(t, ctx, "/proj_head/fc1", "biases", d)
	requireVar(t, ctx, "/proj_head/fc2", "weights", d, d)
	requireVar(t, ctx, "/proj_head/fc3", "weights", d, d)
	for _, b := range []string{"normal", "pgd"} {
		for _, bn := range []string{"bn1", "bn2", "bn3"} {
			requireVar(t, ctx, "/proj_head/"+bn+"/"+b, "gamma", d)
			requireVar(t, ctx, "/proj_head/"+bn+"/"+b, "running_mean", d)
		}
	}
	for _, sn := range [][2]string{{"/proj_head/fc2", "biases"}, {"/proj_head/fc3", "biases"}, {"/two/proj_head/fc3", "weights"}, {"/proj_head/bn1", "gamma"}} {
		if ctx.GetVariableByScopeAndName(sn[0], sn[1]) != nil {
			t.Errorf("unexpected variable %s/%s", sn[0], sn[1])
		}
	}
	// The last layer is a train-mode BN with γ=1, β=0: every output column has mean 0 and
	// biased variance σ²/(σ²+ε) ≈ 1 (no final ReLU). How close to 1 depends on the column's
	// pre-BN variance σ², i.e. on the random initial weights, which differ between backends
	// (each draws its own random numbers): σ² ≈ 0.01 on XLA gives 0.999, hence 5e-3.
	y := flat(t, outs[1])
	for j := range d {
		m, v := 0.0, 0.0
		for i := range n {
			m += y[i*d+j] / n
		}
		for i := range n {
			v += (y[i*d+j] - m) * (y[i*d+j] - m) / n
		}
		if math.Abs(m) > 1e-12 || math.Abs(v-1) > 5e-3 {
			t.Errorf("column %d: mean %.3g, variance %.6g; want 0 and ≈1", j, m, v)
		}
	}
}
