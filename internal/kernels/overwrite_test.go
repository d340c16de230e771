package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// ctNaN returns an output buffer of n NaNs followed by the guard: a kernel
// told to overwrite must not read what was there.
func ctNaN(n int) []float32 {
	b := make([]float32, n+ctGuard)
	for i := range b {
		b[i] = float32(math.NaN())
		if i >= n {
			b[i] = ctSentinel
		}
	}
	return b[:n]
}

// ctSameBits fails unless got and want are bit-identical.
func ctSameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestBackwardOverwrites checks the kernels that write a gradient instead
// of adding to it (acc false, for a gradient's first producer): on a
// buffer of NaNs they must give exactly what adding into zeros gives, on
// every convolution shape of the tests (remainders, strides, padding),
// BatchNorm's channel and position counts, and odd pooling sizes.
func TestBackwardOverwrites(t *testing.T) {
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		for _, c := range ctConvCases() {
			s := c.s
			name := ctShapeName(s)
			nx, nw := len(c.x), len(c.w)
			want, got := make([]float32, nx), ctNaN(nx)
			ConvBackwardInput(p, s, c.dy, c.w, make([]float32, nw), want, true)
			ConvBackwardInput(p, s, c.dy, c.w, make([]float32, nw), got, false)
			ctCheckGuard(t, name+" dx", got)
			ctSameBits(t, name+" ConvBackwardInput overwrite", got, want)
			if Implicit(s) {
				dyp := make([]float32, PaddedLen(BackwardInputShape(s)))
				want, got := make([]float32, nx), ctNaN(nx)
				ConvBackwardInputPadded(p, s, c.dy, c.w, make([]float32, nw), dyp, want, true)
				ConvBackwardInputPadded(p, s, c.dy, c.w, make([]float32, nw), dyp, got, false)
				ctCheckGuard(t, name+" padded dx", got)
				ctSameBits(t, name+" ConvBackwardInputPadded overwrite", got, want)
			}
		}
		r := rand.New(rand.NewPCG(16, 16))
		for _, C := range ctBNChannels {
			for _, M := range ctBNPositions {
				x, mean, invstd := ctBNBatch(p, r, M, C)
				gamma, beta, dy := ctRand(r, C), ctRand(r, C), ctRand(r, M*C)
				relu := make([]float32, M*C) // the fused ReLU's output
				BNApply(p, x, M, C, mean, invstd, gamma, beta, relu, true, make([]float32, BNScratch(C)))
				for _, y := range [][]float32{nil, relu} {
					name := fmt.Sprintf("BNBackward M=%d C=%d relu=%v", M, C, y != nil)
					want, got := make([]float32, M*C), ctNaN(M*C)
					BNBackward(p, x, dy, y, M, C, mean, invstd, gamma, beta, want, make([]float32, C), make([]float32, C), make([]float32, BNScratch(C)), true)
					BNBackward(p, x, dy, y, M, C, mean, invstd, gamma, beta, got, make([]float32, C), make([]float32, C), make([]float32, BNScratch(C)), false)
					ctCheckGuard(t, name, got)
					ctSameBits(t, name+" overwrite", got, want)
				}
			}
		}
		for _, sh := range [][4]int{{1, 2, 2, 1}, {2, 5, 7, 3}, {3, 8, 6, 16}, {2, 9, 9, 32}, {1, 14, 14, 17}} {
			N, H, W, C := sh[0], sh[1], sh[2], sh[3]
			name := fmt.Sprintf("MaxPool2x2Backward %v", sh)
			n, no := N*H*W*C, N*(H/2)*(W/2)*C
			x, y, arg, dy := ctRand(r, n), make([]float32, no), make([]float32, no), ctRand(r, no)
			MaxPool2x2(p, x, N, H, W, C, y, arg)
			want, got := make([]float32, n), ctNaN(n)
			MaxPool2x2Backward(p, dy, arg, N, H, W, C, want, true)
			MaxPool2x2Backward(p, dy, arg, N, H, W, C, got, false)
			ctCheckGuard(t, name, got)
			ctSameBits(t, name+" overwrite", got, want)
		}
	})
}
