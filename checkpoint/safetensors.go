package checkpoint

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"resgo/internal/oserr"
)

// MaxHeader is the largest header this package reads: 100 MB, the limit
// of the reference safetensors implementation.
const MaxHeader = 100 << 20

// Tensor is one named float32 tensor of a safetensors file, row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// File is the content of a safetensors file.
type File struct {
	Tensors  []Tensor          // in the order of their data in the file
	Metadata map[string]string // the header's "__metadata__" (never nil)
	// Checksummed says that the file holds a checksum (ChecksumKey) and
	// that its bytes match it; a file without one is not checked.
	Checksummed bool
}

// ChecksumKey is the metadata key of a file's checksum, which Encode
// writes and Decode verifies: "sha256:" and the 64 lowercase hex digits of
// the SHA-256 of the whole file as written, with those 64 digits replaced
// by 64 '0' characters. It covers every byte: the header's length, the
// tensors' names, shapes and offsets, the other metadata and the data.
const ChecksumKey = "checksum"

// checksumPrefix starts the checksum's value; checksumAt is how the
// header holds it (json.Marshal writes no spaces and escapes any '"' in
// other keys and values, so this text occurs only there).
const (
	checksumPrefix = "sha256:"
	checksumAt     = `"` + ChecksumKey + `":"` + checksumPrefix
	checksumDigits = 2 * sha256.Size
)

// Tensor returns the tensor called name, or nil.
func (f *File) Tensor(name string) *Tensor {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i]
		}
	}
	return nil
}

// Error is a problem with a checkpoint file: what is wrong and where.
type Error struct {
	File    string // the file's path (or the name given to Decode)
	Problem string // what is wrong, without the file name
	Err     error  // the underlying error, if any
}

// Error returns "checkpoint FILE: problem".
func (e *Error) Error() string { return "checkpoint " + e.File + ": " + e.Problem }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// errf returns an *Error for file with a formatted problem.
func errf(file, format string, args ...any) *Error {
	return &Error{File: file, Problem: fmt.Sprintf(format, args...)}
}

// knownDtypes are the safetensors dtypes other than F32: recognised, but not
// read by resgo.
var knownDtypes = []string{"BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32",
	"F64", "I64", "U64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"}

// validate checks tensors for Encode: unique, non-empty names and data
// lengths that match the shapes.
func validate(tensors []Tensor) error {
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		switch {
		case t.Name == "":
			return errors.New("a tensor has no name")
		case t.Name == "__metadata__":
			return errors.New(`"__metadata__" cannot name a tensor`)
		case seen[t.Name]:
			return fmt.Errorf("tensor %q appears twice", t.Name)
		}
		seen[t.Name] = true
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("tensor %q has a negative dimension in shape %v", t.Name, t.Shape)
			}
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("tensor %q has %d values, but shape %v holds %d", t.Name, len(t.Data), t.Shape, n)
		}
	}
	return nil
}

