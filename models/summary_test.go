package models

import (
	"strings"
	"testing"
)

// TestSummaryCounts checks the parameter counts of DESIGN.md and the
// multiply-adds per image, computed by hand from the layer tables:
//
//	resnet: conv1 56,448 + three ResnetLayers of 6,422,528 each (every
//	  stage does the same work: half the side, twice the channels)
//	  + dense 401,408 + 1,280 = 19,726,720 (the design's "about 19.7 M")
//	vgg16: convolutions 19,611,648 + dense 131,072 + 1,048,576 + 10,240
//	  = 20,801,536
//	vgg16-bn: vgg16 plus BatchNorm over 1,056 channels (γ, β trainable;
//	  moving mean and variance not), which does no multiply-adds here
//	vgg16-reduced: convolutions 112,896 + 1,806,336 at 28×28, 903,168 +
//	  1,806,336 at 14×14, 903,168 + 1,806,336 at 7×7; dense 401,408 +
//	  1,280 = 7,740,928
func TestSummaryCounts(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		trainable, nonTrainable int
		macs                    int64
		layers                  int // rows, the input row included
	}{
		{"resnet", 576282, 784, 19726720, 1 + 1 + 3*(3*2+3+2) + 2 + 1 + 2},
		{"vgg16", 2112442, 0, 20801536, 1 + 1 + 13 + 5 + 1 + 5},
		{"vgg16-bn", 2112442 + 2*1056, 2 * 1056, 20801536, 1 + 1 + 2*13 + 5 + 1 + 5},
		{"vgg16-reduced", 474618, 0, 7740928, 1 + 6 + 2 + 1 + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.name, Options{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			s, err := Summarize(tc.name, m, []int{28, 28, 1})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := s.WriteTable(&b); err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s", b.String())
			if s.Trainable != tc.trainable || s.NonTrainable != tc.nonTrainable {
				t.Errorf("params: %d trainable + %d non-trainable, want %d + %d", s.Trainable, s.NonTrainable, tc.trainable, tc.nonTrainable)
			}
			if s.MACs != tc.macs {
				t.Errorf("MACs per image %d, want %d", s.MACs, tc.macs)
			}
			if len(s.Layers) != tc.layers {
				t.Errorf("%d rows, want %d", len(s.Layers), tc.layers)
			}
			var tr, non int
			for _, l := range s.Layers {
				tr += l.Trainable
				non += l.NonTrainable
			}
			if tr != s.Trainable || non != s.NonTrainable {
				t.Errorf("rows hold %d + %d parameters, the model %d + %d", tr, non, s.Trainable, s.NonTrainable)
			}
			if last := s.Layers[len(s.Layers)-1]; len(last.Output) != 1 || last.Output[0] != 10 {
				t.Errorf("last layer outputs %v, want [10]", last.Output)
			}
		})
	}
}

// TestVGGWidth checks that width 1 is the paper's VGG-16 (configuration D:
// 14,714,688 convolution parameters for RGB input, as in Keras's VGG16
// without its top; one input channel here saves 2·9·64) with a 10-way
// classifier after 512 features.
func TestVGGWidth(t *testing.T) {
	m, err := New("vgg16", Options{WidthMultiplier: 1})
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := CountParams(m)
	const want = 14714688 - 2*9*64 + (512*4096 + 4096) + (4096*4096 + 4096) + (4096*10 + 10)
	if tr != want {
		t.Fatalf("vgg16 at width 1: %d parameters, want %d", tr, want)
	}
	if _, err := New("vgg16", Options{WidthMultiplier: -1}); err == nil {
		t.Fatal("want an error for a negative width")
	}
}

// TestSummarizeKeepsParams checks that tracing leaves BatchNorm's moving
// statistics as they were.
func TestSummarizeKeepsParams(t *testing.T) {
	m, err := New("vgg16-bn", Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var before [][]float32
	for _, p := range m.Params() {
		before = append(before, append([]float32(nil), p.Value.Data...))
	}
	if _, err := Summarize("vgg16-bn", m, []int{28, 28, 1}); err != nil {
		t.Fatal(err)
	}
	for i, p := range m.Params() {
		for j, v := range p.Value.Data {
			if v != before[i][j] {
				t.Fatalf("%s[%d] changed from %v to %v", p.Name, j, before[i][j], v)
			}
		}
	}
}

func TestCommas(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 576282: "576,282", 19726720: "19,726,720", -1234: "-1,234"} {
		if got := Commas(n); got != want {
			t.Errorf("Commas(%d) = %q, want %q", n, got, want)
		}
	}
}
