package autograd_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"resgo/autograd"
	"resgo/compute"
)

// This file defines ops the way a user of the package would, through
// Tape.Custom and the exported API only, and checks their gradients by
// finite differences.

// scaledSquare is y = (x·s)² for x [..., C] and a per-channel scale s [C]:
// an op autograd does not have. Forward keeps u = x·s for backward.
func scaledSquare(t *autograd.Tape, x, s *autograd.Var) *autograd.Var {
	xv, sv := x.Value.Data, s.Value.Data
	C := len(sv)
	u := t.Temp(len(xv))
	return t.Custom("ScaledSquare", []*autograd.Var{x, s}, x.Shape(),
		func(y []float32) {
			for i, v := range xv {
				u[i] = v * sv[i%C]
				y[i] = u[i] * u[i]
			}
		},
		func(_, dy []float32, grads [][]float32) {
			dx, ds := grads[0], grads[1]
			// dy/dx = 2u·s, dy/ds = 2u·x, split over the tape's workers
			// for dx (ds is a reduction, kept on one goroutine here).
			if dx != nil {
				t.Pool().For(len(dy), 256, func(_, lo, hi int) {
					for i := lo; i < hi; i++ {
						dx[i] += dy[i] * 2 * u[i] * sv[i%C]
					}
				})
			}
			if ds != nil {
				for i, g := range dy {
					ds[i%C] += g * 2 * u[i] * xv[i]
				}
			}
		})
}

// weightedSum is L = Σ wᵢ·xᵢ, a scalar to call Backward on.
func weightedSum(t *autograd.Tape, x *autograd.Var, w []float32) *autograd.Var {
	xv := x.Value.Data
	return t.Custom("WeightedSum", []*autograd.Var{x}, []int{1},
		func(y []float32) {
			var s float64
			for i, v := range xv {
				s += float64(w[i]) * float64(v)
			}
			y[0] = float32(s)
		},
		func(_, dy []float32, grads [][]float32) {
			for i := range grads[0] {
				grads[0][i] += dy[0] * w[i]
			}
		})
}

// fdCheck compares the gradients that Backward gives each param of loss
// with central differences of loss computed in float64, and returns the
// mismatches. loss builds the scalar on a fresh tape from the params'
// variables; with sum it returns a value that fdCheck reduces itself.
func fdCheck(pool *compute.Pool, params []*autograd.Param, build func(t *autograd.Tape, in []*autograd.Var) *autograd.Var) []string {
	var w []float32
	run := func(backward bool) float64 {
		t := autograd.NewTape(pool, 1)
		in := make([]*autograd.Var, len(params))
		for i, p := range params {
			in[i] = t.Param(p)
		}
		out := build(t, in)
		if w == nil {
			r := rand.New(rand.NewPCG(9, 9))
			w = make([]float32, out.Value.Len())
			for i := range w {
				w[i] = float32(r.NormFloat64())
			}
		}
		var val float64
		for i, v := range out.Value.Data {
			val += float64(w[i]) * float64(v)
		}
		if backward {
			if err := t.Backward(weightedSum(t, out, w)); err != nil {
				panic(err)
			}
		}
		return val
	}
	for _, p := range params {
		p.Grad.Zero()
	}
	run(true)
	var bad []string
	const h = 1e-2
	for _, p := range params {
		for i, v := range p.Value.Data {
			p.Value.Data[i] = v + h
			fp := run(false)
			p.Value.Data[i] = v - h
			fm := run(false)
			p.Value.Data[i] = v
			num := (fp - fm) / (float64(v+h) - float64(v-h))
			if ana := float64(p.Grad.Data[i]); math.Abs(ana-num) > 1e-2*max(1, math.Abs(num)) {
				bad = append(bad, fmt.Sprintf("d%s[%d]: analytic %.6g, numeric %.6g", p.Name, i, ana, num))
			}
		}
	}
	return bad
}

func randParam(r *rand.Rand, name string, shape ...int) *autograd.Param {
	p := autograd.NewParam(name, true, shape...)
	for i := range p.Value.Data {
		p.Value.Data[i] = float32(r.NormFloat64())
	}
	return p
}

// TestCustomOpGrad checks a custom op's gradients alone, and inside a
// network of built-in ops (dense, concat, softmax cross-entropy), on one
// worker and three.
func TestCustomOpGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, workers := range []int{1, 3} {
		pool := compute.NewPool(workers)
		x, s := randParam(r, "x", 2, 3, 5, 7), randParam(r, "s", 7)
		for _, msg := range fdCheck(pool, []*autograd.Param{x, s}, func(t *autograd.Tape, in []*autograd.Var) *autograd.Var {
			return scaledSquare(t, in[0], in[1])
		}) {
			t.Errorf("workers=%d scaledSquare: %s", workers, msg)
		}

		// Dense → ScaledSquare, joined with the dense output, → loss.
		xb, wd, sc := randParam(r, "x", 3, 4), randParam(r, "w", 4, 5), randParam(r, "s", 5)
		for i := range wd.Value.Data {
			wd.Value.Data[i] *= 0.5
		}
		labels := []int32{4, 0, 2}
		for _, msg := range fdCheck(pool, []*autograd.Param{xb, wd, sc}, func(t *autograd.Tape, in []*autograd.Var) *autograd.Var {
			h := t.Dense(in[0], in[1], nil)
			return t.SoftmaxCrossEntropy(t.Concat(h, scaledSquare(t, h, in[2])), labels, nil)
		}) {
			t.Errorf("workers=%d network: %s", workers, msg)
		}
		pool.Close()
	}
}

// TestCustomOpRecording checks what the tape does around a custom op: an
// input that needs no gradient gets nil, the op is not recorded when no
// input needs one, and Trace names it.
func TestCustomOpRecording(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	x, s := randParam(r, "x", 4, 3), randParam(r, "s", 3)
	tp := autograd.NewTape(nil, 0)
	xin := tp.Constant(x.Value) // no gradient
	y := scaledSquare(tp, xin, tp.Param(s))
	if tr := tp.Trace(); len(tr) != 1 || tr[0].Op != "ScaledSquare" || len(tr[0].Inputs) != 2 || tr[0].Inputs[1] != s.Value {
		t.Fatalf("trace %+v", tr)
	}
	s.Grad.Zero()
	if err := tp.Backward(weightedSum(tp, y, make([]float32, 12))); err != nil {
		t.Fatal(err)
	}
	if xin.Grad != nil {
		t.Fatalf("a constant input got a gradient")
	}

	tp = autograd.NewTape(nil, 0)
	y = scaledSquare(tp, tp.Constant(x.Value), tp.Constant(s.Value))
	if y.NeedsGrad() || len(tp.Trace()) != 0 {
		t.Fatalf("an op on constants was recorded")
	}
	got := fmt.Sprint(func() (r any) {
		defer func() { r = recover() }()
		tp.Custom("", nil, []int{1}, func([]float32) {}, func(_, _ []float32, _ [][]float32) {})
		return nil
	}())
	if !strings.Contains(got, "needs a name") {
		t.Fatalf("Custom without a name: %v", got)
	}
}
