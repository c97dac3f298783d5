package attack

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"
)

// AutoAttack runs its Attacks in order, each on the points still classified correctly
// (fra31/auto-attack autoattack.py:run_standard_evaluation), and reports the clean
// accuracy, the robust accuracy after each attack and the final one.
type AutoAttack struct {
	// Preset is the name of the preset this came from ("standard", "apgd", or "" if custom).
	Preset string `json:"preset"`
	// Epsilon is the L∞ radius (8/255 in the RobustSSL/DynACL evaluations, spec §5.3, §10).
	Epsilon float64 `json:"epsilon"`
	// BatchSize is the number of images per attack call (RobustSSL uses 128).
	BatchSize int `json:"batch_size"`
	// Seed seeds every random draw: attack a on batch b draws from
	// PCG(Seed, (a+1)<<32 | b), so a run is a pure function of (model, data, config).
	Seed uint64 `json:"seed"`
	// Attacks in the order they run.
	Attacks []Attack `json:"-"`
	// Log, when set, receives one line per attack batch and per attack (as the official
	// verbose mode prints).
	Log io.Writer `json:"-"`
}

// AutoAttack preset names.
const (
	// AutoAttackStandardPreset is version='standard' of autoattack.py:set_version (L∞):
	// APGD-CE (100 iterations, 1 restart), APGD-T (9 targets × 1 restart × 100
	// iterations), FAB-T (9 targets × 1 restart × 100 iterations), Square (5000 queries,
	// p_init 0.8).
	AutoAttackStandardPreset = "standard"
	// AutoAttackAPGDPreset is this project's cheaper preset for CPUs: the first two
	// attacks of the standard version, unchanged (APGD-CE and APGD-T). Its robust accuracy
	// is an upper bound on the standard version's (FAB-T and Square can only lower it).
	AutoAttackAPGDPreset = "apgd"
)

// AutoAttackPresets lists the preset names AutoAttackPreset accepts.
var AutoAttackPresets = []string{AutoAttackStandardPreset, AutoAttackAPGDPreset}

// AutoAttackPreset returns the named preset at radius epsilon (batch 128, seed 0).
func AutoAttackPreset(name string, epsilon float64) (AutoAttack, error) {
	aa := AutoAttack{Preset: name, Epsilon: epsilon, BatchSize: 128}
	switch name {
	case AutoAttackStandardPreset:
		aa.Attacks = []Attack{DefaultAPGD(), DefaultAPGDT(), DefaultFABT(), DefaultSquareAttack()}
	case AutoAttackAPGDPreset:
		aa.Attacks = []Attack{DefaultAPGD(), DefaultAPGDT()}
	default:
		return AutoAttack{}, fmt.Errorf("AutoAttack preset %q: use one of %v", name, AutoAttackPresets)
	}
	return aa, aa.Validate()
}

