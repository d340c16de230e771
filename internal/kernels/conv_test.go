package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"resgo/compute"
	"resgo/internal/kernelset"
	"testing"
)

// This file checks the convolution kernels against a naive direct
// convolution written from the definition (nested loops over NHWC input and
// an HWIO kernel, TensorFlow's padding rule), in float64, for many shapes:
// odd and even sizes, even and non-square kernels, strides 1 to 3, 'same'
// and 'valid' padding, and shapes big enough that the work is split across
// workers and packed in several chunks. Every kernel set (assembly and
// portable) and pools of 1 and 3 workers are run.

// ctKernelSet is one choice of the GEMM and row kernels behind the
// convolution, BatchNorm, dense and elementwise entry points.
type ctKernelSet struct {
	name string
	ok   func() bool
	// use installs the set and returns a function that restores the
	// previous one.
	use func() (restore func())
}

// ctSaveKernels returns a function that restores the current kernel set.
func ctSaveKernels() func() {
	g, ta, tb, rf, bn := gemmImpl, gemmTAImpl, gemmTBImpl, rowsFast, rowsAVX2
	return func() { gemmImpl, gemmTAImpl, gemmTBImpl, rowsFast, rowsAVX2 = g, ta, tb, rf, bn }
}

// ctKernelSets lists the default set (whatever start-up chose: assembly on
// capable CPUs unless RESGO_KERNELS=generic) and the portable one;
// conv_amd64_test.go adds the AVX2 set on amd64.
var ctKernelSets = []ctKernelSet{
	{"default", func() bool { return true }, func() func() { return func() {} }},
	{"generic", func() bool { return true }, func() func() {
		restore := ctSaveKernels()
		gemmImpl, gemmTAImpl, gemmTBImpl, rowsFast, rowsAVX2 = SgemmGeneric, SgemmTAGeneric, SgemmTBGeneric, false, false
		return restore
	}},
}

// ctForEachSet runs f under every available kernel set and pools of 1 and
// 3 workers (3 is more than the 2 cores these tests run on, which is fine:
// it exercises uneven splits).
func ctForEachSet(t *testing.T, f func(t *testing.T, p *Pool)) {
	for _, ks := range ctKernelSets {
		if !ks.ok() {
			continue
		}
		for _, workers := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/workers=%d", ks.name, workers), func(t *testing.T) {
				restore := ks.use()
				defer restore()
				p := compute.NewPool(workers)
				defer p.Close()
				f(t, p)
			})
		}
	}
}

func ctRand(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

const ctGuard = 13         // floats after each output buffer that must stay untouched
const ctSentinel = 12345.5 // their value

// ctOut returns an output buffer of n floats followed by ctGuard sentinels;
// the buffer itself is filled with random values (to be overwritten or
// accumulated into).
func ctOut(r *rand.Rand, n int) []float32 {
	b := ctRand(r, n+ctGuard)
	for i := n; i < len(b); i++ {
		b[i] = ctSentinel
	}
	return b[:n]
}

// ctCheckGuard fails if anything was written past the end of buf.
func ctCheckGuard(t *testing.T, what string, buf []float32) {
	t.Helper()
	for i, v := range buf[len(buf) : len(buf)+ctGuard] {
		if v != ctSentinel {
			t.Fatalf("%s: wrote %v at %d past the end", what, v, i)
		}
	}
}

// ctClose checks got against want element by element with a tolerance
// relative to mag, the sum of the absolute values of the terms that make up
// each element: float32 rounding of a sum is bounded by a small multiple of
// that, while a wrong index or a missing term is of the order of a term.
func ctClose(t *testing.T, what string, got []float32, want, mag []float64, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= rtol*mag[i]+1e-6) {
			t.Fatalf("%s[%d] = %v, want %v (|diff| %.3g, scale %.3g)", what, i, got[i], want[i], d, mag[i])
		}
	}
}

