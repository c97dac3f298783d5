package pretrain

import (
	"encoding/json"

	"github.com/ainfonce/goacl/acl/train"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// A Method is one adversarial contrastive pretraining recipe (RoCL, AdvCL, ACL-DS,
// DynACL). Everything about a method is in its one file: its official settings (Preset,
// Rescale), its checks (Validate), the views each batch carries (Inputs), its host-side
// state across steps (NewState), the graph of one step — which BN branch each view uses,
// what the attack maximises, how the loss is assembled — (BuildStep), its learning-rate
// schedule (registered with optim.RegisterSchedule from the same file) and how its
// encoder is evaluated (Evaluation). The training loop is shared (acl/train); adding a
// method is one file, its test and a line in methods.go.
type Method interface {
	// Name is the method's name in configurations (config.json "method"), e.g. "rocl".
	Name() string
	// Preset fills cfg with the method's official hyperparameters at the paper's scale
	// (spec §4.4): epochs, batch, attack, optimizer, schedule, loss values for
	// cfg.Loss.Variant on cfg.Dataset. cfg already holds the shared defaults.
	Preset(cfg *Config)
	// Rescale adapts the method's own epoch-counted settings when a scaled preset trains
	// frac of the official epochs (the shared scale knobs and the schedule's warm-up are
	// already set).
	Rescale(cfg *Config, frac float64)
	// Validate checks the method's own settings; Config.Validate calls it last. Errors are
	// *field.Error values naming the config.json key.
	Validate(cfg *Config) error
	// Inputs says what every batch of epoch carries for the method.
	Inputs(cfg *Config, epoch int) Inputs
	// NewState returns the method's host state for a fresh run of cfg (a resumed run
	// restores it from its checkpoint with State.Load).
	NewState(cfg *Config) (State, error)
	// BuildStep builds, inside the training graph, the attack, the forward passes and
	// the loss of one batch. It runs once per input shape, at graph-building time, in
	// training mode with BN statistics updating; attacks set their own mode.
	BuildStep(ctx *context.Context, in *StepInputs) *StepOutputs
	// Evaluation says how finetuning and evaluation read the method's encoder.
	Evaluation(cfg *Config) Evaluation
}

// Inputs are what each batch of a method carries.
type Inputs struct {
	// Views are the augmentations the loader makes of each image; Used lists, by index
	// into Views and in order, those fed to the step graph (StepInputs.Views).
	Views []datasets.View
	Used  []int
	// PseudoLabels feeds AdvCL's pseudo labels (Config.PseudoLabelDir) to the step
	// (StepInputs.PseudoLabels).
	PseudoLabels bool
}

// StepInputs are what a Method's BuildStep receives.
type StepInputs struct {
	// Config is the run's configuration and Encoder the model the step trains.
	Config  *Config
	Encoder layers.Encoder
	// Views are the used views of the batch, each [B,H,W,C] in [0,1].
	Views []*graph.Node
	// PseudoLabels holds AdvCL's pseudo labels, one [B] int32 node per granularity.
	PseudoLabels []*graph.Node
	// Scalars are the step's host values (State.ScalarNames), each a scalar node.
	Scalars map[string]*graph.Node
}

// StepOutputs is what BuildStep returns: the loss to minimise and named scalar terms to
// log (each a scalar node; they become metrics.jsonl fields).
type StepOutputs struct {
	// Loss is the scalar minimised; Metrics the named terms logged.
	Loss    *graph.Node
	Metrics map[string]*graph.Node
}

// State is a method's host-side state across steps: the per-step scalars it feeds the
// graph, what it learns from each step, and what of it a checkpoint stores so that a
// resumed run continues exactly. It is decoded once on resume and encoded once per
// checkpoint.
type State interface {
	// ScalarNames fixes the order of the per-step scalars (StepInputs.Scalars); none
	// when the method feeds nothing.
	ScalarNames() []string
	// Scalars computes them before the step at st (st.Epoch, st.Batch locate it).
	Scalars(st train.State) ([]float64, error)
	// AfterStep updates the state after a finite step, with the number of images of the
	// batch and the step's logged terms by name (st: the state after the step, st.Epoch
	// still the step's epoch).
	AfterStep(st train.State, batchSize int, terms map[string]float64) error
	// Save returns what a checkpoint stores (TrainState.Method; nil: nothing), Load
	// restores it from a checkpoint's stored value (empty: the state of a fresh run).
	Save() (json.RawMessage, error)
	Load(saved json.RawMessage) error
}

// Evaluation is how finetuning and evaluation read a method's encoder.
type Evaluation struct {
	// Branch is the encoder BN branch the evaluation protocol reads ("" for a single BN;
	// "pgd" for the dual/triple-BN methods, spec §5.1).
	Branch string
	// Protocol names the finetuning and evaluation protocol of the method's own
	// repository (acl/finetune's protocol names: "rocl", "advcl", "acl", "dynacl"): what
	// finetuning uses when none is asked for.
	Protocol string
	// LinearLR and FullLR are the finetuning learning rates of the official scripts for
	// linear (SLF, ALF) and full (AFF) finetuning (spec §4.4), with their source.
	LinearLR, FullLR LR
}

// LR is a learning rate and where its value comes from.
type LR struct {
	// Value is the learning rate; Source names the script or table it comes from.
	Value  float64
	Source string
}

// stateless is the State of a method that keeps none for cfg: no scalars, nothing
// stored.
type stateless struct{}

func (stateless) ScalarNames() []string                                { return nil }
func (stateless) Scalars(train.State) ([]float64, error)               { return nil, nil }
func (stateless) AfterStep(train.State, int, map[string]float64) error { return nil }
func (stateless) Save() (json.RawMessage, error)                       { return nil, nil }
func (stateless) Load(json.RawMessage) error                           { return nil }

// NoState is the State of a method that keeps no host state.
func NoState() State { return stateless{} }
