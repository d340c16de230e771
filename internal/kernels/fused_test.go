package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// ctAffine returns a BatchNorm map for C channels with random statistics,
// and the scratch it lives in.
func ctAffine(r *rand.Rand, C int, relu bool) (mean, invstd, gamma, beta []float32, a Affine) {
	mean, gamma, beta = ctRand(r, C), ctRand(r, C), ctRand(r, C)
	invstd = make([]float32, C)
	for c := range invstd {
		invstd[c] = 0.5 + r.Float32()
	}
	return mean, invstd, gamma, beta, NewBNAffine(mean, invstd, gamma, beta, relu, make([]float32, AffineLen(C)))
}

// TestConvForwardFused checks the inference convolution with BatchNorm+ReLU
// fused before it, BatchNorm (with and without ReLU) after it and a
// residual added, against the separate ops (BNApply, ConvForward, BNApply,
// Add) on every convolution shape of the tests, both GEMM paths, with the
// maps alone and together.
func TestConvForwardFused(t *testing.T) {
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		r := rand.New(rand.NewPCG(17, 17))
		for _, c := range ctConvCases() {
			s := c.s
			name := ctShapeName(s)
			nx, ny := len(c.x), len(c.dy)
			for k, use := range [][3]bool{{true, true, true}, {true, false, false}, {false, true, false}, {false, false, true}} {
				var f Fusion
				x := c.x
				if use[0] {
					mean, invstd, gamma, beta, a := ctAffine(r, s.C, true)
					f.Pre = a
					x = make([]float32, nx)
					BNApply(p, c.x, nx/s.C, s.C, mean, invstd, gamma, beta, x, true, make([]float32, BNScratch(s.C)))
				}
				want := make([]float32, ny)
				if PreferWinograd(s) { // the same path, so the same sums
					u := make([]float32, WinogradWeightsLen(s))
					WinogradWeights(s, c.w, u)
					ConvForwardWinograd(p, s, x, u, c.bias, want, false, nil)
				} else if PreferImplicit(s) { // the same GEMM path, so the same sums
					xp := make([]float32, PaddedLen(s))
					PadInput(p, s, x, xp)
					ConvForwardPadded(p, s, xp, c.w, c.bias, want, false)
				} else {
					ConvForward(p, s, x, c.w, c.bias, want, false)
				}
				if use[1] {
					mean, invstd, gamma, beta, a := ctAffine(r, s.Cout, k == 0)
					f.Post = a
					BNApply(p, want, ny/s.Cout, s.Cout, mean, invstd, gamma, beta, want, k == 0, make([]float32, BNScratch(s.Cout)))
				}
				if use[2] {
					f.Res = ctRand(r, ny)
					Add(p, f.Res, want, want)
				}
				got := ctOut(r, ny)
				ConvForwardFused(p, s, c.x, c.w, c.bias, got, &f, make([]float32, FusedScratch(s)))
				ctCheckGuard(t, name+" fused", got)
				for i := range want {
					// The same ops on the same values; a BatchNorm tail that
					// one path runs in Go and the other in assembly (FMA)
					// may round differently.
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("%s pre=%v post=%v res=%v: y[%d] = %v, want %v", name, use[0], use[1], use[2], i, got[i], want[i])
					}
				}
			}
		}
	})
}
