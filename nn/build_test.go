package nn_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"resgo/autograd"
	"resgo/nn"
	"resgo/tensor"
)

// TestLazyInitMatchesEager checks that a layer sized on first use draws
// exactly the Glorot samples that initialising it up front from the same
// generator gives (so models keep their weights bit for bit), in the order
// the layers first run, and takes its sizes from its input: a 3×3 conv on
// 5 channels to 8, BatchNorm on 8, a Dense from 2·3·8 features to 4.
func TestLazyInitMatchesEager(t *testing.T) {
	lazy := rand.New(rand.NewPCG(7, 8))
	conv := nn.NewConv2D(lazy, "conv", 8, 3, autograd.Same, nn.ReLU)
	bn := nn.NewBatchNorm("bn")
	dense := nn.NewDense(lazy, "dense", 4, nn.Linear)
	model := nn.Sequential{conv, bn, nn.MaxPool2D{}, nn.Flatten{}, dense}
	if err := nn.Build(model, []int{4, 6, 5}); err != nil {
		t.Fatal(err)
	}
	eager := rand.New(rand.NewPCG(7, 8))
	wantConv := make([]float32, 3*3*5*8)
	nn.GlorotUniform(eager, wantConv, 3*3*5, 3*3*8)
	wantDense := make([]float32, 2*3*8*4)
	nn.GlorotUniform(eager, wantDense, 2*3*8, 4)
	for _, c := range []struct {
		p    *autograd.Param
		want []float32
	}{{conv.Kernel, wantConv}, {dense.Kernel, wantDense}} {
		if len(c.p.Value.Data) != len(c.want) {
			t.Fatalf("%s: shape %v, %d values, want %d", c.p.Name, c.p.Value.Shape, len(c.p.Value.Data), len(c.want))
		}
		for i, v := range c.want {
			if math.Float32bits(c.p.Value.Data[i]) != math.Float32bits(v) {
				t.Fatalf("%s[%d] = %v, the eager initialisation gives %v", c.p.Name, i, c.p.Value.Data[i], v)
			}
		}
	}
	if got := bn.Gamma.Value.Shape; len(got) != 1 || got[0] != 8 {
		t.Errorf("BatchNorm built over %v channels, want 8", got)
	}
	if lazy.Uint64() != eager.Uint64() {
		t.Error("the lazy layers drew a different number of samples")
	}
}

// badLayer is a layer whose Params is wrong in a way chosen by the test.
type badLayer struct {
	a, b   *autograd.Param
	params func(a, b *autograd.Param) []*autograd.Param
}

func (l *badLayer) Forward(t *autograd.Tape, x *autograd.Var, _ bool) *autograd.Var {
	return t.Add(t.Add(x, t.Param(l.a)), t.Param(l.b))
}

func (l *badLayer) Params() []*autograd.Param { return l.params(l.a, l.b) }

// TestBuildChecksParams checks that Build names the parameter when one the
// forward pass uses is missing from Params, listed twice, or shares its
// name with another, and reports a layer that cannot take the input.
func TestBuildChecksParams(t *testing.T) {
	for _, c := range []struct {
		name   string
		bName  string
		params func(a, b *autograd.Param) []*autograd.Param
		want   string // "" for no error
	}{
		{"good", "b", func(a, b *autograd.Param) []*autograd.Param { return []*autograd.Param{a, b} }, ""},
		{"missing", "b", func(a, _ *autograd.Param) []*autograd.Param { return []*autograd.Param{a} },
			`parameter "b" (shape [1 2 2 3]) is used by the forward pass but missing from Params`},
		{"twice", "b", func(a, b *autograd.Param) []*autograd.Param { return []*autograd.Param{a, b, a} },
			`parameter "a" is listed 2 times`},
		{"clash", "a", func(a, b *autograd.Param) []*autograd.Param { return []*autograd.Param{a, b} },
			`two parameters are named "a"`},
		{"unnamed", "", func(a, b *autograd.Param) []*autograd.Param { return []*autograd.Param{a, b} },
			`has no name`},
	} {
		l := &badLayer{a: autograd.NewParam("a", true, 1, 2, 2, 3), b: autograd.NewParam(c.bName, true, 1, 2, 2, 3), params: c.params}
		err := nn.Build(l, []int{2, 2, 3})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one with %q", c.name, err, c.want)
		}
	}
	// A Dense cannot take an image: the panic becomes an error that names
	// the layer and the input.
	err := nn.Build(nn.NewDense(rand.New(rand.NewPCG(1, 1)), "fc", 3, nn.Linear), []int{4, 4, 1})
	if err == nil || !strings.Contains(err.Error(), "fc: want an input [B, features]") || !strings.Contains(err.Error(), "4×4×1") {
		t.Errorf("Dense on an image: %v", err)
	}
	if err := nn.Build(nn.Identity{}, []int{0, 3}); err == nil {
		t.Error("an empty input shape built")
	}
}

// TestPoolLayers checks the pooling layers: the zero Window is Keras's
// 2×2, stride 2, 'valid'; another Window is passed on; GlobalAvgPool
// gives one mean per channel.
func TestPoolLayers(t *testing.T) {
	tp := autograd.NewTape(nil, 0)
	x := tensor.New(1, 5, 4, 2)
	for i := range x.Data {
		x.Data[i] = float32(i%7) - float32(i%3)
	}
	xv := tp.Constant(x)
	same := autograd.Window{Size: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: autograd.Same}
	for _, c := range []struct {
		layer nn.Layer
		want  *autograd.Var
	}{
		{nn.MaxPool2D{}, tp.MaxPool(xv, autograd.Pool2x2)},
		{nn.MaxPool2D{Window: same}, tp.MaxPool(xv, same)},
		{nn.AvgPool2D{}, tp.AvgPool(xv, autograd.Pool2x2)},
		{nn.AvgPool2D{Window: same}, tp.AvgPool(xv, same)},
		{nn.GlobalAvgPool{}, tp.GlobalAvgPool(xv)},
	} {
		got := c.layer.Forward(tp, xv, true)
		if !tensor.SameShape(got.Shape(), c.want.Shape()) {
			t.Fatalf("%#v: shape %v, want %v", c.layer, got.Shape(), c.want.Shape())
		}
		for i, v := range c.want.Value.Data {
			if got.Value.Data[i] != v {
				t.Fatalf("%#v: [%d] = %v, want %v", c.layer, i, got.Value.Data[i], v)
			}
		}
		if c.layer.Params() != nil {
			t.Errorf("%#v has parameters", c.layer)
		}
	}
	if s := (nn.AvgPool2D{}).Forward(tp, xv, false).Shape(); !tensor.SameShape(s, []int{1, 2, 2, 2}) {
		t.Errorf("AvgPool2D{} of [1 5 4 2]: %v, want [1 2 2 2]", s)
	}
}
