package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Augment is the random transformation of training images that --augment
// describes. Each image gets, from its own random draws:
//
//   - Flip: mirrored left to right with probability 1/2 (not for digits);
//   - Scale: zoomed about its centre by a factor in [1−Scale, 1+Scale];
//   - Rotate: turned about its centre by an angle in [−Rotate, Rotate]
//     degrees;
//   - Shift: translated by a whole number of pixels in [−Shift, Shift]
//     along each axis;
//   - Crop: padded with Crop zeros on every side and cropped back to its
//     size at a random offset, which is a translation by [−Crop, Crop]
//     pixels as well.
//
// Pixels that come from outside the image are 0. A rotation or zoom
// samples the source bilinearly; flips and translations alone move pixels
// exactly. The draws come only from the rng given to Apply, which the
// Loader seeds from (seed, epoch, image index): the same image of the same
// epoch is transformed the same way in any run.
type Augment struct {
	Shift  int     // pixels, each way
	Rotate float64 // degrees, each way
	Crop   int     // zero padding before a random crop, in pixels
	Flip   bool    // random horizontal flip
	Scale  float64 // relative zoom, each way
}

// ParseAugment reads a comma-separated list of transformations, as
// "shift=2,rotate=10,crop=4,flip,scale=0.1"; "" and "none" are no
// augmentation.
func ParseAugment(spec string) (Augment, error) {
	var a Augment
	if spec == "" || spec == "none" {
		return a, nil
	}
	for _, item := range strings.Split(spec, ",") {
		name, val, hasVal := strings.Cut(strings.TrimSpace(item), "=")
		bad := func(want string) (Augment, error) {
			return Augment{}, fmt.Errorf("augmentation %q: %s wants %s", item, name, want)
		}
		switch name {
		case "flip":
			if hasVal {
				return bad("no value")
			}
			a.Flip = true
		case "shift", "crop":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > 1000 {
				return bad("a number of pixels from 0 to 1000 (shift=2)")
			}
			if name == "shift" {
				a.Shift = n
			} else {
				a.Crop = n
			}
		case "rotate":
			d, err := strconv.ParseFloat(val, 64)
			if err != nil || !(d >= 0 && d <= 180) {
				return bad("degrees from 0 to 180 (rotate=10)")
			}
			a.Rotate = d
		case "scale":
			s, err := strconv.ParseFloat(val, 64)
			if err != nil || !(s >= 0 && s < 1) {
				return bad("a fraction from 0 to below 1 (scale=0.1)")
			}
			a.Scale = s
		default:
			return Augment{}, fmt.Errorf("unknown augmentation %q (shift=N, rotate=DEG, crop=N, flip, scale=F)", item)
		}
	}
	return a, nil
}

