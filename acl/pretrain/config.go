package pretrain

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/attack"

	"github.com/ainfonce/goacl/acl/losses"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
)

// Config is the fully resolved configuration of a pretraining run: what a preset fills in
// and the command line's flags override. It is stored as the run's config.json (field
// names unchanged since the first runs), so a run directory says exactly how it was
// trained; validation errors name fields by their keys here (field.Error).
type Config struct {
	// Method is the pretraining method's name (Methods), Variant the A-InfoNCE variant
	// (losses.Variant's name) and Preset the preset the configuration started from.
	Method  string `json:"method"`
	Variant string `json:"variant"`
	Preset  string `json:"preset"`

	// Data: Dataset is "cifar10" or "cifar100"; DataDir holds its official binary files;
	// PseudoLabelDir holds AdvCL's pseudo labels (pseudo_train_{2,...,500}.npy).
	Dataset        string `json:"dataset"`
	DataDir        string `json:"data_dir"`
	PseudoLabelDir string `json:"pseudo_label_dir,omitempty"`
	// DataFingerprint is datasets.Fingerprint of DataDir's files, recorded when the run
	// starts (Pretrain also makes DataDir and PseudoLabelDir absolute): later stages read
	// the same files or stop (ResolveData). Empty in runs recorded before it existed.
	DataFingerprint string `json:"data_fingerprint,omitempty"`
	// Subset trains on the first Subset images of a seeded permutation of the training
	// split (0: all of it). The scale knobs (Subset, Encoder, Width, Epochs, BatchSize)
	// let one recipe run from a CPU smoke test to the paper's GPU setting.
	Subset    int    `json:"subset"`
	Encoder   string `json:"encoder"`
	Width     int    `json:"width"`
	Epochs    int    `json:"epochs"`
	BatchSize int    `json:"batch_size"`
	Seed      uint64 `json:"seed"`

	// Loss is the A-InfoNCE configuration: variant, τ, α, β, τ⁺, λ and quirks.
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

	// Optimizer and Schedule are the update rule and the learning-rate schedule.
	Optimizer optim.Config         `json:"optimizer"`
	Schedule  optim.ScheduleConfig `json:"schedule"`

	// KNN configures the kNN monitor (nil: off): every KNN.Every epochs the encoder's
	// features of a fixed test subset are classified by weighted kNN against those of the
	// training images, logged to metrics.jsonl and the progress output.
	KNN *KNNConfig `json:"knn,omitempty"`

	// LogEvery logs metrics every LogEvery steps (and at each epoch end).
	LogEvery int `json:"log_every"`
	// CheckpointEvery saves a checkpoint every CheckpointEvery steps (0: at epoch ends
	// only); KeepCheckpoints is how many are kept (0: all).
	CheckpointEvery int `json:"checkpoint_every"`
	KeepCheckpoints int `json:"keep_checkpoints"`
	// Devices runs every step over this many devices of an XLA backend (0 or 1: one
	// device): the batch split along its first axis (BatchSize must divide by Devices),
	// the variables replicated, and each step the step of one device with the whole
	// batch (train.Loop.Devices). It says how the run is executed, not what it computes:
	// a run may resume on another number of devices.
	Devices int `json:"devices,omitempty"`
	// MaxSteps stops the run after this many optimizer steps in total (0: no limit);
	// for smoke tests and benchmarks. A run stopped by it can be resumed with a larger
	// limit.
	MaxSteps int64 `json:"max_steps,omitempty"`
}

