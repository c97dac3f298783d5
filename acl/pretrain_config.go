package acl

import (
	"fmt"
	"math"
	"strings"

	"github.com/ainfonce/goacl/acl/optim"

	"github.com/ainfonce/goacl/acl/attack"

	"github.com/ainfonce/goacl/acl/losses"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
)

// PretrainConfig is the fully resolved configuration of a pretraining run: what a preset
// fills in and flags override. It is stored as the run's config.json, so a run directory
// says exactly how it was trained.
type PretrainConfig struct {
	Method  string `json:"method"`
	Variant string `json:"variant"`
	Preset  string `json:"preset"`

	// Data: Dataset is "cifar10" or "cifar100"; DataDir holds its official binary files;
	// PseudoLabelDir holds AdvCL's pseudo labels (pseudo_train_{2,...,500}.npy).
	Dataset        string `json:"dataset"`
	DataDir        string `json:"data_dir"`
	PseudoLabelDir string `json:"pseudo_label_dir,omitempty"`
	// Subset trains on the first Subset images of a seeded permutation of the training
	// split (0: all of it). The scale knobs (Subset, Encoder, Width, Epochs, BatchSize)
	// let one recipe run from a CPU smoke test to the paper's GPU setting.
	Subset    int    `json:"subset"`
	Encoder   string `json:"encoder"`
	Width     int    `json:"width"`
	Epochs    int    `json:"epochs"`
	BatchSize int    `json:"batch_size"`
	Seed      uint64 `json:"seed"`

	Loss losses.Config `json:"loss"`
	// Attack is the PGD that makes the adversarial views during pretraining.
	Attack attack.PGDConfig `json:"attack"`
	// AttackObjective is "plain" (the method's base contrastive loss, as with the
	// official --attack_ori) or "training" (the training criterion, variant included).
	AttackObjective string `json:"attack_objective"`
	// RegularizerWeight is RoCL's weight of NT([x^adv, x^(2)]) added to the loss (1/256).
	RegularizerWeight float64 `json:"regularizer_weight,omitempty"`
	// CEWeight is AdvCL's weight of the pseudo-label cross-entropy (0.2).
	CEWeight float64 `json:"ce_weight,omitempty"`
	// InputNorm normalises the images per channel inside the model (see EncoderFor):
	// "" for RoCL and AdvCL, "imagenet" for ACL and DynACL, as their official models do.
	InputNorm string `json:"input_norm,omitempty"`
	// AdaptiveAlpha turns on AdvCL-IP's adaptive α (`--stop_grad_adaptive`, spec §3.3),
	// starting from α₀ = Loss.Alpha; nil keeps α fixed. AdvCL only.
	AdaptiveAlpha *AdaptiveAlphaConfig `json:"adaptive_alpha,omitempty"`
	// DynACL holds DynACL's annealing and momentum-encoder settings (spec §10). DynACL only.
	DynACL *DynACLConfig `json:"dynacl,omitempty"`

	Optimizer optim.Config         `json:"optimizer"`
	Schedule  optim.ScheduleConfig `json:"schedule"`

	// LogEvery logs metrics every LogEvery steps (and at each epoch end).
	LogEvery int `json:"log_every"`
	// CheckpointEvery saves a checkpoint every CheckpointEvery steps (0: at epoch ends
	// only); KeepCheckpoints is how many are kept (0: all).
	CheckpointEvery int `json:"checkpoint_every"`
	KeepCheckpoints int `json:"keep_checkpoints"`
	// MaxSteps stops the run after this many optimizer steps in total (0: no limit);
	// for smoke tests and benchmarks. A run stopped by it can be resumed with a larger
	// limit.
	MaxSteps int64 `json:"max_steps,omitempty"`
}