// ctGeometry is TensorFlow's rule, written out independently of the engine:
// 'same': out = ceil(in/stride), pad_total = max((out−1)·stride + k − in, 0),
// pad_top = pad_total/2 (the odd extra row goes at the bottom);
// 'valid': out = ceil((in − k + 1)/stride), no padding.
func ctGeometry(n, h, w, c, kh, kw, cout, stride int, same bool) ConvShape {
	s := ConvShape{N: n, H: h, W: w, C: c, KH: kh, KW: kw, Cout: cout, Stride: stride}
	if same {
		s.OH = (h + stride - 1) / stride
		s.OW = (w + stride - 1) / stride
		s.PadT = max((s.OH-1)*stride+kh-h, 0) / 2
		s.PadL = max((s.OW-1)*stride+kw-w, 0) / 2
	} else {
		s.OH = (h - kh + stride) / stride
		s.OW = (w - kw + stride) / stride
	}
	return s
}

// naiveConvForward: y[n,oy,ox,co] = bias[co] + Σ_{kh,kw,ci} x[n, oy·S−PadT+kh,
// ox·S−PadL+kw, ci]·w[kh,kw,ci,co], zero outside the input. It returns y and
// the per-element sum of absolute terms.
func naiveConvForward(s ConvShape, x, w, bias []float32) (y, mag []float64) {
	y = make([]float64, s.N*s.OH*s.OW*s.Cout)
	mag = make([]float64, len(y))
	for n := 0; n < s.N; n++ {
		for oy := 0; oy < s.OH; oy++ {
			for ox := 0; ox < s.OW; ox++ {
				for co := 0; co < s.Cout; co++ {
					var sum, abs float64
					if bias != nil {
						sum, abs = float64(bias[co]), math.Abs(float64(bias[co]))
					}
					for kh := 0; kh < s.KH; kh++ {
						for kw := 0; kw < s.KW; kw++ {
							iy, ix := oy*s.Stride-s.PadT+kh, ox*s.Stride-s.PadL+kw
							if iy < 0 || iy >= s.H || ix < 0 || ix >= s.W {
								continue
							}
							for ci := 0; ci < s.C; ci++ {
								v := float64(x[((n*s.H+iy)*s.W+ix)*s.C+ci]) * float64(w[((kh*s.KW+kw)*s.C+ci)*s.Cout+co])
								sum += v
								abs += math.Abs(v)
							}
						}
					}
					i := ((n*s.OH+oy)*s.OW+ox)*s.Cout + co
					y[i], mag[i] = sum, abs
				}
			}
		}
	}
	return y, mag
}

// naiveConvBackwardInput: dx[n,iy,ix,ci] = Σ dy[n,oy,ox,co]·w[kh,kw,ci,co]
// over every (oy, ox, kh, kw) with oy·S−PadT+kh = iy and ox·S−PadL+kw = ix.
func naiveConvBackwardInput(s ConvShape, dy, w []float32) (dx, mag []float64) {
	dx = make([]float64, s.N*s.H*s.W*s.C)
	mag = make([]float64, len(dx))
	for n := 0; n < s.N; n++ {
		for oy := 0; oy < s.OH; oy++ {
			for ox := 0; ox < s.OW; ox++ {
				for kh := 0; kh < s.KH; kh++ {
					for kw := 0; kw < s.KW; kw++ {
						iy, ix := oy*s.Stride-s.PadT+kh, ox*s.Stride-s.PadL+kw
						if iy < 0 || iy >= s.H || ix < 0 || ix >= s.W {
							continue
						}
						for ci := 0; ci < s.C; ci++ {
							for co := 0; co < s.Cout; co++ {
								v := float64(dy[((n*s.OH+oy)*s.OW+ox)*s.Cout+co]) * float64(w[((kh*s.KW+kw)*s.C+ci)*s.Cout+co])
								i := ((n*s.H+iy)*s.W+ix)*s.C + ci
								dx[i] += v
								mag[i] += math.Abs(v)
							}
						}
					}
				}
			}
		}
	}
	return dx, mag
}

