package imageprep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/image/tiff"

	"resgo/data"
)

var mnist struct {
	once sync.Once
	test *data.Dataset
	err  error
}

func testDigits(t testing.TB) *data.Dataset {
	t.Helper()
	mnist.once.Do(func() { _, mnist.test, mnist.err = data.LoadMNIST() })
	if mnist.err != nil {
		t.Fatal(mnist.err)
	}
	return mnist.test
}

// digitImage returns MNIST test digit i scaled to w×h by nearest
// neighbour, white on black or (invert) black on white.
func digitImage(d *data.Dataset, i, w, h int, invert bool) *image.Gray {
	pix := d.Image(i)
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := pix[(y*28/h)*28+x*28/w]
			if invert {
				v = 255 - v
			}
			img.Pix[y*img.Stride+x] = v
		}
	}
	return img
}

// meanAbsDiff returns the mean absolute difference between a and MNIST's
// pixels p/255.
func meanAbsDiff(a []float32, p []uint8) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i]) - float64(p[i])/255)
	}
	return s / float64(len(a))
}

func checkOutput(t testing.TB, out []float32) {
	t.Helper()
	if len(out) != Size*Size {
		t.Fatalf("%d values, want %d", len(out), Size*Size)
	}
	hi := float32(0)
	for i, v := range out {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("value %d is %v, outside [0, 1]", i, v)
		}
		hi = max(hi, v)
	}
	if hi != 1 {
		t.Fatalf("brightest value %v, want 1", hi)
	}
}

// centreOfMass returns the centre of mass of a 28×28 image, in pixel
// indices.
func centreOfMass(v []float32) (x, y float64) {
	var m float64
	for i, p := range v {
		m += float64(p)
		x += float64(p) * float64(i%Size)
		y += float64(p) * float64(i/Size)
	}
	return x / m, y / m
}

// TestMNISTDigits prepares MNIST's own digits, in both polarities and
// enlarged: they must come back as they were (stretched to 45×61, close),
// centred as MNIST's.
func TestMNISTDigits(t *testing.T) {
	d := testDigits(t)
	for _, c := range []struct {
		name   string
		w, h   int
		invert bool
		tol    float64 // mean absolute difference per pixel
	}{
		{"as is", 28, 28, false, 0.001},
		{"inverted", 28, 28, true, 0.001},
		{"x3", 84, 84, false, 0.001},
		{"x3 inverted", 84, 84, true, 0.001},
		{"45x61", 45, 61, true, 0.12},
	} {
		t.Run(c.name, func(t *testing.T) {
			var worst, sum float64
			for i := range 100 {
				out, err := Prepare(digitImage(d, i, c.w, c.h, c.invert))
				if err != nil {
					t.Fatal(err)
				}
				checkOutput(t, out)
				x, y := centreOfMass(out)
				if math.Abs(x-CentreOfMass) > 0.6 || math.Abs(y-CentreOfMass) > 0.6 {
					t.Fatalf("digit %d: centre of mass (%.2f, %.2f), want (14, 14)", i, x, y)
				}
				diff := meanAbsDiff(out, d.Image(i))
				worst, sum = max(worst, diff), sum+diff
			}
			t.Logf("mean absolute difference from MNIST: mean %.4f, worst %.4f", sum/100, worst)
			if sum/100 > c.tol {
				t.Fatalf("mean absolute difference %.4f, want at most %.4f", sum/100, c.tol)
			}
		})
	}
}

