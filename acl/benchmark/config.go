package benchmark

import (
	"fmt"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/layers"
)

// Config is the standard adversarial-contrastive workload of the speed benchmark
// (docs/performance.md; bench/pytorch_step.py computes the identical step in PyTorch):
//
//   - encoder: CIFAR ResNet-18 at base width Width (single BN) and RoCL's projector
//     (Linear(8W, 2048) → ReLU → Linear(2048, 128));
//   - two views x⁽¹⁾, x⁽²⁾ of Batch 32×32×3 images in [0,1];
//   - the training step is pretrain.RoCL's step (the Base variant, no regulariser), built
//     through the training loop's train.Loop.BuildStep, so the benchmark times the
//     method's own graph:
//   - attack, in eval mode (BN uses running statistics, nothing updates): PGD with
//     AttackSteps steps of StepSize in the L∞ ball of radius Epsilon, uniform random start
//     clamped to [0,1], clip-then-project (RoCL's attack), maximising the 2-view NT-Xent
//     of [x^adv; sg(z⁽²⁾)] (RoCLTwoViewNTXent: the second view is detached);
//   - loss, in train mode (BN batch statistics over all 3B rows, running statistics
//     updated): one pass of [x⁽¹⁾; x⁽²⁾; x^adv] and the 3-view NT-Xent at Temperature
//     (RoCLNTXent, Base variant: each term's contrast side detached as in RoCL);
//   - update: PyTorch SGD with momentum and coupled weight decay at LearningRate.
//
// The evaluation workload is EvalSteps-step PGD (same ε and step, random start, no clip
// of the start, project-then-clip) maximising the cross-entropy of a 10-class linear
// head on the encoder features, in eval mode, followed by a clean forward on the
// adversarial images.
type Config struct {
	// Width is the ResNet-18 width, Batch the number of images per view, AttackSteps the
	// PGD steps of the training step and EvalSteps those of the evaluation workload,
	// Epsilon and StepSize both attacks' L∞ radius and step, Temperature the NT-Xent's t.
	Width       int     `json:"width"`
	Batch       int     `json:"batch"`
	AttackSteps int     `json:"attack_steps"`
	EvalSteps   int     `json:"eval_steps"`
	Epsilon     float64 `json:"epsilon"`
	StepSize    float64 `json:"step_size"`
	Temperature float64 `json:"temperature"`
	// LearningRate, Momentum and WeightDecay configure the SGD update.
	LearningRate float64 `json:"learning_rate"`
	Momentum     float64 `json:"momentum"`
	WeightDecay  float64 `json:"weight_decay"`
	// Seed fixes the weights, the synthetic images and the attack's random starts.
	Seed uint64 `json:"seed"`
	// NoRandomStart starts both attacks at the clean images: the attack is then
	// deterministic, which the PyTorch parity check (ExportParity) needs. The benchmark
	// itself uses random starts.
	NoRandomStart bool `json:"no_random_start,omitempty"`
}

// Default returns the standard workload at the given width and batch: PGD-5
// (ε 8/255, step 2/255) for training, PGD-20 for evaluation, t = 0.5, SGD with lr 0.01,
// momentum 0.9, weight decay 5e-4.
func Default(width, batch int) Config {
	return Config{
		Width: width, Batch: batch, AttackSteps: 5, EvalSteps: 20,
		Epsilon: 8.0 / 255, StepSize: 2.0 / 255, Temperature: 0.5,
		LearningRate: 0.01, Momentum: 0.9, WeightDecay: 5e-4, Seed: 1,
	}
}

// Validate names the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Width < 1:
		return fmt.Errorf("bench width = %d: must be ≥ 1", c.Width)
	case c.Batch < 2:
		return fmt.Errorf("bench batch = %d: must be ≥ 2 (NT-Xent needs negatives)", c.Batch)
	case c.AttackSteps < 0 || c.EvalSteps < 0 || c.AttackSteps > attack.MaxPGDSteps || c.EvalSteps > attack.MaxPGDSteps:
		return fmt.Errorf("bench attack steps %d / eval steps %d: must be in [0, %d]", c.AttackSteps, c.EvalSteps, attack.MaxPGDSteps)
	case !(c.Temperature > 0):
		return fmt.Errorf("bench temperature = %g: must be > 0", c.Temperature)
	}
	return nil
}

// StepMemory is a lower bound, in bytes, of the memory the training step needs
// (layers.StepMemory of the ResNet-18 with the step's 3·Batch rows: two views and the
// adversarial one), for a check before anything is built.
func (c Config) StepMemory() (float64, error) {
	return layers.StepMemory("resnet18", c.Width, 32, 32, 3*float64(c.Batch))
}

// ResNet18ForwardFLOPs returns the floating-point operations (2 per multiply-add) of the
// convolutions of one forward pass of the CIFAR ResNet-18 at base width width on one
// 32×32×3 image: 1.11 GFLOP at width 64. BN, ReLU and pooling are not counted.
func ResNet18ForwardFLOPs(width int) float64 {
	macs := 0
	conv := func(hw, k, cin, cout int) { macs += hw * hw * k * k * cin * cout }
	conv(32, 3, 3, width) // stem
	in, hw := width, 32
	for s, stride := range []int{1, 2, 2, 2} {
		c := width << s
		hw /= stride
		conv(hw, 3, in, c) // block1 conv1 (strided)
		conv(hw, 3, c, c)  // block1 conv2
		if stride != 1 || in != c {
			conv(hw, 1, in, c) // shortcut
		}
		conv(hw, 3, c, c) // block2 conv1
		conv(hw, 3, c, c) // block2 conv2
		in = c
	}
	return 2 * float64(macs)
}

// roclProjectorFLOPs is the forward cost of RoCL's projector on one feature vector.
func roclProjectorFLOPs(width int) float64 { return 2 * float64(8*width*2048+2048*128) }

// TrainFLOPs is the nominal work of one training step of the workload, counting for
// every image the minimum the algorithm needs with F = encoder+projector forward: F for
// the detached second view, 2F per attack step (forward and input gradient), 3F for the
// loss pass of the three views and 6F for its backward (input and weight gradients):
// (10 + 2·AttackSteps)·B·F. Images per second and this count give the effective
// GFLOP/s reported by `acl bench` for both frameworks.
func (c Config) TrainFLOPs() float64 {
	f := ResNet18ForwardFLOPs(c.Width) + roclProjectorFLOPs(c.Width)
	return float64(10+2*c.AttackSteps) * float64(c.Batch) * f
}

// EvalFLOPs is the nominal work of one evaluation batch: 2F per PGD step and F for the
// final forward, (1 + 2·EvalSteps)·B·F, with F the encoder forward (the linear head is
// negligible and not counted).
func (c Config) EvalFLOPs() float64 {
	return float64(1+2*c.EvalSteps) * float64(c.Batch) * ResNet18ForwardFLOPs(c.Width)
}
