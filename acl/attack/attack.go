// Package attack holds the attacks of adversarial contrastive learning and of its
// evaluation: PGD (pgd.go) and TRADES (trades.go) unrolled in the graph, each a function
// taking its objective; the host-driven attacks of AutoAttack behind the Attack interface
// — APGD and APGD-T (apgd.go), FAB-T (fab.go), Square (square.go) — which query a
// classifier through an Oracle (oracle.go, graph_oracle.go), run on the points still
// classified correctly by one shared loop (attackRemaining, remaining.go), and are
// composed by AutoAttack (autoattack.go); and the evaluation attacks' presets and
// descriptions (settings.go). Sources: fra31/auto-attack at a392200, TRADES' trades.py,
// and the official methods' attack code (spec §4, §5, §10).
package attack

import "math/rand/v2"

// Attack is one attack of AutoAttack (Croce & Hein 2020; spec §10): APGD, APGDT, FABT,
// SquareAttack. Each is host-driven: Go loops over float32 images that query a Oracle.
type Attack interface {
	// Name is the official name ("apgd-ce", "apgd-t", "fab-t", "square").
	Name() string
	// Validate reports a setting outside its allowed range (AutoAttack.Validate calls it
	// for each of its attacks before any image is attacked).
	Validate() error
	// Perturb returns, for each of the b.N images, either a point of the L∞ ball of
	// radius b.Epsilon around it, inside [0,1], that the attack found misclassified, or
	// the clean image itself. rng is the only source of randomness.
	Perturb(o Oracle, b Batch, rng *rand.Rand) ([]float32, error)
}

// Batch is what an attack sees: N clean images X (N×H×W×C, NHWC, in [0,1]), their
// labels Y and the L∞ radius.
type Batch struct {
	// X holds the N images (N·Shape.Size() values), Y their labels.
	X []float32
	Y []int32
	// N is the number of images, Shape the shape of one.
	N     int
	Shape ImageShape
	// Epsilon is the L∞ radius of the allowed perturbation.
	Epsilon float64
}
