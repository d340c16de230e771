package checkpoint

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fullDisk is a writer that accepts n bytes and then fails with ENOSPC,
// writing what fits of the Write that crosses the limit, as a full disk
// does.
type fullDisk struct {
	w io.Writer
	n int
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if len(p) <= d.n {
		d.n -= len(p)
		return d.w.Write(p)
	}
	k, _ := d.w.Write(p[:d.n])
	d.n = 0
	return k, &os.PathError{Op: "write", Path: "(disk)", Err: syscall.ENOSPC}
}

// bigTensors is about 3 MiB of tensors, so that WriteFile's 1 MiB buffer
// writes several times.
func bigTensors() []Tensor {
	ts := []Tensor{{Name: "w", Shape: []int{768, 1024}, Data: make([]float32, 768*1024)}, {Name: "b", Shape: []int{3}, Data: []float32{1, 2, 3}}}
	for i := range ts[0].Data {
		ts[0].Data[i] = float32(i)
	}
	return ts
}

// TestWriteFileFailsPartWay fills the disk after every interesting number
// of bytes (none, in the length, in the header, at each buffer flush, one
// short of the end) and checks that the error names the file and the cause
// and that the previous file is untouched, byte for byte, with no
// temporary file left behind.
func TestWriteFileFailsPartWay(t *testing.T) {
	dir, path, before := writeSample(t)
	size := len(encode(t, bigTensors(), map[string]string{"v": "2"}))
	defer func() { tempWriter = func(f *os.File) io.Writer { return f } }()
	for _, n := range []int{0, 1, 7, 8, 100, 1 << 20, 1<<20 + 1, 2 << 20, size - 1} {
		tempWriter = func(f *os.File) io.Writer { return &fullDisk{w: f, n: n} }
		err := WriteFile(path, bigTensors(), map[string]string{"v": "2"})
		var ce *Error
		if !errors.As(err, &ce) || ce.File != path || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("after %d bytes: err = %v, want an *Error for %s wrapping ENOSPC", n, err, path)
		}
		for _, want := range []string{path, "no space left on device", "the previous file, if any, is intact"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("after %d bytes: %q lacks %q", n, err, want)
			}
		}
		after, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(before, after) {
			t.Fatalf("after %d bytes: the previous file changed (%v)", n, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("after %d bytes: the folder holds %d files, want 1 (a temporary was left)", n, len(ents))
		}
	}
	// With room for every byte, the write succeeds.
	tempWriter = func(f *os.File) io.Writer { return &fullDisk{w: f, n: size} }
	if err := WriteFile(path, bigTensors(), map[string]string{"v": "2"}); err != nil {
		t.Fatalf("a disk with exactly enough room: %v", err)
	}
	if f, err := ReadFile(path); err != nil || f.Metadata["v"] != "2" {
		t.Fatalf("ReadFile after the successful write: %v", err)
	}
}

// TestWriteFileIntoBadPlaces checks a path whose folder is a file, and one
// in a folder that cannot be written (/proc/self, even for root).
func TestWriteFileIntoBadPlaces(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	sub := filepath.Join(dir, "last.safetensors")
	os.Mkdir(sub, 0o755)
	for _, c := range []struct {
		path, want string
	}{
		{filepath.Join(file, "last.safetensors"), "cannot create a temporary file in " + file + ": not a directory"},
		{file, ""}, // a file in the way is replaced: that is what a save does
		{sub, "cannot rename "},
		{"/proc/self/last.safetensors", "cannot create a temporary file in /proc/self: "},
	} {
		err := WriteFile(c.path, sampleTensors(), nil)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.path, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one naming the path and %q", c.path, err, c.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("%s holds %d entries, want 2 (a temporary was left)", dir, len(ents))
	}
}
