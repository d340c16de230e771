package optim

import (
	"math"
	"slices"
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

// TestAdamWStep checks two AdamW steps against torch.optim.AdamW's update
// computed by hand in float64: decay first, then the bias-corrected moments
// with ε outside the square root.
func TestAdamWStep(t *testing.T) {
	p := autograd.NewParam("w", true, 3)
	copy(p.Value.Data, []float32{1, -2, 0.5})
	grads := [][]float32{{0.1, -0.2, 3}, {-0.5, 0.25, 0}}
	const lr, wd, eps = 0.01, 0.1, 1e-8
	a := NewAdamW(lr, wd)
	w := []float64{1, -2, 0.5}
	m := make([]float64, 3)
	v := make([]float64, 3)
	for step, g := range grads {
		copy(p.Grad.Data, g)
		a.Step([]*autograd.Param{p})
		tt := float64(step + 1)
		for i := range w {
			w[i] *= 1 - lr*wd
			m[i] = 0.9*m[i] + 0.1*float64(g[i])
			v[i] = 0.999*v[i] + 0.001*float64(g[i])*float64(g[i])
			mhat := m[i] / (1 - math.Pow(0.9, tt))
			vhat := v[i] / (1 - math.Pow(0.999, tt))
			w[i] -= lr * mhat / (math.Sqrt(vhat) + eps)
		}
		for i := range w {
			if d := math.Abs(float64(p.Value.Data[i]) - w[i]); d > 1e-6 {
				t.Fatalf("step %d: w[%d] = %v, want %v", step+1, i, p.Value.Data[i], w[i])
			}
		}
	}
	// A zero gradient still shrinks the weight by lr·λ each step: the decay
	// is decoupled from the moments (Adam with an L2 term would not move it
	// by the same amount).
	q := autograd.NewParam("q", true, 1)
	q.Value.Data[0] = 2
	b := NewAdamW(0.5, 0.2)
	b.Step([]*autograd.Param{q})
	if math.Abs(float64(q.Value.Data[0])-2*0.9) > 1e-6 {
		t.Fatalf("AdamW with a zero gradient: w = %v, want 1.8", q.Value.Data[0])
	}
}

// TestSGDNesterovWeightDecay checks two steps of SGD with Nesterov momentum
// and weight decay against Keras's update by hand.
func TestSGDNesterovWeightDecay(t *testing.T) {
	p := autograd.NewParam("w", true, 2)
	copy(p.Value.Data, []float32{1, -3})
	s := &SGD{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 0.01}
	grads := [][]float32{{1, 0.5}, {-2, 0}}
	w := []float64{1, -3}
	vel := make([]float64, 2)
	for step, g := range grads {
		copy(p.Grad.Data, g)
		s.Step([]*autograd.Param{p})
		for i := range w {
			w[i] -= 0.1 * 0.01 * w[i]
			vel[i] = 0.9*vel[i] - 0.1*float64(g[i])
			w[i] += 0.9*vel[i] - 0.1*float64(g[i])
		}
		for i := range w {
			if d := math.Abs(float64(p.Value.Data[i]) - w[i]); d > 1e-6 {
				t.Fatalf("step %d: w[%d] = %v, want %v", step+1, i, p.Value.Data[i], w[i])
			}
		}
	}
	// Step 1 by hand: w0 = 1·(1−0.001) + 0.9·(−0.1) − 0.1 = 0.809.
	q := autograd.NewParam("q", true, 1)
	q.Value.Data[0], q.Grad.Data[0] = 1, 1
	(&SGD{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 0.01}).Step([]*autograd.Param{q})
	if math.Abs(float64(q.Value.Data[0])-0.809) > 1e-6 {
		t.Fatalf("first Nesterov step: w = %v, want 0.809", q.Value.Data[0])
	}
}

// TestZeroValueOptimizers checks that optimisers built as struct literals
// step without their constructors.
func TestZeroValueOptimizers(t *testing.T) {
	for _, o := range []Optimizer{&Adam{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7}, &AdamW{Adam: Adam{LR: 0.1, Beta1: 0.9, Beta2: 0.999}},
		&SGD{LR: 0.1, Momentum: 0.9}} {
		p := autograd.NewParam("w", true, 1)
		p.Grad.Data[0] = 1
		o.Step([]*autograd.Param{p})
		if !(p.Value.Data[0] < 0) {
			t.Fatalf("%T: w = %v after a step against a positive gradient", o, p.Value.Data[0])
		}
	}
}

// TestZeroValueIsKerasDefault checks that Adam{}, AdamW{} and SGD{} work
// and update exactly as the constructors with the defaults do, and that a
// learning rate set to zero (by a schedule's warmup) is kept, not taken
// for the default.
func TestZeroValueIsKerasDefault(t *testing.T) {
	for _, c := range []struct {
		name       string
		zero, ctor Optimizer
	}{
		{"Adam", &Adam{}, NewAdam(1e-3)},
		{"AdamW", &AdamW{}, NewAdamW(1e-3, 0)},
		{"SGD", &SGD{}, NewSGD(0.01, 0)},
	} {
		pz, pc := autograd.NewParam("w", true, 4), autograd.NewParam("w", true, 4)
		for _, p := range []*autograd.Param{pz, pc} {
			copy(p.Value.Data, []float32{1, -2, 0.5, 3})
		}
		for step := range 3 {
			for i := range 4 {
				g := float32(i-step) * 0.3
				pz.Grad.Data[i], pc.Grad.Data[i] = g, g
			}
			c.zero.Step([]*autograd.Param{pz})
			c.ctor.Step([]*autograd.Param{pc})
		}
		if pz.Value.Data[0] == 1 || !slices.Equal(pz.Value.Data, pc.Value.Data) {
			t.Errorf("%s{}: w = %v, want %v as the defaults give", c.name, pz.Value.Data, pc.Value.Data)
		}
		if _, step := c.zero.State(); step != 3 {
			t.Errorf("%s{}: step count %d after 3 steps", c.name, step)
		}
		// Learning rate 0 set on purpose: nothing moves.
		c.zero.(LRSetter).SetLR(0)
		before := slices.Clone(pz.Value.Data)
		c.zero.Step([]*autograd.Param{pz})
		if !slices.Equal(pz.Value.Data, before) {
			t.Errorf("%s{} after SetLR(0): w moved from %v to %v", c.name, before, pz.Value.Data)
		}
	}
}
