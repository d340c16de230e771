package data

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// mnist loads the embedded MNIST once for the tests that need it.
var mnist = sync.OnceValues(func() ([2]*Dataset, error) {
	tr, te, err := LoadMNIST()
	return [2]*Dataset{tr, te}, err
})

// testDigit returns the first MNIST test image, a 7, as float32 in [0, 1].
func testDigit(t *testing.T) []float32 {
	t.Helper()
	d, err := mnist()
	if err != nil {
		t.Fatal(err)
	}
	te := d[1]
	img := make([]float32, 28*28)
	for i, p := range te.Image(0) {
		img[i] = float32(p) / 255
	}
	return img
}

// TestAugmentShiftMovesExactly shifts a digit with many seeds and checks
// that every pixel moved by exactly the drawn offset, zeros coming in,
// and that every offset from −2 to 2 was drawn along both axes.
func TestAugmentShiftMovesExactly(t *testing.T) {
	digit := testDigit(t)
	a := Augment{Shift: 2}
	seen := map[[2]int]bool{}
	scratch := make([]float32, len(digit))
	for seed := range uint64(200) {
		d := a.draw(rand.New(rand.NewPCG(seed, 1)))
		seen[[2]int{d.dx, d.dy}] = true
		img := append([]float32(nil), digit...)
		a.Apply(img, scratch, 28, 28, 1, rand.New(rand.NewPCG(seed, 1)))
		for y := range 28 {
			for x := range 28 {
				want := float32(0)
				if sx, sy := x-d.dx, y-d.dy; sx >= 0 && sx < 28 && sy >= 0 && sy < 28 {
					want = digit[sy*28+sx]
				}
				if img[y*28+x] != want {
					t.Fatalf("seed %d, offset (%d, %d): pixel (%d, %d) = %v, want %v", seed, d.dx, d.dy, x, y, img[y*28+x], want)
				}
			}
		}
	}
	if len(seen) != 25 {
		t.Fatalf("200 draws gave %d of the 25 offsets", len(seen))
	}
}

// mass returns the sum of img and its centre of mass.
func mass(img []float32, w int) (m, cx, cy float64) {
	for i, v := range img {
		m += float64(v)
		cx += float64(v) * float64(i%w)
		cy += float64(v) * float64(i/w)
	}
	return m, cx / m, cy / m
}

// TestAugmentRotationKeepsMass rotates a digit by up to 10° with many seeds
// and checks that its mass stays within 1% and its centre of mass within a
// pixel, and that the image did change.
func TestAugmentRotationKeepsMass(t *testing.T) {
	digit := testDigit(t)
	m0, cx0, cy0 := mass(digit, 28)
	a := Augment{Rotate: 10}
	scratch := make([]float32, len(digit))
	for seed := range uint64(50) {
		img := append([]float32(nil), digit...)
		a.Apply(img, scratch, 28, 28, 1, rand.New(rand.NewPCG(seed, 2)))
		m, cx, cy := mass(img, 28)
		if math.Abs(m/m0-1) > 0.01 {
			t.Fatalf("seed %d: the rotated digit's mass is %.2f, the digit's %.2f", seed, m, m0)
		}
		if math.Hypot(cx-cx0, cy-cy0) > 1 {
			t.Fatalf("seed %d: the centre of mass moved from (%.2f, %.2f) to (%.2f, %.2f)", seed, cx0, cy0, cx, cy)
		}
		diff := 0.0
		for i := range img {
			diff += math.Abs(float64(img[i] - digit[i]))
		}
		if d := a.draw(rand.New(rand.NewPCG(seed, 2))); math.Abs(d.angle) > 0.02 && diff < 1 {
			t.Fatalf("seed %d: a rotation by %.1f° left the digit as it was", seed, d.angle*180/math.Pi)
		}
	}
}

