//go:build !unix

package main

import "os"

// resizeSignals are the signals that tell of a change of the terminal's
// size: none here, so the bar keeps the width it read at start.
var resizeSignals []os.Signal
