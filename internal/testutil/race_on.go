//go:build race

package testutil

// RaceEnabled reports whether the race detector is on: it allocates on
// synchronisation, so allocation counts mean nothing under it.
const RaceEnabled = true
