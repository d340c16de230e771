package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"resgo/checkpoint"
	"resgo/data"
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

// TestRunsNeverOverwrite checks that a run never replaces another's
// checkpoints: a fresh run into a folder holding one is refused (status 2,
// offering --resume and --overwrite) and leaves it byte for byte, a folder
// locked by another run is refused naming its process, and (without
// -short, as these train) a resumed run removes an interrupted save's
// temporary files, resuming into another run's folder is refused, and
// --overwrite starts afresh.
func TestRunsNeverOverwrite(t *testing.T) {
	small := []string{"--train-limit", "64", "--test-limit", "32", "--batch", "16"}
	train := func(dir string, args ...string) (int, string, string) {
		return ckRun(append(append([]string{"train", "--checkpoint-dir", dir}, small...), args...)...)
	}
	// A folder holding a run: the test model as its last and best.
	held := filepath.Dir(copyTestModel(t, lastFile))
	b, _ := os.ReadFile(filepath.Join(held, lastFile))
	if err := os.WriteFile(filepath.Join(held, bestFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	before := readAll(t, held, lastFile, bestFile)
	code, _, stderr := train(held, "--epochs", "1")
	if code != exitUsage {
		t.Errorf("a fresh run into a run's folder: exit %d, want %d", code, exitUsage)
	}
	checkOneLineError(t, "fresh run", stderr, held+" already holds a run (last.safetensors and best.safetensors: resnet, 2 of ",
		"best test accuracy 98.", "train --resume "+held, "--overwrite")
	checkUntouched(t, held, before)

	// A folder locked by another process (here, this one).
	locked := t.TempDir()
	l, err := checkpoint.LockDir(locked)
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr = train(locked, "--epochs", "1")
	l.Unlock()
	if code != exitUsage {
		t.Errorf("a run into a locked folder: exit %d, want %d", code, exitUsage)
	}
	checkOneLineError(t, "locked", stderr, "checkpoint folder "+locked+" is in use by another resgo run (process "+strconv.Itoa(os.Getpid()))
	if ents, _ := os.ReadDir(locked); len(ents) != 0 {
		t.Errorf("the refused run left %v", ents)
	}
	if testing.Short() {
		return
	}

	dir := filepath.Join(t.TempDir(), "run")
	if code, stdout, stderr := train(dir, "--epochs", "1"); code != exitOK {
		t.Fatalf("first run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// An interrupted save's temporary file goes at the next resume.
	stale := filepath.Join(dir, ".last.safetensors.tmp-123456")
	if err := os.WriteFile(stale, []byte("half a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := ckRun("train", "--resume", dir, "--epochs", "2"); code != exitOK {
		t.Fatalf("resume: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("%s is still there after a resume", stale)
	}
	// Resuming into another run's folder is refused.
	before = readAll(t, held, lastFile, bestFile)
	code, _, stderr = ckRun("train", "--resume", dir, "--epochs", "3", "--checkpoint-dir", held)
	if code != exitUsage {
		t.Errorf("resume into another run's folder: exit %d, want %d", code, exitUsage)
	}
	checkOneLineError(t, "resume elsewhere", stderr, held+" holds another run", "--overwrite")
	checkUntouched(t, held, before)

	// --overwrite starts afresh: a 1-epoch run of another seed.
	if code, stdout, stderr := train(held, "--epochs", "1", "--seed", "2", "--overwrite"); code != exitOK {
		t.Fatalf("--overwrite: exit %d\n%s\n%s", code, stdout, stderr)
	}
	st, err := checkpoint.Load(filepath.Join(held, bestFile))
	if err != nil || st.Seed != 2 || st.Epoch != 1 {
		t.Fatalf("after --overwrite, best.safetensors is %+v, %v; want seed 2's first epoch", st, err)
	}
}

// TestEvalNeedsOnlyTestFiles checks that eval --data reads the two test
// files alone: a folder without the training files evaluates.
func TestEvalNeedsOnlyTestFiles(t *testing.T) {
	files := smallMNIST(t)
	delete(files, data.TrainImagesFile)
	delete(files, data.TrainLabelsFile)
	dir := writeDir(t, files)
	code, stdout, stderr := ckRun("eval", "--checkpoint", ckTestModel, "--data", dir)
	if code != exitOK || !strings.Contains(stdout, "(of 32 images)") && !strings.Contains(stdout, "of 32 images)") {
		t.Fatalf("eval with the test files only: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// A missing test file is still named.
	os.Remove(filepath.Join(dir, data.TestLabelsFile))
	code, _, stderr = ckRun("eval", "--checkpoint", ckTestModel, "--data", dir)
	if code != exitUsage {
		t.Errorf("eval without the test labels: exit %d, want %d", code, exitUsage)
	}
	checkOneLineError(t, "no test labels", stderr, filepath.Join(dir, data.TestLabelsFile), "missing file")
}

// TestInterruptFolder checks where a run without --checkpoint-dir saves
// when interrupted: resgo-checkpoints/, unless that holds another run or
// is locked by one, then the next free resgo-checkpoints-N/.
func TestInterruptFolder(t *testing.T) {
	t.Chdir(t.TempDir())
	dir, l, err := interruptFolder()
	if err != nil || dir != interruptDir {
		t.Fatalf("interruptFolder = %q, %v; want %s", dir, err, interruptDir)
	}
	l.Unlock()
	if err := os.WriteFile(filepath.Join(interruptDir, lastFile), []byte("another run's"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, l2, err := interruptFolder() // the first holds a run
	if err != nil || dir != interruptDir+"-2" {
		t.Fatalf("interruptFolder = %q, %v; want %s-2", dir, err, interruptDir)
	}
	dir, l3, err := interruptFolder() // and the second is locked
	if err != nil || dir != interruptDir+"-3" {
		t.Fatalf("interruptFolder = %q, %v; want %s-3", dir, err, interruptDir)
	}
	l2.Unlock()
	l3.Unlock()
	if got, _ := os.ReadFile(filepath.Join(interruptDir, lastFile)); string(got) != "another run's" {
		t.Errorf("the earlier run's checkpoint changed: %q", got)
	}
}

// TestOldCheckpointNotice checks that a checkpoint of format version 1,
// written before checksums, still predicts and evaluates, with one line
// on stderr saying that damage to it cannot be detected.
func TestOldCheckpointNotice(t *testing.T) {
	path := copyTestModel(t, "v1.safetensors")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Blank out the checksum (spaces are JSON whitespace: no offset moves)
	// and say version 1, as resgo wrote before.
	f, err := checkpoint.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := `"` + checkpoint.ChecksumKey + `":"` + f.Metadata[checkpoint.ChecksumKey] + `",`
	old := bytes.Replace(b, []byte(sum), bytes.Repeat([]byte(" "), len(sum)), 1)
	old = bytes.Replace(old, []byte(`"format_version":"2"`), []byte(`"format_version":"1"`), 1)
	if bytes.Equal(old, b) || bytes.Contains(old, []byte(sum)) {
		t.Fatal("the checksum was not found")
	}
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"predict", "--checkpoint", path, "../../testdata/digits/seven.png"},
		{"eval", "--test-limit", "20", "--checkpoint", path},
	} {
		code, stdout, stderr := ckRun(args...)
		if code != exitOK || stdout == "" {
			t.Errorf("%s: exit %d\n%s", args[0], code, stderr)
		}
		checkOneLineError(t, args[0], stderr, "resgo: note: checkpoint "+path+" has no checksum (an older resgo wrote it)")
	}
}
