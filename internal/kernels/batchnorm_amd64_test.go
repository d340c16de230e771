//go:build amd64 && !purego

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestBNSumsAVX512Order checks the AVX-512 BatchNorm sums bit for bit
// against the order they are defined to add in: lane k of the block's
// float64 sums, starting from what they held, adds lane k of every block
// in turn, products fused (FMA). A training step's bits depend on this
// order, not only on the sums' accuracy.
func TestBNSumsAVX512Order(t *testing.T) {
	needAVX512(t)
	r := rand.New(rand.NewPCG(21, 22))
	start := func(L int) []float64 {
		s := make([]float64, L)
		for i := range s {
			s[i] = r.NormFloat64()
		}
		return s
	}
	same := func(name string, got, want []float64) {
		t.Helper()
		for k := range want {
			if got[k] != want[k] {
				t.Fatalf("%s: lane %d = %v, want %v", name, k, got[k], want[k])
			}
		}
	}
	for _, vecs := range []int{1, 2, 3, 4, 8} {
		for _, blocks := range []int{1, 2, 7, 50} {
			L := 16 * vecs
			x, dy, center := randVec(r, blocks*L), randVec(r, blocks*L), randVec(r, L)
			name := fmt.Sprintf("vecs=%d blocks=%d", vecs, blocks)

			s1, s2 := start(L), start(L)
			w1, w2 := append([]float64(nil), s1...), append([]float64(nil), s2...)
			for b := 0; b < blocks; b++ {
				for k := 0; k < L; k++ {
					v := float64(x[b*L+k])
					w1[k] += v
					w2[k] = math.FMA(v, v, w2[k])
				}
			}
			momentsAVX512(ptr(x), &s1[0], &s2[0], blocks, vecs)
			same(name+" Σx", s1, w1)
			same(name+" Σx²", s2, w2)

			for _, relu := range []bool{false, true} {
				var scale, shift []float32
				if relu {
					scale, shift = randVec(r, L), randVec(r, L)
				}
				sg, sgx := start(L), start(L)
				wg, wgx := append([]float64(nil), sg...), append([]float64(nil), sgx...)
				for b := 0; b < blocks; b++ {
					for k := 0; k < L; k++ {
						g, xc := dy[b*L+k], x[b*L+k]-center[k]
						// The mask's sign, exactly: the product of two
						// floats is exact in float64 and one rounding
						// keeps the sign of the sum.
						if relu && !(float64(xc)*float64(scale[k])+float64(shift[k]) > 0) {
							g = 0
						}
						wg[k] += float64(g)
						wgx[k] = math.FMA(float64(xc), float64(g), wgx[k])
					}
				}
				bnSumsAVX512(ptr(x), ptr(center), ptr(dy), ptr(scale), ptr(shift), &sg[0], &sgx[0], blocks, vecs)
				same(fmt.Sprintf("%s relu=%v Σg", name, relu), sg, wg)
				same(fmt.Sprintf("%s relu=%v Σg·x̂", name, relu), sgx, wgx)
			}
		}
	}
}
