package kernels

import "math"

// AdamArgs are the per-step constants of an Adam update.
type AdamArgs struct {
	Beta1, Beta2 float32 // decay rates of the moments
	Alpha        float32 // lr·sqrt(1−β2^t)/(1−β1^t)
	Epsilon      float32
	// WeightDecay is AdamW's decoupled decay lr·λ: the weights are first
	// scaled by 1 − WeightDecay (0 for Adam, which leaves them exact).
	WeightDecay float32
}

// AdamUpdate applies one Adam step to w with gradient g and moments m, v
// (all the same length), split across the pool's workers:
//
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + ((1−β2)·g)·g
//	w ← w·(1 − lr·λ) − (α·m)/(sqrt(v) + ε)
//
// Every operation is rounded to float32 in this order (no fused
// multiply-adds), so the vector and portable paths agree bit for bit.
func AdamUpdate(p *Pool, w, g, m, v []float32, a AdamArgs) {
	parallel(p, &adamTasks, len(w), 8192, adamTask{w: w, g: g, m: m, v: v, a: a})
}

type adamTask struct {
	w, g, m, v []float32
	a          AdamArgs
}

var adamTasks taskPool[adamTask]

func (t *adamTask) Run(_, lo, hi int) {
	w, g, m, v := t.w[lo:hi], t.g[lo:hi], t.m[lo:hi], t.v[lo:hi]
	done := 0
	if rowsFast {
		done = len(w) &^ 15
		c := [7]float32{t.a.Beta1, 1 - t.a.Beta1, t.a.Beta2, 1 - t.a.Beta2, t.a.Alpha, t.a.Epsilon, 1 - t.a.WeightDecay}
		adamAVX512(ptr(w), ptr(g), ptr(m), ptr(v), done, &c)
	}
	adamGeneric(w[done:], g[done:], m[done:], v[done:], t.a)
}

// adamGeneric is the portable Adam update.
func adamGeneric(w, g, m, v []float32, a AdamArgs) {
	b1, c1, b2, c2 := a.Beta1, 1-a.Beta1, a.Beta2, 1-a.Beta2
	keep := 1 - a.WeightDecay
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for i, gi := range g {
		mi := float32(b1*m[i]) + float32(c1*gi)
		vi := float32(b2*v[i]) + float32(float32(c2*gi)*gi)
		m[i], v[i] = mi, vi
		d := float32(math.Sqrt(float64(vi))) + a.Epsilon
		w[i] = float32(w[i]*keep) - float32(a.Alpha*mi)/d
	}
}
