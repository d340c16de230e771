// Package optim holds the optimisers: Adam and SGD with momentum, with
// Keras's defaults and update rules.
package optim

import (
	"math"

	"resgo/autograd"
	"resgo/internal/kernels"
)

// Optimizer updates trainable parameters from their gradients.
type Optimizer interface {
	// Step applies one update to every trainable parameter in params.
	Step(params []*autograd.Param)
	// State returns the optimiser's per-parameter slots (for checkpoints)
	// keyed by "<param name>.<slot>", and its step count.
	State() (slots map[string][]float32, step int64)
	// SetState restores what State returned.
	SetState(slots map[string][]float32, step int64)
}

// PoolUser is implemented by optimisers whose update runs on a worker pool;
// a trainer gives them the pool its steps run on (train.NewTrainer does).
type PoolUser interface {
	UsePool(p *kernels.Pool)
}

// ZeroGrad sets every trainable parameter's gradient to zero.
func ZeroGrad(params []*autograd.Param) {
	for _, p := range params {
		if p.Grad != nil {
			clear(p.Grad.Data)
		}
	}
}

// Adam is the Adam optimiser (Kingma & Ba, 2015) as Keras implements it:
//
//	m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
//	α = lr·sqrt(1−β2^t)/(1−β1^t)
//	θ ← θ − α·m/(sqrt(v) + ε)
//
// Keras's defaults: lr 1e-3, β1 0.9, β2 0.999, ε 1e-7. Moments are kept per
// parameter name, so a restored state applies to a freshly built model.
type Adam struct {
	LR, Beta1, Beta2, Epsilon float64
	// Pool runs the update (nil: the default pool); the update is
	// elementwise, so the result does not depend on the thread count.
	Pool *kernels.Pool

	t     int64
	slots map[string][]float32 // "<name>.m", "<name>.v"
	keys  map[string][2]string
}

// UsePool makes the update run on p (see PoolUser).
func (a *Adam) UsePool(p *kernels.Pool) { a.Pool = p }

// NewAdam returns Adam with learning rate lr and Keras's other defaults.
func NewAdam(lr float64) *Adam {
	return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7,
		slots: map[string][]float32{}, keys: map[string][2]string{}}
}

// slot returns the named slot of length n, creating a zero one if needed.
func slot(slots map[string][]float32, key string, n int) []float32 {
	s, ok := slots[key]
	if !ok || len(s) != n {
		s = make([]float32, n)
		slots[key] = s
	}
	return s
}

// Step applies one Adam update.
func (a *Adam) Step(params []*autograd.Param) {
	a.t++
	b1, b2 := a.Beta1, a.Beta2
	alpha := float32(a.LR * math.Sqrt(1-math.Pow(b2, float64(a.t))) / (1 - math.Pow(b1, float64(a.t))))
	args := kernels.AdamArgs{Beta1: float32(b1), Beta2: float32(b2), Alpha: alpha, Epsilon: float32(a.Epsilon)}
	pool := a.Pool
	if pool == nil {
		pool = kernels.Default()
	}
	for _, p := range params {
		if !p.Trainable {
			continue
		}
		k, ok := a.keys[p.Name]
		if !ok {
			k = [2]string{p.Name + ".m", p.Name + ".v"}
			a.keys[p.Name] = k
		}
		m := slot(a.slots, k[0], p.Value.Len())
		v := slot(a.slots, k[1], p.Value.Len())
		kernels.AdamUpdate(pool, p.Value.Data, p.Grad.Data, m, v, args)
	}
}

// State returns the moments ("<param>.m", "<param>.v") and the step count.
// The slices are the optimiser's own.
func (a *Adam) State() (map[string][]float32, int64) { return a.slots, a.t }

// SetState restores moments and the step count (copies are taken).
func (a *Adam) SetState(slots map[string][]float32, step int64) {
	a.t = step
	a.slots = map[string][]float32{}
	for k, v := range slots {
		a.slots[k] = append([]float32(nil), v...)
	}
}

// SGD is stochastic gradient descent with optional momentum, as Keras:
// velocity ← momentum·velocity − lr·g;  θ ← θ + velocity.
type SGD struct {
	LR, Momentum float64
	t            int64
	slots        map[string][]float32 // "<name>.velocity"
	keys         map[string]string
}

// NewSGD returns SGD with the given learning rate and momentum.
func NewSGD(lr, momentum float64) *SGD {
	return &SGD{LR: lr, Momentum: momentum, slots: map[string][]float32{}, keys: map[string]string{}}
}

// Step applies one SGD update.
func (s *SGD) Step(params []*autograd.Param) {
	s.t++
	lr, mu := float32(s.LR), float32(s.Momentum)
	for _, p := range params {
		if !p.Trainable {
			continue
		}
		w, g := p.Value.Data, p.Grad.Data
		if mu == 0 {
			for i := range w {
				w[i] -= lr * g[i]
			}
			continue
		}
		k, ok := s.keys[p.Name]
		if !ok {
			k = p.Name + ".velocity"
			s.keys[p.Name] = k
		}
		v := slot(s.slots, k, len(w))
		for i := range w {
			v[i] = mu*v[i] - lr*g[i]
			w[i] += v[i]
		}
	}
}

// State returns the velocities ("<param>.velocity") and the step count.
func (s *SGD) State() (map[string][]float32, int64) { return s.slots, s.t }

// SetState restores velocities and the step count (copies are taken).
func (s *SGD) SetState(slots map[string][]float32, step int64) {
	s.t = step
	s.slots = map[string][]float32{}
	for k, v := range slots {
		s.slots[k] = append([]float32(nil), v...)
	}
}
