package optim

import (
	"math"
	"testing"

	"resgo/autograd"
)

// TestAdamStep checks two Adam steps against the update computed by hand
// from Keras's formulas in float64.
func TestAdamStep(t *testing.T) {
	p := autograd.NewParam("w", true, 3)
	copy(p.Value.Data, []float32{1, -2, 0.5})
	grads := [][]float32{{0.1, -0.2, 3}, {-0.5, 0.25, 0}}
	a := NewAdam(0.01)
	w := []float64{1, -2, 0.5}
	m := make([]float64, 3)
	v := make([]float64, 3)
	for step, g := range grads {
		copy(p.Grad.Data, g)
		a.Step([]*autograd.Param{p})
		tt := float64(step + 1)
		alpha := 0.01 * math.Sqrt(1-math.Pow(0.999, tt)) / (1 - math.Pow(0.9, tt))
		for i := range w {
			m[i] = 0.9*m[i] + 0.1*float64(g[i])
			v[i] = 0.999*v[i] + 0.001*float64(g[i])*float64(g[i])
			w[i] -= alpha * m[i] / (math.Sqrt(v[i]) + 1e-7)
		}
		for i := range w {
			if d := math.Abs(float64(p.Value.Data[i]) - w[i]); d > 1e-6 {
				t.Fatalf("step %d: w[%d] = %v, want %v", step+1, i, p.Value.Data[i], w[i])
			}
		}
	}
	// The first step moves every weight with a non-zero gradient by about lr
	// against its gradient's sign: Adam's hallmark.
	q := autograd.NewParam("q", true, 2)
	copy(q.Grad.Data, []float32{5, -1e-3})
	NewAdam(0.001).Step([]*autograd.Param{q})
	if math.Abs(float64(q.Value.Data[0])+0.001) > 1e-6 || math.Abs(float64(q.Value.Data[1])-0.001) > 1e-5 {
		t.Fatalf("first Adam step = %v, want about [-0.001, 0.001]", q.Value.Data)
	}
}

func TestSGDMomentum(t *testing.T) {
	p := autograd.NewParam("w", true, 1)
	p.Value.Data[0] = 1
	s := NewSGD(0.1, 0.9)
	p.Grad.Data[0] = 1
	s.Step([]*autograd.Param{p}) // v = -0.1, w = 0.9
	s.Step([]*autograd.Param{p}) // v = -0.09-0.1 = -0.19, w = 0.71
	if math.Abs(float64(p.Value.Data[0])-0.71) > 1e-6 {
		t.Fatalf("w = %v, want 0.71", p.Value.Data[0])
	}
}

func TestAdamStateRoundTrip(t *testing.T) {
	mk := func() *autograd.Param {
		p := autograd.NewParam("w", true, 2)
		copy(p.Grad.Data, []float32{0.3, -0.7})
		return p
	}
	p1, p2 := mk(), mk()
	a := NewAdam(0.01)
	a.Step([]*autograd.Param{p1})
	b := NewAdam(0.01)
	b.Step([]*autograd.Param{p2})
	slots, step := b.State()
	c := NewAdam(0.01)
	c.SetState(slots, step)
	a.Step([]*autograd.Param{p1})
	c.Step([]*autograd.Param{p2})
	for i := range p1.Value.Data {
		if p1.Value.Data[i] != p2.Value.Data[i] {
			t.Fatalf("restored Adam diverged: %v vs %v", p1.Value.Data, p2.Value.Data)
		}
	}
}
