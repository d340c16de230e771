// Package optim holds the optimisers — Adam with Keras's defaults and
// update rule, AdamW as PyTorch's, SGD with momentum (Nesterov's too) and
// weight decay as Keras's — and the learning-rate schedules.
package optim

import (
	"math"

	"resgo/autograd"
	"resgo/compute"
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
	UsePool(p *compute.Pool)
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
// Keras's defaults: lr 1e-3, β1 0.9, β2 0.999, ε 1e-7. A field left zero
// takes its default, so Adam{} is Keras's Adam (the learning rate only
// until SetLR is called: a schedule may set it to zero). Moments are kept
// per parameter name, so a restored state applies to a freshly built
// model.
type Adam struct {
	LR, Beta1, Beta2, Epsilon float64
	// Pool runs the update (nil: the default pool); the update is
	// elementwise, so the result does not depend on the thread count.
	Pool *compute.Pool

	lrSet bool // SetLR was called: a zero LR is meant
	t     int64
	slots map[string][]float32 // "<name>.m", "<name>.v"
	keys  map[string][2]string
}

// UsePool makes the update run on p (see PoolUser).
func (a *Adam) UsePool(p *compute.Pool) { a.Pool = p }

// SetLR sets the learning rate of the next steps (see LRSetter).
func (a *Adam) SetLR(lr float64) { a.LR, a.lrSet = lr, true }

// settings returns the hyperparameters with those left zero replaced by
// the defaults (eps is the optimiser's own default ε).
func (a *Adam) settings(eps float64) (lr, b1, b2, e float64) {
	lr = a.LR
	if lr == 0 && !a.lrSet {
		lr = 1e-3
	}
	return lr, orDefault(a.Beta1, 0.9), orDefault(a.Beta2, 0.999), orDefault(a.Epsilon, eps)
}

// orDefault returns v, or def if v is zero.
func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// NewAdam returns Adam with learning rate lr and Keras's other defaults.
func NewAdam(lr float64) *Adam {
	return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7}
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
	lr, b1, b2, eps := a.settings(1e-7)
	alpha := float32(lr * math.Sqrt(1-math.Pow(b2, float64(a.t))) / (1 - math.Pow(b1, float64(a.t))))
	a.update(params, kernels.AdamArgs{Beta1: float32(b1), Beta2: float32(b2), Alpha: alpha, Epsilon: float32(eps)})
}

// update applies the update of args to every trainable parameter.
func (a *Adam) update(params []*autograd.Param, args kernels.AdamArgs) {
	if a.slots == nil {
		a.slots = map[string][]float32{}
	}
	if a.keys == nil {
		a.keys = map[string][2]string{}
	}
	pool := a.Pool
	if pool == nil {
		pool = compute.Default()
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

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter, 2019)
// as PyTorch's torch.optim.AdamW computes it:
//
//	θ ← θ·(1 − lr·λ)
//	m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
//	θ ← θ − lr·(m/(1−β1^t)) / (sqrt(v/(1−β2^t)) + ε)
//
// The last line runs as Adam's kernel with α = lr·sqrt(1−β2^t)/(1−β1^t)
// and ε·sqrt(1−β2^t) in place of ε, which is the same expression.
// PyTorch's defaults: lr 1e-3, β1 0.9, β2 0.999, ε 1e-8, which fields
// left zero take (AdamW{} has no weight decay). Its state is Adam's.
type AdamW struct {
	Adam
	WeightDecay float64 // λ
}

// NewAdamW returns AdamW with learning rate lr, weight decay wd and
// PyTorch's other defaults.
func NewAdamW(lr, wd float64) *AdamW {
	return &AdamW{Adam: Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8}, WeightDecay: wd}
}

// Step applies one AdamW update.
func (a *AdamW) Step(params []*autograd.Param) {
	a.t++
	lr, b1, b2, eps := a.settings(1e-8)
	bc1 := 1 - math.Pow(b1, float64(a.t))
	sbc2 := math.Sqrt(1 - math.Pow(b2, float64(a.t)))
	a.update(params, kernels.AdamArgs{Beta1: float32(b1), Beta2: float32(b2),
		Alpha: float32(lr * sbc2 / bc1), Epsilon: float32(eps * sbc2),
		WeightDecay: float32(lr * a.WeightDecay)})
}

// SGD is stochastic gradient descent with optional momentum, Nesterov's
// momentum and weight decay, as Keras computes them:
//
//	θ ← θ − lr·λ·θ                      (decoupled weight decay, if λ > 0)
//	velocity ← momentum·velocity − lr·g
//	θ ← θ + velocity                    (θ ← θ + momentum·velocity − lr·g with Nesterov)
//
// Without momentum, θ ← θ − lr·g. Keras's defaults are lr 0.01 and no
// momentum; an LR left zero takes the default until SetLR is called, so
// SGD{} is Keras's SGD.
type SGD struct {
	LR, Momentum float64
	Nesterov     bool
	WeightDecay  float64 // λ
	lrSet        bool    // SetLR was called: a zero LR is meant
	t            int64
	slots        map[string][]float32 // "<name>.velocity"
	keys         map[string]string
}

// SetLR sets the learning rate of the next steps (see LRSetter).
func (s *SGD) SetLR(lr float64) { s.LR, s.lrSet = lr, true }

// NewSGD returns SGD with the given learning rate and momentum.
func NewSGD(lr, momentum float64) *SGD {
	return &SGD{LR: lr, Momentum: momentum}
}

// Step applies one SGD update.
func (s *SGD) Step(params []*autograd.Param) {
	s.t++
	lr64 := s.LR
	if lr64 == 0 && !s.lrSet {
		lr64 = 0.01
	}
	lr, mu := float32(lr64), float32(s.Momentum)
	keep := 1 - float32(lr64*s.WeightDecay)
	if s.slots == nil {
		s.slots = map[string][]float32{}
	}
	if s.keys == nil {
		s.keys = map[string]string{}
	}
	for _, p := range params {
		if !p.Trainable {
			continue
		}
		w, g := p.Value.Data, p.Grad.Data
		if keep != 1 {
			for i := range w {
				w[i] *= keep
			}
		}
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
		if s.Nesterov {
			for i := range w {
				v[i] = float32(mu*v[i]) - float32(lr*g[i])
				w[i] += float32(mu*v[i]) - float32(lr*g[i])
			}
			continue
		}
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
