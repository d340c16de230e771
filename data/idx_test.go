package data

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"

	"resgo/internal/testutil"
)

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// Valid files for the happy paths and as material for broken ones.
var (
	okImages = testutil.IDX(MagicImages, []uint32{2, 3, 4}, seq(24))
	okLabels = testutil.IDX(MagicLabels, []uint32{2}, []byte{3, 9})
)

func TestReadValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"raw", okImages},
		{"gzip", testutil.Gzip(okImages)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, n, h, w, err := ReadImages("img", bytes.NewReader(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if n != 2 || h != 3 || w != 4 || !bytes.Equal(img, seq(24)) {
				t.Fatalf("got n,h,w = %d,%d,%d and %v", n, h, w, img)
			}
		})
	}
	for _, file := range [][]byte{okLabels, testutil.Gzip(okLabels)} {
		lab, err := ReadLabels("lab", bytes.NewReader(file))
		if err != nil || !bytes.Equal(lab, []byte{3, 9}) {
			t.Fatalf("ReadLabels = %v, %v", lab, err)
		}
	}
}

// errReader returns its data, then a non-EOF error.
type errReader struct{ r io.Reader }

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, errors.New("disk on fire")
	}
	return n, err
}

func TestReadMalformed(t *testing.T) {
	gzImages := testutil.Gzip(okImages)
	badCRC := bytes.Clone(gzImages)
	badCRC[len(badCRC)-8] ^= 0xff // the CRC-32 in the gzip trailer
	corrupt := bytes.Clone(gzImages)
	for i := 10; i < len(corrupt)-8; i++ { // mangle the deflate stream
		corrupt[i] = 0xff
	}
	const name = "train-images-idx3-ubyte.gz"
	for _, tc := range []struct {
		name    string
		labels  bool // read with ReadLabels instead of ReadImages
		file    []byte
		problem string
	}{
		{"empty", false, nil, "empty file"},
		{"short magic", false, []byte{0, 0, 8}, "truncated header: 3 of 4 magic bytes"},
		{"short dims", false, testutil.IDX(MagicImages, []uint32{2, 3}, nil), "truncated header: 8 of 12 dimension bytes"},
		{"gzip magic only", false, []byte{0x1f, 0x8b}, "reading the gzip header: truncated gzip stream"},
		{"bad gzip header", false, []byte{0x1f, 0x8b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "reading the gzip header: bad gzip: invalid header"},
		{"truncated gzip", false, gzImages[:len(gzImages)/2], "bytes (dimensions 2×3×4): truncated gzip stream"},
		{"truncated gzip trailer", false, gzImages[:len(gzImages)-4], "after the data: truncated gzip stream"},
		{"gzip checksum", false, badCRC, "after the data: bad gzip: checksum mismatch"},
		{"corrupt deflate", false, corrupt, "bad gzip: corrupt deflate data"},
		{"gzip then garbage", false, append(bytes.Clone(gzImages), 1, 2, 3), "trailing bytes after the gzip stream"},
		{"two gzip members", false, append(bytes.Clone(gzImages), gzImages...), "trailing bytes after the gzip stream"},
		{"labels as images", false, okLabels, "want magic 0x803, got 0x801: 1 dimension, not 3"},
		{"images as labels", true, okImages, "want magic 0x801, got 0x803"},
		{"foreign magic", false, testutil.IDX(0x12345678, nil, nil), "want magic 0x803, got 0x12345678"},
		{"float idx", false, testutil.IDX(0x00000d03, []uint32{1, 1, 1}, make([]byte, 4)), "want magic 0x803, got 0xd03"},
		{"two dims", false, testutil.IDX(0x00000802, []uint32{2, 12}, seq(24)), "want magic 0x803, got 0x802: 2 dimensions, not 3"},
		{"four dims", false, testutil.IDX(0x00000804, []uint32{2, 3, 4, 1}, seq(24)), "got 0x804: 4 dimensions, not 3"},
		{"zero count", false, testutil.IDX(MagicImages, []uint32{0, 28, 28}, nil), "dimension 0 of 0×28×28 is zero"},
		{"zero width", false, testutil.IDX(MagicImages, []uint32{5, 28, 0}, nil), "dimension 2 of 5×28×0 is zero"},
		{"zero labels", true, testutil.IDX(MagicLabels, []uint32{0}, nil), "dimension 0 of 0 is zero"},
		// gzip's reader returns a stream's last bytes with io.EOF: the
		// header was whole, and the zero is the problem.
		{"zero count gzip", false, testutil.Gzip(testutil.IDX(MagicImages, []uint32{0, 28, 28}, nil)), "dimension 0 of 0×28×28 is zero"},
		{"zero labels gzip", true, testutil.Gzip(testutil.IDX(MagicLabels, []uint32{0}, nil)), "dimension 0 of 0 is zero"},
		{"magic only gzip", false, testutil.Gzip(testutil.IDX(MagicImages, nil, nil)), "truncated header: 0 of 12 dimension bytes"},
		{"text named .gz", false, []byte("<html>404</html>"), "not gzip-compressed, and not an IDX file either: want magic 0x803, got 0x3c68746d"},
		{"huge dims", false, testutil.IDX(MagicImages, []uint32{0xffffffff, 0xffffffff, 0xffffffff}, nil), "exceed the limit of 2147483648 bytes"},
		{"huge count", false, testutil.IDX(MagicImages, []uint32{3000000, 28, 28}, nil), "dimensions 3000000×28×28 exceed the limit"},
		{"huge labels", true, testutil.IDX(MagicLabels, []uint32{0xffffffff}, nil), "exceed the limit"},
		{"short data", false, testutil.IDX(MagicImages, []uint32{2, 3, 4}, seq(23)), "truncated data: dimensions 2×3×4 need 24 bytes, got 23"},
		{"short data gzip", false, testutil.Gzip(testutil.IDX(MagicImages, []uint32{2, 3, 4}, seq(5))), "need 24 bytes, got 5"},
		{"short labels", true, testutil.IDX(MagicLabels, []uint32{3}, []byte{1}), "need 3 bytes, got 1"},
		{"trailing", false, append(bytes.Clone(okImages), 0), "trailing data after the 24 bytes"},
		{"trailing gzip", false, testutil.Gzip(append(bytes.Clone(okImages), 1, 2)), "trailing data"},
		{"trailing labels", true, append(bytes.Clone(okLabels), 5), "trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.labels {
				var lab []uint8
				lab, err = ReadLabels(name, bytes.NewReader(tc.file))
				if lab != nil {
					t.Errorf("got labels %v with error %v", lab, err)
				}
			} else {
				var img []uint8
				img, _, _, _, err = ReadImages(name, bytes.NewReader(tc.file))
				if img != nil {
					t.Errorf("got images with error %v", err)
				}
			}
			checkErr(t, err, name, tc.problem)
		})
	}
}

