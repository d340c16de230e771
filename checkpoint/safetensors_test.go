package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleTensors() []Tensor {
	return []Tensor{
		{Name: "a.kernel", Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0.25}},
		{Name: "b", Shape: []int{}, Data: []float32{42}},
		{Name: "empty", Shape: []int{0, 4}, Data: []float32{}},
		{Name: "c.bias", Shape: []int{3}, Data: []float32{7, 8, float32(math.NaN())}},
	}
}

func encode(t testing.TB, ts []Tensor, meta map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Encode(&b, ts, meta); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestEncodeDecode(t *testing.T) {
	ts := sampleTensors()
	meta := map[string]string{"format": "x", "note": "ünïcode \"quoted\""}
	b := encode(t, ts, meta)
	hn := binary.LittleEndian.Uint64(b)
	if (8+hn)%8 != 0 {
		t.Errorf("data starts at byte %d, not a multiple of 8", 8+hn)
	}
	f, err := Decode("x.safetensors", b)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(ts) || f.Metadata["note"] != meta["note"] {
		t.Fatalf("got %d tensors, metadata %v", len(f.Tensors), f.Metadata)
	}
	for _, w := range ts {
		g := f.Tensor(w.Name)
		if g == nil {
			t.Fatalf("tensor %q missing", w.Name)
		}
		if len(g.Shape) != len(w.Shape) || len(g.Data) != len(w.Data) {
			t.Fatalf("%s: shape %v len %d, want %v len %d", w.Name, g.Shape, len(g.Data), w.Shape, len(w.Data))
		}
		for i := range w.Data {
			if math.Float32bits(g.Data[i]) != math.Float32bits(w.Data[i]) {
				t.Errorf("%s[%d] = %v, want %v", w.Name, i, g.Data[i], w.Data[i])
			}
		}
	}
	// The header is plain JSON that other readers accept.
	if !bytes.Contains(b[8:8+hn], []byte(`"a.kernel":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}`)) {
		t.Errorf("unexpected header %s", b[8:8+hn])
	}
}

func TestEncodeRejects(t *testing.T) {
	for _, ts := range [][]Tensor{
		{{Name: "", Shape: []int{1}, Data: []float32{1}}},
		{{Name: "x", Shape: []int{2}, Data: []float32{1}}},
		{{Name: "x", Shape: []int{1}, Data: []float32{1}}, {Name: "x", Shape: []int{1}, Data: []float32{1}}},
		{{Name: "__metadata__", Shape: []int{1}, Data: []float32{1}}},
	} {
		if err := Encode(&bytes.Buffer{}, ts, nil); err == nil {
			t.Errorf("Encode(%v) succeeded", ts)
		}
	}
}

// header returns a file made of a raw header and data.
func header(h string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(b, h...), data...)
}

