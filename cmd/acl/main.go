// Command acl is the command line of the goacl toolkit: data checks, pretraining,
// finetuning, evaluation and tables. Each subcommand lives in its own file and
// registers itself in the commands table; main only dispatches.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// command is one subcommand: its one-line summary and its entry point, which receives
// the arguments after the subcommand's name (and, for nested commands such as
// "data verify", after the nested name too) and returns the process exit code.
type command struct {
	summary string
	run     func(args []string) int
}

// commands maps a subcommand name to its implementation; files of this package add to it
// from init functions.
var commands = map[string]command{}

func register(name, summary string, run func(args []string) int) {
	if _, dup := commands[name]; dup {
		panic("acl: subcommand registered twice: " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: acl <command> [flags]")
	fmt.Fprintln(os.Stderr, "\ncommands:")
	for _, name := range sortedNames() {
		fmt.Fprintf(os.Stderr, "  %-14s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'acl <command> -h' for the flags of a command.")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	name := os.Args[1]
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "acl: unknown command %q; known commands: %s\n", name, strings.Join(sortedNames(), ", "))
		os.Exit(2)
	}
	os.Exit(cmd.run(os.Args[2:]))
}

func sortedNames() []string {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
