package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckpointDirUnusable gives train a --checkpoint-dir that cannot
// hold checkpoints and checks that it says so before training, with exit
// status 2 and one line naming the folder.
func TestCheckpointDirUnusable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	taken := filepath.Join(dir, "taken")
	os.MkdirAll(filepath.Join(taken, bestFile), 0o755)
	cases := []struct {
		dir  string
		want string
	}{
		{file, "cannot create the checkpoint folder " + file + ": not a directory"},
		{filepath.Join(file, "run"), "cannot create the checkpoint folder " + filepath.Join(file, "run") + ": not a directory"},
		{"/dev/null", "cannot create the checkpoint folder /dev/null: not a directory"},
		{taken, filepath.Join(taken, bestFile) + " is not a regular file"},
	}
	// /proc/self is a folder that not even root can create files in.
	if f, err := os.CreateTemp("/proc/self", "x"); err == nil {
		f.Close()
		os.Remove(f.Name())
	} else {
		cases = append(cases, struct{ dir, want string }{"/proc/self", "cannot write in the checkpoint folder /proc/self: "})
	}
	for _, c := range cases {
		code, stdout, stderr := ckRun("train", "--train-limit", "32", "--test-limit", "16", "--epochs", "1", "--checkpoint-dir", c.dir)
		if code != exitUsage {
			t.Errorf("--checkpoint-dir %s: exit %d, want %d", c.dir, code, exitUsage)
		}
		checkOneLineError(t, c.dir, stderr, c.want)
		if strings.Contains(stdout, "Epoch 1") {
			t.Errorf("--checkpoint-dir %s: trained before finding the folder unusable:\n%s", c.dir, stdout)
		}
	}
	// compare's --out likewise.
	code, _, stderr := ckRun("compare", "--models", "vgg16-reduced", "--train-limit", "32", "--test-limit", "16", "--epochs", "1",
		"--out", filepath.Join(file, "report"))
	if code != exitUsage {
		t.Errorf("compare --out under a file: exit %d, want %d", code, exitUsage)
	}
	checkOneLineError(t, "compare --out", stderr, "cannot create the report folder "+filepath.Join(file, "report")+": not a directory")
}

// firstEpoch trains one epoch with checkpoints in dir and returns the
// bytes of last.safetensors and best.safetensors.
func firstEpoch(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	code, _, stderr := ckRun("train", "--train-limit", "64", "--test-limit", "32", "--batch", "16", "--epochs", "1",
		"--checkpoint-dir", dir)
	if code != exitOK {
		t.Fatalf("first epoch: exit %d: %s", code, stderr)
	}
	return readAll(t, dir, lastFile, bestFile)
}

// checkSaveFailed checks the outcome of a run whose save after epoch 2
// failed: exit status 1, one line naming the file, the cause and that
// the previous file is intact, and the checkpoints of epoch 1 untouched
// with no temporary file left.
func checkSaveFailed(t *testing.T, dir string, before map[string][]byte, code int, stderr, cause string) {
	t.Helper()
	if code != exitFailed {
		t.Errorf("exit %d, want %d (stderr %q)", code, exitFailed, stderr)
	}
	checkOneLineError(t, "save", stderr, filepath.Join(dir, lastFile), cause,
		"(the previous file, if any, is intact); training stopped after epoch 2: once the disk is fixed, resume from epoch 1 with: ", " train --resume "+dir+"\n")
	checkUntouched(t, dir, before)
	// And the run resumes from them once there is room.
	if code, _, stderr := ckRun("eval", "--checkpoint", filepath.Join(dir, lastFile), "--test-limit", "16"); code != exitOK {
		t.Errorf("eval after the failed save: exit %d: %s", code, stderr)
	}
}

// TestFileSizeLimit resumes a run in the built binary under a file-size
// limit (RLIMIT_FSIZE, set by prlimit) smaller than a checkpoint, so that
// the write of epoch 2's checkpoint fails part-way with EFBIG: a writer
// that fails part-way in a real process, wherever tmpfs cannot be
// mounted.
func TestFileSizeLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds resgo")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("no prlimit")
	}
	dir := t.TempDir()
	before := firstEpoch(t, dir)
	r := runBinary(t, []string{prlimit, fmt.Sprintf("--fsize=%d", len(before[lastFile])/2)}, "train", "--resume", dir, "--epochs", "2")
	checkSaveFailed(t, dir, before, r.code, r.stderr, "file too large")
}
