package kernels

import (
	"fmt"
	"math/rand/v2"
	"resgo/compute"
	"testing"
)

// sameShape builds a stride-1 ConvShape with TensorFlow's padding rules.
func stride1Shape(n, h, w, c, k, kw, cout int, same bool) ConvShape {
	s := ConvShape{N: n, H: h, W: w, C: c, KH: k, KW: kw, Cout: cout, Stride: 1}
	if same {
		s.OH, s.OW = h, w
		s.PadT, s.PadL = (k-1)/2, (kw-1)/2
	} else {
		s.OH, s.OW = h-k+1, w-kw+1
	}
	return s
}

// TestImplicitConvMatchesIm2col checks the padded implicit-GEMM forward,
// input-gradient and weight-gradient kernels against the im2col ones, for
// 'same' and 'valid' padding, odd sizes and even kernels.
func TestImplicitConvMatchesIm2col(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	shapes := []ConvShape{
		stride1Shape(2, 5, 7, 3, 3, 3, 4, true),
		stride1Shape(2, 5, 7, 3, 3, 3, 4, false),
		stride1Shape(1, 6, 6, 8, 5, 5, 16, true),
		stride1Shape(3, 7, 7, 32, 3, 3, 64, true),
		stride1Shape(2, 4, 9, 2, 2, 2, 5, true),
		stride1Shape(2, 4, 9, 2, 2, 3, 5, false),
		stride1Shape(1, 28, 28, 1, 3, 3, 8, true),
		stride1Shape(2, 14, 14, 16, 3, 3, 32, true),
		stride1Shape(1, 3, 3, 4, 3, 3, 3, false),
	}
	for _, workers := range []int{1, 2, 3} {
		p := compute.NewPool(workers)
		for _, s := range shapes {
			t.Run(fmt.Sprintf("w%d/%dx%dx%dx%d_k%dx%d_o%d_pad%d%d", workers, s.N, s.H, s.W, s.C, s.KH, s.KW, s.Cout, s.PadT, s.PadL), func(t *testing.T) {
				x := randVec(r, s.N*s.H*s.W*s.C)
				w := randVec(r, s.K()*s.Cout)
				bias := randVec(r, s.Cout)
				dy := randVec(r, s.Rows()*s.Cout)

				want := make([]float32, len(dy))
				ConvForward(p, s, x, w, bias, want, false)
				xp := make([]float32, PaddedLen(s))
				PadInput(p, s, x, xp)
				got := make([]float32, len(dy))
				ConvForwardPadded(p, s, xp, w, bias, got, false)
				closeVec(t, "y", got, want, 1e-4)

				wantDx := randVec(rand.New(rand.NewPCG(1, 1)), len(x))
				gotDx := append([]float32(nil), wantDx...)
				wf := make([]float32, len(w))
				ConvBackwardInput(p, s, dy, w, wf, wantDx, true)
				dyp := make([]float32, PaddedLen(BackwardInputShape(s)))
				ConvBackwardInputPadded(p, s, dy, w, wf, dyp, gotDx, true)
				closeVec(t, "dx", gotDx, wantDx, 1e-4)

				wantDw, gotDw := make([]float32, len(w)), make([]float32, len(w))
				wantDb, gotDb := make([]float32, s.Cout), make([]float32, s.Cout)
				ConvBackwardWeight(p, s, x, dy, wantDw, wantDb)
				ConvBackwardWeightPadded(p, s, xp, dy, gotDw, gotDb)
				closeVec(t, "dw", gotDw, wantDw, 1e-3)
				closeVec(t, "db", gotDb, wantDb, 1e-4)
			})
		}
		p.Close()
	}
}
