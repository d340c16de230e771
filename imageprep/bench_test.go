package imageprep

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkPrepare times the decoding and the preparation of an 84×84
// greyscale PNG of a digit, as "resgo serve" and "resgo predict" do for
// each picture.
func BenchmarkPrepare(b *testing.B) {
	raw, err := os.ReadFile("../testdata/digits/seven.png")
	if err != nil {
		b.Fatal(err)
	}
	img, err := Decode(bytes.NewReader(raw))
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, Size*Size)
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			Decode(bytes.NewReader(raw))
		}
	})
	b.Run("prepare", func(b *testing.B) {
		for b.Loop() {
			if err := PrepareInto(dst, img); err != nil {
				b.Fatal(err)
			}
		}
	})
}
