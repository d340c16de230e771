package models

import (
	"math"
	"math/rand/v2"
	"testing"

	"resgo/autograd"
	"resgo/tensor"
)

// TestInferenceReleaseKeepsResults runs every registered model in inference
// twice on the same batch: on a tape that records gradients (and so keeps
// every value) and on a NoGrad tape, which releases each layer's values as
// it goes. The logits must agree (to Winograd's rounding where the
// inference tape uses it), bit for bit between the NoGrad tape's two
// passes (the second reuses released buffers), and the NoGrad tape must
// hold less memory.
func TestInferenceReleaseKeepsResults(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(3, 28, 28, 1)
	for i := range x.Data {
		x.Data[i] = r.Float32()
	}
	for _, name := range Names() {
		m, err := New(name, Options{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		full := autograd.NewTape(nil, 0)
		want := m.Forward(full, full.Constant(x), false).Value.Clone()
		lean := autograd.NewTape(nil, 0)
		lean.NoGrad = true
		var first []float32
		for pass := 0; pass < 2; pass++ {
			lean.Reset()
			got := m.Forward(lean, lean.Constant(x), false).Value
			for i := range want.Data {
				// The inference tape may run a 3×3 convolution as Winograd
				// (kernels.PreferWinograd), whose sums round differently
				// from the direct ones: close to the recording tape's, and
				// the same bits on the second pass as on the first.
				if d := math.Abs(float64(got.Data[i] - want.Data[i])); d > 1e-4*(1+math.Abs(float64(want.Data[i]))) {
					t.Fatalf("%s pass %d: logit %d = %v, want %v", name, pass, i, got.Data[i], want.Data[i])
				}
				if pass == 1 && math.Float32bits(got.Data[i]) != math.Float32bits(first[i]) {
					t.Fatalf("%s pass 1: logit %d = %v, pass 0 gave %v", name, i, got.Data[i], first[i])
				}
			}
			first = append(first[:0], got.Data...)
		}
		if lean.ArenaBytes() >= full.ArenaBytes() {
			t.Errorf("%s: inference tape holds %d bytes, the recording one %d: nothing was released", name, lean.ArenaBytes(), full.ArenaBytes())
		}
		t.Logf("%s: inference arena %d KiB, full %d KiB (3 images)", name, lean.ArenaBytes()>>10, full.ArenaBytes()>>10)
	}
}
