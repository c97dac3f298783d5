package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/ainfonce/goacl/datasets"
)

func init() {
	register("data", "data set tools: data verify -dataset cifar10|cifar100|stl10 -dir DIR", runData)
}

// runData dispatches "acl data <subcommand>".
func runData(args []string) int {
	return runDataTo(args, os.Stdout, os.Stderr)
}

// runDataTo is runData writing its report to stdout and its errors to stderr.
func runDataTo(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, "usage: acl data verify -dataset "+strings.Join(datasets.Names(), "|")+" -dir DIR")
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "verify":
		return runDataVerify(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "acl data: unknown subcommand %q; known: verify\n", args[0])
	return 2
}

// runDataVerify implements "acl data verify": it checks a data set folder with
// datasets.Verify and prints the per-split and per-class counts.
func runDataVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("acl data verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	allowed := strings.Join(datasets.Names(), "|")
	name := fs.String("dataset", datasets.CIFAR10, "data set: "+allowed)
	dir := fs.String("dir", "", "folder holding the data set's official binary files (required)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "acl data verify: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if !slices.Contains(datasets.Names(), *name) {
		fmt.Fprintf(stderr, "acl data verify: -dataset %q is not one of %s\n", *name, allowed)
		return 2
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "acl data verify: -dir is required (the folder holding the data set's files)")
		return 2
	}
	if err := datasets.Verify(*name, *dir, stdout); err != nil {
		fmt.Fprintf(stderr, "acl data verify: FAILED: %v\n", err)
		return 1
	}
	return 0
}