func TestDecodeErrors(t *testing.T) {
	good := encode(t, sampleTensors(), map[string]string{"k": "v"})
	hn := binary.LittleEndian.Uint64(good)
	hdr := string(good[8 : 8+hn])
	data := good[8+hn:]
	edit := func(old, new string) []byte {
		if !strings.Contains(hdr, old) {
			t.Fatalf("header lacks %q: %s", old, hdr)
		}
		h := strings.Replace(hdr, old, new, 1)
		return header(h, data)
	}
	absurd := bytes.Clone(good)
	binary.LittleEndian.PutUint64(absurd, 1<<62)
	long := bytes.Clone(good)
	binary.LittleEndian.PutUint64(long, uint64(len(good)))
	f32 := make([]byte, 8)
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"short", good[:5], "truncated"},
		{"truncated header", good[:20], "truncated"},
		{"truncated data", good[:len(good)-3], "outside"},
		{"absurd header length", absurd, "absurd"},
		{"header length past the end", long, "truncated"},
		{"not json", header("hello world!", nil), "not a JSON object"},
		{"bad json", header(`{"a":{"dtype":"F32",`, nil), "not valid JSON"},
		{"json array", header(`[1,2]`, nil), "not a JSON object"},
		{"trailing junk", header(`{}x`, nil), "after its JSON object"},
		{"two objects", header(`{}{}`, nil), "after its JSON object"},
		{"unknown dtype", edit(`"b":{"dtype":"F32"`, `"b":{"dtype":"Q7"`), `unknown dtype "Q7"`},
		{"other dtype", edit(`"b":{"dtype":"F32"`, `"b":{"dtype":"F16"`), "reads only F32"},
		{"no dtype", header(`{"x":{"shape":[2],"data_offsets":[0,8]}}`, f32), "no dtype"},
		{"no shape", header(`{"x":{"dtype":"F32","data_offsets":[0,8]}}`, f32), "no shape"},
		{"negative dim", header(`{"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, f32), "negative dimension"},
		{"fractional dim", header(`{"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, f32), "bad description"},
		{"one offset", header(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}}`, f32), "two numbers"},
		{"offsets out of range", header(`{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, f32), "outside"},
		{"offsets reversed", header(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, f32), "outside"},
		{"shape mismatch", edit(`"shape":[2,3]`, `"shape":[2,2]`), "needs 16 bytes"},
		{"huge shape", header(`{"x":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}`, f32), "needs more"},
		{"overlap", header(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32), "overlap"},
		{"hole", header(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32), "belong to no tensor"},
		{"tail", header(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32), "after the last tensor"},
		{"duplicate", header(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32), "twice"},
		{"metadata not strings", header(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
		{"metadata null", header(`{"__metadata__":null}`, nil), "__metadata__"},
		{"entry not object", header(`{"x":5}`, nil), "bad description"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode("dir/damaged.safetensors", c.b)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if !strings.Contains(err.Error(), "dir/damaged.safetensors") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %q, want the file name and %q", err, c.want)
			}
		})
	}
	// Every prefix of a good file is an error, never a panic.
	for n := range len(good) {
		if _, err := Decode("p", good[:n]); err == nil {
			t.Fatalf("prefix of %d bytes decoded", n)
		}
	}
}

// writeSample writes sampleTensors to last.safetensors in a new temporary
// folder and returns the folder, the file's path and its bytes, for tests
// that check a failed write leaves them as they were.
func writeSample(t *testing.T) (dir, path string, before []byte) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "last.safetensors")
	if err := WriteFile(path, sampleTensors(), map[string]string{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return dir, path, before
}

func TestWriteFileAtomic(t *testing.T) {
	dir, path, before := writeSample(t)
	// A write that fails half-way (as on a full disk) leaves the old file.
	createTemp = func(dir, pattern string) (*os.File, error) {
		f, err := os.CreateTemp(dir, pattern)
		if err == nil {
			f.Close() // every write now fails
		}
		return f, err
	}
	defer func() { createTemp = os.CreateTemp }()
	err := WriteFile(path, sampleTensors(), map[string]string{"v": "2"})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want a failure naming %s", err, path)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("the failed write changed the previous file")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("the folder holds %d files after a failed write, want 1 (no temporary left)", len(ents))
	}
	// A folder that does not exist: an error naming the file.
	bad := filepath.Join(dir, "no", "such", "x.safetensors")
	if err := WriteFile(bad, sampleTensors(), nil); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("err = %v, want one naming %s", err, bad)
	}
	if _, err := ReadFile(bad); err == nil || !strings.Contains(err.Error(), bad) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadFile err = %v", err)
	}
}

