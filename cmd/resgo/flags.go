package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlags returns a FlagSet for a command that reports errors as
// usageErrors (one line and a pointer to --help) instead of printing.
func newFlags(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "%s\n\nFlags:\n", strings.TrimSpace(synopsis))
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
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