// naiveConvBackwardWeight: dw[kh,kw,ci,co] = Σ_{n,oy,ox} x[n, oy·S−PadT+kh,
// ox·S−PadL+kw, ci]·dy[n,oy,ox,co]; db[co] = Σ dy[..., co].
func naiveConvBackwardWeight(s ConvShape, x, dy []float32) (dw, magW, db, magB []float64) {
	dw = make([]float64, s.KH*s.KW*s.C*s.Cout)
	magW = make([]float64, len(dw))
	db = make([]float64, s.Cout)
	magB = make([]float64, s.Cout)
	for n := 0; n < s.N; n++ {
		for oy := 0; oy < s.OH; oy++ {
			for ox := 0; ox < s.OW; ox++ {
				for co := 0; co < s.Cout; co++ {
					g := float64(dy[((n*s.OH+oy)*s.OW+ox)*s.Cout+co])
					db[co] += g
					magB[co] += math.Abs(g)
					for kh := 0; kh < s.KH; kh++ {
						for kw := 0; kw < s.KW; kw++ {
							iy, ix := oy*s.Stride-s.PadT+kh, ox*s.Stride-s.PadL+kw
							if iy < 0 || iy >= s.H || ix < 0 || ix >= s.W {
								continue
							}
							for ci := 0; ci < s.C; ci++ {
								v := float64(x[((n*s.H+iy)*s.W+ix)*s.C+ci]) * g
								i := ((kh*s.KW+kw)*s.C+ci)*s.Cout + co
								dw[i] += v
								magW[i] += math.Abs(v)
							}
						}
					}
				}
			}
		}
	}
	return dw, magW, db, magB
}

// ctAddInit adds the initial contents of an accumulated-into buffer to the
// reference and its magnitude.
func ctAddInit(want, mag []float64, init []float32) {
	for i, v := range init {
		want[i] += float64(v)
		mag[i] += math.Abs(float64(v))
	}
}

// ctConvShapes returns the shapes the convolution tests run: a fixed list of
// edge cases, random small ones, and a few large enough to be split across
// workers and packed in several chunks.
func ctConvShapes() []ConvShape {
	type c struct {
		n, h, w, c, kh, kw, cout, stride int
		same                             bool
	}
	fixed := []c{
		{1, 1, 1, 1, 1, 1, 1, 1, true},
		{1, 1, 1, 3, 3, 3, 2, 1, true},  // kernel larger than the image
		{1, 2, 3, 2, 5, 5, 3, 1, true},  // kernel larger than the image
		{2, 5, 7, 3, 3, 3, 4, 1, true},  // odd H, W
		{2, 5, 7, 3, 3, 3, 4, 2, true},  // stride 2, odd: pad_total = 2
		{2, 6, 8, 3, 3, 3, 4, 2, true},  // stride 2, even: pad_total = 1, all at the bottom
		{2, 5, 7, 3, 5, 5, 4, 1, false}, // valid, OH = 1
		{2, 6, 7, 2, 3, 3, 3, 2, false}, // valid stride 2: the last row is never read
		{1, 6, 6, 2, 2, 2, 3, 1, true},  // even kernel: pad 0 top, 1 bottom
		{1, 7, 6, 2, 4, 4, 3, 1, true},  // even kernel: pad 1 top, 2 bottom
		{1, 7, 9, 2, 4, 2, 3, 2, true},  // even kernels with stride 2
		{1, 6, 5, 3, 2, 2, 2, 2, false},
		{2, 5, 6, 3, 3, 1, 2, 1, true}, // non-square kernels
		{2, 5, 6, 3, 1, 3, 2, 1, true},
		{2, 6, 5, 3, 1, 5, 2, 2, false},
		{2, 5, 7, 4, 1, 1, 3, 1, true},   // 1×1 stride 1: the pointwise path
		{2, 5, 7, 4, 1, 1, 3, 1, false},  // the same with 'valid'
		{2, 5, 7, 4, 1, 1, 3, 2, true},   // 1×1 stride 2
		{1, 9, 9, 2, 3, 3, 2, 3, true},   // stride 3
		{1, 10, 8, 2, 3, 3, 2, 3, false}, // stride 3, valid
		{1, 5, 5, 1, 3, 3, 16, 1, true},  // Cout a whole vector
		{1, 5, 5, 2, 3, 3, 17, 1, true},  // Cout one past a vector
		{1, 4, 5, 3, 3, 3, 33, 2, true},
		// Large enough to be split across 3 workers and packed in chunks.
		{2, 20, 20, 8, 3, 3, 16, 1, true},
		{2, 17, 19, 64, 3, 3, 16, 1, true}, // K = 576: chunks of 28 rows
		{2, 21, 21, 16, 3, 3, 32, 2, true},
		{3, 13, 11, 24, 5, 5, 7, 2, false},
		{4, 14, 14, 16, 1, 1, 32, 1, true}, // pointwise, split
		{3, 8, 8, 32, 1, 1, 20, 2, false},
	}
	r := rand.New(rand.NewPCG(7, 11))
	for len(fixed) < 90 {
		s := c{
			n: 1 + r.IntN(3), h: 1 + r.IntN(9), w: 1 + r.IntN(9), c: 1 + r.IntN(6),
			kh: 1 + r.IntN(5), cout: []int{1, 2, 3, 5, 8, 16, 17}[r.IntN(7)],
			stride: 1 + r.IntN(3), same: r.IntN(2) == 0,
		}
		s.kw = s.kh
		if r.IntN(4) == 0 {
			s.kw = 1 + r.IntN(5)
		}
		if !s.same && (s.kh > s.h || s.kw > s.w) {
			continue
		}
		fixed = append(fixed, s)
	}
	out := make([]ConvShape, len(fixed))
	for i, s := range fixed {
		out[i] = ctGeometry(s.n, s.h, s.w, s.c, s.kh, s.kw, s.cout, s.stride, s.same)
	}
	return out
}

