package raster

import (
	"bytes"
	"image"
	"image/color"
	"testing"
)

func TestResizePixels(t *testing.T) {
	// Shrinking by two averages each 2×2 block, per channel.
	src := []uint8{ // 2 rows × 4 columns × 2 channels
		0, 10, 100, 110, 7, 7, 9, 9,
		20, 30, 120, 130, 7, 7, 9, 9,
	}
	dst := make([]uint8, 1*2*2)
	ResizePixels(dst, 1, 2, src, 2, 4, 2)
	// Columns 0-1 of both rows make output pixel 0: channel 0 averages 0,
	// 100, 20 and 120.
	if want := []uint8{60, 70, 8, 8}; !bytes.Equal(dst, want) {
		t.Errorf("shrunk to %v, want %v", dst, want)
	}
	// Enlarging: corners keep their values, the middle interpolates.
	one := []uint8{0, 200}
	big := make([]uint8, 4)
	ResizePixels(big, 1, 4, one, 1, 2, 1)
	if want := []uint8{0, 50, 150, 200}; !bytes.Equal(big, want) {
		t.Errorf("enlarged to %v, want %v", big, want)
	}
	same := make([]uint8, len(src))
	ResizePixels(same, 2, 4, src, 2, 4, 2)
	if !bytes.Equal(same, src) {
		t.Error("the same size is not a copy")
	}
}

func TestPixels(t *testing.T) {
	img := image.NewNRGBA(image.Rect(3, 5, 5, 6)) // 2×1, away from the origin
	img.Set(3, 5, color.NRGBA{255, 0, 0, 255})
	img.Set(4, 5, color.NRGBA{10, 20, 30, 0}) // transparent: black
	rgb := make([]uint8, 6)
	if err := Pixels(rgb, img, 1, 2, 3); err != nil || !bytes.Equal(rgb, []uint8{255, 0, 0, 0, 0, 0}) {
		t.Errorf("RGB %v, %v", rgb, err)
	}
	grey := make([]uint8, 2)
	if err := Pixels(grey, img, 1, 2, 1); err != nil || !bytes.Equal(grey, []uint8{76, 0}) {
		t.Errorf("grey %v, %v (want red's luma 76)", grey, err)
	}
	g := image.NewGray(image.Rect(0, 0, 2, 2))
	copy(g.Pix, []uint8{0, 40, 80, 120})
	out := make([]uint8, 3)
	if err := Pixels(out, g, 1, 1, 3); err != nil || !bytes.Equal(out, []uint8{60, 60, 60}) {
		t.Errorf("grey to one RGB pixel: %v, %v", out, err)
	}
	ycc := image.NewYCbCr(image.Rect(0, 0, 2, 2), image.YCbCrSubsampleRatio420)
	for i := range ycc.Y {
		ycc.Y[i] = 100
	}
	for i := range ycc.Cb {
		ycc.Cb[i], ycc.Cr[i] = 128, 128
	}
	out1 := make([]uint8, 4)
	if err := Pixels(out1, ycc, 2, 2, 1); err != nil || !bytes.Equal(out1, []uint8{100, 100, 100, 100}) {
		t.Errorf("JPEG's YCbCr to grey: %v, %v", out1, err)
	}
	for _, bad := range []struct {
		dst     []uint8
		h, w, c int
	}{{make([]uint8, 6), 1, 2, 2}, {make([]uint8, 5), 1, 2, 3}, {make([]uint8, 6), 0, 2, 3}} {
		if err := Pixels(bad.dst, img, bad.h, bad.w, bad.c); err == nil {
			t.Errorf("Pixels(%d bytes, %d×%d×%d) did not fail", len(bad.dst), bad.h, bad.w, bad.c)
		}
	}
}
