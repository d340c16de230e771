package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// winoRtol is the Winograd convolution's tolerance against the float64
// direct sum, relative to the sum of the absolute values of the terms
// (ctClose). The direct float32 GEMM stays within about 1e-6 of that here;
// F(4×4, 3×3) rounds values that the input transform has grown by up to
// about 10× (Bᵀ's rows sum to 10 in absolute value, twice over) and that
// the output transform grows again (Aᵀ's last row: up to 18×), against
// kernel values that G has shrunk, so its error is one to two orders of
// magnitude larger: measured up to about 2e-5 on these random shapes.
// 1e-4 leaves room over that and still catches a wrong index or a missing
// term, which is of the order of a whole term (over 1e-2 of the scale).
const winoRtol = 1e-4

// winoShapes returns 3×3 stride-1 shapes with every remainder: images of
// 1 to 9 and 13 to 14 pixels (partial tiles on the right and at the
// bottom), 'same' and 'valid' padding, channel counts below, at and past a
// vector, batches of 1 to 3 (units of several images), and one shape
// large enough to be cut into blocks of tile rows.
func winoShapes() []ConvShape {
	type c struct {
		n, h, w, c, cout int
		same             bool
	}
	fixed := []c{
		{1, 1, 1, 1, 1, true},
		{1, 4, 4, 16, 16, true},
		{2, 7, 7, 32, 64, true},
		{3, 14, 14, 16, 32, true},
		{1, 13, 9, 17, 19, true},
		{2, 5, 7, 3, 33, false},
		{1, 28, 28, 8, 16, true}, // blocks of tile rows
		{1, 3, 3, 5, 1, false},   // valid: one output
	}
	r := rand.New(rand.NewPCG(41, 43))
	for len(fixed) < 24 {
		s := c{n: 1 + r.IntN(3), h: 1 + r.IntN(9), w: 1 + r.IntN(9),
			c: []int{1, 2, 7, 8, 16, 17, 31}[r.IntN(7)], cout: []int{1, 3, 8, 16, 17, 40}[r.IntN(6)],
			same: r.IntN(3) != 0}
		if !s.same && (s.h < 3 || s.w < 3) {
			continue
		}
		fixed = append(fixed, s)
	}
	out := make([]ConvShape, len(fixed))
	for i, s := range fixed {
		out[i] = ctGeometry(s.n, s.h, s.w, s.c, 3, 3, s.cout, 1, s.same)
	}
	return out
}

// TestWinogradMatchesNaive checks ConvForwardWinograd, storing and
// accumulating, with and without a bias, against the float64 direct
// convolution, on every kernel set (the AVX-512 transforms or the portable
// ones, and each set's GEMM) and pools of 1 and 3 workers.
func TestWinogradMatchesNaive(t *testing.T) {
	shapes := winoShapes()
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		r := rand.New(rand.NewPCG(5, 9))
		for _, s := range shapes {
			x := ctRand(r, s.N*s.H*s.W*s.C)
			w, bias := ctRand(r, 9*s.C*s.Cout), ctRand(r, s.Cout)
			u := make([]float32, WinogradWeightsLen(s))
			WinogradWeights(s, w, u)
			for _, acc := range []bool{false, true} {
				b := bias
				if acc {
					b = nil
				}
				want, mag := naiveConvForward(s, x, w, b)
				got := ctOut(r, len(want))
				if acc {
					want, mag = ctPlus(want, mag, got)
				}
				name := fmt.Sprintf("%s acc=%v", ctShapeName(s), acc)
				ConvForwardWinograd(p, s, x, u, b, got, acc, nil)
				ctCheckGuard(t, name, got)
				ctClose(t, name, got, want, mag, winoRtol)
			}
		}
	})
}

// TestWinogradTraining checks the training entry points: the forward pass
// from the untransformed kernel and the input gradient (the flipped
// kernel's convolution), storing and accumulating, against the float64
// direct ones.
func TestWinogradTraining(t *testing.T) {
	shapes := winoShapes()
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		r := rand.New(rand.NewPCG(6, 10))
		for _, s := range shapes {
			name := ctShapeName(s)
			x, w, dy := ctRand(r, s.N*s.H*s.W*s.C), ctRand(r, 9*s.C*s.Cout), ctRand(r, s.N*s.OH*s.OW*s.Cout)
			want, mag := naiveConvForward(s, x, w, nil)
			got := ctOut(r, len(want))
			ConvWinograd(p, s, x, w, nil, got, nil)
			ctCheckGuard(t, name+" y", got)
			ctClose(t, name+" y", got, want, mag, winoRtol)

			ref, rmag := naiveConvBackwardInput(s, dy, w)
			for _, acc := range []bool{false, true} {
				dx := ctOut(r, len(ref))
				want, mag := ref, rmag
				if acc {
					want, mag = ctPlus(ref, rmag, dx)
				}
				ConvBackwardInputWinograd(p, s, dy, w, make([]float32, len(w)), dx, acc)
				ctCheckGuard(t, name+" dx", dx)
				ctClose(t, fmt.Sprintf("%s dx acc=%v", name, acc), dx, want, mag, winoRtol)
			}
		}
	})
}

