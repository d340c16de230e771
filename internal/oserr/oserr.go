// Package oserr shortens operating-system errors for messages that already
// name the file they are about.
package oserr

import (
	"errors"
	"os"
)

// Cause returns the error an *os.PathError wraps, dropping the operation and
// path it repeats, so that "checkpoint.safetensors: cannot read: open
// checkpoint.safetensors: no such file or directory" reads "...: cannot read:
// no such file or directory". Other errors come back unchanged.
func Cause(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
