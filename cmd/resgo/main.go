// Command resgo trains and runs convolutional image classifiers on the CPU,
// in pure Go. Its flagship is the pre-activation ResNet of the TensorFlow 2
// tutorial, trained on the embedded MNIST digits.
//
// Usage:
//
//	resgo train [flags]     train a model (default: the tutorial's ResNet)
//	resgo eval [flags]      test a saved model
//	resgo predict [flags] IMAGE...   classify pictures of digits
//	resgo compare [flags]   train several models and write a report with charts
//	resgo summary [flags]   a model's layers, parameters and multiply-adds
//	resgo bench [flags]     training and inference speed, GFLOP/s, memory
//	resgo version           the version and the kernels this CPU uses
//	resgo help [command]    explain a command
//
// Run "resgo COMMAND --help" for a command's flags. Every error is one line
// on stderr. Mistakes in the command line or in input files (data,
// checkpoints, pictures, folders) exit with status 2; a run that fails
// (training diverged, a checkpoint could not be saved, an internal error)
// with 1; an interrupted training run with 130.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"resgo/compute"
)

// command is one subcommand of resgo.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usage(w io.Writer) {
	fmt.Fprint(w, `resgo trains and runs convolutional image classifiers on the CPU, in pure Go.

Usage:
  resgo COMMAND [flags]

Commands:
`)
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `
Run "resgo COMMAND --help" for the flags of a command.
Start with: resgo train    (the tutorial's ResNet on the embedded MNIST, 10 epochs)
`)
}

func main() {
	// A command runs in a child process that a supervisor waits for (see
	// supervise.go), except in that child and for serve.
	if !fromSupervisor() && supervises(os.Args[1:]) {
		if status, ok := supervise(os.Args[1:]); ok {
			os.Exit(status)
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit status. It turns any
// panic into an error message: no stack trace reaches a user.
func run(args []string, stdout, stderr io.Writer) (status int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "resgo: internal error: %v%s\n", r, saveStack(r, args, debug.Stack()))
			status = 1
		}
	}()
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if err := checkKernelsEnv(); err != nil {
		fmt.Fprintf(stderr, "resgo: %v\n", err)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			if c, ok := commands[args[1]]; ok {
				return status0(c.run([]string{"--help"}, stdout, stderr), stderr)
			}
		}
		usage(stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "resgo: unknown command %q (run 'resgo --help')\n", name)
		return 2
	}
	return status0(c.run(args[1:], stdout, stderr), stderr)
}

// status0 prints err (if any) and maps it to an exit status.
func status0(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "resgo: %s\n", strings.TrimSpace(ue.msg))
		return 2
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(stderr, "resgo: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "resgo: %v\n", err)
	return 1
}

// saveStack writes what a bug report needs (the panic, the command line,
// the version and the stack) to a new file in the temporary folder, and
// returns the words that point the user to it (or say why it could not be
// written).
func saveStack(r any, args []string, stack []byte) string {
	path, err := saveReport(args, fmt.Sprintf("panic: %v\n\n%s", r, stack))
	if err != nil {
		return fmt.Sprintf(" (a bug: please report it; the stack trace could not be saved: %v)", err)
	}
	return fmt.Sprintf(" (a bug: please report it with the stack trace saved in %s)", path)
}

// saveReport writes a crash's report (the version, the platform, the
// command line of args, then body) to a new file in the temporary folder
// and returns its path.
func saveReport(args []string, body string) (string, error) {
	cmd := []string{"resgo"}
	if len(args) > 0 {
		cmd = args
	}
	f, err := os.CreateTemp("", "resgo-crash-*.txt")
	if err != nil {
		return "", err
	}
	_, err = fmt.Fprintf(f, "resgo %s, %s %s/%s, %s kernels\n%s\n%s",
		version, runtime.Version(), runtime.GOOS, runtime.GOARCH, compute.Kernels(), commandLine(cmd[0], cmd[1:]), body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// checkKernelsEnv returns an error if RESGO_KERNELS names no kernel set
// this CPU has: the kernels' start-up ignores such a value, which would
// leave a misspelt RESGO_KERNELS=generic silently running the fast ones.
func checkKernelsEnv() error {
	v := os.Getenv("RESGO_KERNELS")
	if v == "" {
		return nil
	}
	if err := compute.SetKernels(v); err != nil {
		return fmt.Errorf("RESGO_KERNELS=%q: %v", v, err)
	}
	return nil
}