func ctShapeName(s ConvShape) string {
	return fmt.Sprintf("x=%dx%dx%dx%d k=%dx%dx%d s=%d pad=%d,%d out=%dx%d",
		s.N, s.H, s.W, s.C, s.KH, s.KW, s.Cout, s.Stride, s.PadT, s.PadL, s.OH, s.OW)
}

func TestConvGeometryRule(t *testing.T) {
	// A few values worked out by hand from TensorFlow's rule.
	for _, tc := range []struct {
		in, k, stride        int
		same                 bool
		out, padTop, padBott int
	}{
		{28, 3, 1, true, 28, 1, 1},
		{5, 3, 2, true, 3, 1, 1},
		{6, 3, 2, true, 3, 0, 1},
		{6, 2, 1, true, 6, 0, 1},
		{7, 4, 1, true, 7, 1, 2},
		{7, 4, 2, true, 4, 1, 2},
		{1, 5, 1, true, 1, 2, 2},
		{7, 1, 2, true, 4, 0, 0},
		{7, 3, 2, false, 3, 0, 0},
		{6, 3, 2, false, 2, 0, 0},
		{5, 5, 1, false, 1, 0, 0},
	} {
		s := ctGeometry(1, tc.in, tc.in, 1, tc.k, tc.k, 1, tc.stride, tc.same)
		padB := (s.OH-1)*tc.stride + tc.k - tc.in - s.PadT
		if !tc.same {
			padB = 0
		}
		if s.OH != tc.out || s.PadT != tc.padTop || padB != tc.padBott {
			t.Errorf("in=%d k=%d stride=%d same=%v: out %d pad %d/%d, want %d %d/%d",
				tc.in, tc.k, tc.stride, tc.same, s.OH, s.PadT, padB, tc.out, tc.padTop, tc.padBott)
		}
	}
}

func TestNaiveConvSelfCheck(t *testing.T) {
	// The reference itself, on a 1×3×3×1 image and a 3×3 'same' kernel that
	// picks the right-hand neighbour: y = x shifted left, zero at the edge.
	s := ctGeometry(1, 3, 3, 1, 3, 3, 1, 1, true)
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	w := make([]float32, 9)
	w[1*3+2] = 1 // kh=1, kw=2
	y, _ := naiveConvForward(s, x, w, []float32{0.5})
	want := []float64{2.5, 3.5, 0.5, 5.5, 6.5, 0.5, 8.5, 9.5, 0.5}
	for i := range want {
		if y[i] != want[i] {
			t.Fatalf("naive conv = %v, want %v", y, want)
		}
	}
	// Its input gradient routes dy back to the left-hand neighbour.
	dx, _ := naiveConvBackwardInput(s, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, w)
	wantDX := []float64{0, 1, 2, 0, 4, 5, 0, 7, 8}
	for i := range wantDX {
		if dx[i] != wantDX[i] {
			t.Fatalf("naive conv input gradient = %v, want %v", dx, wantDX)
		}
	}
}