// Validate checks every field before any work starts and returns a *field.Error naming
// the first bad one (by its config.json key) with its allowed range; the method checks
// its own settings last (Method.Validate).
func (c *Config) Validate() error {
	m, err := MethodByName(c.Method)
	if err != nil {
		return err
	}
	v, err := losses.ParseVariant(c.Variant)
	if err != nil {
		return field.Wrap("variant", err)
	}
	if v != c.Loss.Variant {
		return field.Errorf("variant", "{variant} %q disagrees with {loss.variant} %q", c.Variant, c.Loss.Variant)
	}
	if !slices.Contains(m.Variants(), c.Variant) {
		return field.Errorf("variant", "{variant} %q: method %s trains %s", c.Variant, c.Method, strings.Join(m.Variants(), ", "))
	}
	switch c.Dataset {
	case datasets.CIFAR10, datasets.CIFAR100:
	default:
		return field.Errorf("dataset", "{dataset} %q: pretraining supports %s and %s", c.Dataset, datasets.CIFAR10, datasets.CIFAR100)
	}
	if c.DataDir == "" {
		return field.Errorf("data_dir", "{data_dir}: the folder with the %s binary files is required", c.Dataset)
	}
	if c.Subset < 0 {
		return field.Errorf("subset", "{subset} = %d: must be ≥ 0 (0 = the whole training split)", c.Subset)
	}
	// The stored configuration always carries the resolved width (presets set it), so
	// the zero value's "architecture default" of layers.NewEncoder is not accepted here.
	if c.Width < 1 {
		return field.Errorf("width", "{width} = %d: must be ≥ 1 (the encoder's base width: resnet18 64 = paper; the presets set it)", c.Width)
	}
	if _, err := layers.NewEncoder(c.Encoder, c.Width); err != nil {
		return field.Wrap("encoder", err)
	}
	if c.Epochs < 0 {
		return field.Errorf("epochs", "{epochs} = %d: must be ≥ 1 (or 0: the model as initialised, no training: the random-encoder baseline)", c.Epochs)
	}
	if c.BatchSize < 2 {
		return field.Errorf("batch_size", "{batch_size} = %d: must be ≥ 2 (contrastive losses need negatives)", c.BatchSize)
	}
	if c.Subset > 0 && c.Subset < c.BatchSize {
		return field.Errorf("subset", "{subset} = %d is smaller than {batch_size} = %d", c.Subset, c.BatchSize)
	}
	if err := c.Loss.Validate(); err != nil {
		return field.Within("loss", err)
	}
	if err := c.Attack.Validate(); err != nil {
		return field.Within("attack", err)
	}
	switch c.AttackObjective {
	case "plain", "training":
	default:
		return field.Errorf("attack_objective", "{attack_objective} %q: use plain or training", c.AttackObjective)
	}
	if _, _, err := InputNormalization(c.InputNorm); err != nil {
		return err
	}
	if a := c.AdaptiveAlpha; a != nil && a.method() != c.Method {
		return field.Errorf("adaptive_alpha", "{adaptive_alpha}: adaptive α is AdvCL-IP's ({method} %s); method %s has none", a.method(), c.Method)
	}
	if d := c.DynACL; d != nil && d.method() != c.Method {
		return field.Errorf("dynacl", "{dynacl}: the dynacl settings are DynACL's ({method} %s); method %s has none", d.method(), c.Method)
	}
	if !(c.RegularizerWeight >= 0) {
		return field.Errorf("regularizer_weight", "{regularizer_weight} = %g: must be ≥ 0", c.RegularizerWeight)
	}
	if !(c.CEWeight >= 0) {
		return field.Errorf("ce_weight", "{ce_weight} = %g: must be ≥ 0", c.CEWeight)
	}
	if err := c.Optimizer.Validate(); err != nil {
		return field.Within("optimizer", err)
	}
	if _, err := c.Schedule.Build(); err != nil && c.Epochs > 0 {
		return field.Within("schedule", err)
	}
	if err := c.KNN.Validate(); err != nil {
		return field.Within("knn", err)
	}
	if c.LogEvery < 1 {
		return field.Errorf("log_every", "{log_every} = %d: must be ≥ 1", c.LogEvery)
	}
	if c.Devices < 0 {
		return field.Errorf("devices", "{devices} = %d: must be ≥ 1 (0: one device)", c.Devices)
	}
	if c.Devices > 1 && c.BatchSize%c.Devices != 0 {
		return field.Errorf("devices", "{batch_size} = %d does not divide over {devices} = %d: each device takes an equal share of the batch",
			c.BatchSize, c.Devices)
	}
	if c.CheckpointEvery < 0 || c.KeepCheckpoints < 0 || c.MaxSteps < 0 {
		return field.Errorf("checkpoint_every", "{checkpoint_every} (%d), {keep_checkpoints} (%d) and {max_steps} (%d) must be ≥ 0",
			c.CheckpointEvery, c.KeepCheckpoints, c.MaxSteps)
	}
	if c.PseudoLabelDir != "" && !m.Inputs(c, 0).PseudoLabels {
		return field.Errorf("pseudo_label_dir", "{pseudo_label_dir} %s: method %s reads no pseudo labels (AdvCL's); leave it empty so that the run does not record a folder it never read", c.PseudoLabelDir, c.Method)
	}
	// The net under every check above: no field, read by this variant or not, may hold a
	// value config.json cannot record.
	if err := field.Finite(c); err != nil {
		return err
	}
	return m.Validate(c)
}