// checkErr asserts that err is an ErrFormat whose message starts with
// "idx: name: " and contains problem.
func checkErr(t *testing.T, err error, name, problem string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", problem)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "idx: "+name+": ") || !strings.Contains(msg, problem) {
		t.Errorf("error %q: want prefix %q and %q", msg, "idx: "+name+": ", problem)
	}
	if !errors.Is(err, ErrFormat) {
		t.Errorf("error %q does not match ErrFormat", msg)
	}
	var fe *FormatError
	if !errors.As(err, &fe) || fe.File != name {
		t.Errorf("error %q is not a *FormatError for %q", msg, name)
	}
}

func TestReadIOError(t *testing.T) {
	_, _, _, _, err := ReadImages("x.idx", &errReader{bytes.NewReader(okImages[:20])})
	checkErr(t, err, "x.idx", "disk on fire")
	if errors.Unwrap(err) == nil {
		t.Error("the I/O error is not wrapped")
	}
}

// A header that claims nearly 2 GB over a few bytes of data must fail
// without allocating anything like 2 GB.
func TestForgedHeaderDoesNotAllocate(t *testing.T) {
	for _, gz := range []bool{false, true} {
		file := testutil.IDX(MagicImages, []uint32{2700000, 28, 28}, seq(1000)) // 2.1e9 bytes claimed
		if gz {
			file = testutil.Gzip(file)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, _, _, err := ReadImages("forged", bytes.NewReader(file))
		runtime.ReadMemStats(&after)
		checkErr(t, err, "forged", "need 2116800000 bytes, got 1000")
		if got := after.TotalAlloc - before.TotalAlloc; got > initialChunk+4<<20 {
			t.Errorf("gzip=%v: allocated %d bytes for a 1000-byte payload", gz, got)
		}
	}
}

func TestNewDatasetChecks(t *testing.T) {
	const iname, lname = "imgs.gz", "labs.gz"
	for _, tc := range []struct {
		name    string
		images  []byte
		labels  []byte
		file    string
		problem string
	}{
		{"count mismatch", okImages, testutil.IDX(MagicLabels, []uint32{3}, []byte{1, 2, 3}), lname, "3 labels, but imgs.gz has 2 images"},
		{"label above 9", okImages, testutil.IDX(MagicLabels, []uint32{2}, []byte{1, 12}), lname, "label 12 at index 1 is above 9"},
		{"label 255", okImages, testutil.Gzip(testutil.IDX(MagicLabels, []uint32{2}, []byte{255, 0})), lname, "label 255 at index 0"},
		{"bad images", okLabels, okLabels, iname, "want magic 0x803, got 0x801"},
		{"bad labels", okImages, okImages, lname, "want magic 0x801, got 0x803"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDataset(iname, bytes.NewReader(tc.images), lname, bytes.NewReader(tc.labels))
			if d != nil {
				t.Errorf("got a dataset with error %v", err)
			}
			checkErr(t, err, tc.file, tc.problem)
		})
	}
	d, err := NewDataset(iname, bytes.NewReader(okImages), lname, bytes.NewReader(okLabels))
	if err != nil || d.N != 2 || d.H != 3 || d.W != 4 || !slices.Equal(d.Labels, []int32{3, 9}) || d.C != 1 || len(d.Classes) != 10 {
		t.Fatalf("NewDataset = %+v, %v", d, err)
	}
	if !bytes.Equal(d.Image(1), seq(24)[12:]) {
		t.Errorf("Image(1) = %v", d.Image(1))
	}
}

