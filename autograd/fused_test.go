package autograd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"resgo/compute"
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

// TestConv2DAdd checks the training convolution with a residual added in
// its epilogue against the ops it replaces, Add(res, Conv2D(...)), bit for
// bit in the values and every gradient, on a Winograd shape (16×16), an
// implicit-GEMM one (14×14, 5×5 kernel) and a packed-patch one (stride 2),
// with the residual made by an op (a ReLU of x, whose other use comes
// first, as in a residual unit) and a parameter; that Trace reports the
// two ops; and the gradients against finite differences.
func TestConv2DAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 41))
	cases := []struct{ hw, k, stride int }{{16, 3, 1}, {14, 5, 1}, {14, 3, 2}}
	for _, c := range cases {
		o := (c.hw + c.stride - 1) / c.stride
		x, w, b, rp := gcParam(r, "x", 2, c.hw, c.hw, 16), gcParam(r, "w", c.k, c.k, 16, 16), gcParam(r, "b", 16), gcParam(r, "res", 2, o, o, 16)
		lw := make([]float32, 2*o*o*16)
		for i := range lw {
			lw[i] = float32(r.NormFloat64())
		}
		params := []*Param{x, w, b, rp}
		run := func(p *compute.Pool, fused, paramRes bool) ([]float32, [][]float32, []string) {
			for _, q := range params {
				q.Grad.Zero()
			}
			tp := NewTape(p, 0)
			xv := tp.Param(x)
			h := tp.ReLU(xv)
			res := tp.ReLU(h)
			if c.stride != 1 || paramRes {
				res = tp.Param(rp)
			}
			var y *Var
			if fused {
				y = tp.Conv2DAdd(h, tp.Param(w), tp.Param(b), c.stride, Same, res)
			} else {
				y = tp.Add(res, tp.Conv2D(h, tp.Param(w), tp.Param(b), c.stride, Same))
			}
			out := append([]float32(nil), y.Value.Data...)
			var ops []string
			for _, op := range tp.Trace() {
				ops = append(ops, op.Op)
			}
			if err := tp.Backward(gcWeightedSum(tp, y, lw)); err != nil {
				t.Fatal(err)
			}
			var grads [][]float32
			for _, q := range params {
				grads = append(grads, append([]float32(nil), q.Grad.Data...))
			}
			return out, grads, ops
		}
		for _, p := range gcTestPools() {
			for _, paramRes := range []bool{false, true} {
				wantY, wantG, wantOps := run(p, false, paramRes)
				gotY, gotG, gotOps := run(p, true, paramRes)
				name := fmt.Sprintf("%d×%d k%d s%d, %d workers, param res %v", c.hw, c.hw, c.k, c.stride, p.Workers(), paramRes)
				if fmt.Sprint(gotOps) != fmt.Sprint(wantOps) {
					t.Errorf("%s: Trace %v, want %v", name, gotOps, wantOps)
				}
				for i := range wantY {
					if math.Float32bits(gotY[i]) != math.Float32bits(wantY[i]) {
						t.Fatalf("%s: y[%d] = %v, want %v", name, i, gotY[i], wantY[i])
					}
				}
				for j := range wantG {
					for i := range wantG[j] {
						if math.Float32bits(gotG[j][i]) != math.Float32bits(wantG[j][i]) {
							t.Fatalf("%s: %s grad[%d] = %v, want %v", name, params[j].Name, i, gotG[j][i], wantG[j][i])
						}
					}
				}
			}
		}
	}
	x, w, b := reluInput(r, "x", 2, 5, 5, 3), gcParam(r, "w", 3, 3, 3, 3), gcParam(r, "b", 3)
	checkGrad(t, gradCase{name: "conv(relu(x)) + x", params: []*Param{x, w, b},
		build: func(tp *Tape, in []*Var) *Var {
			return tp.Conv2DAdd(tp.ReLU(in[0]), in[1], in[2], 1, Same, in[0])
		}})
}