// TestFormats prepares the same digit as PNG, JPEG and GIF, grey and
// colour, opaque and with a transparent background.
func TestFormats(t *testing.T) {
	d := testDigits(t)
	base := digitImage(d, 0, 84, 84, true) // dark on light
	want, err := Prepare(base)
	if err != nil {
		t.Fatal(err)
	}
	// Blue ink on a transparent background, and black ink on white in RGBA.
	transparent := image.NewNRGBA(base.Bounds())
	rgba := image.NewRGBA(base.Bounds())
	for i, v := range base.Pix {
		transparent.Pix[4*i+2] = 200
		transparent.Pix[4*i+3] = 255 - v
		rgba.Pix[4*i], rgba.Pix[4*i+1], rgba.Pix[4*i+2], rgba.Pix[4*i+3] = v, v, v, 255
	}
	pal := image.NewPaletted(base.Bounds(), palette.Plan9)
	draw.Draw(pal, pal.Bounds(), base, image.Point{}, draw.Src)
	enc := func(f func(*bytes.Buffer) error) []byte {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for _, c := range []struct {
		name string
		file []byte
		tol  float64
	}{
		{"png gray", enc(func(b *bytes.Buffer) error { return png.Encode(b, base) }), 1e-6},
		{"png rgba", enc(func(b *bytes.Buffer) error { return png.Encode(b, rgba) }), 0.005},
		{"png transparent", enc(func(b *bytes.Buffer) error { return png.Encode(b, transparent) }), 0.005},
		{"gif", enc(func(b *bytes.Buffer) error { return gif.Encode(b, pal, nil) }), 0.02},
		{"jpeg", enc(func(b *bytes.Buffer) error { return jpeg.Encode(b, rgba, &jpeg.Options{Quality: 80}) }), 0.03},
		{"jpeg gray", enc(func(b *bytes.Buffer) error { return jpeg.Encode(b, base, &jpeg.Options{Quality: 80}) }), 0.03},
	} {
		t.Run(c.name, func(t *testing.T) {
			img, err := Decode(bytes.NewReader(c.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Prepare(img)
			if err != nil {
				t.Fatal(err)
			}
			checkOutput(t, got)
			var diff float64
			for i := range got {
				diff += math.Abs(float64(got[i] - want[i]))
			}
			if diff /= float64(len(got)); diff > c.tol {
				t.Fatalf("mean absolute difference %.4f from the grey PNG's result, want at most %g", diff, c.tol)
			}
		})
	}
}

// TestSubImage prepares a digit cut out of a larger picture.
func TestSubImage(t *testing.T) {
	d := testDigits(t)
	big := image.NewGray(image.Rect(0, 0, 200, 200))
	draw.Draw(big, big.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(big, image.Rect(50, 60, 134, 144), digitImage(d, 3, 84, 84, true), image.Point{}, draw.Src)
	a, err := Prepare(big.SubImage(image.Rect(40, 50, 150, 160)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Prepare(digitImage(d, 3, 84, 84, true))
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-5 {
			t.Fatalf("pixel %d: %v from the sub-image, %v from the digit alone", i, a[i], b[i])
		}
	}
}

func TestBlank(t *testing.T) {
	for _, img := range []image.Image{
		image.NewGray(image.Rect(0, 0, 1, 1)),
		image.NewGray(image.Rect(0, 0, 50, 30)),
		&image.Gray{Rect: image.Rect(0, 0, 10, 10), Stride: 10, Pix: bytes.Repeat([]byte{128, 130}, 50)},
		image.NewRGBA(image.Rect(0, 0, 0, 0)),
	} {
		if _, err := Prepare(img); !errors.Is(err, ErrBlank) {
			t.Errorf("Prepare(%T %v) = %v, want ErrBlank", img, img.Bounds(), err)
		}
	}
	// An image.Uniform has near-infinite bounds: refused, not allocated.
	if _, err := Prepare(image.NewUniform(color.White)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Prepare(image.Uniform) = %v, want a refusal", err)
	}
}

// TestDecodeErrors checks the messages for files that are not images and
// images too large to decode.
func TestDecodeErrors(t *testing.T) {
	if _, err := Decode(strings.NewReader("hello")); err == nil || !strings.Contains(err.Error(), "not a PNG, JPEG or GIF") {
		t.Errorf("err = %v", err)
	}
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 4)))
	huge := bytes.Clone(b.Bytes())
	// IHDR: length(4) "IHDR"(4) width(4) height(4) ... crc over type+data.
	binary.BigEndian.PutUint32(huge[16:], 100000)
	binary.BigEndian.PutUint32(huge[20:], 100000)
	binary.BigEndian.PutUint32(huge[29:], crc32.ChecksumIEEE(huge[12:29]))
	if _, err := Decode(bytes.NewReader(huge)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err = %v, want the image refused as too large", err)
	}
	if _, err := Decode(bytes.NewReader(b.Bytes()[:40])); err == nil || !strings.Contains(err.Error(), "bad png image") {
		t.Errorf("truncated png: err = %v", err)
	}
	if _, err := DecodeFile("testdata/no-such.png"); err == nil || !strings.Contains(err.Error(), "testdata/no-such.png") {
		t.Errorf("err = %v", err)
	}
}

// fuzzCheck prepares img and checks the invariants of the output.
func fuzzCheck(t *testing.T, img image.Image) {
	out, err := Prepare(img)
	if errors.Is(err, ErrBlank) {
		return
	}
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	checkOutput(t, out)
}

// FuzzPrepare decodes arbitrary bytes as an image and prepares it: never a
// panic, and always 28×28 values in [0, 1] with a brightest pixel of 1.
func FuzzPrepare(f *testing.F) {
	d := testDigits(f)
	var b bytes.Buffer
	png.Encode(&b, digitImage(d, 0, 28, 28, false))
	f.Add(bytes.Clone(b.Bytes()))
	f.Fuzz(func(t *testing.T, file []byte) {
		cfg, _, err := image.DecodeConfig(bytes.NewReader(file))
		if err != nil || cfg.Width*cfg.Height > 1<<20 || cfg.Width > 1<<14 || cfg.Height > 1<<14 {
			return // keep the fuzzer's memory small
		}
		img, err := Decode(bytes.NewReader(file))
		if err != nil {
			return
		}
		fuzzCheck(t, img)
	})
}

// FuzzPrepareGray prepares arbitrary grey images of up to 64×64 pixels.
func FuzzPrepareGray(f *testing.F) {
	d := testDigits(f)
	f.Add(uint8(28), uint8(28), d.Image(0))
	f.Add(uint8(1), uint8(1), []byte{255})
	f.Add(uint8(3), uint8(2), []byte{0, 255, 0, 255, 0, 255})
	f.Fuzz(func(t *testing.T, w, h uint8, pix []byte) {
		W, H := int(w%64)+1, int(h%64)+1
		img := image.NewGray(image.Rect(0, 0, W, H))
		if len(pix) > 0 {
			for i := range img.Pix {
				img.Pix[i] = pix[i%len(pix)]
			}
		}
		fuzzCheck(t, img)
	})
}

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// zeros is an endless stream of zero bytes, as /dev/zero.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestDecodeReadsOnlyTheHeader checks that what is not an image, or is
// one too large, is refused after its header: an endless stream of zeros,
// and a PNG header claiming 10^10 pixels followed by endless data, each
// cost a few KiB of reading.
func TestDecodeReadsOnlyTheHeader(t *testing.T) {
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 4)))
	huge := bytes.Clone(b.Bytes()[:33]) // signature and IHDR
	binary.BigEndian.PutUint32(huge[16:], 100000)
	binary.BigEndian.PutUint32(huge[20:], 100000)
	binary.BigEndian.PutUint32(huge[29:], crc32.ChecksumIEEE(huge[12:29]))
	const long = 64 << 20 // "endless": bounded, so that a reader that reads it all ends
	for name, r := range map[string]io.Reader{
		"zeros":      io.LimitReader(zeros{}, long),
		"forged png": io.MultiReader(bytes.NewReader(huge), io.LimitReader(zeros{}, long)),
	} {
		c := &countingReader{r: r}
		if _, err := Decode(c); err == nil {
			t.Errorf("%s: decoded", name)
		}
		if c.n > 64<<10 {
			t.Errorf("%s: read %d bytes before refusing", name, c.n)
		}
	}
	// TIFF is not one of the formats resgo reads, though importing
	// x/image/tiff (here, or gonum/plot in the command) registers it.
	b.Reset()
	if err := tiff.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(bytes.NewReader(b.Bytes())); err == nil || err.Error() != "a TIFF image: resgo reads PNG, JPEG or GIF" {
		t.Errorf("TIFF: err = %v", err)
	}
}

// TestDecodeFileRefusesByType checks that a folder, a device, a named
// pipe and a file larger than MaxBytes are refused at once, unread.
func TestDecodeFileRefusesByType(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.png")
	big := filepath.Join(dir, "big.png")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(MaxBytes + 1) // sparse: no disk used
	f.Close()
	cases := map[string]string{
		dir:         "is a directory",
		big:         "is 256 MiB, larger than the 256 MiB an image may be",
		fifo:        "is a named pipe (FIFO)",
		"/dev/zero": "is a device",
	}
	if err := mkfifo(fifo); err != nil {
		delete(cases, fifo)
	}
	if _, err := os.Stat("/dev/zero"); err != nil {
		delete(cases, "/dev/zero")
	}
	for path, want := range cases {
		done := make(chan error, 1)
		go func() {
			_, err := DecodeFile(path)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || err.Error() != path+": "+want && !strings.HasPrefix(err.Error(), path+": "+want) {
				t.Errorf("%s: err = %v, want %q", path, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: DecodeFile still reading after 10 s", path)
		}
	}
}