// TestWinogradFused checks the inference fusion (BatchNorm+ReLU on the
// input as it is padded, BatchNorm+ReLU on the output, a residual) against
// the separate ops around the Winograd convolution.
func TestWinogradFused(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	for _, s := range []ConvShape{ctGeometry(2, 7, 7, 17, 3, 3, 24, 1, true), ctGeometry(1, 14, 13, 16, 3, 3, 16, 1, true)} {
		ctForEachSet(t, func(t *testing.T, p *Pool) {
			nx, ny := s.N*s.H*s.W*s.C, s.N*s.OH*s.OW*s.Cout
			x, w, bias := ctRand(r, nx), ctRand(r, 9*s.C*s.Cout), ctRand(r, s.Cout)
			u := make([]float32, WinogradWeightsLen(s))
			WinogradWeights(s, w, u)
			var f Fusion
			mean, invstd, gamma, beta, a := ctAffine(r, s.C, true)
			f.Pre = a
			xm := make([]float32, nx)
			BNApply(p, x, nx/s.C, s.C, mean, invstd, gamma, beta, xm, true, make([]float32, BNScratch(s.C)))
			want := make([]float32, ny)
			ConvForwardWinograd(p, s, xm, u, bias, want, false, nil)
			mean, invstd, gamma, beta, f.Post = ctAffine(r, s.Cout, true)
			BNApply(p, want, ny/s.Cout, s.Cout, mean, invstd, gamma, beta, want, true, make([]float32, BNScratch(s.Cout)))
			f.Res = ctRand(r, ny)
			Add(p, f.Res, want, want)
			got := ctOut(r, ny)
			ConvForwardWinograd(p, s, x, u, bias, got, false, &f)
			ctCheckGuard(t, "fused", got)
			for i := range want {
				// The same convolution on the same values; the BatchNorm
				// of a row's tail that the fused path runs in Go and
				// BNApply in assembly (FMA) may round differently, by ulps
				// of the convolution's output (here up to about 20).
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("%s: y[%d] = %v, want %v", ctShapeName(s), i, got[i], want[i])
				}
			}
		})
	}
}

// TestWinogradTransformsAVX512 checks the assembly transforms against the
// portable ones on windows and planes with channel counts below, at and
// past whole vectors, several tiles at a time, storing and accumulating.
func TestWinogradTransformsAVX512(t *testing.T) {
	if !rowsFast {
		t.Skip("no AVX-512 kernels in use")
	}
	r := rand.New(rand.NewPCG(8, 8))
	tmp := make([]float32, winoXi*16)
	for _, C := range []int{1, 5, 16, 17, 40, 64} {
		for _, tiles := range []int{1, 3} {
			ld := (winoM*tiles + 2) * C
			src := ctRand(r, winoT*ld)
			plane := tiles*C + 3 // planes not packed: the stride is the caller's
			got, want := ctOut(r, winoXi*plane), make([]float32, winoXi*plane)
			copy(want, got)
			winoInput(src, ld, C, tiles, got, plane, tmp)
			winoInputGeneric(src, ld, C, tiles, want, plane)
			ctCheckGuard(t, "input", got)
			winoNear(t, fmt.Sprintf("input C=%d tiles=%d", C, tiles), got, want)

			m := ctRand(r, winoXi*plane)
			yld := winoM*tiles*C + 5
			for _, acc := range []bool{false, true} {
				got := ctOut(r, winoM*yld)
				want := append([]float32(nil), got...)
				winoOutput(m, plane, C, tiles, got, yld, acc, tmp)
				winoOutputGeneric(m, plane, C, tiles, want, yld, acc)
				ctCheckGuard(t, "output", got)
				winoNear(t, fmt.Sprintf("output C=%d tiles=%d acc=%v", C, tiles, acc), got, want)
			}
		}
	}
}