// ctConvCase is one shape's inputs and float64 references, computed once
// and checked under every kernel set and pool.
type ctConvCase struct {
	s                ConvShape
	x, w, bias, dy   []float32
	y, yNoBias, dx   []float64 // references
	dw, db           []float64
	magY, magYNoBias []float64 // their error scales
	magX, magW, magB []float64
}

func ctConvCases() []ctConvCase {
	r := rand.New(rand.NewPCG(3, 5))
	var cases []ctConvCase
	for _, s := range ctConvShapes() {
		c := ctConvCase{s: s}
		nx, nw, ny := s.N*s.H*s.W*s.C, s.KH*s.KW*s.C*s.Cout, s.N*s.OH*s.OW*s.Cout
		c.x, c.w, c.bias, c.dy = ctRand(r, nx), ctRand(r, nw), ctRand(r, s.Cout), ctRand(r, ny)
		c.y, c.magY = naiveConvForward(s, c.x, c.w, c.bias)
		c.yNoBias, c.magYNoBias = naiveConvForward(s, c.x, c.w, nil)
		c.dx, c.magX = naiveConvBackwardInput(s, c.dy, c.w)
		c.dw, c.magW, c.db, c.magB = naiveConvBackwardWeight(s, c.x, c.dy)
		cases = append(cases, c)
	}
	return cases
}

// ctPlus returns ref + init and mag + |init|: the expected contents of a
// buffer that started as init and had ref accumulated into it.
func ctPlus(ref, mag []float64, init []float32) (want, wmag []float64) {
	want, wmag = append([]float64(nil), ref...), append([]float64(nil), mag...)
	ctAddInit(want, wmag, init)
	return want, wmag
}

func TestConvMatchesNaive(t *testing.T) {
	cases := ctConvCases()
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		r := rand.New(rand.NewPCG(3, 6))
		for _, c := range cases {
			s := c.s
			name := ctShapeName(s)
			nx, nw, ny := len(c.x), len(c.w), len(c.dy)

			// Forward, overwriting y; with and without bias.
			y := ctOut(r, ny)
			ConvForward(p, s, c.x, c.w, c.bias, y, false)
			ctCheckGuard(t, name+" forward", y)
			ctClose(t, name+" forward y", y, c.y, c.magY, 2e-5)
			y = ctOut(r, ny)
			ConvForward(p, s, c.x, c.w, nil, y, false)
			ctCheckGuard(t, name+" forward without bias", y)
			ctClose(t, name+" forward y without bias", y, c.yNoBias, c.magYNoBias, 2e-5)

			// Forward accumulating into y.
			y = ctOut(r, ny)
			want, mag := ctPlus(c.y, c.magY, y)
			ConvForward(p, s, c.x, c.w, c.bias, y, true)
			ctCheckGuard(t, name+" forward acc", y)
			ctClose(t, name+" forward acc y", y, want, mag, 2e-5)

			// Input gradient, accumulated into dx.
			dx, wf := ctOut(r, nx), ctOut(r, nw)
			want, mag = ctPlus(c.dx, c.magX, dx)
			ConvBackwardInput(p, s, c.dy, c.w, wf, dx, true)
			ctCheckGuard(t, name+" backward input", dx)
			ctCheckGuard(t, name+" backward input scratch", wf)
			ctClose(t, name+" dx", dx, want, mag, 2e-5)

			// Weight and bias gradients, accumulated; and with db == nil.
			dw, db := ctOut(r, nw), ctOut(r, s.Cout)
			wantW, magW := ctPlus(c.dw, c.magW, dw)
			wantB, magB := ctPlus(c.db, c.magB, db)
			dw2 := append([]float32(nil), dw...)
			ConvBackwardWeight(p, s, c.x, c.dy, dw, db)
			ctCheckGuard(t, name+" backward weight", dw)
			ctCheckGuard(t, name+" backward bias", db)
			ctClose(t, name+" dw", dw, wantW, magW, 2e-5)
			ctClose(t, name+" db", db, wantB, magB, 2e-5)
			ConvBackwardWeight(p, s, c.x, c.dy, dw2, nil)
			for i := range dw2 {
				if dw2[i] != dw[i] {
					t.Fatalf("%s: dw with db == nil differs at %d: %v vs %v", name, i, dw2[i], dw[i])
				}
			}

			if Implicit(s) {
				ctCheckPadded(t, p, r, c)
			}
		}
	})
}

