package testutil

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CIFARPixel is the value of byte p (in CIFAR's planar order: red plane,
// green, blue) of record i in the batches CIFAR builds.
func CIFARPixel(i, p int) byte { return byte(i*7 + p*3 + p/1024*50) }

// CIFAR builds a CIFAR binary batch with one record per label: CIFAR-10's
// layout (a label byte), or with fine set CIFAR-100's (a coarse label 0,
// then the fine label). Record i's pixels are CIFARPixel(i, p).
func CIFAR(fine bool, labels []byte) []byte {
	var b bytes.Buffer
	for i, l := range labels {
		if fine {
			b.WriteByte(0)
		}
		b.WriteByte(l)
		for p := range 3072 {
			b.WriteByte(CIFARPixel(i, p))
		}
	}
	return b.Bytes()
}

// ClassImage returns a w×h picture that a small network can learn to
// classify: class k lights a band of rows whose place depends on k, on a
// background that varies with i. colour makes it RGB, tinted by the class.
func ClassImage(class, i, w, h int, colour bool) image.Image {
	band := func(y int) bool { return (y*5/h)%5 == class%5 }
	bg := uint8(20 + (i*37)%40)
	if !colour {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				v := bg
				if band(y) != (class >= 5) {
					v = 230
				}
				img.SetGray(x, y, color.Gray{v})
			}
		}
		return img
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{bg, bg, bg, 255}
			if band(y) != (class >= 5) {
				c = color.RGBA{uint8(200 + 5*class), uint8(40 * (class % 3)), uint8(255 - 20*class), 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// WriteImage writes img to path (creating its folder) as PNG, JPEG
// (quality 95) or GIF according to the extension.
func WriteImage(t testing.TB, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jpg", ".jpeg":
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 95})
	case ".gif":
		opt := &gif.Options{NumColors: 256}
		if _, ok := img.(*image.Gray); ok {
			opt.Quantizer = greyQuantizer{}
		}
		err = gif.Encode(&b, img, opt)
	default:
		err = png.Encode(&b, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	WriteFile(t, path, b.Bytes())
}

// WriteFile writes b to path, creating its folder.
func WriteFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// greyQuantizer gives a GIF of a grey image the 256 grey levels.
type greyQuantizer struct{}

func (greyQuantizer) Quantize(p color.Palette, _ image.Image) color.Palette {
	for i := range 256 {
		p = append(p, color.Gray{uint8(i)})
	}
	return p
}
