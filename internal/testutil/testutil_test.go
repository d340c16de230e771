package testutil

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"image"
	"image/png"
	"io"
	"testing"
)

func TestIDXAndGzip(t *testing.T) {
	got := IDX(0x803, []uint32{2, 1, 1}, []byte{7, 9})
	want := []byte{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 7, 9}
	if !bytes.Equal(got, want) {
		t.Fatalf("IDX = %v, want %v", got, want)
	}
	zr, err := gzip.NewReader(bytes.NewReader(Gzip(got)))
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(back, got) {
		t.Fatalf("Gzip does not round-trip: %v %v", back, err)
	}
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestCheckPNGAndSVG(t *testing.T) {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 3, 2))); err != nil {
		t.Fatal(err)
	}
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><g><rect/><rect/></g></svg>`)
	for _, c := range []struct {
		name  string
		check func(tb testing.TB)
		fails bool
	}{
		{"good png", func(tb testing.TB) { CheckPNG(tb, "a.png", b.Bytes(), 3, 2) }, false},
		{"png of another size", func(tb testing.TB) { CheckPNG(tb, "a.png", b.Bytes(), 2, 3) }, true},
		{"not a png", func(tb testing.TB) { CheckPNG(tb, "a.png", svg, 3, 2) }, true},
		{"good svg", func(tb testing.TB) { CheckSVG(tb, "a.svg", svg, 4) }, false},
		{"svg too small", func(tb testing.TB) { CheckSVG(tb, "a.svg", svg, 5) }, true},
		{"not svg", func(tb testing.TB) { CheckSVG(tb, "a.svg", []byte(`<html><p/></html>`), 1) }, true},
		{"broken xml", func(tb testing.TB) { CheckSVG(tb, "a.svg", []byte(`<svg><g></svg>`), 1) }, true},
	} {
		r := &recorder{TB: t}
		c.check(r)
		if failed := len(r.errors) > 0; failed != c.fails {
			t.Errorf("%s: failed %v (%q), want %v", c.name, failed, r.errors, c.fails)
		}
	}
}
