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
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the exported file's mode: %v %v, want 0644", fi.Mode(), err)
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

// TestONNXCommands: eval, predict and summary take an ONNX file where they
// take a checkpoint, told apart by content (here under a .bin name): the
// committed model exported evaluates as the checkpoint does.
func TestONNXCommands(t *testing.T) {
	out := filepath.Join(t.TempDir(), "model.bin")
	if code, _, stderr := ckRun("export", "--checkpoint", ckTestModel, "-o", out); code != 0 {
		t.Fatalf("export: %s", stderr)
	}
	_, want, _ := ckRun("eval", "--checkpoint", ckTestModel, "--test-limit", "300", "--json")
	code, got, stderr := ckRun("eval", "--checkpoint", out, "--test-limit", "300", "--json")
	if code != 0 {
		t.Fatalf("eval of the ONNX file: status %d: %s", code, stderr)
	}
	acc := func(s string) string {
		i := strings.Index(s, `"accuracy"`)
		if i < 0 {
			return ""
		}
		return s[i : i+strings.IndexByte(s[i:], ',')]
	}
	if acc(got) == "" || acc(got) != acc(want) {
		t.Errorf("eval of the ONNX file: %s, of the checkpoint: %s", acc(got), acc(want))
	}
	if !strings.Contains(got, `"model": "resnet"`) {
		t.Errorf("eval of the ONNX file does not name its model:\n%s", got)
	}
	code, stdout, stderr := ckRun("predict", "--checkpoint", out, "../../testdata/digits/seven.png")
	if code != 0 || !strings.Contains(stdout, "seven.png:  7 ") {
		t.Errorf("predict with the ONNX file: status %d, %q %q", code, stdout, stderr)
	}
	code, stdout, stderr = ckRun("summary", "--checkpoint", "../../onnx/testdata/torch-resnet.onnx")
	if code != 0 || !strings.Contains(stdout, "conv1 (Conv2D+ReLU)") || !strings.Contains(stdout, "Total params: 576,170") {
		t.Errorf("summary of PyTorch's ResNet: status %d:\n%s%s", code, stdout, stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	b, _ := os.ReadFile("../../onnx/testdata/torch-resnet.onnx")
	os.WriteFile(bad, b[:1000], 0o644)
	if code, _, stderr := ckRun("eval", "--checkpoint", bad); code != 2 || !strings.Contains(stderr, "onnx "+bad) {
		t.Errorf("eval of a truncated ONNX file: status %d, %q", code, stderr)
	}
}
