package main

import (
	"errors"
	"flag"
	"strings"

	"github.com/ainfonce/goacl/acl/field"
)

// The library names an invalid configuration value by its config.json key (a
// *field.Error); the command line names it by the flag that sets it. Each command's map
// below is the one place a key meets its flag; a key without a flag keeps its name.

// pretrainFlags maps pretraining configuration keys to `acl pretrain` flags.
var pretrainFlags = map[string]string{
	"method": "-method", "variant": "-variant", "preset": "-preset", "dataset": "-dataset",
	"data_dir": "-data", "pseudo_label_dir": "-pseudo-labels", "subset": "-subset",
	"encoder": "-encoder", "width": "-width", "epochs": "-epochs", "batch_size": "-batch",
	"seed": "-seed", "loss.alpha": "-alpha", "loss.lambda": "-lambda", "loss.beta": "-beta",
	"loss.tau_plus": "-tau-plus", "loss.quirks": "-quirks", "attack.steps": "-attack-steps",
	"attack_objective": "-attack-objective", "ce_weight": "-ce-weight", "input_norm": "-input-norm",
	"adaptive_alpha": "-adaptive-warmup", "adaptive_alpha.warmup_epochs": "-adaptive-warmup",
	"adaptive_alpha.d_min": "-d-min", "dynacl": "-reload-every", "dynacl.reload_every": "-reload-every",
	"dynacl.momentum_encoder": "-momentum-encoder", "schedule.base": "-lr", "log_every": "-log-every",
	"checkpoint_every": "-checkpoint-every", "max_steps": "-max-steps", "devices": "-devices",
	"knn.every": "-knn-every", "knn.test_images": "-knn-test",
}

// finetuneFlags maps finetuning configuration keys to `acl finetune` flags.
var finetuneFlags = map[string]string{
	"mode": "-mode", "protocol": "-protocol", "branch": "-branch", "epochs": "-epochs",
	"batch_size": "-batch", "lr": "-lr", "train_subset": "-train-subset", "val_size": "-val-size",
	"test_subset": "-test-subset", "eval_batch": "-eval-batch", "selection": "-select", "seed": "-seed",
	"eval_attack.step_size": "-eval-step", "eval_attack.epsilon": "-eval-eps",
	"pretrained_checkpoint": "-checkpoint", "data_dir": "-data",
}

// evalFlags maps evaluation option keys (eval.Options.Validate) to `acl eval` flags.
var evalFlags = map[string]string{
	"epsilon": "-eps", "step_size": "-step", "steps": "-steps", "restarts": "-restarts",
	"test_subset": "-test-subset", "batch_size": "-batch", "seed": "-seed", "data_dir": "-data",
}

// phrase returns err's message with the configuration keys of its field error (if any)
// written as the command's flags.
func phrase(err error, flags map[string]string) string {
	msg := err.Error()
	var fe *field.Error
	if !errors.As(err, &fe) {
		return msg
	}
	named := fe.Phrase(func(key string) string {
		if f, ok := flags[key]; ok {
			return f
		}
		return key
	})
	return strings.Replace(msg, fe.Error(), named, 1)
}

// parseFlags parses a command's flags; ok is false when the command ends here with exit
// code code: 0 after -h or -help (the usage was asked for), 2 after a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		return 0, false
	}
	return 2, false
}
