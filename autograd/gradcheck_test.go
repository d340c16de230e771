package autograd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"

	"resgo/compute"
)

// This file holds the generic finite-difference gradient check that the op
// tests use. A case lists its inputs as trainable Params and a function that
// builds the op(s) on a tape. The checker makes the scalar loss
// L = Σ w_i·out_i with fixed random weights w (or takes the op's output as
// the loss when it is one, as for SoftmaxCrossEntropy), runs Backward, and
// compares every input's gradient with the central difference
// (L(x+h) − L(x−h)) / (2h) computed by re-running the forward pass on a
// fresh tape with the same seed (so Dropout draws the same mask).

var (
	gcPoolsOnce sync.Once
	gcPools     []*compute.Pool
)

// gcTestPools returns a pool of 1 worker and one of 3, so that every op runs
// both unsplit and split (3 is more than our 2 cores, which only makes the
// split uneven).
func gcTestPools() []*compute.Pool {
	gcPoolsOnce.Do(func() { gcPools = []*compute.Pool{compute.NewPool(1), compute.NewPool(3)} })
	return gcPools
}

// gcForEachPool runs f as a subtest per pool.
func gcForEachPool(t *testing.T, f func(t *testing.T, p *compute.Pool)) {
	t.Helper()
	for _, p := range gcTestPools() {
		t.Run(fmt.Sprintf("workers=%d", p.Workers()), func(t *testing.T) { f(t, p) })
	}
}

// gcParam returns a trainable parameter with N(0, 1) values.
func gcParam(r *rand.Rand, name string, shape ...int) *Param {
	p := NewParam(name, true, shape...)
	for i := range p.Value.Data {
		p.Value.Data[i] = float32(r.NormFloat64())
	}
	return p
}

// gcWeightedSum records L = Σ w_i·x_i on the tape: a test-only op whose
// backward adds dL·w to x's gradient.
func gcWeightedSum(t *Tape, x *Var, w []float32) *Var {
	if len(w) != x.Value.Len() {
		panic(fmt.Sprintf("gcWeightedSum: %d weights for %d values", len(w), x.Value.Len()))
	}
	y := t.newVar(x.needsGrad, 1)
	y.Value.Data[0] = float32(gcDot(w, x.Value.Data))
	t.record(node{back: func(t *Tape, n *node) {
		g := n.out.Grad.Data[0]
		dx := t.grad(n.in[0]).Data
		for i := range dx {
			dx[i] += g * w[i]
		}
	}, in: [3]*Var{x}, out: y})
	return y
}

func gcDot(w, x []float32) float64 {
	var s float64
	for i, v := range x {
		s += float64(w[i]) * float64(v)
	}
	return s
}

// gradCase is one gradient check.
type gradCase struct {
	name   string
	params []*Param // the inputs whose gradients are checked (trainable)
	// build applies the op(s) to the params' variables (in params order) and
	// returns the output; with isLoss the output is the scalar loss itself.
	build  func(t *Tape, in []*Var) *Var
	isLoss bool
	h      float64 // the step (default 1e-2)
	rtol   float64 // default 1e-2
	sample int     // coordinates checked per param; 0 = all
	seed   uint64  // the tape's seed (Dropout)
}

