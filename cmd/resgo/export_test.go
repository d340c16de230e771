package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportCommand writes the committed model as ONNX and checks the
// command's errors: a missing flag is a usage error (2), a bad checkpoint
// an input error (2), an unwritable destination a failure (1) that leaves
// nothing behind.
func TestExportCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.onnx")
	code, stdout, stderr := ckRun("export", "--checkpoint", ckTestModel, "-o", out)
	if code != 0 || !strings.Contains(stdout, "wrote "+out) {
		t.Fatalf("export: status %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if b, err := os.ReadFile(out); err != nil || len(b) < 2_000_000 {
		t.Errorf("export wrote %d bytes (%v), want the 2.3 MB of weights", len(b), err)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"export", "-o", out}, 2, "--checkpoint FILE is required"},
		{[]string{"export", "--checkpoint", ckTestModel}, 2, "-o FILE is required"},
		{[]string{"export", "--checkpoint", filepath.Join(dir, "none"), "-o", out}, 2, "none"},
		{[]string{"export", "--checkpoint", ckTestModel, "-o", filepath.Join(dir, "no", "m.onnx")}, 1, "no such file or directory"},
	} {
		code, _, stderr := ckRun(c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: status %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.msg)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("the directory holds %d files after a failed export, want only m.onnx", len(ents))
	}
}