// Validate checks every field before any work starts and names the first bad one with
// its allowed range.
func (c *PretrainConfig) Validate() error {
	m, err := MethodByName(c.Method)
	if err != nil {
		return fmt.Errorf("-method: %w", err)
	}
	v, err := losses.ParseVariant(c.Variant)
	if err != nil {
		return fmt.Errorf("-variant: %w", err)
	}
	if v != c.Loss.Variant {
		return fmt.Errorf("variant %q disagrees with loss.variant %q", c.Variant, c.Loss.Variant)
	}
	switch c.Dataset {
	case datasets.CIFAR10, datasets.CIFAR100:
	default:
		return fmt.Errorf("-dataset %q: pretraining supports %s and %s", c.Dataset, datasets.CIFAR10, datasets.CIFAR100)
	}
	if c.DataDir == "" {
		return fmt.Errorf("-data: the folder with the %s binary files is required", c.Dataset)
	}
	if c.Subset < 0 {
		return fmt.Errorf("-subset = %d: must be ≥ 0 (0 = the whole training split)", c.Subset)
	}
	// The stored configuration always carries the resolved width (presets set it), so
	// the zero value's "architecture default" of layers.NewEncoder is not accepted here.
	if c.Width < 1 {
		return fmt.Errorf("-width = %d: must be ≥ 1 (the encoder's base width: resnet18 64 = paper; the presets set it)", c.Width)
	}
	if _, err := layers.NewEncoder(c.Encoder, c.Width); err != nil {
		return fmt.Errorf("-encoder: %w", err)
	}
	if c.Epochs < 1 {
		return fmt.Errorf("-epochs = %d: must be ≥ 1", c.Epochs)
	}
	if c.BatchSize < 2 {
		return fmt.Errorf("-batch = %d: must be ≥ 2 (contrastive losses need negatives)", c.BatchSize)
	}
	if c.Subset > 0 && c.Subset < c.BatchSize {
		return fmt.Errorf("-subset = %d is smaller than -batch = %d", c.Subset, c.BatchSize)
	}
	if err := c.Loss.Validate(); err != nil {
		return fmt.Errorf("%s: %w", lossFlag(err), err)
	}
	if err := c.Attack.Validate(); err != nil {
		return fmt.Errorf("attack: %w", err)
	}
	switch c.AttackObjective {
	case "plain", "training":
	default:
		return fmt.Errorf("-attack-objective %q: use plain or training", c.AttackObjective)
	}
	if _, _, err := InputNormalization(c.InputNorm); err != nil {
		return err
	}
	if c.AdaptiveAlpha != nil && c.Method != advclName {
		return fmt.Errorf("-adaptive-warmup/-d-min: adaptive α is AdvCL-IP's (-method %s); method %s has none", advclName, c.Method)
	}
	if c.DynACL != nil && c.Method != dynaclName {
		return fmt.Errorf("-momentum-encoder/-reload-every: the dynacl settings are DynACL's (-method %s); method %s has none", dynaclName, c.Method)
	}
	if c.RegularizerWeight < 0 || c.CEWeight < 0 {
		return fmt.Errorf("regularizer_weight = %g and ce_weight = %g must be ≥ 0", c.RegularizerWeight, c.CEWeight)
	}
	if err := c.Optimizer.Validate(); err != nil {
		return err
	}
	if _, err := c.Schedule.Build(); err != nil {
		if !(c.Schedule.Base > 0) || math.IsInf(c.Schedule.Base, 0) {
			return fmt.Errorf("-lr: %w", err)
		}
		return err
	}
	if c.LogEvery < 1 {
		return fmt.Errorf("-log-every = %d: must be ≥ 1", c.LogEvery)
	}
	if c.CheckpointEvery < 0 || c.KeepCheckpoints < 0 || c.MaxSteps < 0 {
		return fmt.Errorf("checkpoint_every, keep_checkpoints and max_steps must be ≥ 0")
	}
	if cv, ok := m.(interface{ ValidateConfig(*PretrainConfig) error }); ok {
		if err := cv.ValidateConfig(c); err != nil {
			return err
		}
	}
	return nil
}

// lossFlag names the command-line flag of the losses.Config field a losses.Config.Validate
// error is about ("loss" for fields without a flag).
func lossFlag(err error) string {
	msg := err.Error()
	for _, f := range []struct{ field, flag string }{
		{"alpha", "-alpha"}, {"lambda", "-lambda"}, {"beta", "-beta"}, {"tau_plus", "-tau-plus"}, {"quirks", "-quirks"},
	} {
		if strings.HasPrefix(msg, f.field+" ") {
			return f.flag
		}
	}
	return "loss"
}

// RunName is a short name for the run, e.g. "rocl-ip-cifar10".
func (c *PretrainConfig) RunName() string {
	return strings.Join([]string{c.Method, c.Variant, c.Dataset}, "-")
}