// ctCheckPadded checks the stride-1 implicit-GEMM kernels, which read the
// patches in place from a zero-bordered copy of the input, against the
// same references.
func ctCheckPadded(t *testing.T, p *Pool, r *rand.Rand, c ctConvCase) {
	t.Helper()
	s := c.s
	name := ctShapeName(s) + " padded"
	nx, nw, ny := len(c.x), len(c.w), len(c.dy)
	xp := ctOut(r, PaddedLen(s))
	PadInput(p, s, c.x, xp)
	ctCheckGuard(t, name+" PadInput", xp)

	y := ctOut(r, ny)
	ConvForwardPadded(p, s, xp, c.w, c.bias, y, false)
	ctCheckGuard(t, name+" forward", y)
	ctClose(t, name+" forward y", y, c.y, c.magY, 2e-5)
	y = ctOut(r, ny)
	ConvForwardPadded(p, s, xp, c.w, nil, y, false)
	ctClose(t, name+" forward y without bias", y, c.yNoBias, c.magYNoBias, 2e-5)
	y = ctOut(r, ny)
	want, mag := ctPlus(c.y, c.magY, y)
	ConvForwardPadded(p, s, xp, c.w, c.bias, y, true)
	ctCheckGuard(t, name+" forward acc", y)
	ctClose(t, name+" forward acc y", y, want, mag, 2e-5)

	dx, wf, dyp := ctOut(r, nx), ctOut(r, nw), ctOut(r, PaddedLen(BackwardInputShape(s)))
	want, mag = ctPlus(c.dx, c.magX, dx)
	ConvBackwardInputPadded(p, s, c.dy, c.w, wf, dyp, dx, true)
	ctCheckGuard(t, name+" backward input", dx)
	ctCheckGuard(t, name+" backward input scratch", dyp)
	ctClose(t, name+" dx", dx, want, mag, 2e-5)

	dw, db := ctOut(r, nw), ctOut(r, s.Cout)
	wantW, magW := ctPlus(c.dw, c.magW, dw)
	wantB, magB := ctPlus(c.db, c.magB, db)
	dw2 := append([]float32(nil), dw...)
	ConvBackwardWeightPadded(p, s, xp, c.dy, dw, db)
	ctCheckGuard(t, name+" backward weight", dw)
	ctCheckGuard(t, name+" backward bias", db)
	ctClose(t, name+" dw", dw, wantW, magW, 2e-5)
	ctClose(t, name+" db", db, wantB, magB, 2e-5)
	ConvBackwardWeightPadded(p, s, xp, c.dy, dw2, nil)
	ctClose(t, name+" dw (db nil)", dw2, wantW, magW, 2e-5)
}