// gradCheck returns a description of every gradient that does not match its
// finite difference, or nil. Per parameter it requires both
//
//	|analytic − numeric| ≤ 2·rtol·max(1, |numeric|)  for every coordinate
//	‖analytic − numeric‖ ≤ rtol·‖numeric‖ + 1e-3·√n   over the n coordinates checked.
func gradCheck(pool *compute.Pool, gc gradCase) []string {
	h, rtol := gc.h, gc.rtol
	if h == 0 {
		h = 1e-2
	}
	if rtol == 0 {
		rtol = 1e-2
	}
	var w []float32
	// run evaluates the loss; with backward it also runs Backward.
	run := func(backward bool) (float64, error) {
		tp := NewTape(pool, gc.seed)
		in := make([]*Var, len(gc.params))
		for i, p := range gc.params {
			in[i] = tp.Param(p)
		}
		out := gc.build(tp, in)
		var loss *Var
		var val float64
		if gc.isLoss {
			if out.Value.Len() != 1 {
				return 0, fmt.Errorf("loss has shape %v", out.Value.Shape)
			}
			loss, val = out, float64(out.Value.Data[0])
		} else {
			if w == nil {
				wr := rand.New(rand.NewPCG(gc.seed, 77))
				w = make([]float32, out.Value.Len())
				for i := range w {
					w[i] = float32(wr.NormFloat64())
				}
			}
			val = gcDot(w, out.Value.Data) // in float64, not the tape's float32 sum
			if backward {
				loss = gcWeightedSum(tp, out, w)
			}
		}
		if backward {
			if err := tp.Backward(loss); err != nil {
				return 0, err
			}
		}
		return val, nil
	}
	for _, p := range gc.params {
		p.Grad.Zero()
	}
	if _, err := run(true); err != nil {
		return []string{"backward: " + err.Error()}
	}
	var bad []string
	r := rand.New(rand.NewPCG(gc.seed, 78))
	for _, p := range gc.params {
		idx := gcCoords(r, p.Value.Len(), gc.sample)
		ana, num := make([]float64, len(idx)), make([]float64, len(idx))
		for j, i := range idx {
			ana[j] = float64(p.Grad.Data[i])
			v := p.Value.Data[i]
			vp, vm := v+float32(h), v-float32(h)
			p.Value.Data[i] = vp
			fp, _ := run(false)
			p.Value.Data[i] = vm
			fm, _ := run(false)
			p.Value.Data[i] = v
			num[j] = (fp - fm) / (float64(vp) - float64(vm)) // the step actually taken in float32
		}
		var dd, nn float64
		var worst []string
		for j := range idx {
			d := math.Abs(ana[j] - num[j])
			dd += d * d
			nn += num[j] * num[j]
			if !(d <= 2*rtol*max(1, math.Abs(num[j]))) && len(worst) < 4 {
				worst = append(worst, fmt.Sprintf("[%d] analytic %.6g numeric %.6g", idx[j], ana[j], num[j]))
			}
		}
		if len(worst) > 0 || !(math.Sqrt(dd) <= rtol*math.Sqrt(nn)+1e-3*math.Sqrt(float64(len(idx)))) {
			bad = append(bad, fmt.Sprintf("%s: d%s: relative error %.3g over %d coordinates; %s",
				gc.name, p.Name, math.Sqrt(dd)/max(math.Sqrt(nn), 1e-30), len(idx), strings.Join(worst, ", ")))
		}
	}
	return bad
}

// gcCoords returns the coordinates to check: all of [0, n), or a random
// sample of k that always includes the first and the last.
func gcCoords(r *rand.Rand, n, k int) []int {
	if k <= 0 || k >= n {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	idx := append([]int{0, n - 1}, r.Perm(n - 2)[:k-2]...)
	for i := 2; i < len(idx); i++ {
		idx[i]++
	}
	sort.Ints(idx)
	return idx
}

// checkGrad runs gradCheck on every test pool and reports mismatches.
func checkGrad(t *testing.T, gc gradCase) {
	t.Helper()
	for _, p := range gcTestPools() {
		for _, msg := range gradCheck(p, gc) {
			t.Errorf("workers=%d: %s", p.Workers(), msg)
		}
	}
}

// TestGradCheckCatchesErrors makes sure the checker fails on wrong
// gradients: a test op y = x² whose backward is off by 3%, or wrong at a
// single coordinate, or missing.
func TestGradCheckCatchesErrors(t *testing.T) {
	square := func(scale float32, wrongAt int) func(t *Tape, in []*Var) *Var {
		return func(t *Tape, in []*Var) *Var {
			x := in[0]
			y := t.newVar(true, x.Value.Shape...)
			for i, v := range x.Value.Data {
				y.Value.Data[i] = v * v
			}
			t.record(node{back: func(t *Tape, n *node) {
				dx := t.grad(n.in[0]).Data
				for i, g := range n.out.Grad.Data {
					d := 2 * n.in[0].Value.Data[i] * g * scale
					if i == wrongAt {
						d = -d
					}
					dx[i] += d
				}
			}, in: [3]*Var{x}, out: y})
			return y
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	x := gcParam(r, "x", 3, 5)
	pool := gcTestPools()[0]
	if bad := gradCheck(pool, gradCase{name: "x²", params: []*Param{x}, build: square(1, -1)}); bad != nil {
		t.Fatalf("correct gradient rejected: %v", bad)
	}
	for _, c := range []struct {
		what  string
		scale float32
		at    int
	}{{"3% off", 1.03, -1}, {"one coordinate wrong", 1, 7}, {"no gradient", 0, -1}} {
		if bad := gradCheck(pool, gradCase{name: "x²", params: []*Param{x}, build: square(c.scale, c.at)}); bad == nil {
			t.Errorf("%s: the checker accepted a wrong gradient", c.what)
		}
	}
}