// String returns the spec that ParseAugment reads back as a, "none" for
// no augmentation.
func (a Augment) String() string {
	var parts []string
	if a.Shift > 0 {
		parts = append(parts, "shift="+strconv.Itoa(a.Shift))
	}
	if a.Rotate > 0 {
		parts = append(parts, "rotate="+strconv.FormatFloat(a.Rotate, 'g', -1, 64))
	}
	if a.Crop > 0 {
		parts = append(parts, "crop="+strconv.Itoa(a.Crop))
	}
	if a.Flip {
		parts = append(parts, "flip")
	}
	if a.Scale > 0 {
		parts = append(parts, "scale="+strconv.FormatFloat(a.Scale, 'g', -1, 64))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// None reports whether a changes nothing.
func (a Augment) None() bool { return a == Augment{} }

// draw is one image's random transformation.
type draw struct {
	dx, dy int     // translation in pixels (shift and crop together)
	angle  float64 // radians
	zoom   float64
	flip   bool
}

// draw makes the random draws, always in the same order.
func (a Augment) draw(rng *rand.Rand) draw {
	d := draw{zoom: 1}
	if a.Shift > 0 {
		d.dx = rng.IntN(2*a.Shift+1) - a.Shift
		d.dy = rng.IntN(2*a.Shift+1) - a.Shift
	}
	if a.Crop > 0 {
		// The crop's window starts at (ox, oy) of the padded image: the
		// image moves by Crop − o.
		d.dx += a.Crop - rng.IntN(2*a.Crop+1)
		d.dy += a.Crop - rng.IntN(2*a.Crop+1)
	}
	if a.Rotate > 0 {
		d.angle = (2*rng.Float64() - 1) * a.Rotate * math.Pi / 180
	}
	if a.Scale > 0 {
		d.zoom = 1 + (2*rng.Float64()-1)*a.Scale
	}
	if a.Flip {
		d.flip = rng.IntN(2) == 1
	}
	return d
}

// Apply transforms img, an h×w×c image (row-major, channels last), in
// place with draws from rng; scratch must hold as many values as img. Its
// signature is the Loader's Transform.
func (a Augment) Apply(img, scratch []float32, h, w, c int, rng *rand.Rand) {
	if a.None() {
		return
	}
	a.apply(img, scratch, h, w, c, a.draw(rng))
}

func (a Augment) apply(img, scratch []float32, h, w, c int, d draw) {
	n := h * w * c
	src := scratch[:n]
	copy(src, img[:n])
	dst := img[:n]
	if d.angle == 0 && d.zoom == 1 {
		// Whole pixels: output (x, y) is source (x − dx, y − dy), mirrored.
		for y := range h {
			sy := y - d.dy
			row := dst[y*w*c : (y+1)*w*c]
			if sy < 0 || sy >= h {
				clear(row)
				continue
			}
			for x := range w {
				sx := x - d.dx
				if d.flip && sx >= 0 && sx < w {
					sx = w - 1 - sx
				}
				out := row[x*c : (x+1)*c]
				if sx < 0 || sx >= w {
					clear(out)
					continue
				}
				copy(out, src[(sy*w+sx)*c:(sy*w+sx+1)*c])
			}
		}
		return
	}
	// The inverse map: output p comes from source
	// c + R(−angle)·(p − t − c)/zoom, mirrored, with c the image's centre.
	cx, cy := float64(w-1)/2, float64(h-1)/2
	cos, sin := math.Cos(d.angle)/d.zoom, math.Sin(d.angle)/d.zoom
	for y := range h {
		py := float64(y-d.dy) - cy
		for x := range w {
			px := float64(x-d.dx) - cx
			sx := cx + cos*px + sin*py
			sy := cy - sin*px + cos*py
			if d.flip {
				sx = float64(w-1) - sx
			}
			if c == 1 {
				dst[y*w+x] = bilinear1(src, h, w, sx, sy)
			} else {
				bilinear(dst[(y*w+x)*c:(y*w+x+1)*c], src, h, w, c, sx, sy)
			}
		}
	}
}

// bilinear1 samples the one-channel image src at (sx, sy), with zeros
// outside it: bilinear's sum in bilinear's order, without its bounds
// checks where all four neighbours are inside.
func bilinear1(src []float32, h, w int, sx, sy float64) float32 {
	if !(sx > -1 && sx < float64(w) && sy > -1 && sy < float64(h)) {
		return 0
	}
	x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
	fx, fy := float32(sx-float64(x0)), float32(sy-float64(y0))
	if x0 >= 0 && x0+1 < w && y0 >= 0 && y0+1 < h {
		r0 := src[y0*w+x0 : y0*w+x0+2]
		r1 := src[(y0+1)*w+x0 : (y0+1)*w+x0+2]
		v := float32((1-fx)*(1-fy)) * r0[0]
		v += float32(fx*(1-fy)) * r0[1]
		v += float32((1-fx)*fy) * r1[0]
		v += float32(fx*fy) * r1[1]
		return v
	}
	var out [1]float32
	bilinear(out[:], src, h, w, 1, sx, sy)
	return out[0]
}

// bilinear writes into out the c channels of src sampled at (sx, sy),
// with zeros outside the image.
func bilinear(out, src []float32, h, w, c int, sx, sy float64) {
	clear(out)
	if !(sx > -1 && sx < float64(w) && sy > -1 && sy < float64(h)) {
		return
	}
	x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
	fx, fy := float32(sx-float64(x0)), float32(sy-float64(y0))
	wxs, wys := [2]float32{1 - fx, fx}, [2]float32{1 - fy, fy}
	for j, wy := range wys {
		yy := y0 + j
		if yy < 0 || yy >= h {
			continue
		}
		for i, wx := range wxs {
			xx := x0 + i
			if xx < 0 || xx >= w {
				continue
			}
			wgt := wx * wy
			if wgt == 0 {
				continue
			}
			p := src[(yy*w+xx)*c : (yy*w+xx+1)*c]
			for k := range out {
				out[k] += wgt * p[k]
			}
		}
	}
}
