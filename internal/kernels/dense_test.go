package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestDenseMatchesNaive(t *testing.T) {
	shapes := [][3]int{ // B, In, Out
		{1, 1, 1}, {3, 5, 4}, {2, 7, 10}, {5, 16, 16}, {3, 17, 33},
		{4, 37, 35}, {32, 100, 10}, {8, 300, 128}, // split along In and Out
	}
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		r := rand.New(rand.NewPCG(12, 12))
		for _, s := range shapes {
			B, In, Out := s[0], s[1], s[2]
			name := fmt.Sprintf("dense B=%d In=%d Out=%d", B, In, Out)
			x, w, bias, dy := ctRand(r, B*In), ctRand(r, In*Out), ctRand(r, Out), ctRand(r, B*Out)
			for _, b := range [][]float32{bias, nil} {
				want, mag := make([]float64, B*Out), make([]float64, B*Out)
				for i := 0; i < B; i++ {
					for j := 0; j < Out; j++ {
						var s, a float64
						if b != nil {
							s, a = float64(b[j]), math.Abs(float64(b[j]))
						}
						for k := 0; k < In; k++ {
							v := float64(x[i*In+k]) * float64(w[k*Out+j])
							s += v
							a += math.Abs(v)
						}
						want[i*Out+j], mag[i*Out+j] = s, a
					}
				}
				y := ctOut(r, B*Out)
				DenseForward(p, x, w, b, y, B, In, Out)
				ctCheckGuard(t, name+" y", y)
				ctClose(t, name+" y", y, want, mag, 2e-5)
			}
			// dx = dy·wᵀ, dw = xᵀ·dy, db = Σ_b dy, all accumulated.
			wx, mx := make([]float64, B*In), make([]float64, B*In)
			ww, mw := make([]float64, In*Out), make([]float64, In*Out)
			wb, mb := make([]float64, Out), make([]float64, Out)
			for i := 0; i < B; i++ {
				for j := 0; j < Out; j++ {
					g := float64(dy[i*Out+j])
					wb[j] += g
					mb[j] += math.Abs(g)
					for k := 0; k < In; k++ {
						v := g * float64(w[k*Out+j])
						wx[i*In+k] += v
						mx[i*In+k] += math.Abs(v)
						u := g * float64(x[i*In+k])
						ww[k*Out+j] += u
						mw[k*Out+j] += math.Abs(u)
					}
				}
			}
			dx, dw, db := ctOut(r, B*In), ctOut(r, In*Out), ctOut(r, Out)
			ctAddInit(wx, mx, dx)
			ctAddInit(ww, mw, dw)
			ctAddInit(wb, mb, db)
			dw2 := append([]float32(nil), dw...)
			DenseBackward(p, x, w, dy, dx, dw, db, B, In, Out)
			ctCheckGuard(t, name+" dx", dx)
			ctCheckGuard(t, name+" dw", dw)
			ctCheckGuard(t, name+" db", db)
			ctClose(t, name+" dx", dx, wx, mx, 2e-5)
			ctClose(t, name+" dw", dw, ww, mw, 2e-5)
			ctClose(t, name+" db", db, wb, mb, 2e-5)
			// Without dx and db: dw alone, the same.
			DenseBackward(p, x, w, dy, nil, dw2, nil, B, In, Out)
			ctClose(t, name+" dw (dx, db nil)", dw2, ww, mw, 2e-5)
		}
	})
}
