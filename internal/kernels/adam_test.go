package kernels

import (
	"math"
	"math/rand/v2"
	"resgo/compute"
	"testing"
)

// TestAdamUpdateVectorMatchesPortable runs the Adam update with the
// AVX-512 kernel and with the portable loop on the same random state and
// requires bit-identical results (lengths with tails, 1 and 3 workers), and
// checks the portable loop against the formula in float64.
func TestAdamUpdateVectorMatchesPortable(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, wd := range []float32{0, 2e-4} {
		testAdamUpdate(t, r, AdamArgs{Beta1: 0.9, Beta2: 0.999, Alpha: 3e-3, Epsilon: 1e-7, WeightDecay: wd})
	}
}

// testAdamUpdate is TestAdamUpdateVectorMatchesPortable for one set of
// constants (a.WeightDecay makes it AdamW's update).
func testAdamUpdate(t *testing.T, r *rand.Rand, a AdamArgs) {
	for _, workers := range []int{1, 3} {
		p := compute.NewPool(workers)
		for _, n := range []int{1, 15, 16, 17, 100, 20000} {
			w0, g := randVec(r, n), randVec(r, n)
			m0, v0 := randVec(r, n), randVec(r, n)
			for i := range v0 {
				v0[i] = v0[i] * v0[i]
			}
			run := func(fast bool) (w, m, v []float32) {
				w, m, v = append([]float32(nil), w0...), append([]float32(nil), m0...), append([]float32(nil), v0...)
				withRowsFast(fast && hasAVX512 && !forcedGeneric(), func() { AdamUpdate(p, w, g, m, v, a) })
				return
			}
			wf, mf, vf := run(true)
			ws, ms, vs := run(false)
			for i := range wf {
				if math.Float32bits(wf[i]) != math.Float32bits(ws[i]) || mf[i] != ms[i] || vf[i] != vs[i] {
					t.Fatalf("wd=%v n=%d: element %d differs: w %v/%v m %v/%v v %v/%v", a.WeightDecay, n, i, wf[i], ws[i], mf[i], ms[i], vf[i], vs[i])
				}
			}
			for i := range ws {
				m := 0.9*float64(m0[i]) + 0.1*float64(g[i])
				v := 0.999*float64(v0[i]) + 0.001*float64(g[i])*float64(g[i])
				w := float64(w0[i])*(1-float64(a.WeightDecay)) - 3e-3*m/(math.Sqrt(v)+1e-7)
				if math.Abs(float64(ws[i])-w) > 1e-5*math.Max(1, math.Abs(w)) {
					t.Fatalf("wd=%v n=%d: w[%d] = %v, want %v", a.WeightDecay, n, i, ws[i], w)
				}
			}
		}
		p.Close()
	}
}
