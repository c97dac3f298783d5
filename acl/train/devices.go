package train

import (
	"fmt"

	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/pkg/core/distributed"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Data parallelism: with Loop.Devices = n > 1, the one step graph of the whole batch runs
// over n devices of the backend through XLA's SPMD partitioner (GoMLX's AutoSharding):
// the batch's inputs are split along their first axis, one share per device, the step's
// host inputs (Loop.Inputs) and every variable are replicated, and the partitioner adds
// the collectives the graph of the whole batch implies. So the step computes what it
// computes on one device: gradients over the global batch, BatchNorm statistics over the
// global batch (SyncBN; the running statistics are the same on every device), and
// similarity matrices whose negatives are the global batch. Nothing here exchanges a
// gradient by hand. The variables come back as replicated values and are read (for a
// checkpoint) from the first device; the outputs (loss, terms) are read from the first
// device too.

// meshAxis names the one axis of the device mesh the batch is split along.
const meshAxis = "data"

// stepExec is the loop's compiled step and how its inputs reach the devices.
type stepExec struct {
	exec *context.Exec
	// names are the step's term names, filled when the graph is built.
	names *[]string
	// devices is the number of devices; mesh, split (the batch inputs' sharding: first
	// axis along the mesh) and replicated are set when devices > 1.
	devices           int
	mesh              *distributed.DeviceMesh
	split, replicated *distributed.ShardingSpec
	// specsSet records that the inputs' sharding specs were given to exec (at the first
	// step, when the number of batch and host inputs is known).
	specsSet bool
}

// compileStep returns the executable of BuildStep on the loop's backend and model, and
// the term names its outputs follow (filled when the graph is built, at the first
// execution). This is the one place the loop makes an executable: with Devices > 1 it is
// partitioned over that many devices of the backend (see the file's comment), which must
// be an XLA backend with enough devices (engine.CheckDevices).
func (l *Loop) compileStep() (*stepExec, error) {
	s := &stepExec{names: new([]string), devices: max(l.Devices, 1)}
	if err := engine.CheckDevices(l.Backend, s.devices); err != nil {
		return nil, err
	}
	exec, err := context.NewExec(l.Backend, l.Model, func(ctx *context.Context, inputs []*graph.Node) []*graph.Node {
		outs, n := l.BuildStep(ctx, inputs)
		*s.names = n
		return outs
	})
	if err != nil {
		return nil, err
	}
	s.exec = exec
	if s.devices > 1 {
		if s.mesh, err = distributed.NewDeviceMesh([]int{s.devices}, []string{meshAxis}); err != nil {
			return nil, err
		}
		if s.split, err = distributed.BuildSpec(s.mesh).S(meshAxis).Done(); err != nil {
			return nil, err
		}
		s.replicated = distributed.NewReplicatedShardingSpec(s.mesh)
		exec.AutoSharding(s.mesh).WithOutputShardingSpecs(s.replicated)
	}
	return s, nil
}

// run executes the step on a batch's inputs and the step's host inputs, and returns the
// step's outputs (those of the first device when there are several).
func (s *stepExec) run(batch, host []any) ([]*tensors.Tensor, error) {
	if s.devices == 1 {
		return s.exec.Exec(append(append([]any(nil), batch...), host...)...)
	}
	if !s.specsSet {
		specs := make([]*distributed.ShardingSpec, 0, len(batch)+len(host))
		for range batch {
			specs = append(specs, s.split)
		}
		for range host {
			specs = append(specs, s.replicated)
		}
		s.exec.WithInputShardingSpecs(specs...)
		s.specsSet = true
	}
	args := make([]any, 0, len(batch)+len(host))
	for i, a := range batch {
		t := tensors.FromAnyValue(a)
		if n := t.Shape().Dimensions; len(n) == 0 || n[0]%s.devices != 0 {
			return nil, fmt.Errorf("batch input %d of shape %s: its first axis does not divide over %d devices", i, t.Shape(), s.devices)
		}
		d, err := distributed.ShardTensor(s.split, t)
		if err != nil {
			return nil, err
		}
		args = append(args, d)
	}
	for _, a := range host {
		d, err := distributed.ShardTensor(s.replicated, tensors.FromAnyValue(a))
		if err != nil {
			return nil, err
		}
		args = append(args, d)
	}
	outs, err := s.exec.Exec(args...)
	if err != nil {
		return nil, err
	}
	// One copy of every output per device, device-major: keep the first device's.
	k := len(outs) / s.devices
	for _, t := range outs[k:] {
		t.FinalizeAll()
	}
	return outs[:k], nil
}
