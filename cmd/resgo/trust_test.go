package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"resgo/checkpoint"
)

// copyTestModel copies the committed test model into a new folder as
// name and returns its path.
func copyTestModel(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(ckTestModel)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestNoSilentNaN checks that a checkpoint whose weights overflow on a
// digit, though finite, makes eval and predict fail with one line naming
// the checkpoint (exit status 1) instead of printing NaN; and that one
// holding a negative moving variance is refused at load (exit status 2).
func TestNoSilentNaN(t *testing.T) {
	const seven = "../../testdata/digits/seven.png"
	overflow := copyTestModel(t, "overflow.safetensors")
	forge(t, overflow, func(f *checkpoint.File) { f.Tensor("conv1.kernel").Data[4] = 3e38 })
	negative := copyTestModel(t, "negative.safetensors")
	forge(t, negative, func(f *checkpoint.File) { f.Tensor("res2.1.bn2.moving_variance").Data[5] = -5 })
	for _, c := range []struct {
		cmd, path string
		code      int
		want      string
	}{
		{"eval", overflow, exitFailed, "the model gives non-finite outputs for test image 0"},
		{"predict", overflow, exitFailed, "the model gives a probability of NaN"},
		{"eval", negative, exitUsage, `tensor "res2.1.bn2.moving_variance" holds -5 at index 5`},
		{"predict", negative, exitUsage, "but it holds variances, which are never negative"},
	} {
		args := []string{c.cmd, "--checkpoint", c.path, seven}
		if c.cmd == "eval" {
			args = []string{c.cmd, "--test-limit", "50", "--checkpoint", c.path}
		}
		code, stdout, stderr := ckRun(args...)
		if code != c.code || strings.Contains(stdout, "NaN") {
			t.Errorf("%v: exit %d, want %d; stdout:\n%s", args, code, c.code, stdout)
		}
		checkOneLineError(t, c.cmd, stderr, "checkpoint "+c.path+": ", c.want)
	}
}