// FuzzDecode checks that Decode never panics and that whatever it accepts
// encodes back to a file that decodes the same.
func FuzzDecode(f *testing.F) {
	var b bytes.Buffer
	Encode(&b, sampleTensors(), map[string]string{"format": Format})
	f.Add(b.Bytes())
	f.Add(header(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(header(`{}`, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		file, err := Decode("fuzz", in)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "checkpoint fuzz: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		var out bytes.Buffer
		if err := Encode(&out, file.Tensors, file.Metadata); err != nil {
			t.Fatalf("re-encoding what Decode accepted: %v", err)
		}
		again, err := Decode("again", out.Bytes())
		if err != nil {
			t.Fatalf("decoding the re-encoded file: %v", err)
		}
		if len(again.Tensors) != len(file.Tensors) {
			t.Fatalf("%d tensors, then %d", len(file.Tensors), len(again.Tensors))
		}
		for i, x := range file.Tensors {
			y := again.Tensors[i]
			if x.Name != y.Name || len(x.Data) != len(y.Data) {
				t.Fatalf("tensor %d: %q/%d, then %q/%d", i, x.Name, len(x.Data), y.Name, len(y.Data))
			}
			for j := range x.Data {
				if math.Float32bits(x.Data[j]) != math.Float32bits(y.Data[j]) {
					t.Fatalf("tensor %q changed", x.Name)
				}
			}
		}
	})
}

// withoutChecksum returns the file b with its checksum taken out of the
// metadata, as files were written before it existed.
func withoutChecksum(t testing.TB, b []byte) []byte {
	t.Helper()
	hn := binary.LittleEndian.Uint64(b)
	hdr := string(b[8 : 8+hn])
	i := strings.Index(hdr, checksumAt)
	if i < 0 {
		t.Fatal("no checksum in the header")
	}
	j := i + len(checksumAt) + checksumDigits + 1 // past the closing quote
	if hdr[j] == ',' {
		j++
	}
	hdr = strings.TrimRight(hdr[:i]+hdr[j:], " ")
	for (8+len(hdr))%8 != 0 {
		hdr += " "
	}
	return header(hdr, b[8+hn:])
}

// TestChecksum checks that Encode's checksum covers every byte: changing
// any one, in the header or the data, is refused, and that a file without
// a checksum still decodes, unverified.
func TestChecksum(t *testing.T) {
	ts := sampleTensors()
	good := encode(t, ts, map[string]string{"format": "x", ChecksumKey: "forged"})
	f, err := Decode("good", good)
	if err != nil || !f.Checksummed || !strings.HasPrefix(f.Metadata[ChecksumKey], "sha256:") {
		t.Fatalf("Decode = %+v, %v", f, err)
	}
	// The checksum is the SHA-256 of the file with its digits as zeros,
	// as docs/checkpoint.md tells other programs to verify it.
	digits := strings.TrimPrefix(f.Metadata[ChecksumKey], "sha256:")
	zeroed := bytes.Replace(good, []byte(digits), bytes.Repeat([]byte("0"), 64), 1)
	if sum := sha256.Sum256(zeroed); hex.EncodeToString(sum[:]) != digits {
		t.Errorf("checksum %s, want the SHA-256 of the zeroed file %x", digits, sum)
	}
	refused := 0
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		f, err := Decode("bad", b)
		if err == nil {
			// Only a renamed key passes, as a file without a checksum
			// (which a checkpoint of format version 2 may not be).
			if f.Checksummed || f.Metadata[ChecksumKey] != "" {
				t.Errorf("a change of byte %d of %d passed", i, len(good))
			}
			continue
		}
		if !strings.HasPrefix(err.Error(), "checkpoint bad: ") {
			t.Fatalf("error does not name the file: %v", err)
		}
		refused++
	}
	t.Logf("%d single-byte changes refused", refused)

	old := withoutChecksum(t, good)
	f, err = Decode("old", old)
	if err != nil || f.Checksummed || len(f.Tensors) != len(ts) {
		t.Fatalf("a file without checksum: %+v, %v", f, err)
	}
	for _, c := range []struct{ name, value string }{
		{"not sha256", "md5:0123"},
		{"short", "sha256:0123"},
		{"upper case", "sha256:" + strings.ToUpper(digits)},
	} {
		hn := binary.LittleEndian.Uint64(good)
		hdr := strings.TrimRight(strings.Replace(string(good[8:8+hn]), "sha256:"+digits, c.value, 1), " ")
		for len(hdr)%8 != 0 {
			hdr += " "
		}
		b := header(hdr, good[8+hn:])
		if _, err := Decode("bad", b); err == nil || !strings.Contains(err.Error(), "checksum") {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
}