// RunName is a short name for the run, e.g. "rocl-ip-cifar10".
func (c *Config) RunName() string {
	return strings.Join([]string{c.Method, c.Variant, c.Dataset}, "-")
}

// SameTraining reports whether a resumed run's configuration computes the same training
// as the stored one: only max_steps, the logging and the checkpoint settings and the
// number of devices may differ (and the kNN monitor), and the data folder may move when both
// configurations record the same data fingerprint (the same files elsewhere). Paths are compared cleaned (a trailing "/" changes nothing).
// The error is a *field.Error naming the first field that differs, with both values, and
// lists the others.
func SameTraining(stored, now Config) error {
	norm := func(c Config) map[string]string {
		c.MaxSteps, c.LogEvery, c.CheckpointEvery, c.KeepCheckpoints, c.Devices = 0, 0, 0, 0, 0
		c.KNN = nil
		for _, p := range []*string{&c.DataDir, &c.PseudoLabelDir} {
			if *p != "" {
				*p = filepath.Clean(*p)
			}
		}
		if stored.DataFingerprint != "" && stored.DataFingerprint == now.DataFingerprint {
			c.DataDir = "" // the same files, wherever they are now
		}
		if stored.DataFingerprint == "" || now.DataFingerprint == "" {
			c.DataFingerprint = "" // recorded by an older goacl, or not computed yet
		}
		b, _ := json.Marshal(c)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		flat := map[string]string{}
		flattenJSON("", m, flat)
		return flat
	}
	a, b := norm(stored), norm(now)
	var diff []string
	for k, v := range a {
		if b[k] != v {
			diff = append(diff, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, k)
		}
	}
	if len(diff) == 0 {
		return nil
	}
	sort.Strings(diff)
	if i := slices.Index(diff, "data_fingerprint"); i >= 0 {
		// Other files: say so first (a moved folder alone is not a difference).
		diff = slices.DeleteFunc(diff, func(k string) bool { return k == "data_dir" || k == "data_fingerprint" })
		diff = append([]string{"data_fingerprint"}, diff...)
	}
	first := diff[0]
	show := func(v string, ok bool) string {
		if !ok {
			return "unset"
		}
		return v
	}
	sa, okA := a[first]
	sb, okB := b[first]
	key := first
	if key == "data_fingerprint" {
		key = "data_dir" // different files in the data folder: the folder is the setting
	}
	msg := fmt.Sprintf("{%s}: %s = %s differs from the run's %s (%s)", key, first, show(sb, okB), rundir.ConfigFile, show(sa, okA))
	if first == "data_fingerprint" {
		msg = fmt.Sprintf("{%s} %s: its files are not those the run was trained on (fingerprint %s, the run recorded %s)", key, now.DataDir, sb, sa)
	}
	if len(diff) > 1 {
		msg += fmt.Sprintf("; also different: %s", strings.Join(diff[1:], ", "))
	}
	return field.Errorf(key, "%s (only max_steps, log_every, knn, the checkpoint settings and devices may change on resume)", msg)
}

// flattenJSON writes the leaves of a decoded JSON value into out by dotted key.
func flattenJSON(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flattenJSON(key, e, out)
		}
	default:
		b, _ := json.Marshal(x)
		out[prefix] = string(b)
	}
}

// ReadConfig reads the configuration (config.json) of the pretraining run directory
// runDir.
func ReadConfig(runDir string) (*Config, error) {
	run, err := rundir.Open(runDir)
	if err != nil {
		return nil, err
	}
	var cfg Config
	if err := run.ReadJSON(rundir.ConfigFile, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}
