package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/ainfonce/goacl/acl/train"
)

// The training commands (pretrain, finetune) resolve a configuration from a preset or
// protocol plus the flags the command line sets, check it, optionally print it, and run.
// This file holds the parts they share.

// checkConfig validates cfg, the resolved configuration of the command name (e.g. "acl
// finetune"), phrasing an invalid field with the command's flags, and with -print-config
// prints it as indented JSON. done reports that the
// command ends here with exit code code: 2 after an invalid configuration (the error goes
// to stderr), 0 after printing it.
func checkConfig(name string, cfg interface{ Validate() error }, printConfig bool, flags map[string]string) (code int, done bool) {
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, name+":", phrase(err, flags))
		return 2, true
	}
	if !printConfig {
		return 0, false
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, name+": -print-config:", err)
		return 1, true
	}
	fmt.Println(string(b))
	return 0, true
}

// trainingFailed reports err, why the training of the command name failed, on stderr and
// returns the exit code: 3 when a loss or variable became NaN or ±Inf (train.ErrNonFinite),
// so that scripts can tell a diverged run from a broken one, 1 otherwise.
func trainingFailed(name string, err error, flags map[string]string) int {
	fmt.Fprintln(os.Stderr, name+":", phrase(err, flags))
	if errors.Is(err, train.ErrNonFinite) {
		return 3
	}
	return 1
}
