package optim

import (
	"fmt"
	"math"
)

// LRSetter is implemented by optimisers whose learning rate a schedule
// sets before each step (Adam, AdamW and SGD do).
type LRSetter interface {
	SetLR(lr float64)
}

// The schedules that Schedule.Kind names.
const (
	Constant  = "constant" // LR throughout (after any warmup)
	StepDecay = "step"     // PyTorch's StepLR: LR·γ^⌊t/StepEvery⌋
	Cosine    = "cosine"   // Keras's CosineDecay, PyTorch's CosineAnnealingLR to 0
	OneCycle  = "onecycle" // PyTorch's OneCycleLR, cosine annealing, two phases
)

// Schedules lists the schedule names in the order the help gives them.
var Schedules = []string{Constant, StepDecay, Cosine, OneCycle}

// Schedule is a learning rate as a function of the optimiser step, stepped
// per batch. Step t (0-based: the learning rate of the (t+1)-th update)
// gets, for t below Warmup, Keras's linear warmup from 0,
//
//	lr(t) = LR·t/Warmup
//
// (CosineDecay with initial_learning_rate 0 and warmup_target LR), and
// afterwards the schedule of Kind at u = t − Warmup over the D = Total −
// Warmup remaining steps:
//
//	constant  LR
//	step      LR·Gamma^⌊u/StepEvery⌋                  (StepLR, step_size StepEvery)
//	cosine    LR·(1 + cos(π·min(u, D)/D))/2           (CosineDecay alpha 0; CosineAnnealingLR eta_min 0, T_max D)
//
// OneCycle is PyTorch's OneCycleLR over Total steps with max_lr LR,
// div_factor 25, final_div_factor 1e4, cosine annealing and
// cycle_momentum False (the momentum, or Adam's β1, stays); its rising
// phase is the warmup: pct_start = Warmup/Total, or PyTorch's 0.3 when
// Warmup is 0. Past Total steps, cosine stays at 0 and onecycle at its
// final rate.
type Schedule struct {
	Kind      string
	LR        float64 // the base (peak) learning rate
	Warmup    int64   // warmup steps
	Total     int64   // steps the schedule spans, warmup included
	StepEvery int64   // step: steps between decays
	Gamma     float64 // step: the decay factor
}

// Check reports a schedule that cannot be computed.
func (s Schedule) Check() error {
	switch {
	case s.Kind != Constant && s.Kind != StepDecay && s.Kind != Cosine && s.Kind != OneCycle:
		return fmt.Errorf("unknown learning-rate schedule %q (constant, step, cosine or onecycle)", s.Kind)
	case !(s.LR > 0):
		return fmt.Errorf("learning rate %v is not positive", s.LR)
	case s.Warmup < 0 || s.Total < 1:
		return fmt.Errorf("%d warmup steps of %d", s.Warmup, s.Total)
	case s.Kind != Constant && s.Warmup >= s.Total:
		return fmt.Errorf("the warmup's %d steps leave nothing of the %d steps to the %s schedule", s.Warmup, s.Total, s.Kind)
	case s.Kind == StepDecay && (s.StepEvery < 1 || !(s.Gamma > 0 && s.Gamma <= 1)):
		return fmt.Errorf("step schedule every %d steps by %v", s.StepEvery, s.Gamma)
	}
	return nil
}

// At returns the learning rate of step t (0-based).
func (s Schedule) At(t int64) float64 {
	if s.Kind == OneCycle {
		return s.oneCycle(t)
	}
	if t < s.Warmup {
		return s.LR * float64(t) / float64(s.Warmup)
	}
	u := t - s.Warmup
	switch s.Kind {
	case StepDecay:
		return s.LR * math.Pow(s.Gamma, float64(u/s.StepEvery))
	case Cosine:
		d := s.Total - s.Warmup
		return s.LR * 0.5 * (1 + math.Cos(math.Pi*float64(min(u, d))/float64(d)))
	}
	return s.LR
}

// oneCycle is OneCycleLR's get_lr at step t: phases end at steps
// pct_start·Total − 1 (initial → max) and Total − 1 (max → min), each
// annealed as end + (start − end)/2·(cos(π·pct) + 1).
func (s Schedule) oneCycle(t int64) float64 {
	pct := 0.3
	if s.Warmup > 0 {
		pct = float64(s.Warmup) / float64(s.Total)
	}
	initial := s.LR / 25
	low := initial / 1e4
	phases := [2]struct{ end, from, to float64 }{
		{pct*float64(s.Total) - 1, initial, s.LR},
		{float64(s.Total - 1), s.LR, low},
	}
	step := float64(min(t, s.Total-1))
	start := 0.0
	for i, ph := range phases {
		if step <= ph.end || i == len(phases)-1 {
			p := 1.0 // a phase of no length (a cycle of 1 step) is done
			if ph.end > start {
				p = (step - start) / (ph.end - start)
			}
			return ph.to + (ph.from-ph.to)/2*(math.Cos(math.Pi*p)+1)
		}
		start = ph.end
	}
	panic("unreachable")
}
