package autograd

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvInference checks the fused inference convolution against the
// ops it replaces, BatchNorm+ReLU → Conv2D → BatchNorm+ReLU, then Conv2D →
// Add, on an implicit-GEMM shape (14×14) and a packed-patch one (7×7), and
// that a tape recording gradients refuses it.
func TestConvInference(t *testing.T) {
	r := rand.New(rand.NewPCG(40, 40))
	bn := func(C int) *BNMap {
		m := &BNMap{Gamma: gcParam(r, "g", C), Beta: gcParam(r, "b", C), MovingMean: gcParam(r, "mm", C), MovingVar: NewParam("mv", false, C), Eps: 1e-3, ReLU: true}
		for i := range m.MovingVar.Value.Data {
			m.MovingVar.Value.Data[i] = 0.5 + r.Float32()
		}
		return m
	}
	for _, hw := range []int{14, 7} {
		x, w1, b1, w2 := gcParam(r, "x", 3, hw, hw, 16), gcParam(r, "w1", 3, 3, 16, 32), gcParam(r, "b1", 32), gcParam(r, "w2", 3, 3, 32, 32)
		id := gcParam(r, "id", 3, hw, hw, 32)
		pre, post := bn(16), bn(32)
		for _, p := range gcTestPools() {
			ref := NewTape(p, 0)
			ref.NoGrad = true
			h := ref.BatchNorm(ref.Param(x), ref.Param(pre.Gamma), ref.Param(pre.Beta), pre.MovingMean, pre.MovingVar, 0.99, pre.Eps, false, true)
			h = ref.Conv2D(h, ref.Param(w1), ref.Param(b1), 1, Same)
			h = ref.BatchNorm(h, ref.Param(post.Gamma), ref.Param(post.Beta), post.MovingMean, post.MovingVar, 0.99, post.Eps, false, true)
			want := ref.Add(ref.Conv2D(h, ref.Param(w2), nil, 1, Same), ref.Param(id))

			tp := NewTape(p, 0)
			tp.NoGrad = true
			g := tp.ConvInference(tp.Param(x), tp.Param(w1), tp.Param(b1), 1, Same, pre, post, nil)
			got := tp.ConvInference(g, tp.Param(w2), nil, 1, Same, nil, nil, tp.Param(id))
			for i, v := range want.Value.Data {
				// ConvInference runs these 3×3 convolutions as Winograd
				// where kernels.PreferWinograd says so: its error is
				// within 1e-4 of the sum of the absolute values of a
				// convolution's terms (kernels' winoRtol), which over 144
				// and then 288 terms of about unit size is up to about
				// 2e-3 of an output of unit size.
				if d := math.Abs(float64(got.Value.Data[i] - v)); d > 2e-3*(1+math.Abs(float64(v))) {
					t.Fatalf("%d×%d, %d workers: y[%d] = %v, want %v", hw, hw, p.Workers(), i, got.Value.Data[i], v)
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("ConvInference on a recording tape did not panic")
		}
	}()
	tp := NewTape(nil, 0)
	x, w := gcParam(r, "x", 1, 4, 4, 2), gcParam(r, "w", 3, 3, 2, 2)
	tp.ConvInference(tp.Param(x), tp.Param(w), nil, 1, Same, nil, nil, nil)
}
