// Package data reads image data sets and feeds them to training in
// shuffled batches.
//
// Open reads a data set from what a path holds (source.go): MNIST's IDX
// files, CIFAR-10's and CIFAR-100's binary files (cifar.go), or an image
// folder of a sub-folder per class (folder.go), into a Dataset of uint8
// images of any height, width and channel count, with class names. Beside
// it:
//
//   - an IDX reader (ReadImages, ReadLabels): the file format of MNIST, raw
//     or gzip-compressed, validated so that a malformed or forged file gives
//     an error naming the file and the problem, never a panic or a huge
//     allocation;
//   - MNIST itself, embedded in the binary (LoadMNIST) or read from a
//     folder (LoadDir);
//   - a Loader with the semantics of tf.data's ds.shuffle(buffer).batch(n):
//     a shuffle buffer re-shuffled every epoch, deterministic in (seed, epoch),
//     producing float32 NHWC batches scaled by 1/255 without allocating,
//     prepared ahead by worker goroutines (SetWorkers) and augmented through
//     a per-image Transform.
//
// Every error caused by the input files matches ErrFormat under errors.Is.
package data

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// IDX magic numbers: two zero bytes, a type code (0x08 = unsigned byte) and
// the number of dimensions.
const (
	// MagicLabels is the magic number of an IDX file of uint8 with one
	// dimension, as MNIST's label files are.
	MagicLabels = 0x00000801
	// MagicImages is the magic number of an IDX file of uint8 with three
	// dimensions (count, rows, columns), as MNIST's image files are.
	MagicImages = 0x00000803
)

// MaxBytes is the largest payload, in bytes, that the IDX reader accepts.
// A header that claims more is rejected before anything is allocated.
const MaxBytes = 1 << 31

// initialChunk is the most the reader allocates before it has seen the data
// that fills it; the buffer then doubles as data actually arrives, so a
// forged header costs at most 64 MiB or twice the bytes really present.
// 64 MiB holds MNIST's 47 MB of training images in one allocation, without
// the copies (and the doubled peak memory) of growing into it.
const initialChunk = 64 << 20

// ErrFormat is matched (with errors.Is) by every error that this package
// returns because of its input: a malformed, truncated, inconsistent or
// missing file. A command line can use it to tell bad input from a bug.
var ErrFormat = errors.New("malformed input")

// FormatError describes a problem with an input file. Its message has the
// form "idx: FILE: PROBLEM", for example
// "idx: train-images-idx3-ubyte.gz: want magic 0x803, got 0x801".
// It matches ErrFormat under errors.Is and unwraps to the underlying error,
// if any (a gzip or file-system error).
type FormatError struct {
	File    string // the file's name or path, as given to the reader
	Problem string // what is wrong, in words
	Err     error  // the underlying error, or nil
	// Format names the kind of input, which starts the message: "cifar",
	// "images", "data"; "" means "idx".
	Format string
}

// Error returns "FORMAT: FILE: PROBLEM", such as "idx: FILE: PROBLEM".
func (e *FormatError) Error() string {
	f := e.Format
	if f == "" {
		f = "idx"
	}
	return f + ": " + e.File + ": " + e.Problem
}

// Is reports whether target is ErrFormat.
func (e *FormatError) Is(target error) bool { return target == ErrFormat }

// Unwrap returns the underlying error, or nil.
func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(name string, err error, format string, args ...any) error {
	return &FormatError{File: name, Problem: fmt.Sprintf(format, args...), Err: err}
}

// ReadImages reads an IDX file of uint8 images (magic 0x803, dimensions
// count × rows × columns) from r, which may be gzip-compressed or raw. name
// is used only in error messages. It returns the pixels, n×h×w row-major.
func ReadImages(name string, r io.Reader) (images []uint8, n, h, w int, err error) {
	buf, dims, err := readIDX(name, r, MagicImages)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	return buf, dims[0], dims[1], dims[2], nil
}

// ReadLabels reads an IDX file of uint8 labels (magic 0x801, one dimension)
// from r, which may be gzip-compressed or raw. name is used only in error
// messages. The labels' range is not checked here; NewDataset checks it.
func ReadLabels(name string, r io.Reader) ([]uint8, error) {
	buf, _, err := readIDX(name, r, MagicLabels)
	return buf, err
}

