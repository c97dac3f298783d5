package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ainfonce/goacl/acl/report"
)

func init() {
	register("table", "the Table-1 grid (SLF/ALF/AFF × SA/RA/AutoAttack) from run directories", runTable)
}

const tableUsage = `usage: acl table -runs DIR [DIR...] [-format md|csv|latex] [-out FILE]

Builds the Table-1 grid — one row per pretraining run (method × variant × dataset), for
SLF, ALF and AFF the clean accuracy (SA), the PGD robust accuracy (RA) and the AutoAttack
robust accuracy (AA) — from the results files of the run directories alone. Every cell
names its source file; a cell measured with settings that differ from the rest of its
column (protocol, attack, step size, test subset, selection rule, finetuning scale) gets a
numbered note saying how, and cells selected on the test set are labelled so.
The run directories may also be given as arguments after the flags.

flags:
`

func runTable(args []string) int {
	fs := flag.NewFlagSet("acl table", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), tableUsage); fs.PrintDefaults() }
	var runs multiFlag
	fs.Var(&runs, "runs", "pretraining run directory (repeatable; further directories may follow the flags)")
	format := fs.String("format", "md", "md | csv | latex")
	out := fs.String("out", "", "write the table to this file instead of standard output")
	// "-runs A B C -format csv": the flag package stops at B, so keep collecting
	// directories up to the next flag and parse on from there.
	var extra []string
	for rest := args; ; {
		if code, ok := parseFlags(fs, rest); !ok {
			return code
		}
		rest = fs.Args()
		for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			extra, rest = append(extra, rest[0]), rest[1:]
		}
		if len(rest) == 0 {
			break
		}
	}
	dirs := append([]string(runs), extra...)
	if len(dirs) == 0 {
		fmt.Fprintln(os.Stderr, "acl table: give the run directories with -runs DIR [DIR...]")
		return 2
	}
	t, err := report.BuildTable(dirs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl table:", err)
		return 1
	}
	s, err := t.Format(*format)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acl table:", err)
		return 2
	}
	if *out == "" {
		fmt.Print(s)
		return 0
	}
	if err := os.WriteFile(*out, []byte(s), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "acl table: -out:", err)
		return 1
	}
	fmt.Printf("wrote %s (%d runs)\n", *out, len(t.Rows))
	return 0
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint([]string(*m)) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