// TestConvFastMatchesGeneric compares the convolution computed with the
// default GEMM (assembly where the CPU has it) with the one computed with
// the portable SgemmGeneric family, directly.
func TestConvFastMatchesGeneric(t *testing.T) {
	t.Logf("default kernels: %s", kernelset.Current())
	generic := ctKernelSets[1]
	p := compute.NewPool(2)
	defer p.Close()
	for _, c := range ctConvCases() {
		s := c.s
		name := ctShapeName(s)
		nx, nw, ny := len(c.x), len(c.w), len(c.dy)
		run := func() (y, dx, dw, db []float32) {
			y, dx, dw, db = make([]float32, ny), make([]float32, nx), make([]float32, nw), make([]float32, s.Cout)
			ConvForward(p, s, c.x, c.w, c.bias, y, false)
			ConvBackwardInput(p, s, c.dy, c.w, make([]float32, nw), dx, true)
			ConvBackwardWeight(p, s, c.x, c.dy, dw, db)
			if Implicit(s) { // the stride-1 implicit GEMM, added on top
				xp := make([]float32, PaddedLen(s))
				PadInput(p, s, c.x, xp)
				ConvForwardPadded(p, s, xp, c.w, c.bias, y, true)
				ConvBackwardInputPadded(p, s, c.dy, c.w, make([]float32, nw), make([]float32, PaddedLen(BackwardInputShape(s))), dx, true)
				ConvBackwardWeightPadded(p, s, xp, c.dy, dw, db)
			}
			return
		}
		y1, dx1, dw1, db1 := run()
		restore := generic.use()
		y2, dx2, dw2, db2 := run()
		restore()
		for _, v := range []struct {
			what     string
			fast, gn []float32
			mag      []float64
		}{{"y", y1, y2, c.magY}, {"dx", dx1, dx2, c.magX}, {"dw", dw1, dw2, c.magW}, {"db", db1, db2, c.magB}} {
			ref := make([]float64, len(v.gn))
			for i, g := range v.gn {
				ref[i] = float64(g)
			}
			ctClose(t, name+" default vs generic "+v.what, v.fast, ref, v.mag, 4e-5)
		}
	}
}

// TestConvDeterministic checks that the same inputs and worker count give
// bit-identical results, the weight gradient's cross-worker sum included.
func TestConvDeterministic(t *testing.T) {
	p := compute.NewPool(3)
	defer p.Close()
	r := rand.New(rand.NewPCG(1, 1))
	s := ctGeometry(2, 17, 19, 16, 3, 3, 16, 1, true)
	x, w, dy := ctRand(r, s.N*s.H*s.W*s.C), ctRand(r, 9*s.C*s.Cout), ctRand(r, s.Rows()*s.Cout)
	run := func() []float32 {
		y, dx, dw := make([]float32, len(dy)), make([]float32, len(x)), make([]float32, len(w))
		ConvForward(p, s, x, w, nil, y, false)
		ConvBackwardInput(p, s, dy, w, make([]float32, len(w)), dx, true)
		ConvBackwardWeight(p, s, x, dy, dw, nil)
		xp := make([]float32, PaddedLen(s))
		PadInput(p, s, x, xp)
		y2, dx2, dw2 := make([]float32, len(dy)), make([]float32, len(x)), make([]float32, len(w))
		ConvForwardPadded(p, s, xp, w, nil, y2, false)
		ConvBackwardInputPadded(p, s, dy, w, make([]float32, len(w)), make([]float32, PaddedLen(BackwardInputShape(s))), dx2, true)
		ConvBackwardWeightPadded(p, s, xp, dy, dw2, nil)
		return append(append(append(append(append(y, dx...), dw...), y2...), dx2...), dw2...)
	}
	a, b := run(), run()
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("two identical runs differ at %d: %v vs %v", i, a[i], b[i])
		}
	}
}

func TestIm2colRows(t *testing.T) {
	// Every patch row is the (kh, kw, c)-ordered window, zeros outside.
	r := rand.New(rand.NewPCG(2, 3))
	for _, s := range ctConvShapes()[:40] {
		x := ctRand(r, s.N*s.H*s.W*s.C)
		M, K := s.Rows(), s.K()
		r0, r1 := M/3, M
		cols := ctOut(r, (r1-r0)*K)
		Im2colRows(s, x, r0, r1, cols)
		ctCheckGuard(t, "im2col", cols)
		for row := r0; row < r1; row++ {
			n, oy, ox := row/(s.OH*s.OW), row/s.OW%s.OH, row%s.OW
			i := 0
			for kh := 0; kh < s.KH; kh++ {
				for kw := 0; kw < s.KW; kw++ {
					for c := 0; c < s.C; c++ {
						iy, ix := oy*s.Stride-s.PadT+kh, ox*s.Stride-s.PadL+kw
						var want float32
						if iy >= 0 && iy < s.H && ix >= 0 && ix < s.W {
							want = x[((n*s.H+iy)*s.W+ix)*s.C+c]
						}
						if got := cols[(row-r0)*K+i]; got != want {
							t.Fatalf("%s: patch %d element %d = %v, want %v", ctShapeName(s), row, i, got, want)
						}
						i++
					}
				}
			}
		}
	}
}
