package optim

import (
	"math"
	"testing"
)

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
		t.Fatalf("%s = %.17g, want %.17g", what, got, want)
	}
}

// TestCosineMatchesKerasAndPyTorch checks the cosine schedule with warmup
// at chosen steps against Keras's CosineDecay(initial_learning_rate=0,
// decay_steps=100, warmup_target=0.01, warmup_steps=10), whose values
// there are known exactly, and without warmup against PyTorch's
// CosineAnnealingLR(T_max=50) in its recursive (chainable) form, stepped
// once per step as PyTorch does.
func TestCosineMatchesKerasAndPyTorch(t *testing.T) {
	s := Schedule{Kind: Cosine, LR: 0.01, Warmup: 10, Total: 110}
	for step, want := range map[int64]float64{0: 0, 5: 0.005, 10: 0.01, 60: 0.005, 35: 0.01 * (2 + math.Sqrt2) / 4, 110: 0, 500: 0} {
		near(t, "cosine lr", s.At(step), want)
	}
	// PyTorch: η_t = η_min + (η_{t−1} − η_min)·(1 + cos(πt/T))/(1 + cos(π(t−1)/T)).
	c := Schedule{Kind: Cosine, LR: 0.1, Total: 50}
	eta := 0.1
	for step := int64(0); step < 50; step++ {
		if step > 0 {
			eta *= (1 + math.Cos(math.Pi*float64(step)/50)) / (1 + math.Cos(math.Pi*float64(step-1)/50))
		}
		if math.Abs(c.At(step)-eta) > 1e-15 {
			t.Fatalf("step %d: lr %.17g, CosineAnnealingLR gives %.17g", step, c.At(step), eta)
		}
	}
}

// TestOneCycleMatchesPyTorch checks OneCycleLR(max_lr=0.1, total_steps=100)
// at its known points: the start max_lr/25, the peak at step
// pct_start·100 − 1 = 29, the midpoint of the descent and the end
// max_lr/25/1e4; and with a warmup of 20 steps, its peak at step 19.
func TestOneCycleMatchesPyTorch(t *testing.T) {
	s := Schedule{Kind: OneCycle, LR: 0.1, Total: 100}
	low := 0.1 / 25 / 1e4
	for step, want := range map[int64]float64{0: 0.004, 29: 0.1, 64: (0.1 + low) / 2, 99: low, 150: low,
		// step 7 of the rise: 0.1 + (0.004 − 0.1)/2·(cos(π·7/29) + 1)
		7: 0.1 + (0.004-0.1)/2*(math.Cos(math.Pi*7/29)+1)} {
		near(t, "onecycle lr", s.At(step), want)
	}
	w := Schedule{Kind: OneCycle, LR: 0.1, Warmup: 20, Total: 100}
	near(t, "onecycle peak with warmup", w.At(19), 0.1)
	if !(w.At(18) < 0.1 && w.At(20) < 0.1) {
		t.Fatalf("onecycle with 20 warmup steps peaks elsewhere than step 19: %v %v %v", w.At(18), w.At(19), w.At(20))
	}
}

// TestStepAndConstant checks StepLR(step_size=30, gamma=0.1) after a
// warmup of 5 steps, and the constant schedule.
func TestStepAndConstant(t *testing.T) {
	s := Schedule{Kind: StepDecay, LR: 0.5, Warmup: 5, Total: 200, StepEvery: 30, Gamma: 0.1}
	for step, want := range map[int64]float64{1: 0.1, 5: 0.5, 34: 0.5, 35: 0.05, 65: 0.005} {
		near(t, "step lr", s.At(step), want)
	}
	c := Schedule{Kind: Constant, LR: 0.5, Total: 10}
	near(t, "constant lr", c.At(7), 0.5)
	if err := (Schedule{Kind: "linear", LR: 1, Total: 1}).Check(); err == nil {
		t.Fatal("an unknown schedule passed Check")
	}
	if err := (Schedule{Kind: Cosine, LR: 1, Warmup: 10, Total: 10}).Check(); err == nil {
		t.Fatal("a warmup as long as the schedule passed Check")
	}
}
