package autograd

import (
	"testing"

	"resgo/tensor"
)

// TestTraceAttributes: Trace reports a convolution's stride and pads, a
// zero-padding's pads and a BatchNorm's moving statistics and epsilon, as
// an exporter needs them.
func TestTraceAttributes(t *testing.T) {
	tp := NewTape(nil, 0)
	x := tp.TraceInput(tensor.New(1, 7, 8, 2))
	w := NewParam("w", true, 3, 3, 2, 4)
	p := tp.Pad2D(x, 1, 2, 0, 3)                                                 // 10×11
	c := tp.Conv2D(p, tp.Param(w), nil, 2, Same)                                 // 5×6: rows 0+1, columns 1+1
	v := tp.Conv2D(c, tp.Param(NewParam("w2", true, 3, 3, 4, 4)), nil, 2, Valid) // 2×2, last row unread
	mean, variance := NewParam("m", false, 4), NewParam("v", false, 4)
	g, b := NewParam("g", true, 4), NewParam("b", true, 4)
	tp.BatchNorm(v, tp.Param(g), tp.Param(b), mean, variance, 0.9, 0.25, false, true)
	ops := tp.Trace()
	if len(ops) != 4 {
		t.Fatalf("%d ops traced, want 4", len(ops))
	}
	if got := ops[0].Pads; got != [4]int{1, 0, 2, 3} {
		t.Errorf("Pad2D pads %v, want [1 0 2 3]", got)
	}
	if got := ops[1]; got.Stride != 2 || got.Pads != [4]int{0, 1, 1, 1} {
		t.Errorf("same conv: stride %d pads %v, want 2 and [0 1 1 1]", got.Stride, got.Pads)
	}
	if got := ops[2]; got.Stride != 2 || got.Pads != [4]int{} {
		t.Errorf("valid conv: stride %d pads %v, want 2 and none", got.Stride, got.Pads)
	}
	if got := ops[3]; got.MovingMean != mean.Value || got.MovingVar != variance.Value || got.Epsilon != 0.25 || !got.FusedReLU {
		t.Errorf("BatchNorm: %+v", got)
	}
}
