package attack

// A round is one run of an attack (a restart, or a restart for one target class) on the
// points of a batch still classified correctly: x holds their n images, y their labels.
// It returns a candidate image for each of them and which candidates count as fooling the
// model (each attack's own rule: misclassified, and for FAB-T also within ε).
type round func(r int, x []float32, y []int32, n int) (candidates []float32, fooled []bool, err error)

// attackRemaining runs rounds rounds of an attack on b the way fra31/auto-attack's
// perturb methods do: before each round it selects the points the model still classifies
// correctly (none fooled yet), runs the round on them only, and keeps, for every point a
// round fooled, that round's candidate. It stops early when no point is left and returns
// the adversarial batch: the fooling candidate of each fooled point, the clean image of
// every other. It is the one loop of APGD, APGD-T, FAB-T and Square over their restarts
// and targets.
func attackRemaining(o Oracle, b Batch, rounds int, run round) ([]float32, error) {
	size := b.Shape.Size()
	acc, err := correctMask(o, b)
	if err != nil {
		return nil, err
	}
	adv := append([]float32(nil), b.X...)
	for r := range rounds {
		idx := trueIndices(acc)
		if len(idx) == 0 {
			break
		}
		xs, ys := gather(b.X, idx, size), gatherInt32(b.Y, idx)
		cand, fooled, err := run(r, xs, ys, len(idx))
		if err != nil {
			return nil, err
		}
		for j, i := range idx {
			if fooled[j] {
				acc[i] = false
				copy(adv[i*size:(i+1)*size], cand[j*size:(j+1)*size])
			}
		}
	}
	return adv, nil
}

// misclassified returns which of the n candidate images the model does not classify as
// their label y.
func misclassified(o Oracle, cand []float32, y []int32, n int) ([]bool, error) {
	pred, err := predict(o, cand, n)
	if err != nil {
		return nil, err
	}
	out := make([]bool, n)
	for j := range out {
		out[j] = pred[j] != y[j]
	}
	return out, nil
}
