package autograd

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"resgo/compute"
	"resgo/tensor"
)

// tapeStep runs a small network (conv → BN → ReLU → pool → flatten →
// dense → loss) on tp and returns the loss and copies of the gradients.
func tapeStep(t *testing.T, tp *Tape, x *tensor.Tensor, params []*Param, mm, mv *Param) (float32, [][]float32) {
	t.Helper()
	in := make([]*Var, len(params))
	for i, p := range params {
		in[i] = tp.Param(p)
	}
	h := tp.Conv2D(tp.Constant(x), in[0], in[1], 1, Same)
	h = tp.BatchNorm(h, in[2], in[3], mm, mv, 0.99, 1e-3, true, true)
	h = tp.Flatten(tp.MaxPool2D(h))
	loss := tp.SoftmaxCrossEntropy(tp.Dense(h, in[4], in[5]), []int32{1, 2}, nil)
	if err := tp.Backward(loss); err != nil {
		t.Fatal(err)
	}
	var grads [][]float32
	for _, p := range params {
		grads = append(grads, append([]float32(nil), p.Grad.Data...))
	}
	return loss.Value.Data[0], grads
}

func tapeSetup() (*tensor.Tensor, []*Param, *Param, *Param) {
	r := rand.New(rand.NewPCG(50, 50))
	x := tensor.New(2, 6, 5, 3)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	params := []*Param{gcParam(r, "w", 3, 3, 3, 4), gcParam(r, "b", 4), gcParam(r, "gamma", 4),
		gcParam(r, "beta", 4), gcParam(r, "dense", 3*2*4, 3), gcParam(r, "dense_b", 3)}
	mm, mv := NewParam("mm", false, 4), NewParam("mv", false, 4)
	for i := range mv.Value.Data {
		mv.Value.Data[i] = 1
	}
	return x, params, mm, mv
}

// TestTapeReuse checks that a tape reused after Reset computes the same
// loss and gradients, bit for bit, without growing its arena, on pools of
// 1 and 3 workers; that the two pools agree; and that parameter gradients
// accumulate across Backward calls until zeroed.
func TestTapeReuse(t *testing.T) {
	x, params, mm, mv := tapeSetup()
	var perPool [][][]float32
	for _, pool := range gcTestPools() {
		tp := NewTape(pool, 1)
		var first [][]float32
		var firstLoss float32
		var arena int
		for step := 0; step < 3; step++ {
			tp.Reset()
			for _, p := range params {
				p.Grad.Zero()
			}
			loss, grads := tapeStep(t, tp, x, params, mm, mv)
			if step == 0 {
				first, firstLoss = grads, loss
				arena = tp.ArenaBytes()
				continue
			}
			if loss != firstLoss {
				t.Fatalf("workers=%d step %d: loss %v, first step %v", pool.Workers(), step, loss, firstLoss)
			}
			for i := range grads {
				for j := range grads[i] {
					if math.Float32bits(grads[i][j]) != math.Float32bits(first[i][j]) {
						t.Fatalf("workers=%d step %d: d%s[%d] = %v, first step %v", pool.Workers(), step, params[i].Name, j, grads[i][j], first[i][j])
					}
				}
			}
			if tp.ArenaBytes() != arena {
				t.Fatalf("workers=%d: arena grew from %d to %d bytes on reuse", pool.Workers(), arena, tp.ArenaBytes())
			}
		}
		// Without zeroing, a second Backward adds the same gradients again.
		tp.Reset()
		_, twice := tapeStep(t, tp, x, params, mm, mv)
		for i := range twice {
			for j := range twice[i] {
				// (Not bit for bit: the kernels add their sums into the buffer
				// term by term.)
				if math.Abs(float64(twice[i][j]-2*first[i][j])) > 1e-5*max(1, math.Abs(float64(first[i][j]))) {
					t.Fatalf("workers=%d: accumulated d%s[%d] = %v, want 2·%v", pool.Workers(), params[i].Name, j, twice[i][j], first[i][j])
				}
			}
		}
		perPool = append(perPool, first)
	}
	for i := range perPool[0] {
		for j := range perPool[0][i] {
			a, b := perPool[0][i][j], perPool[1][i][j]
			if math.Abs(float64(a-b)) > 1e-4*max(1, math.Abs(float64(a))) {
				t.Fatalf("d%s[%d]: %v with 1 worker, %v with 3", params[i].Name, j, a, b)
			}
		}
	}
}

func TestBackwardErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 51))
	w := gcParam(r, "w", 3, 2)
	tp := NewTape(nil, 0)
	x := tp.Constant(tensor.New(4, 3))
	y := tp.Dense(x, tp.Param(w), nil)
	if err := tp.Backward(y); err == nil {
		t.Error("Backward of a [4 2] output: want an error (not a scalar)")
	}
	c := tp.Constant(tensor.New(1))
	if err := tp.Backward(tp.ReLU(c)); err == nil {
		t.Error("Backward of a loss that depends on no parameter: want an error")
	}
	frozen := NewParam("frozen", false, 3, 1)
	if err := tp.Backward(tp.Dense(tp.Constant(tensor.New(1, 3)), tp.Param(frozen), nil)); err == nil {
		t.Error("Backward through non-trainable parameters only: want an error")
	}
}

// TestNoGrad checks that a NoGrad tape records nothing and computes the
// same values.
func TestNoGrad(t *testing.T) {
	x, params, mm, mv := tapeSetup()
	run := func(noGrad bool) ([]float32, int) {
		tp := NewTape(gcTestPools()[0], 1)
		tp.NoGrad = noGrad
		in := make([]*Var, len(params))
		for i, p := range params {
			in[i] = tp.Param(p)
		}
		h := tp.Conv2D(tp.Constant(x), in[0], in[1], 1, Same)
		h = tp.BatchNorm(h, in[2], in[3], mm, mv, 0.99, 1e-3, false, true)
		out := tp.Dense(tp.Flatten(tp.MaxPool2D(h)), in[4], in[5])
		if noGrad && out.NeedsGrad() {
			t.Error("NoGrad output needs a gradient")
		}
		return append([]float32(nil), out.Value.Data...), len(tp.nodes)
	}
	with, n := run(false)
	without, m := run(true)
	if n == 0 || m != 0 {
		t.Fatalf("recorded %d nodes normally and %d with NoGrad, want some and none", n, m)
	}
	for i := range with {
		if with[i] != without[i] {
			t.Fatalf("NoGrad output[%d] = %v, want %v", i, without[i], with[i])
		}
	}
}

// TestTapeOutlivesSetThreads checks that a tape keeps working on its pool
// after SetThreads has replaced the default pool it was built with: the
// old pool used to be closed under it, and a loop on it never returned.
func TestTapeOutlivesSetThreads(t *testing.T) {
	compute.SetThreads(2)
	defer compute.SetThreads(0)
	tp := NewTape(nil, 0)
	compute.SetThreads(3)
	done := make(chan float32, 1)
	go func() {
		x := tp.Param(NewParam("x", true, 64, 1024))
		for i := range x.Value.Data {
			x.Value.Data[i] = float32(i%7) - 3
		}
		y := tp.ReLU(x) // large enough to be split over both workers
		done <- y.Value.Data[6]
	}()
	select {
	case v := <-done:
		if v != 3 {
			t.Fatalf("relu(3) = %v", v)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("an op on the tape's pool did not return after SetThreads")
	}
}
