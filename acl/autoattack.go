package acl

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"
)

// Attack is one attack of AutoAttack (Croce & Hein 2020; spec §10): APGD, APGDT, FABT,
// SquareAttack. Each is host-driven: Go loops over float32 images that query a RobustnessOracle.
type Attack interface {
	// Name is the official name ("apgd-ce", "apgd-t", "fab-t", "square").
	Name() string
	// Perturb returns, for each of the b.N images, either a point of the L∞ ball of
	// radius b.Epsilon around it, inside [0,1], that the attack found misclassified, or
	// the clean image itself. rng is the only source of randomness.
	Perturb(o RobustnessOracle, b AttackBatch, rng *rand.Rand) ([]float32, error)
}

// AttackBatch is what an attack sees: N clean images X (N×H×W×C, NHWC, in [0,1]), their
// labels Y and the L∞ radius.
type AttackBatch struct {
	X       []float32
	Y       []int32
	N       int
	Shape   ImageShape
	Epsilon float64
}

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
		if v, ok := a.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return err
			}
		}
	}
	return nil
}

// AttackReport is the outcome of one attack of an AutoAttack run.
type AttackReport struct {
	Name string `json:"name"`
	// Settings are the attack's parameters, as Go prints them.
	Settings string `json:"settings"`
	// Attacked is the number of images still robust before this attack; Fooled how many of
	// them it misclassified.
	Attacked int `json:"attacked"`
	Fooled   int `json:"fooled"`
	// RobustAccuracy is the fraction of all images still robust after this attack.
	RobustAccuracy float64 `json:"robust_accuracy"`
	Seconds        float64 `json:"seconds"`
}

// AutoAttackResult is the outcome of AutoAttack.Run.
type AutoAttackResult struct {
	Preset    string  `json:"preset"`
	Epsilon   float64 `json:"epsilon"`
	Seed      uint64  `json:"seed"`
	BatchSize int     `json:"batch_size"`
	Images    int     `json:"images"`
	// CleanAccuracy is the accuracy on the clean images.
	CleanAccuracy float64 `json:"clean_accuracy"`
	// Attacks has one report per attack that ran (attacks after the robust set emptied
	// are skipped, as in the official code).
	Attacks []AttackReport `json:"attacks"`
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
func (aa AutoAttack) Run(o RobustnessOracle, x []float32, y []int32, shape ImageShape) (*AutoAttackResult, error) {
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
		rep := AttackReport{Name: attack.Name(), Settings: fmt.Sprintf("%+v", attack), Attacked: len(idx)}
		for bi, bstart := 0, 0; bstart < len(idx); bi, bstart = bi+1, bstart+aa.BatchSize {
			bidx := idx[bstart:min(bstart+aa.BatchSize, len(idx))]
			b := AttackBatch{X: gather(x, bidx, size), Y: gatherInt32(y, bidx), N: len(bidx), Shape: shape, Epsilon: aa.Epsilon}
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

// --- helpers shared by the attacks ---

// predict returns the arg-max class of each of the n images (ties to the lowest index).
func predict(o RobustnessOracle, x []float32, n int) ([]int32, error) {
	z, err := o.Logits(x, n)
	if err != nil {
		return nil, err
	}
	return argmaxRows(z, n, o.NumClasses())
}

func argmaxRows(z []float32, n, k int) ([]int32, error) {
	if len(z) != n*k {
		return nil, fmt.Errorf("oracle returned %d logits for %d images × %d classes", len(z), n, k)
	}
	out := make([]int32, n)
	for i := range n {
		row := z[i*k : (i+1)*k]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		out[i] = int32(best)
	}
	return out, nil
}

// lossGradLogits evaluates the loss, its gradient and the logits at x, in one pass when
// the oracle implements LogitsLossGrader.
func lossGradLogits(o RobustnessOracle, kind string, x []float32, n int, y, targets []int32) (loss, grad, logits []float32, err error) {
	if lg, ok := o.(LogitsLossGrader); ok {
		loss, grad, logits, err = lg.LossGradLogits(kind, x, n, y, targets)
	} else {
		loss, grad, err = o.LossGrad(kind, x, n, y, targets)
		if err == nil {
			logits, err = o.Logits(x, n)
		}
	}
	if err == nil && (len(loss) != n || len(grad) != len(x)) {
		err = fmt.Errorf("oracle returned %d losses and %d gradient values for %d images of %d values", len(loss), len(grad), n, len(x)/max(n, 1))
	}
	return loss, grad, logits, err
}

// linfBox returns the per-value bounds of the L∞ ball of radius eps around x intersected
// with [0,1]: lo = max(0, x−ε), hi = min(1, x+ε), rounded inwards so that every float32
// in [lo,hi] is within ε of x in exact arithmetic. Clamping to [lo,hi] is the official
// clamp(min(max(v, x−ε), x+ε), 0, 1).
func linfBox(x []float32, eps float64) (lo, hi []float32) {
	lo, hi = make([]float32, len(x)), make([]float32, len(x))
	for i, v := range x {
		l := float32(float64(v) - eps)
		if float64(v)-float64(l) > eps {
			l = math.Nextafter32(l, float32(math.Inf(1)))
		}
		h := float32(float64(v) + eps)
		if float64(h)-float64(v) > eps {
			h = math.Nextafter32(h, float32(math.Inf(-1)))
		}
		lo[i], hi[i] = max(l, 0), min(h, 1)
	}
	return lo, hi
}

func clampTo(v, lo, hi float32) float32 { return min(max(v, lo), hi) }

func sign32(v float32) float32 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

func gather(x []float32, idx []int, size int) []float32 {
	out := make([]float32, len(idx)*size)
	for j, i := range idx {
		copy(out[j*size:(j+1)*size], x[i*size:(i+1)*size])
	}
	return out
}

func gatherInt32(y []int32, idx []int) []int32 {
	out := make([]int32, len(idx))
	for j, i := range idx {
		out[j] = y[i]
	}
	return out
}

// rankedClass returns, for each row of logits z [n·k], the class at rank r (1 = largest):
// the official output.sort(dim=1)[1][:, -r], with ties ranked by lower index first.
func rankedClass(z []float32, n, k, r int) []int32 {
	out := make([]int32, n)
	order := make([]int, k)
	for i := range n {
		row := z[i*k : (i+1)*k]
		for j := range order {
			order[j] = j
		}
		// Partial selection sort: r ≤ k is small (≤ 10 in AutoAttack).
		for a := 0; a < r; a++ {
			best := a
			for b := a + 1; b < k; b++ {
				vb, vbest := row[order[b]], row[order[best]]
				if vb > vbest || (vb == vbest && order[b] < order[best]) {
					best = b
				}
			}
			order[a], order[best] = order[best], order[a]
		}
		out[i] = int32(order[r-1])
	}
	return out
}
