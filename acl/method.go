package acl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// A Method is one adversarial contrastive pretraining recipe (RoCL, AdvCL, ACL-DS, DynACL):
// which views of each image it draws, and how one training step's loss is built from them
// (which BN branch each view uses, what the attack maximises, how the loss is assembled).
// Each method is one short file; the shared training loop lives in pretrain.go.
type Method interface {
	// Name is the method's command-line name, e.g. "rocl".
	Name() string
	// Views returns the augmentations each batch carries for cfg, and which of them are
	// fed to the step graph (by index into the returned views, in order).
	Views(cfg *PretrainConfig) (views []datasets.View, used []int)
	// BuildStep builds, inside the training graph, the attack, the forward passes and
	// the loss of one batch. It runs once per input shape, at graph-building time.
	BuildStep(ctx *context.Context, in *StepInputs) *StepOutputs
}

// StepInputs are what a Method's BuildStep receives.
type StepInputs struct {
	Config  *PretrainConfig
	Encoder layers.Encoder
	// Views are the used views of the batch, each [B,H,W,C] in [0,1].
	Views []*graph.Node
	// PseudoLabels holds AdvCL's pseudo labels, one [B] int32 node per granularity.
	PseudoLabels []*graph.Node
	// Scalars are per-step host values (e.g. an adaptive α), by name; see
	// ScalarProvider.
	Scalars map[string]*graph.Node
}

// StepOutputs is what BuildStep returns: the loss to minimise and named scalar terms to
// log (each a scalar node).
type StepOutputs struct {
	Loss    *graph.Node
	Metrics map[string]*graph.Node
}

// ScalarProvider is implemented by methods that feed per-step host values into the graph
// (AdvCL's adaptive-α running mean, DynACL's annealed loss weight). ScalarNames fixes
// their order (none: the method feeds nothing for this configuration); Scalars computes
// them before each step from the trainer's state (st.Epoch and st.Batch locate the step).
type ScalarProvider interface {
	ScalarNames(cfg *PretrainConfig) []string
	Scalars(cfg *PretrainConfig, st *TrainState) ([]float64, error)
}

// StepObserver is implemented by methods that keep host state across steps (AdvCL's
// adaptive-α running mean d̄). AfterStep runs after every successful step with the step's
// logged terms (StepOutputs.Metrics, by name) and the number of images of the batch; it
// updates st.Method, which every checkpoint saves, so a resumed run continues exactly.
// st.Epoch and st.Batch still locate the step just done.
type StepObserver interface {
	AfterStep(cfg *PretrainConfig, st *TrainState, batchSize int, terms map[string]float64) error
}

// EpochViewer is implemented by methods whose views change with the epoch (DynACL's
// annealed augmentation strength). The trainer asks for the views at the start of every
// epoch (and on resume) and rebuilds its loader with them; the used indices stay those
// of Views. Batches stay a pure function of (seed, epoch, batch), so resume is exact.
type EpochViewer interface {
	EpochViews(cfg *PretrainConfig, epoch int) []datasets.View
}

// PseudoLabelUser is implemented by methods that read AdvCL's pseudo labels: when
// NeedsPseudoLabels is true the trainer loads them from PretrainConfig.PseudoLabelDir and
// feeds them to BuildStep as StepInputs.PseudoLabels.
type PseudoLabelUser interface {
	NeedsPseudoLabels() bool
}

var methods = map[string]Method{}

// RegisterMethod makes a Method available by name to Pretrain and the command line.
func RegisterMethod(m Method) {
	if _, dup := methods[m.Name()]; dup {
		panic("acl: method registered twice: " + m.Name())
	}
	methods[m.Name()] = m
}

// MethodNames lists the registered methods, sorted.
func MethodNames() []string {
	names := make([]string, 0, len(methods))
	for n := range methods {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// MethodByName returns the registered method called name.
func MethodByName(name string) (Method, error) {
	m, ok := methods[name]
	if !ok {
		return nil, fmt.Errorf("unknown method %q: use one of %s", name, strings.Join(MethodNames(), ", "))
	}
	return m, nil
}

// inMode builds fn with the graph marked as training (or not) and with BN running
// statistics updating (or not), restoring the previous switches afterwards. Training
// mode is a per-graph parameter read at graph-building time, so one graph can hold an
// eval-mode attack and a train-mode loss.
func inMode(ctx *context.Context, g *graph.Graph, training, updateBNStats bool, fn func()) {
	prevTraining := ctx.IsTraining(g)
	prevFrozen := context.GetGraphParamOr(ctx, g, layers.ParamBNFreezeStats, false)
	ctx.SetTraining(g, training)
	layers.SetBNStatsUpdate(ctx, g, updateBNStats)
	defer func() {
		ctx.SetTraining(g, prevTraining)
		layers.SetBNStatsUpdate(ctx, g, !prevFrozen)
	}()
	fn()
}