// winoNear checks got against want to float32 rounding of the transforms'
// sums (fused multiply-adds in the assembly, separate in Go).
func winoNear(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestWinogradWeightsAVX512 checks the assembly kernel transform against
// the portable one (float64) on channel counts below, at and past whole
// vectors.
func TestWinogradWeightsAVX512(t *testing.T) {
	if !rowsFast {
		t.Skip("no AVX-512 kernels in use")
	}
	r := rand.New(rand.NewPCG(1, 1))
	for _, cc := range [][2]int{{1, 1}, {3, 5}, {16, 16}, {17, 33}, {8, 64}} {
		s := ctGeometry(1, 4, 4, cc[0], 3, 3, cc[1], 1, true)
		w := ctRand(r, 9*s.C*s.Cout)
		got := ctOut(r, WinogradWeightsLen(s))
		want := make([]float32, len(got))
		WinogradWeights(s, w, got)
		winoWeightsGeneric(s, w, want, 0, s.C)
		ctCheckGuard(t, "U", got)
		winoNear(t, fmt.Sprintf("U C=%d Cout=%d", s.C, s.Cout), got, want)
	}
}

// TestWinogradCache checks that inference's cached kernel transform is
// kept from the second call with the same kernel on, and follows a kernel
// changed in place.
func TestWinogradCache(t *testing.T) {
	s := ctGeometry(1, 4, 4, 3, 3, 3, 5, 1, true)
	r := rand.New(rand.NewPCG(1, 1))
	w := ctRand(r, 9*s.C*s.Cout)
	want := make([]float32, WinogradWeightsLen(s))
	for range 2 {
		WinogradWeights(s, w, want)
		first, buf := winoTransformed(s, w)
		sameBits(t, "U, first call", first, want)
		if buf == nil {
			t.Fatal("the first call with a kernel kept its transform")
		}
		winoWeightBufs.Put(buf)
		second, buf := winoTransformed(s, w)
		sameBits(t, "U, second call", second, want)
		if third, _ := winoTransformed(s, w); buf != nil || &third[0] != &second[0] {
			t.Fatal("an unchanged kernel was transformed again")
		}
		w[7]++
	}
}

// BenchmarkConvForwardWinograd times the Winograd forward pass of the
// ResNet's convolutions on one worker, in GFLOP/s of the direct sum (so
// comparable with BenchmarkConvForwardLocal).
func BenchmarkConvForwardWinograd(b *testing.B) {
	var u []float32
	benchConv(b, 1, func(p *Pool, s ConvShape, v [][]float32) {
		if len(u) != WinogradWeightsLen(s) {
			u = make([]float32, WinogradWeightsLen(s))
			WinogradWeights(s, v[2], u)
		}
		ConvForwardWinograd(p, s, v[0], u, nil, v[3], false, nil)
	})
}

// BenchmarkConvForwardLocal is the direct implicit GEMM as inference runs
// it: each work unit pads its input rows in scratch.
func BenchmarkConvForwardLocal(b *testing.B) {
	benchConv(b, 1, func(p *Pool, s ConvShape, v [][]float32) {
		ConvForwardImplicit(p, s, v[0], v[2], nil, v[3], false)
	})
}

// BenchmarkWinogradWeights times the kernel transform of the ResNet's
// 3×3 convolutions (all six shapes), which inference runs on every call.
func BenchmarkWinogradWeights(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	var ss []ConvShape
	var ws, us [][]float32
	for _, c := range resnetConvs {
		s := stride1Shape(32, c.h, c.h, c.c, 3, 3, c.co, true)
		ss, ws, us = append(ss, s), append(ws, ctRand(r, 9*s.C*s.Cout)), append(us, make([]float32, WinogradWeightsLen(s)))
	}
	for b.Loop() {
		for i, s := range ss {
			WinogradWeights(s, ws[i], us[i])
		}
	}
}

// BenchmarkConvWinogradTrain2 times training's Winograd forward pass
// (kernel transform included) on two workers.
func BenchmarkConvWinogradTrain2(b *testing.B) {
	benchConv(b, 2, func(p *Pool, s ConvShape, v [][]float32) {
		ConvWinograd(p, s, v[0], v[2], nil, v[3], nil)
	})
}

// BenchmarkConvForwardLocal2 is the direct implicit GEMM on two workers.
func BenchmarkConvForwardLocal2(b *testing.B) {
	benchConv(b, 2, func(p *Pool, s ConvShape, v [][]float32) {
		ConvForwardImplicit(p, s, v[0], v[2], nil, v[3], false)
	})
}
