// Package testutil holds helpers that the tests of several packages share.
// Only tests import it.
package testutil

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"testing"
)

// IDX builds an IDX file from its parts as given, valid or not: the magic
// number, the dimensions (big-endian uint32s), then the payload.
func IDX(magic uint32, dims []uint32, payload []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(payload)
	return b.Bytes()
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// CheckPNG fails t unless b, the file name, decodes as a PNG image of w×h
// pixels.
func CheckPNG(t testing.TB, name string, b []byte, w, h int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	if r := img.Bounds(); r.Dx() != w || r.Dy() != h {
		t.Errorf("%s is %dx%d, want %dx%d", name, r.Dx(), r.Dy(), w, h)
	}
}

// CheckSVG fails t unless b, the file name, is well-formed XML whose root
// element is svg and which has at least minElements elements.
func CheckSVG(t testing.TB, name string, b []byte, minElements int) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	root, elements := "", 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			elements++
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", name, root)
	}
	if elements < minElements {
		t.Errorf("%s has only %d elements, want at least %d", name, elements, minElements)
	}
}
