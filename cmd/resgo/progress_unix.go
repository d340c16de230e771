//go:build unix

package main

import (
	"os"
	"syscall"
)

// resizeSignals are the signals that tell of a change of the terminal's size.
var resizeSignals = []os.Signal{syscall.SIGWINCH}
