package attack

import (
	"math"
	"testing"

	"github.com/ainfonce/goacl/internal/xlatest"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/distributed"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// splitMixRef is the host reference of the random start's hash (random.go).
func splitMixRef(z uint64) uint64 {
	z = (z ^ z>>30) * splitMixMul1
	z = (z ^ z>>27) * splitMixMul2
	return z ^ z>>31
}

// uniformRef is uniformFromKey on the host: element i of a tensor of n elements.
func uniformRef(k0, k1 uint64, n int, float64Bits bool) []float64 {
	out := make([]float64, n)
	for i := range out {
		h := splitMixRef(splitMixRef(k0+uint64(i+1)*splitMixGamma) ^ k1)
		if float64Bits {
			out[i] = float64(h>>11) / (1 << 53)
		} else {
			out[i] = float64(float32(h>>40) / (1 << 24))
		}
	}
	return out
}

// The random start's hash, in the graph, equals its host reference bit for bit on the
// pure-Go engine and on XLA CPU (uint64 wrapping products, logical shifts, the
// conversion of the top bits), for float32 and float64, in [0, 1).
func TestUniformStartMatchesHostReference(t *testing.T) {
	const k0, k1 = uint64(0x0123456789abcdef), uint64(0xfedcba9876543210)
	backendsUnderTest := map[string]func(t *testing.T) backends.Backend{
		"default": func(t *testing.T) backends.Backend { return testBackend(t) },
		"xla-cpu": func(t *testing.T) backends.Backend { return xlatest.Backend(t) },
	}
	for name, get := range backendsUnderTest {
		t.Run(name, func(t *testing.T) {
			b := get(t)
			for _, s := range []shapes.Shape{shapes.Make(dtypes.Float32, 3, 4, 5), shapes.Make(dtypes.Float64, 7), shapes.Make(dtypes.Float32)} {
				exec, err := graph.NewExec(b, func(g *graph.Graph) *graph.Node {
					return uniformFromKey(graph.Const(g, k0), graph.Const(g, k1), s)
				})
				if err != nil {
					t.Fatal(err)
				}
				out, err := exec.Exec()
				if err != nil {
					t.Fatal(err)
				}
				var got []float64
				if s.DType == dtypes.Float64 {
					got = tensors.MustCopyFlatData[float64](out[0])
				} else {
					for _, v := range tensors.MustCopyFlatData[float32](out[0]) {
						got = append(got, float64(v))
					}
				}
				want := uniformRef(k0, k1, s.Size(), s.DType == dtypes.Float64)
				for i := range want {
					if got[i] != want[i] || got[i] < 0 || got[i] >= 1 {
						t.Fatalf("%s: element %d = %v, want %v in [0,1)", s, i, got[i], want[i])
					}
				}
			}
		})
	}
}

// uniformStartExec draws uniformStart of shape twice per execution, from ctx's RNG state.
func uniformStartExec(t *testing.T, b backends.Backend, seed int64, s shapes.Shape) (*context.Context, *context.Exec) {
	t.Helper()
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(seed); err != nil {
		t.Fatal(err)
	}
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		u1 := uniformStart(ctx, x.Graph(), s)
		u2 := uniformStart(ctx, x.Graph(), s)
		return []*graph.Node{graph.Add(x, u1), u2}
	})
	if err != nil {
		t.Fatal(err)
	}
	return ctx, exec
}

// The random start is uniform (mean 1/2, variance 1/12, every decile about a tenth), each
// draw advances the RNG state (two draws differ), and the same state replays it.
func TestUniformStartStatistics(t *testing.T) {
	s := shapes.Make(dtypes.Float32, 64, 32, 32, 3)
	zeros := tensors.FromShape(s)
	draw := func() ([]float32, []float32) {
		_, exec := uniformStartExec(t, testBackend(t), 3, s)
		out, err := exec.Exec(zeros)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
	}
	u1, u2 := draw()
	again, _ := draw()
	var sum, sq float64
	var deciles [10]int
	same := 0
	for i, v := range u1 {
		sum += float64(v)
		sq += float64(v) * float64(v)
		deciles[int(v*10)]++
		if v == u2[i] {
			same++
		}
		if again[i] != v {
			t.Fatalf("the same RNG state gave %v then %v at %d", v, again[i], i)
		}
	}
	n := float64(len(u1))
	mean, variance := sum/n, sq/n-(sum/n)*(sum/n)
	if math.Abs(mean-0.5) > 0.005 || math.Abs(variance-1.0/12) > 0.002 {
		t.Errorf("mean %.4f, variance %.4f; want 0.5 and %.4f", mean, variance, 1.0/12)
	}
	for d, c := range deciles {
		if math.Abs(float64(c)/n-0.1) > 0.005 {
			t.Errorf("decile %d holds %.4f of the values", d, float64(c)/n)
		}
	}
	if same > len(u1)/1000 {
		t.Errorf("two successive draws agree at %d of %d elements", same, len(u1))
	}
}

// TestDataParallelRandomStart: the random start drawn inside a step split over 4 XLA CPU
// host devices (the input batch-split, the outputs replicated) equals the one of 1
// device bit for bit, and leaves the same RNG state.
func TestDataParallelRandomStart(t *testing.T) {
	s := shapes.Make(dtypes.Float32, 8, 4, 4, 3)
	x := tensors.FromShape(s)
	run := func(n int) ([]float32, []float32, []uint64) {
		ctx, exec := uniformStartExec(t, xlatest.BackendWithDevices(t, n), 11, s)
		var arg any = x
		if n > 1 {
			mesh, err := distributed.NewDeviceMesh([]int{n}, []string{"data"})
			if err != nil {
				t.Fatal(err)
			}
			split, err := distributed.BuildSpec(mesh).S("data").Done()
			if err != nil {
				t.Fatal(err)
			}
			exec.AutoSharding(mesh).WithInputShardingSpecs(split).WithOutputShardingSpecs(distributed.NewReplicatedShardingSpec(mesh))
			if arg, err = distributed.ShardTensor(split, x); err != nil {
				t.Fatal(err)
			}
		}
		out, err := exec.Exec(arg)
		if err != nil {
			t.Fatal(err)
		}
		state, err := ctx.GetVariableByScopeAndName(context.RootScope, context.RNGStateVariableName).Value()
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1]), tensors.MustCopyFlatData[uint64](state)
	}
	a1, a2, as := run(1)
	b1, b2, bs := run(4)
	for i := range a1 {
		if a1[i] != b1[i] || a2[i] != b2[i] {
			t.Fatalf("element %d: 1 device %v, %v; 4 devices %v, %v", i, a1[i], a2[i], b1[i], b2[i])
		}
	}
	for i := range as {
		if as[i] != bs[i] {
			t.Fatalf("RNG state after the step: 1 device %v, 4 devices %v", as, bs)
		}
	}
}
