package models

import (
	"encoding/json"
	"strings"
	"testing"

	"resgo/autograd"
	"resgo/tensor"
)

// TestModelsSizedFromData builds every built-in model for several image
// shapes and class counts and checks that a forward pass maps [N, H, W, C]
// to [N, classes], and that counts follow the shape where they should:
// resnet's first convolution has 3·3·C·8 + 8 values and its dense1
// (H/4)·(W/4)·64·128 + 128.
func TestModelsSizedFromData(t *testing.T) {
	for _, name := range []string{"resnet", "vgg16", "vgg16-bn", "vgg16-reduced", "densenet", "densenet-bc"} {
		for _, sh := range []struct{ h, w, c, classes int }{
			{28, 28, 1, 10}, {32, 32, 3, 7}, {30, 45, 2, 3}, {61, 64, 3, 100},
		} {
			o := Options{Seed: 1, Height: sh.h, Width: sh.w, Channels: sh.c, Classes: sh.classes}
			m, err := New(name, o)
			if err != nil {
				t.Fatalf("%s %+v: %v", name, sh, err)
			}
			tp := autograd.NewTape(nil, 0)
			x := tensor.New(2, sh.h, sh.w, sh.c)
			y := m.Forward(tp, tp.Constant(x), false)
			if got := y.Shape(); len(got) != 2 || got[0] != 2 || got[1] != sh.classes {
				t.Errorf("%s on %dx%dx%d: logits %v, want [2 %d]", name, sh.h, sh.w, sh.c, got, sh.classes)
			}
			if name != "resnet" {
				continue
			}
			ps := m.Params()
			if n, want := ps[0].Value.Len()+ps[1].Value.Len(), 3*3*sh.c*8+8; n != want {
				t.Errorf("resnet on %d channels: conv1 has %d values, want %d", sh.c, n, want)
			}
			for _, p := range ps {
				if p.Name == "dense1.kernel" && p.Value.Len() != (sh.h/4)*(sh.w/4)*64*128 {
					t.Errorf("resnet on %dx%d: dense1 kernel %v", sh.h, sh.w, p.Value.Shape)
				}
			}
		}
	}
}

// TestTooSmallImages checks that a shape too small for a network is an
// error naming the model, the layer and the sizes.
func TestTooSmallImages(t *testing.T) {
	for _, tc := range []struct {
		name string
		h, w int
		want []string
	}{
		{"vgg16", 16, 16, []string{"vgg16:", "block5's max-pool", "1×1", "16×16 images are too small", "32×32"}},
		{"vgg16-bn", 27, 40, []string{"vgg16-bn:", "block5's max-pool", "1×2", "27×40"}},
		{"vgg16-reduced", 3, 28, []string{"vgg16-reduced:", "block2's max-pool", "1×14", "4×4"}},
		{"resnet", 28, 2, []string{"resnet:", "after res2", "14×1"}},
		{"densenet", 3, 3, []string{"densenet:", "tr2's max-pool", "1×1", "at least 4×4"}},
		{"densenet-bc", 9, 1, []string{"densenet-bc:", "trans1's average pool", "9×1"}},
	} {
		_, err := New(tc.name, Options{Height: tc.h, Width: tc.w})
		if err == nil {
			t.Errorf("%s on %dx%d: no error", tc.name, tc.h, tc.w)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s on %dx%d: error %q lacks %q", tc.name, tc.h, tc.w, err, w)
			}
		}
	}
	for _, o := range []Options{{Height: -1}, {Width: MaxSide + 1}, {Channels: MaxChannels + 1}} {
		if _, err := New("resnet", o); err == nil {
			t.Errorf("options %+v: no error", o)
		}
	}
}

// TestVGG16Pad checks the zero-padding rule: up to a multiple of 32 when at
// most 4 pixels short, split with the odd pixel after.
func TestVGG16Pad(t *testing.T) {
	for _, tc := range []struct{ n, before, after int }{
		{28, 2, 2}, {29, 1, 2}, {31, 0, 1}, {32, 0, 0}, {27, 0, 0}, {16, 0, 0}, {60, 2, 2}, {40, 0, 0},
	} {
		if b, a := vgg16Pad(tc.n); b != tc.before || a != tc.after {
			t.Errorf("vgg16Pad(%d) = %d, %d, want %d, %d", tc.n, b, a, tc.before, tc.after)
		}
	}
}

// TestOptionsJSONCompatible checks that options saved before Options held
// the image shape, whose "Width" was the width multiplier, read back as
// that multiplier and MNIST's shape.
func TestOptionsJSONCompatible(t *testing.T) {
	var o Options
	if err := json.Unmarshal([]byte(`{"Seed":3,"Width":0.5,"Classes":10,"BNMomentum":0.9}`), &o); err != nil {
		t.Fatal(err)
	}
	if o.WidthMultiplier != 0.5 || o.Width != 0 || o.Seed != 3 {
		t.Fatalf("old options read as %+v", o)
	}
	if got := o.InputShape(); got[0] != 28 || got[1] != 28 || got[2] != 1 {
		t.Fatalf("old options' input shape %v, want [28 28 1]", got)
	}
	b, _ := json.Marshal(Options{Width: 32, WidthMultiplier: 0.5})
	var back Options
	if err := json.Unmarshal(b, &back); err != nil || back.Width != 32 || back.WidthMultiplier != 0.5 {
		t.Fatalf("round trip of %s: %+v, %v", b, back, err)
	}
}