// Encode writes tensors and metadata to w in the safetensors format: an
// 8-byte little-endian header length, the JSON header (padded with spaces
// so that the data starts at a multiple of 8 bytes) and the tensors' data,
// little-endian float32, in the order given. It adds the file's checksum
// to the metadata under ChecksumKey, replacing any value meta gives there.
func Encode(w io.Writer, tensors []Tensor, meta map[string]string) error {
	if err := validate(tensors); err != nil {
		return err
	}
	m := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		m[k] = v
	}
	m[ChecksumKey] = checksumPrefix + strings.Repeat("0", checksumDigits)
	var h bytes.Buffer
	h.Write(make([]byte, 8)) // the length, below
	h.WriteString(`{"__metadata__":`)
	mj, err := json.Marshal(m) // keys sorted
	if err != nil {
		return err
	}
	h.Write(mj)
	off := 0
	for _, t := range tensors {
		name, _ := json.Marshal(t.Name)
		h.WriteByte(',')
		h.Write(name)
		h.WriteString(`:{"dtype":"F32","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		end := off + 4*len(t.Data)
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	hb := h.Bytes()
	binary.LittleEndian.PutUint64(hb, uint64(len(hb)-8))
	// The checksum: the file with zeros in its place, then patched in.
	sum := sha256.New()
	sum.Write(hb)
	if err := writeData(sum, tensors); err != nil {
		return err
	}
	at := bytes.Index(hb, []byte(checksumAt)) + len(checksumAt)
	hex.Encode(hb[at:at+checksumDigits], sum.Sum(nil))
	if _, err := w.Write(hb); err != nil {
		return err
	}
	return writeData(w, tensors)
}

// writeData writes the tensors' values to w, little-endian float32.
func writeData(w io.Writer, tensors []Tensor) error {
	var buf [4096]byte
	for _, t := range tensors {
		for i := 0; i < len(t.Data); {
			k := 0
			for ; k+4 <= len(buf) && i < len(t.Data); i++ {
				binary.LittleEndian.PutUint32(buf[k:], math.Float32bits(t.Data[i]))
				k += 4
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// verify checks b, a whole file whose header hdr was decoded into f,
// against its checksum, if it has one, and sets f.Checksummed.
func verify(name string, b, hdr []byte, f *File) error {
	v, ok := f.Metadata[ChecksumKey]
	if !ok {
		return nil
	}
	digits, ok := strings.CutPrefix(v, checksumPrefix)
	if _, err := hex.DecodeString(digits); !ok || err != nil || len(digits) != checksumDigits || strings.ToLower(digits) != digits {
		return errf(name, "its checksum %q is not %s and %d lowercase hex digits: the header is damaged", clip([]byte(v)), checksumPrefix, checksumDigits)
	}
	mismatch := errf(name, "its checksum does not match its content: the file is not as resgo wrote it "+
		"(damaged on disk or in a copy, or changed by another program); it cannot be trusted")
	at := bytes.Index(hdr, []byte(checksumAt+digits+`"`))
	if at < 0 || bytes.LastIndex(hdr, []byte(checksumAt)) != at {
		return mismatch // not written by Encode
	}
	at += 8 + len(checksumAt) // in b
	sum := sha256.New()
	sum.Write(b[:at])
	sum.Write(bytes.Repeat([]byte{'0'}, checksumDigits))
	sum.Write(b[at+checksumDigits:])
	if hex.EncodeToString(sum.Sum(nil)) != digits {
		return mismatch
	}
	f.Checksummed = true
	return nil
}

// tempInfix is in the name of WriteFile's temporary files:
// ".NAME.tmp-123456" (see RemoveStale).
const tempInfix = ".tmp-"

// createTemp is os.CreateTemp; tests replace it to make writes fail.
var createTemp = os.CreateTemp

// tempWriter returns what WriteFile writes the temporary file through: f
// itself; tests replace it with a writer that fails part-way, as a full
// disk does.
var tempWriter = func(f *os.File) io.Writer { return f }

// WriteFile writes tensors and metadata to path atomically: to a temporary
// file in the same folder, synced to disk, then renamed over path, and the
// folder synced. If anything fails, path is left as it was and the
// temporary file is removed. Errors are *Error naming path.
func WriteFile(path string, tensors []Tensor, meta map[string]string) (err error) {
	if err := validate(tensors); err != nil {
		return &Error{File: path, Problem: "cannot save: " + err.Error(), Err: err}
	}
	dir := filepath.Dir(path)
	f, err := createTemp(dir, "."+filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return &Error{File: path, Problem: fmt.Sprintf("cannot create a temporary file in %s: %v", dir, oserr.Cause(err)), Err: err}
	}
	tmp := f.Name()
	fail := func(what string, e error) error {
		f.Close()
		os.Remove(tmp)
		return &Error{File: path, Problem: fmt.Sprintf("%s %s: %v (the previous file, if any, is intact)", what, tmp, oserr.Cause(e)), Err: e}
	}
	bw := bufio.NewWriterSize(tempWriter(f), 1<<20)
	if err := Encode(bw, tensors, meta); err != nil {
		return fail("cannot write", err)
	}
	if err := bw.Flush(); err != nil {
		return fail("cannot write", err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail("cannot set the permissions of", err)
	}
	if err := f.Sync(); err != nil {
		return fail("cannot sync", err)
	}
	if err := f.Close(); err != nil {
		return fail("cannot close", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return &Error{File: path, Problem: fmt.Sprintf("cannot rename %s to it: %v", tmp, oserr.Cause(err)), Err: err}
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return &Error{File: path, Problem: fmt.Sprintf("written, but cannot sync its folder: %v", err), Err: err}
		}
	}
	return nil
}

// ReadFile reads and validates the safetensors file at path (see Decode).
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Problem: fmt.Sprintf("cannot read: %v", oserr.Cause(err)), Err: err}
	}
	return Decode(path, b)
}

// entry is a tensor's description in the header.
type entry struct {
	Dtype   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets []uint64 `json:"data_offsets"`
}

