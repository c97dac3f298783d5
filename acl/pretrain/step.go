package pretrain

import (
	"fmt"

	"github.com/ainfonce/goacl/acl/train"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Step is a method's training step for one configuration, as the training loop runs it:
// which inputs the step graph takes and how the method's BuildStep reads them.
type Step struct {
	// Config is the run's configuration, Method its method and Encoder the model built
	// for it.
	Config  *Config
	Method  Method
	Encoder layers.Encoder
	// Inputs are the method's inputs at epoch 0 (the used views and the pseudo labels).
	Inputs Inputs
	// PseudoLabels is the number of pseudo-label inputs (one per granularity; 0 without).
	PseudoLabels int
	// ScalarNames are the method state's per-step scalars, fed last as one [n] float32
	// input (none: no input).
	ScalarNames []string
}

// NewStep resolves the step of cfg (which must be valid): its method, encoder
// (EncoderFor), inputs and step scalars.
func NewStep(cfg *Config, pseudoLabels int) (*Step, State, error) {
	m, err := MethodByName(cfg.Method)
	if err != nil {
		return nil, nil, err
	}
	enc, err := EncoderFor(cfg)
	if err != nil {
		return nil, nil, err
	}
	state, err := m.NewState(cfg)
	if err != nil {
		return nil, nil, err
	}
	s := &Step{Config: cfg, Method: m, Encoder: enc, Inputs: m.Inputs(cfg, 0), ScalarNames: state.ScalarNames()}
	if s.Inputs.PseudoLabels {
		s.PseudoLabels = pseudoLabels
	}
	return s, state, nil
}

// InputShapes are the shapes of the step's inputs in the order Build splits them, for a
// batch of batch RGB images of size × size pixels: each used view ([B, size, size, 3]
// float32), each pseudo-label set ([B] int32), the class labels where the method reads
// them ([B] int32) and the step scalars ([n] float32). Tools that compile a step without
// data (acl hlo, the op inventory) feed tensors of these shapes.
func (s *Step) InputShapes(batch, size int) []shapes.Shape {
	var out []shapes.Shape
	for range s.Inputs.Used {
		out = append(out, shapes.Make(dtypes.Float32, batch, size, size, 3))
	}
	for range s.PseudoLabels {
		out = append(out, shapes.Make(dtypes.Int32, batch))
	}
	if s.Inputs.Labels {
		out = append(out, shapes.Make(dtypes.Int32, batch))
	}
	if len(s.ScalarNames) > 0 {
		out = append(out, shapes.Make(dtypes.Float32, len(s.ScalarNames)))
	}
	return out
}

// Build is the step builder of the training loop (train.Loop.Step): it splits the
// step's inputs into the used views, the pseudo labels, the labels and the step scalars, and calls
// the method's BuildStep.
func (s *Step) Build(ctx *context.Context, inputs []*graph.Node) train.Outputs {
	nViews := len(s.Inputs.Used)
	want := nViews + s.PseudoLabels
	if s.Inputs.Labels {
		want++
	}
	if len(s.ScalarNames) > 0 {
		want++
	}
	if len(inputs) != want {
		panic(fmt.Errorf("pretrain: %s step got %d inputs, want %d (%d views, %d pseudo-label sets, labels %v, step scalars %v)",
			s.Config.Method, len(inputs), want, nViews, s.PseudoLabels, s.Inputs.Labels, s.ScalarNames))
	}
	in := &StepInputs{Config: s.Config, Encoder: s.Encoder, Views: inputs[:nViews], Scalars: map[string]*graph.Node{}}
	rest := inputs[nViews:]
	in.PseudoLabels = rest[:s.PseudoLabels]
	rest = rest[s.PseudoLabels:]
	if s.Inputs.Labels {
		in.Labels, rest = rest[0], rest[1:]
	}
	for i, name := range s.ScalarNames {
		in.Scalars[name] = graph.Squeeze(graph.Slice(rest[0], graph.AxisElem(i)))
	}
	out := s.Method.BuildStep(ctx, in)
	return train.Outputs{Loss: out.Loss, Terms: out.Metrics}
}
