package eval

import (
	"fmt"
	"math"

	"github.com/ainfonce/goacl/acl/attack"
)

// Evaluation hygiene, after fra31/auto-attack's checks.py: warnings that a robust
// accuracy may be fake (too high), each computed on the evaluated model and images.
// They do not stop an evaluation; they are printed and stored in its record
// (Record.Warnings), and tables note them.

// checkImages is how many of the evaluated images the model checks look at.
const checkImages = 256

// Checks runs the model checks on oracle with the first images of x (n images of shape,
// labels y): a model whose outputs change between forward passes of the same images (a
// randomised defence: gradient attacks then see noise), outputs that are already
// probabilities (the attacks' losses need logits), and images whose cross-entropy
// gradient is exactly zero (gradient attacks cannot move them). It returns one sentence
// per check that fired.
func Checks(o attack.Oracle, x []float32, y []int32, n int, shape attack.ImageShape) ([]string, error) {
	n = min(n, checkImages)
	x, y = x[:n*shape.Size()], y[:n]
	k := o.NumClasses()
	var warnings []string
	first, err := o.Logits(x, n)
	if err != nil {
		return nil, err
	}
	// Randomised outputs (check_randomized): compare the logits of repeated passes,
	// each row scaled to unit length, and the number of correct predictions.
	maxDiff, correct := 0.0, countCorrect(first, y, k)
	differ := false
	for range 2 {
		again, err := o.Logits(x, n)
		if err != nil {
			return nil, err
		}
		maxDiff = max(maxDiff, maxRowDiff(first, again, k))
		differ = differ || countCorrect(again, y, k) != correct
	}
	if differ || maxDiff > 1e-4 {
		warnings = append(warnings, fmt.Sprintf("randomized outputs: three forward passes of the same %d images differ (largest difference of unit-scaled logits %.3g): a randomised model makes gradient attacks overestimate robustness", n, maxDiff))
	}
	// Probabilities instead of logits (check_range_output).
	lo, hi, sumOff := math.Inf(1), math.Inf(-1), 0.0
	for i := range n {
		s := 0.0
		for _, v := range first[i*k : (i+1)*k] {
			lo, hi = min(lo, float64(v)), max(hi, float64(v))
			s += float64(v)
		}
		sumOff = max(sumOff, math.Abs(s-1))
	}
	if hi < 1+1e-5 && lo > -1e-5 && sumOff < 1e-5 {
		warnings = append(warnings, "outputs are probabilities: every output lies in [0,1] and each row sums to 1; the attacks' losses need logits (a softmax before the loss flattens its gradient)")
	}
	// Zero gradients (check_zero_gradients).
	_, grad, err := o.LossGrad(attack.LossCE, x, n, y, nil)
	if err != nil {
		return nil, err
	}
	zero, size := 0, shape.Size()
	for i := range n {
		all := true
		for _, g := range grad[i*size : (i+1)*size] {
			if g != 0 {
				all = false
				break
			}
		}
		if all {
			zero++
		}
	}
	if zero > 0 {
		warnings = append(warnings, fmt.Sprintf("zero gradients: %d of %d clean images have an all-zero cross-entropy gradient: gradient attacks cannot move them", zero, n))
	}
	return warnings, nil
}

// CompareWithAutoAttack checks a PGD-20 record against an AutoAttack record of the same
// finetuning, ε and test images: AutoAttack runs a stronger attack (APGD-CE already
// subsumes PGD-20), so PGD-20's robust accuracy should be above AutoAttack's. It returns a
// warning when it is not ("" when it is, when the records are not comparable, or when
// both are 0: no attack can do better than breaking every image).
func CompareWithAutoAttack(pgd, aa *Record) string {
	if pgd == nil || aa == nil || pgd.FinetuningSHA256 == "" || pgd.FinetuningSHA256 != aa.FinetuningSHA256 ||
		pgd.Accuracy.Images != aa.Accuracy.Images || pgd.TestSubset != aa.TestSubset || pgd.Seed != aa.Seed ||
		math.Abs(pgd.Attack.Epsilon-aa.Attack.Epsilon) > 1e-9 {
		return ""
	}
	if pgd.Accuracy.RobustCorrect > aa.Accuracy.RobustCorrect || (pgd.Accuracy.RobustCorrect == 0 && aa.Accuracy.RobustCorrect == 0) {
		return ""
	}
	return fmt.Sprintf("PGD-20 robust accuracy %.2f%% is not above AutoAttack's %.2f%% on the same %d images: AutoAttack should be the stronger attack; one of the two evaluations is unreliable",
		100*pgd.Accuracy.Robust, 100*aa.Accuracy.Robust, pgd.Accuracy.Images)
}

func countCorrect(logits []float32, y []int32, k int) int {
	c := 0
	for i, label := range y {
		best := 0
		for j := 1; j < k; j++ {
			if logits[i*k+j] > logits[i*k+best] {
				best = j
			}
		}
		if int32(best) == label {
			c++
		}
	}
	return c
}

// maxRowDiff is the largest L2 distance between corresponding rows of a and b, each row
// first scaled to unit length.
func maxRowDiff(a, b []float32, k int) float64 {
	worst := 0.0
	for i := 0; i+k <= len(a); i += k {
		na, nb := 0.0, 0.0
		for j := range k {
			na += float64(a[i+j]) * float64(a[i+j])
			nb += float64(b[i+j]) * float64(b[i+j])
		}
		na, nb = math.Sqrt(na)+1e-10, math.Sqrt(nb)+1e-10
		d := 0.0
		for j := range k {
			v := float64(a[i+j])/na - float64(b[i+j])/nb
			d += v * v
		}
		worst = max(worst, math.Sqrt(d))
	}
	return worst
}