// TestAugmentRotationFormula turns a single pixel by 90° about the centre
// of a 9×9 image: output p comes from c + R(−θ)·(p − c), so the pixel 3 to
// the right of the centre ends 3 below it.
func TestAugmentRotationFormula(t *testing.T) {
	img := make([]float32, 81)
	img[4*9+7] = 1 // (x 7, y 4): the centre is (4, 4)
	Augment{Rotate: 90}.apply(img, make([]float32, 81), 9, 9, 1, draw{angle: math.Pi / 2, zoom: 1})
	for i, v := range img {
		want := 0.0
		if i == 7*9+4 {
			want = 1
		}
		if math.Abs(float64(v)-want) > 1e-6 {
			t.Fatalf("pixel (%d, %d) = %v, want %v", i%9, i/9, v, want)
		}
	}
	// A zoom by 2 about the centre (2, 2) of a 5×5 image, of a pixel at
	// (3, 2): output (3, 2) samples (2.5, 2), half of it, and output (4, 2)
	// samples (3, 2), all of it.
	z := make([]float32, 25)
	z[2*5+3] = 1
	Augment{Scale: 0.5}.apply(z, make([]float32, 25), 5, 5, 1, draw{zoom: 2})
	if z[2*5+2] != 0 || z[2*5+3] != 0.5 || z[2*5+4] != 1 {
		t.Fatalf("zoom 2: row 2 = %v, want [0 0 0 0.5 1]", z[10:15])
	}
}

// TestAugmentFlipCropChannels checks a flip and a crop's translation on a
// 5×7 image with 3 channels: channels travel together.
func TestAugmentFlipCropChannels(t *testing.T) {
	const h, w, c = 5, 7, 3
	src := make([]float32, h*w*c)
	for i := range src {
		src[i] = float32(i + 1)
	}
	img := append([]float32(nil), src...)
	a := Augment{Flip: true, Crop: 2}
	a.apply(img, make([]float32, len(img)), h, w, c, draw{flip: true, dx: 1, dy: -2, zoom: 1})
	for y := range h {
		for x := range w {
			for k := range c {
				want := float32(0)
				if sx, sy := x-1, y+2; sx >= 0 && sx < w && sy < h {
					want = src[(sy*w+(w-1-sx))*c+k]
				}
				if got := img[(y*w+x)*c+k]; got != want {
					t.Fatalf("(%d, %d, %d) = %v, want %v", x, y, k, got, want)
				}
			}
		}
	}
	// Crop 2 alone draws translations in [−2, 2].
	for seed := range uint64(50) {
		d := Augment{Crop: 2}.draw(rand.New(rand.NewPCG(seed, 3)))
		if d.dx < -2 || d.dx > 2 || d.dy < -2 || d.dy > 2 || d.flip || d.angle != 0 || d.zoom != 1 {
			t.Fatalf("crop=2 drew %+v", d)
		}
	}
}

func TestParseAugment(t *testing.T) {
	a, err := ParseAugment("shift=2,rotate=10,crop=4,flip,scale=0.1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Augment{Shift: 2, Rotate: 10, Crop: 4, Flip: true, Scale: 0.1}); a != want {
		t.Fatalf("parsed %+v, want %+v", a, want)
	}
	if b, err := ParseAugment(a.String()); err != nil || b != a {
		t.Fatalf("%q parsed back as %+v, %v", a.String(), b, err)
	}
	for _, bad := range []string{"shift", "rotate=x", "flip=1", "scale=1", "zoom=2", "shift=-1", "rotate=200"} {
		if _, err := ParseAugment(bad); err == nil {
			t.Errorf("ParseAugment(%q) accepted it", bad)
		}
	}
	if a, err := ParseAugment("none"); err != nil || !a.None() || a.String() != "none" {
		t.Fatalf("none: %+v %v", a, err)
	}
}

// BenchmarkAugmentBatch prepares batches of 32 MNIST images with --recipe
// best's augmentation and without: the difference is what augmentation
// adds to a training step.
func BenchmarkAugmentBatch(b *testing.B) {
	d, err := mnist()
	if err != nil {
		b.Fatal(err)
	}
	for _, spec := range []string{"none", "shift=2,rotate=10"} {
		b.Run(spec, func(b *testing.B) {
			a, _ := ParseAugment(spec)
			l := NewLoader(d[0], 32, 10000, 1)
			if !a.None() {
				l.SetTransform(a.Apply)
			}
			x := make([]float32, 32*28*28)
			y := make([]int32, 32)
			for b.Loop() {
				if _, ok := l.Next(x, y); !ok {
					l.Start(1)
				}
			}
		})
	}
}
