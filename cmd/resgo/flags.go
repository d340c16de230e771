package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"

	"resgo/models"
)

// newFlags returns a FlagSet for a command that reports errors as
// usageErrors (one line and a pointer to --help) instead of printing.
func newFlags(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "%s\n\nFlags:\n", strings.TrimSpace(synopsis))
		printDefaults(stdout, fs)
	}
	return fs
}

// printDefaults is flag.PrintDefaults, except that a flag whose usage
// already says what its default is ("(default: all cores)") is not
// followed by "(default 2)" as well.
func printDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		var b strings.Builder
		fmt.Fprintf(&b, "  -%s", f.Name)
		if name != "" {
			fmt.Fprintf(&b, " %s", name)
		}
		if b.Len() <= 4 && name == "" { // a one-letter boolean: usage on the same line
			b.WriteString("\t")
		} else {
			b.WriteString("\n    \t")
		}
		b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
		if !saysDefault(usage) && !zeroDefault(f) {
			if fmt.Sprintf("%T", f.Value) == "*flag.stringValue" {
				fmt.Fprintf(&b, " (default %q)", f.DefValue)
			} else {
				fmt.Fprintf(&b, " (default %v)", f.DefValue)
			}
		}
		fmt.Fprintln(w, b.String())
	})
}

// saysDefault reports whether a flag's usage explains its default itself.
func saysDefault(usage string) bool {
	return strings.Contains(usage, "(default")
}

// zeroDefault reports whether f's default is its type's zero value, which
// flag.PrintDefaults does not print either.
func zeroDefault(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "0", "false":
		return true
	}
	return false
}

// plural returns "1 epoch", "2 epochs": n and the word, with an s unless
// n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// parse parses args; --help prints the usage and returns errHelp. A
// mistake gives a one-line usageError and prints nothing: fs.Parse would
// call fs.Usage for it too, so Usage is silenced while it runs.
func parse(fs *flag.FlagSet, args []string) error {
	printUsage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = printUsage
	if errors.Is(err, flag.ErrHelp) {
		printUsage()
		return errHelp
	}
	if err != nil {
		return &usageError{fmt.Sprintf("%s: %v (see 'resgo %s --help')", fs.Name(), err, fs.Name())}
	}
	if fs.NArg() > 0 && !allowsArgs[fs.Name()] {
		return &usageError{fmt.Sprintf("%s: unexpected argument %q (see 'resgo %s --help')", fs.Name(), fs.Arg(0), fs.Name())}
	}
	return nil
}

// allowsArgs lists commands that take positional arguments.
var allowsArgs = map[string]bool{}

// maxThreads is the most worker threads any command accepts: far more than
// any machine resgo runs on has cores, and few enough that a mistyped
// --threads cannot create millions of goroutines.
const maxThreads = 1024

// errHelp means --help was given and answered.
var errHelp = &exitError{code: 0, err: errors.New("")}

// badFlag returns a usage error for an invalid flag value.
func badFlag(cmd, format string, args ...any) error {
	return &usageError{fmt.Sprintf("%s: %s (see 'resgo %s --help')", cmd, fmt.Sprintf(format, args...), cmd)}
}

// shortRunNote returns a note for a run of steps optimiser steps whose
// BatchNorm momentum is too high for so few: after them the moving
// statistics that inference (the test pass) uses still hold more than a
// tenth of their initial values (0 means and unit variances), so the test
// accuracy comes out far below the training one. It returns "" for a run
// long enough.
func shortRunNote(momentum float64, steps int) string {
	left := math.Pow(momentum, float64(steps))
	if left <= 0.1 {
		return ""
	}
	advice := "--bn-momentum 0.9 suits it"
	if math.Pow(0.9, float64(steps)) > 0.1 {
		advice = "train for more steps (--bn-momentum 0.9 suits runs of 22 steps or more)"
	}
	return fmt.Sprintf("Note: this run of %s is too short for BatchNorm momentum %v: the moving statistics the test pass uses will still be %.0f%% their initial values, so expect a test accuracy far below the training one; %s",
		plural(steps, "step"), momentum, 100*left, advice)
}

// checkWidth refuses --width for a model that has no width multiplier,
// which would otherwise be accepted and ignored.
func checkWidth(cmd, name string, width float64) error {
	if width == 0 || hasWidth(name) {
		return nil
	}
	var with []string
	for _, n := range models.Names() {
		if hasWidth(n) {
			with = append(with, n)
		}
	}
	return badFlag(cmd, "--width: %s has no width multiplier (the models that have one: %s)", name, strings.Join(with, ", "))
}

// hasWidth reports whether the named model has a width multiplier: whether
// two multipliers give it different numbers of parameters.
func hasWidth(name string) bool {
	count := func(w float64) int {
		m, err := models.New(name, models.Options{WidthMultiplier: w})
		if err != nil {
			return -1
		}
		tc, _ := models.CountParams(m)
		return tc
	}
	return count(0.125) != count(0.0625)
}
