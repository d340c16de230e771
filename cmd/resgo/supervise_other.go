//go:build !unix

package main

// fromSupervisor returns false: commands are not supervised here (see
// supervise.go).
func fromSupervisor() bool { return false }

// supervise returns false: the command runs in this process.
func supervise([]string) (int, bool) { return 0, false }