// Decode parses a safetensors file held in b; name is used in errors. It
// checks everything and never panics: the header length against the size,
// the header's JSON, that every tensor is F32 and that its data_offsets lie
// in the data, span exactly its shape's size and, all together, cover the
// data without overlaps or holes (as the format requires); then, if the
// metadata holds a checksum (ChecksumKey), that the bytes match it. Errors
// are *Error naming the file and the problem.
func Decode(name string, b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, errf(name, "truncated: %d bytes, too short for the 8-byte header length", len(b))
	}
	hn := binary.LittleEndian.Uint64(b)
	switch {
	case hn > MaxHeader:
		return nil, errf(name, "header length %d is absurd (the limit is %d): not a safetensors file", hn, MaxHeader)
	case hn > uint64(len(b)-8):
		return nil, errf(name, "truncated: the header length is %d bytes, but only %d bytes follow", hn, len(b)-8)
	case hn < 2:
		return nil, errf(name, "header length %d is too short for a JSON header", hn)
	}
	hdr, data := b[8:8+hn], b[8+hn:]
	if hdr[0] != '{' {
		return nil, errf(name, "the header is not a JSON object (it starts with %q)", clip(hdr))
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if _, err := dec.Token(); err != nil {
		return nil, errf(name, "the header is not valid JSON: %v", err)
	}
	f := &File{Metadata: map[string]string{}}
	type item struct {
		name string
		e    entry
		n    int // elements
	}
	var items []item
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errf(name, "the header is not valid JSON: %v", err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errf(name, "the header is not valid JSON: %v", err)
		}
		if seen[key] {
			return nil, errf(name, "the header names %q twice", key)
		}
		seen[key] = true
		if key == "__metadata__" {
			if err := json.Unmarshal(raw, &f.Metadata); err != nil || f.Metadata == nil {
				return nil, errf(name, "__metadata__ is not a JSON object of strings")
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, errf(name, "tensor %q: bad description %s: %v", key, clip(raw), err)
		}
		if key == "" {
			return nil, errf(name, "a tensor has an empty name")
		}
		switch {
		case e.Dtype == "":
			return nil, errf(name, "tensor %q has no dtype", key)
		case e.Dtype != "F32" && slices.Contains(knownDtypes, e.Dtype):
			return nil, errf(name, "tensor %q has dtype %s; resgo reads only F32", key, e.Dtype)
		case e.Dtype != "F32":
			return nil, errf(name, "tensor %q has unknown dtype %q", key, e.Dtype)
		case e.Shape == nil:
			return nil, errf(name, "tensor %q has no shape", key)
		case len(e.Offsets) != 2:
			return nil, errf(name, "tensor %q: data_offsets must be two numbers [begin, end], got %v", key, e.Offsets)
		}
		begin, end := e.Offsets[0], e.Offsets[1]
		if begin > end || end > uint64(len(data)) {
			return nil, errf(name, "tensor %q: data_offsets [%d, %d] lie outside the %d bytes of data", key, begin, end, len(data))
		}
		n := uint64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return nil, errf(name, "tensor %q has a negative dimension in shape %v", key, e.Shape)
			}
			if d > 0 && n > uint64(len(data))/uint64(d) {
				n = math.MaxUint64 // more than the data holds; reported below
				break
			}
			n *= uint64(d)
		}
		if n == math.MaxUint64 || 4*n != end-begin {
			return nil, errf(name, "tensor %q: shape %v needs %s bytes of F32, but data_offsets [%d, %d] span %d",
				key, e.Shape, bytesFor(e.Shape), begin, end, end-begin)
		}
		items = append(items, item{key, e, int(n)})
	}
	if _, err := dec.Token(); err != nil {
		return nil, errf(name, "the header is not valid JSON: %v", err)
	}
	if rest := hdr[dec.InputOffset():]; len(bytes.Trim(rest, " ")) != 0 {
		return nil, errf(name, "the header has %q after its JSON object", clip(bytes.TrimLeft(rest, " ")))
	}
	slices.SortStableFunc(items, func(a, b item) int {
		if c := cmpU(a.e.Offsets[0], b.e.Offsets[0]); c != 0 {
			return c
		}
		return cmpU(a.e.Offsets[1], b.e.Offsets[1])
	})
	var at uint64
	for i, it := range items {
		begin, end := it.e.Offsets[0], it.e.Offsets[1]
		if begin < at {
			return nil, errf(name, "tensors %q and %q overlap (data bytes %d–%d and %d–%d)",
				items[i-1].name, it.name, items[i-1].e.Offsets[0], at, begin, end)
		}
		if begin > at {
			return nil, errf(name, "data bytes %d–%d belong to no tensor (the format allows no holes)", at, begin)
		}
		at = end
	}
	if at != uint64(len(data)) {
		return nil, errf(name, "%d bytes after the last tensor's data belong to no tensor", uint64(len(data))-at)
	}
	if err := verify(name, b, hdr, f); err != nil {
		return nil, err
	}
	f.Tensors = make([]Tensor, len(items))
	for i, it := range items {
		shape := make([]int, len(it.e.Shape))
		for j, d := range it.e.Shape {
			shape[j] = int(d)
		}
		src := data[it.e.Offsets[0]:it.e.Offsets[1]]
		v := make([]float32, it.n)
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*j:]))
		}
		f.Tensors[i] = Tensor{Name: it.name, Shape: shape, Data: v}
	}
	return f, nil
}

// cmpU compares two offsets.
func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// bytesFor returns 4×the product of shape, in decimal, or "more than the
// file holds" if it overflows.
func bytesFor(shape []int64) string {
	n := uint64(4)
	for _, d := range shape {
		if d != 0 && n > math.MaxUint64/uint64(d) {
			return "more"
		}
		n *= uint64(d)
	}
	return strconv.FormatUint(n, 10)
}

// clip returns the start of b for an error message.
func clip(b []byte) string {
	s := string(b)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