// readIDX reads one IDX file of uint8 whose magic must be want, and returns
// its payload and dimensions.
func readIDX(name string, r io.Reader, want uint32) ([]byte, []int, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	gz := false
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, streamErr(name, true, err, "reading the gzip header")
		}
		zr.Multistream(false)
		src, gz = zr, true
	}

	// A gzip reader may return the last bytes of its stream together with
	// io.EOF, so a read counts as short only if it got fewer bytes.
	var hdr [4]byte
	if k, err := readFull(src, hdr[:]); k < len(hdr) {
		if k == 0 && err == io.EOF {
			return nil, nil, formatErr(name, nil, "empty file: no IDX header")
		}
		return nil, nil, streamErr(name, gz, err, fmt.Sprintf("truncated header: %d of 4 magic bytes", k))
	}
	magic := binary.BigEndian.Uint32(hdr[:])
	wantDims := int(want & 0xff)
	if magic != want {
		if magic>>8 == want>>8 { // uint8 data, but another rank
			return nil, nil, formatErr(name, nil, "want magic %#x, got %#x: %s, not %d",
				want, magic, plural(int(magic&0xff), "dimension"), wantDims)
		}
		if !gz && strings.HasSuffix(name, ".gz") {
			return nil, nil, formatErr(name, nil, "not gzip-compressed, and not an IDX file either: want magic %#x, got %#x", want, magic)
		}
		return nil, nil, formatErr(name, nil, "want magic %#x, got %#x", want, magic)
	}

	dimBytes := make([]byte, 4*wantDims)
	if k, err := readFull(src, dimBytes); k < len(dimBytes) {
		return nil, nil, streamErr(name, gz, err, fmt.Sprintf("truncated header: %d of %d dimension bytes", k, len(dimBytes)))
	}
	dims := make([]int, wantDims)
	total := uint64(1)
	for i := range dims {
		d := binary.BigEndian.Uint32(dimBytes[4*i:])
		if d == 0 {
			return nil, nil, formatErr(name, nil, "dimension %d of %s is zero", i, dimString(dimBytes))
		}
		dims[i] = int(d)
		total *= uint64(d) // at most 3 factors below 2^32 each: checked before overflow below
		if total > MaxBytes || total > math.MaxInt {
			return nil, nil, formatErr(name, nil, "dimensions %s exceed the limit of %d bytes", dimString(dimBytes), uint64(MaxBytes))
		}
	}

	buf, err := readUpTo(src, int(total))
	if len(buf) < int(total) {
		if err == io.EOF {
			return nil, nil, formatErr(name, nil, "truncated data: dimensions %s need %d bytes, got %d",
				dimString(dimBytes), total, len(buf))
		}
		return nil, nil, streamErr(name, gz, err, fmt.Sprintf("reading data: got %d of %d bytes (dimensions %s)", len(buf), total, dimString(dimBytes)))
	}

	// The payload must end the file (and, if compressed, the gzip stream
	// must end cleanly: its checksum is verified at EOF).
	if err == nil {
		var one [1]byte
		var k int
		k, err = readFull(src, one[:])
		if k > 0 {
			return nil, nil, formatErr(name, nil, "trailing data after the %d bytes of dimensions %s", total, dimString(dimBytes))
		}
	}
	if err != io.EOF {
		return nil, nil, streamErr(name, gz, err, "after the data")
	}
	if gz {
		// Multistream is off: anything after the first gzip member is junk.
		if k, _ := io.Copy(io.Discard, io.LimitReader(br, 1<<20)); k > 0 {
			return nil, nil, formatErr(name, nil, "trailing bytes after the gzip stream")
		}
	}
	return buf, dims, nil
}

// readUpTo reads up to n bytes from r, growing its buffer as data arrives
// rather than trusting n. It returns fewer than n bytes and io.EOF if r ends
// early; with n bytes it may also return an error met at the same time.
func readUpTo(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, min(n, initialChunk))
	got := 0
	for got < n {
		if got == len(buf) {
			nb := make([]byte, min(2*len(buf), n))
			copy(nb, buf)
			buf = nb
		}
		k, err := readFull(r, buf[got:])
		got += k
		if err != nil {
			return buf[:got], err
		}
	}
	return buf, nil
}

// readFull is io.ReadFull except that a clean end of r gives io.EOF however
// many bytes were read, so that a short file (io.EOF) can be told from a
// truncated gzip stream (io.ErrUnexpectedEOF from the decompressor). Its
// readers are always bufio- or gzip-over-bufio, which turn an io.Reader
// that makes no progress into io.ErrNoProgress, so the loop ends.
func readFull(r io.Reader, b []byte) (int, error) {
	got := 0
	for got < len(b) {
		k, err := r.Read(b[got:])
		got += k
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

// streamErr turns a read error met while doing where into a FormatError
// whose problem reads "where: what went wrong", naming gzip problems.
func streamErr(name string, gz bool, err error, where string) error {
	return streamErrAs("", name, gz, err, where)
}

// streamErrAs is streamErr for a FormatError of the given Format.
func streamErrAs(format, name string, gz bool, err error, where string) error {
	e := func(f string, args ...any) error {
		return &FormatError{Format: format, File: name, Problem: fmt.Sprintf(f, args...), Err: err}
	}
	var corrupt flate.CorruptInputError
	switch {
	case gz && errors.Is(err, io.ErrUnexpectedEOF):
		return e("%s: truncated gzip stream", where)
	case errors.Is(err, gzip.ErrHeader):
		return e("%s: bad gzip: invalid header", where)
	case errors.Is(err, gzip.ErrChecksum):
		return e("%s: bad gzip: checksum mismatch", where)
	case errors.As(err, &corrupt):
		return e("%s: bad gzip: corrupt deflate data at compressed byte %d", where, int64(corrupt))
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return e("%s", where)
	}
	return e("%s: read error: %v", where, err)
}

// dimString formats big-endian uint32 dimensions as "60000×28×28".
func dimString(b []byte) string {
	var sb strings.Builder
	for i := 0; i+4 <= len(b); i += 4 {
		if i > 0 {
			sb.WriteString("×")
		}
		fmt.Fprint(&sb, binary.BigEndian.Uint32(b[i:]))
	}
	return sb.String()
}

// plural returns "1 dimension" or "3 dimensions".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