// Validate names the first invalid setting.
func (aa AutoAttack) Validate() error {
	switch {
	case !(aa.Epsilon >= 0) || math.IsInf(aa.Epsilon, 0):
		return fmt.Errorf("AutoAttack epsilon = %g: must be finite and ≥ 0 (8/255 for CIFAR)", aa.Epsilon)
	case aa.BatchSize < 1:
		return fmt.Errorf("AutoAttack batch size = %d: must be ≥ 1", aa.BatchSize)
	case len(aa.Attacks) == 0:
		return fmt.Errorf("AutoAttack has no attacks: start from AutoAttackPreset")
	}
	for i, a := range aa.Attacks {
		if a == nil {
			return fmt.Errorf("AutoAttack attack %d is nil", i)
		}
		if err := a.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Report is the outcome of one attack of an AutoAttack run.
type Report struct {
	// Name is the attack's name in AutoAttack's order (apgd-ce, apgd-t, fab-t, square).
	Name string `json:"name"`
	// Settings are the attack's parameters, as Go prints them.
	Settings string `json:"settings"`
	// Attacked is the number of images still robust before this attack; Fooled how many of
	// them it misclassified.
	Attacked int `json:"attacked"`
	Fooled   int `json:"fooled"`
	// RobustAccuracy is the fraction of all images still robust after this attack.
	RobustAccuracy float64 `json:"robust_accuracy"`
	// Seconds is the attack's wall time.
	Seconds float64 `json:"seconds"`
}

// AutoAttackResult is the outcome of AutoAttack.Run.
type AutoAttackResult struct {
	// Preset is the attack list run ("standard" or a named subset), Epsilon the L∞
	// radius, Seed the source of every attack's randomness, BatchSize the oracle's batch
	// and Images the number of images attacked.
	Preset    string  `json:"preset"`
	Epsilon   float64 `json:"epsilon"`
	Seed      uint64  `json:"seed"`
	BatchSize int     `json:"batch_size"`
	Images    int     `json:"images"`
	// CleanAccuracy is the accuracy on the clean images.
	CleanAccuracy float64 `json:"clean_accuracy"`
	// Attacks has one report per attack that ran (attacks after the robust set emptied
	// are skipped, as in the official code).
	Attacks []Report `json:"attacks"`
	// RobustAccuracy is the final robust accuracy (the last attack's).
	RobustAccuracy float64 `json:"robust_accuracy"`
	// MaxPerturbation is the largest L∞ distance of an adversarial example to its clean
	// image (≤ Epsilon, checked).
	MaxPerturbation float64 `json:"max_perturbation"`
	// Robust flags the images classified correctly under every attack.
	Robust []bool `json:"-"`
	// Adversarial holds, for every image, the adversarial example that fooled the model,
	// or the clean image where none was found (like the official x_adv).
	Adversarial []float32 `json:"-"`
	// AdversarialLabels are the model's predictions on Adversarial.
	AdversarialLabels []int32 `json:"-"`
}

// Run attacks the n images x (n×H×W×C NHWC in [0,1]) with labels y through o. Like the
// official run_standard_evaluation: the clean accuracy first; then each attack, in
// batches of BatchSize, on the images still classified correctly; an image is counted
// non-robust when the model misclassifies the point the attack returned. Every returned
// example is checked to lie in the ε-ball (exactly, in float64) and in [0,1]; a violation
// is an error naming the attack.
func (aa AutoAttack) Run(o Oracle, x []float32, y []int32, shape ImageShape) (*AutoAttackResult, error) {
	if err := aa.Validate(); err != nil {
		return nil, err
	}
	n := len(y)
	size := shape.Size()
	k := o.NumClasses()
	switch {
	case shape.H < 1 || shape.W < 1 || shape.C < 1:
		return nil, fmt.Errorf("AutoAttack: image shape %+v must be positive", shape)
	case n == 0:
		return nil, fmt.Errorf("AutoAttack: no images")
	case len(x) != n*size:
		return nil, fmt.Errorf("AutoAttack: %d values for %d images of %d×%d×%d", len(x), n, shape.H, shape.W, shape.C)
	}
	for i, v := range x {
		if !(v >= 0 && v <= 1) {
			return nil, fmt.Errorf("AutoAttack: image %d has value %g outside [0,1] (images must be unnormalised pixels in [0,1])", i/size, v)
		}
	}
	for i, v := range y {
		if v < 0 || int(v) >= k {
			return nil, fmt.Errorf("AutoAttack: label %d of image %d outside [0,%d)", v, i, k)
		}
	}
	res := &AutoAttackResult{
		Preset: aa.Preset, Epsilon: aa.Epsilon, Seed: aa.Seed, BatchSize: aa.BatchSize, Images: n,
		Robust: make([]bool, n), Adversarial: append([]float32(nil), x...), AdversarialLabels: make([]int32, n),
	}
	robust := res.Robust
	for start := 0; start < n; start += aa.BatchSize {
		end := min(start+aa.BatchSize, n)
		pred, err := predict(o, x[start*size:end*size], end-start)
		if err != nil {
			return nil, fmt.Errorf("AutoAttack clean accuracy: %w", err)
		}
		for i, p := range pred {
			res.AdversarialLabels[start+i] = p
			robust[start+i] = p == y[start+i]
		}
	}
	res.CleanAccuracy = fraction(robust)
	res.RobustAccuracy = res.CleanAccuracy
	aa.logf("initial accuracy: %.2f%%", 100*res.CleanAccuracy)

	for ai, attack := range aa.Attacks {
		var idx []int
		for i, r := range robust {
			if r {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			break
		}
		began := time.Now()
		rep := Report{Name: attack.Name(), Settings: fmt.Sprintf("%+v", attack), Attacked: len(idx)}
		for bi, bstart := 0, 0; bstart < len(idx); bi, bstart = bi+1, bstart+aa.BatchSize {
			bidx := idx[bstart:min(bstart+aa.BatchSize, len(idx))]
			b := Batch{X: gather(x, bidx, size), Y: gatherInt32(y, bidx), N: len(bidx), Shape: shape, Epsilon: aa.Epsilon}
			rng := rand.New(rand.NewPCG(aa.Seed, uint64(ai+1)<<32|uint64(bi)))
			adv, err := attack.Perturb(o, b, rng)
			if err != nil {
				return nil, fmt.Errorf("AutoAttack %s, batch %d: %w", attack.Name(), bi, err)
			}
			if len(adv) != len(b.X) {
				return nil, fmt.Errorf("AutoAttack %s returned %d values for %d images", attack.Name(), len(adv), b.N)
			}
			if err := checkInBall(adv, b.X, aa.Epsilon, size); err != nil {
				return nil, fmt.Errorf("AutoAttack %s, batch %d: %w", attack.Name(), bi, err)
			}
			pred, err := predict(o, adv, b.N)
			if err != nil {
				return nil, fmt.Errorf("AutoAttack %s, batch %d: %w", attack.Name(), bi, err)
			}
			fooled := 0
			for j, i := range bidx {
				if pred[j] != y[i] {
					robust[i] = false
					copy(res.Adversarial[i*size:(i+1)*size], adv[j*size:(j+1)*size])
					res.AdversarialLabels[i] = pred[j]
					fooled++
				}
			}
			rep.Fooled += fooled
			aa.logf("%s - %d/%d - %d out of %d successfully perturbed", attack.Name(), bi+1, (len(idx)+aa.BatchSize-1)/aa.BatchSize, fooled, b.N)
		}
		rep.Seconds = time.Since(began).Seconds()
		rep.RobustAccuracy = fraction(robust)
		res.RobustAccuracy = rep.RobustAccuracy
		res.Attacks = append(res.Attacks, rep)
		aa.logf("robust accuracy after %s: %.2f%% (%.1f s)", attack.Name(), 100*rep.RobustAccuracy, rep.Seconds)
	}

	// The official final check: the largest perturbation, and that every example is valid.
	if err := checkInBall(res.Adversarial, x, aa.Epsilon, size); err != nil {
		return nil, fmt.Errorf("AutoAttack final check: %w", err)
	}
	for i := range x {
		res.MaxPerturbation = math.Max(res.MaxPerturbation, math.Abs(float64(res.Adversarial[i])-float64(x[i])))
	}
	aa.logf("max Linf perturbation: %.5f, robust accuracy: %.2f%%", res.MaxPerturbation, 100*res.RobustAccuracy)
	return res, nil
}

func (aa AutoAttack) logf(format string, args ...any) {
	if aa.Log != nil {
		fmt.Fprintf(aa.Log, format+"\n", args...)
	}
}

// checkInBall returns an error unless every adv[i] is in [0,1] and within eps of x[i]
// (compared in float64, no tolerance).
func checkInBall(adv, x []float32, eps float64, size int) error {
	for i, v := range adv {
		d := math.Abs(float64(v) - float64(x[i]))
		if !(v >= 0 && v <= 1) || !(d <= eps) {
			return fmt.Errorf("example %d leaves the ε-ball or [0,1]: value %g, clean %g, |δ| = %g > ε = %g", i/size, v, x[i], d, eps)
		}
	}
	return nil
}

func fraction(b []bool) float64 {
	c := 0
	for _, v := range b {
		if v {
			c++
		}
	}
	return float64(c) / float64(len(b))
}