// sameAsGzipped checks that reading file and reading it gzip-compressed
// agree: the same result, or the same error (unless file is itself gzip).
// It caught a whole gzipped header reported as truncated because the
// decompressor returned its last bytes with io.EOF.
func sameAsGzipped(t *testing.T, file []byte, read func(r io.Reader) ([]byte, []int, error)) {
	if len(file) >= 2 && file[0] == 0x1f && file[1] == 0x8b {
		return
	}
	a, adims, aerr := read(bytes.NewReader(file))
	b, bdims, berr := read(bytes.NewReader(testutil.Gzip(file)))
	switch {
	case (aerr == nil) != (berr == nil):
		t.Fatalf("raw: %v; gzipped: %v", aerr, berr)
	case aerr != nil:
		if aerr.Error() != berr.Error() {
			t.Fatalf("raw and gzipped files fail differently:\n%v\n%v", aerr, berr)
		}
	case !bytes.Equal(a, b) || fmt.Sprint(adims) != fmt.Sprint(bdims):
		t.Fatalf("raw and gzipped files read differently: %v vs %v", adims, bdims)
	}
}

func FuzzReadImages(f *testing.F) {
	f.Add(okImages)
	f.Add(testutil.Gzip(okImages))
	f.Add(okImages[:17])
	f.Add(testutil.IDX(MagicImages, []uint32{0xffffffff, 1, 1}, nil))
	f.Add(testutil.IDX(MagicImages, []uint32{1, 1, 1}, []byte{1, 2}))
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, file []byte) {
		img, n, h, w, err := ReadImages("fuzz", bytes.NewReader(file))
		if err != nil {
			if !errors.Is(err, ErrFormat) || !strings.HasPrefix(err.Error(), "idx: fuzz: ") {
				t.Fatalf("bad error %q", err)
			}
		} else if n < 1 || h < 1 || w < 1 || len(img) != n*h*w {
			t.Fatalf("n,h,w = %d,%d,%d with %d pixels", n, h, w, len(img))
		}
		sameAsGzipped(t, file, func(r io.Reader) ([]byte, []int, error) {
			img, n, h, w, err := ReadImages("fuzz", r)
			return img, []int{n, h, w}, err
		})
	})
}

func FuzzReadLabels(f *testing.F) {
	f.Add(okLabels)
	f.Add(testutil.Gzip(okLabels))
	f.Add(okLabels[:6])
	f.Add(testutil.IDX(MagicLabels, []uint32{0}, nil))
	f.Add(append(bytes.Clone(okLabels), 0))
	f.Fuzz(func(t *testing.T, file []byte) {
		lab, err := ReadLabels("fuzz", bytes.NewReader(file))
		if err != nil {
			if !errors.Is(err, ErrFormat) || !strings.HasPrefix(err.Error(), "idx: fuzz: ") {
				t.Fatalf("bad error %q", err)
			}
		} else if len(lab) < 1 {
			t.Fatal("no labels and no error")
		}
		sameAsGzipped(t, file, func(r io.Reader) ([]byte, []int, error) {
			lab, err := ReadLabels("fuzz", r)
			return lab, nil, err
		})
	})
}
