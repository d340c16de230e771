package checkpoint

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLockDir checks that a folder locked once cannot be locked again
// until it is unlocked, that the error names the holder's process, and
// that a process killed with SIGKILL releases its lock.
func TestLockDir(t *testing.T) {
	if dir := os.Getenv("RESGO_TEST_LOCK_AND_HANG"); dir != "" {
		// The child of the crash case below: lock, say so, wait to be killed.
		if _, err := LockDir(dir); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no flock here")
	}
	dir := t.TempDir()
	l, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockDir(dir)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.PID != os.Getpid() || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second LockDir: %v, want a *BusyError naming process %d", err, os.Getpid())
	}
	l.Unlock()
	l.Unlock() // twice is harmless
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("Unlock left %v", ents)
	}
	l, err = LockDir(dir)
	if err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
	l.Unlock()

	// A holder killed outright: the OS releases its lock.
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockDir$")
	cmd.Env = append(os.Environ(), "RESGO_TEST_LOCK_AND_HANG="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf[:6]) != "locked" {
		cmd.Process.Kill()
		t.Fatalf("the child did not lock: %q, %v", buf, err)
	}
	if _, err := LockDir(dir); !errors.As(err, &busy) || busy.PID != cmd.Process.Pid {
		t.Errorf("while the child holds it: %v, want a *BusyError naming process %d", err, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err = LockDir(dir)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l.Unlock()
}

// TestRemoveStale checks that RemoveStale removes WriteFile's temporary
// files and nothing else.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	stale := []string{".last.safetensors.tmp-123456", ".best.safetensors.tmp-9"}
	keep := []string{"last.safetensors", "notes.tmp-1", ".x.tmp-abc", ".x.tmp-", ".tmp-1", LockFile}
	for _, n := range append(slices.Clone(stale), keep...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := RemoveStale(dir)
	slices.Sort(removed)
	slices.Sort(stale)
	if err != nil || !slices.Equal(removed, stale) {
		t.Fatalf("RemoveStale = %v, %v; want %v", removed, err, stale)
	}
	for _, n := range keep {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s was removed", n)
		}
	}
	// What WriteFile leaves when killed between create and rename matches.
	f, err := createTemp(dir, ".last.safetensors"+tempInfix+"*")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if removed, _ := RemoveStale(dir); len(removed) != 1 || removed[0] != filepath.Base(f.Name()) {
		t.Errorf("RemoveStale = %v, want %s", removed, filepath.Base(f.Name()))
	}
}
