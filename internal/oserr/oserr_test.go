package oserr

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestCause(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.safetensors")
	_, err := os.Open(path)
	if err == nil {
		t.Fatal("opening a missing file succeeded")
	}
	got := Cause(err)
	if !errors.Is(got, os.ErrNotExist) {
		t.Errorf("Cause(%v) = %v, want the wrapped not-exist error", err, got)
	}
	if s := got.Error(); s != "no such file or directory" {
		t.Errorf("Cause(%v) = %q, want the bare cause without the path", err, s)
	}
	// A PathError wrapped by fmt.Errorf is found too.
	if got := Cause(fmt.Errorf("saving: %w", err)); got.Error() != "no such file or directory" {
		t.Errorf("Cause of a wrapped PathError = %q", got)
	}
	other := errors.New("disk full")
	if got := Cause(other); got != other {
		t.Errorf("Cause(%v) = %v, want it unchanged", other, got)
	}
}
