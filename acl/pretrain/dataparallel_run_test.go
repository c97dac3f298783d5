package pretrain

import (
	gocontext "context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/internal/xlatest"
)

// TestDataParallelEveryVariant: every method × variant (the supervised baseline's one)
// builds and trains one step on 4 XLA CPU host devices through Pretrain
// (smokeMethodConfig: batches of 64, 16 images per device), with a finite loss. RoCL-IPHN and AdvCL-IP are TestDataParallelEquivalence's
// (each XLA compile of a step costs seconds of CPU).
func TestDataParallelEveryVariant(t *testing.T) {
	four := xlatest.BackendWithDevices(t, 4)
	for _, method := range MethodNames() {
		m, err := MethodByName(method)
		if err != nil {
			t.Fatal(err)
		}
		for _, variant := range m.Variants() {
			if method+"-"+variant == "rocl-iphn" || method+"-"+variant == advclName+"-ip" {
				continue
			}
			t.Run(method+"-"+variant, func(t *testing.T) {
				cfg := smokeMethodConfig(t, method, variant)
				cfg.Devices, cfg.MaxSteps = 4, 1
				start := time.Now()
				res, err := Pretrain(gocontext.Background(), cfg, t.TempDir(), Options{Backend: four})
				if err != nil {
					t.Fatal(err)
				}
				if res.Steps != 1 || !res.Stopped || math.IsNaN(res.FinalLoss) || math.IsInf(res.FinalLoss, 0) {
					t.Fatalf("result %+v", res)
				}
				t.Logf("%s-%s on 4 devices: loss %.4f, %.1f s", method, variant, res.FinalLoss, time.Since(start).Seconds())
			})
		}
	}
}

// TestDataParallelErrors: a number of devices the run cannot have is an error of the
// field devices before any work (no run directory is made): a batch that does not divide
// over the devices, the pure-Go backend (the error names XLA), an XLA backend with too
// few devices, a negative count.
func TestDataParallelErrors(t *testing.T) {
	cfg := smokeMethodConfig(t, "rocl", "ip")
	pureGo, err := engine.NewPureGo("")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		devices int
		opts    func(t *testing.T) Options
		want    []string
	}{
		{"batch 64 over 3 devices", 3, func(*testing.T) Options { return Options{Backend: pureGo} }, []string{"does not divide"}},
		{"negative", -2, func(*testing.T) Options { return Options{Backend: pureGo} }, []string{"must be ≥ 1"}},
		{"pure Go", 4, func(*testing.T) Options { return Options{Backend: pureGo} }, []string{"pure-Go", "one device", "XLA"}},
		{"too few XLA devices", 4, func(t *testing.T) Options { return Options{Backend: xlatest.BackendWithDevices(t, 2)} },
			[]string{"has 2 device(s), 4 asked for", "devices=4"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := cfg
			cfg.Devices = c.devices
			out := filepath.Join(t.TempDir(), "run")
			_, err := Pretrain(gocontext.Background(), cfg, out, c.opts(t))
			var fe *field.Error
			if err == nil || !errors.As(err, &fe) || fe.Key != "devices" {
				t.Fatalf("Pretrain with devices %d: %v; want an error of the field devices", c.devices, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
				t.Errorf("the run directory was made before the error (%v)", statErr)
			}
		})
	}
}
