package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDiskFull resumes a run on a tmpfs with room for the two checkpoints
// of epoch 1 but not for a third file, so that saving epoch 2 fails with
// ENOSPC part-way through the temporary file. It needs to mount a tmpfs
// and skips where that is not permitted.
func TestDiskFull(t *testing.T) {
	src := t.TempDir()
	before := firstEpoch(t, src)
	size := len(before[lastFile]) + len(before[bestFile]) + len(before[lastFile])/2
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	for name, b := range before {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatalf("the tmpfs of %d bytes cannot hold epoch 1's checkpoints: %v", size, err)
		}
	}
	code, _, stderr := ckRun("train", "--resume", dir, "--epochs", "2")
	checkSaveFailed(t, dir, before, code, stderr, "no space left on device")
}
