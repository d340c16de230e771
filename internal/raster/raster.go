// Package raster turns pictures into the uint8 pixels a data set holds:
// grey or RGB channels and a given size. Training (data's image folders) and
// prediction (resgo, resgo predict) both prepare pictures through it, so a
// model sees its pictures at prediction as it saw them in training.
package raster

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"strings"
)

// MaxPixels is the largest picture Pixels and Header accept: 50
// megapixels.
const MaxPixels = 50_000_000

// Pixels writes img into dst as h×w pixels of c channels (1: grey, 3: RGB),
// row-major HWC bytes, the way resgo prepares pictures of any data set other
// than MNIST's digits, for training and for prediction alike: colour turned
// to grey by ITU-R 601 luma (as PIL's "L" mode) or grey repeated into three
// channels; transparency composited onto black; then resized to h×w by
// ResizePixels, without keeping the aspect ratio (as Keras's
// image_dataset_from_directory and torchvision's Resize((h, w)) do). dst
// must hold h×w×c bytes.
func Pixels(dst []uint8, img image.Image, h, w, c int) error {
	r := img.Bounds()
	sw, sh := r.Dx(), r.Dy()
	switch {
	case c != 1 && c != 3:
		return fmt.Errorf("raster: %d channels, want 1 or 3", c)
	case h < 1 || w < 1 || len(dst) < h*w*c:
		return fmt.Errorf("raster: dst holds %d bytes, want %d×%d×%d", len(dst), h, w, c)
	case sw < 1 || sh < 1:
		return fmt.Errorf("raster: the image is empty (%d×%d)", sw, sh)
	case int64(sw)*int64(sh) > MaxPixels:
		return fmt.Errorf("raster: the image is %d×%d, larger than %d pixels", sw, sh, MaxPixels)
	}
	src := dst[:h*w*c]
	if sw != w || sh != h {
		src = make([]uint8, sw*sh*c)
	}
	raw(src, img, c)
	if sw != w || sh != h {
		ResizePixels(dst, h, w, src, sh, sw, c)
	}
	return nil
}

// raw writes img's pixels into dst at their own size, sw×sh×c.
func raw(dst []uint8, img image.Image, c int) {
	r := img.Bounds()
	i := 0
	switch m := img.(type) {
	case *image.Gray:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):][:r.Dx()]
			for _, v := range row {
				i = put(dst, i, c, v, v, v)
			}
		}
		return
	case *image.RGBA:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):][:4*r.Dx()]
			for x := 0; x < len(row); x += 4 {
				i = put(dst, i, c, row[x], row[x+1], row[x+2]) // premultiplied: over black
			}
		}
		return
	case *image.YCbCr:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if c == 1 {
					dst[i] = m.Y[m.YOffset(x, y)]
					i++
					continue
				}
				ci := m.COffset(x, y)
				cr, cg, cb := color.YCbCrToRGB(m.Y[m.YOffset(x, y)], m.Cb[ci], m.Cr[ci])
				i = put(dst, i, c, cr, cg, cb)
			}
		}
		return
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA() // alpha-premultiplied: over black
			i = put(dst, i, c, uint8(cr>>8), uint8(cg>>8), uint8(cb>>8))
		}
	}
}

// put writes one pixel at dst[i:] as c channels and returns the next index.
func put(dst []uint8, i, c int, r, g, b uint8) int {
	if c == 1 {
		if r == g && g == b {
			dst[i] = r
		} else {
			dst[i] = uint8((299*uint32(r) + 587*uint32(g) + 114*uint32(b) + 500) / 1000)
		}
		return i + 1
	}
	dst[i], dst[i+1], dst[i+2] = r, g, b
	return i + 3
}

// ResizePixels resizes src, sh×sw×c bytes HWC, into dst, h×w×c: each
// output pixel is the area average of the source pixels under it when
// shrinking, and the bilinear interpolation of the nearest source pixels
// (edges repeated) when enlarging, each axis separately, rounded.
func ResizePixels(dst []uint8, h, w int, src []uint8, sh, sw, c int) {
	if h == sh && w == sw {
		copy(dst, src[:h*w*c])
		return
	}
	wx, wy := resizeTaps(sw, w), resizeTaps(sh, h)
	row := make([]float32, sw*c)
	for i := range h {
		clear(row)
		for _, t := range wy[i] {
			s := src[t.k*sw*c : (t.k+1)*sw*c]
			tw := float32(t.w)
			for x, v := range s {
				row[x] += tw * float32(v)
			}
		}
		out := dst[i*w*c : (i+1)*w*c]
		for j := range w {
			for ch := range c {
				var acc float32
				for _, t := range wx[j] {
					acc += float32(t.w) * row[t.k*c+ch]
				}
				out[j*c+ch] = uint8(min(max(math.Round(float64(acc)), 0), 255))
			}
		}
	}
}

// resizeTaps returns for each of m output pixels along an axis of n source
// pixels the source pixels and weights that make it.
func resizeTaps(n, m int) [][]tap {
	s := float64(m) / float64(n) // output pixels per source pixel
	ws := make([][]tap, m)
	for i := range ws {
		x := (float64(i) + 0.5) / s // source coordinate of the output pixel's centre
		if s <= 1 {
			a, b := x-0.5/s, x+0.5/s
			for k := max(int(math.Floor(a)), 0); k < n && float64(k) < b; k++ {
				if ov := min(b, float64(k+1)) - max(a, float64(k)); ov > 0 {
					ws[i] = append(ws[i], tap{k, ov * s})
				}
			}
			continue
		}
		f := min(max(x-0.5, 0), float64(n-1))
		k0 := int(math.Floor(f))
		t := f - float64(k0)
		ws[i] = append(ws[i], tap{k0, 1 - t})
		if t > 0 {
			ws[i] = append(ws[i], tap{k0 + 1, t})
		}
	}
	return ws
}

// tap is one source index and its weight.
type tap struct {
	k int
	w float64
}

// MaxBytes is the largest image file resgo reads: 256 MiB, more than a
// PNG of MaxPixels takes even stored without compression.
const MaxBytes = 256 << 20

// formats are the image formats Header accepts, as image.DecodeConfig
// names them. Other decoders that a program happens to register (TIFF,
// through gonum/plot, in resgo's command) are refused.
var formats = map[string]bool{"png": true, "jpeg": true, "gif": true}

// Header reads an image's header from r and checks it as imageprep.Decode and image folders do: a
// PNG, JPEG or GIF, not empty, of at most MaxPixels. It returns the
// header and the format's name.
func Header(r io.Reader) (image.Config, string, error) {
	cfg, format, err := image.DecodeConfig(r)
	if errors.Is(err, image.ErrFormat) {
		return cfg, format, errors.New("not a PNG, JPEG or GIF image")
	}
	if !formats[format] {
		return cfg, format, fmt.Errorf("a %s image: resgo reads PNG, JPEG or GIF", strings.ToUpper(format))
	}
	if err != nil {
		return cfg, format, fmt.Errorf("bad %s image: %v", format, err)
	}
	if cfg.Width < 1 || cfg.Height < 1 {
		return cfg, format, fmt.Errorf("the %s image is empty (%d×%d)", format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return cfg, format, fmt.Errorf("the %s image is %d×%d, larger than %d pixels", format, cfg.Width, cfg.Height, MaxPixels)
	}
	return cfg, format, nil
}
