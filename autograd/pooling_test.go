package autograd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"resgo/internal/testutil"
	"resgo/tensor"
)

// poolCases are windows over odd and even inputs: tiling, overlapping,
// gapped (stride > window), non-square, and the 2×2/2 that MaxPool routes
// to the fast kernels; each is checked with both paddings.
var poolCases = []struct {
	shape []int
	w     Window
}{
	{[]int{2, 5, 7, 3}, Pool2x2},
	{[]int{1, 5, 5, 2}, Window{Size: [2]int{3, 3}, Strides: [2]int{2, 2}}},
	{[]int{2, 6, 7, 3}, Window{Size: [2]int{3, 3}, Strides: [2]int{1, 1}}},
	{[]int{1, 7, 6, 2}, Window{Size: [2]int{3, 2}, Strides: [2]int{2, 3}}},
	{[]int{1, 7, 7, 2}, Window{Size: [2]int{2, 2}, Strides: [2]int{3, 3}}},
	{[]int{3, 4, 4, 1}, Window{Size: [2]int{4, 4}}},
	{[]int{2, 9, 9, 5}, Window{Size: [2]int{5, 5}, Strides: [2]int{2, 2}}},
	{[]int{4, 8, 8, 4}, Pool2x2}, // 16 output rows: split across workers
}

// poolOut returns the output size of w along an axis of n, from Keras's
// rules: valid ⌊(n−k)/s⌋+1, same ⌈n/s⌉.
func poolOut(n, k, s int, pad Padding) int {
	if pad == Same {
		return (n + s - 1) / s
	}
	return (n-k)/s + 1
}

func TestMaxPoolGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 41))
	for _, c := range poolCases {
		for _, pad := range []Padding{Valid, Same} {
			w := c.w
			w.Padding = pad
			x := distinctInput(r, "x", c.shape...) // no ties for a step to cross
			name := fmt.Sprintf("maxpool %v over %v", w, c.shape)
			build := func(tp *Tape, in []*Var) *Var { return tp.MaxPool(in[0], w) }
			poolCheckShape(t, name, build, x, w)
			checkGrad(t, gradCase{name: name, params: []*Param{x}, build: build})
		}
	}
}

func TestAvgPoolGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	for _, c := range poolCases {
		for _, pad := range []Padding{Valid, Same} {
			w := c.w
			w.Padding = pad
			x := gcParam(r, "x", c.shape...)
			name := fmt.Sprintf("avgpool %v over %v", w, c.shape)
			build := func(tp *Tape, in []*Var) *Var { return tp.AvgPool(in[0], w) }
			poolCheckShape(t, name, build, x, w)
			checkGrad(t, gradCase{name: name, params: []*Param{x}, build: build})
		}
	}
}

// poolCheckShape checks the output shape against Keras's rules.
func poolCheckShape(t *testing.T, name string, build func(*Tape, []*Var) *Var, x *Param, w Window) {
	t.Helper()
	s := x.Value.Shape
	st := w.Strides
	if st == [2]int{} {
		st = w.Size
	}
	want := []int{s[0], poolOut(s[1], w.Size[0], st[0], w.Padding), poolOut(s[2], w.Size[1], st[1], w.Padding), s[3]}
	if out := build(NewTape(nil, 0), []*Var{{Value: x.Value}}); !tensor.SameShape(out.Shape(), want) {
		t.Fatalf("%s: output shape %v, want %v", name, out.Shape(), want)
	}
}

// TestPoolSameHandValues checks 'same' pooling of a 3×3 image with a 2×2
// window, stride 2, as Keras computes it: the windows overhang the bottom
// and right, the overhang is ignored by the max and by the average's
// divisor (TensorFlow's avg_pool divides by the valid count).
func TestPoolSameHandValues(t *testing.T) {
	x := tensor.New(1, 3, 3, 1)
	copy(x.Data, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9})
	w := Window{Size: [2]int{2, 2}, Padding: Same}
	tp := NewTape(nil, 0)
	in := tp.Constant(x)
	got := tp.AvgPool(in, w).Value.Data
	for i, want := range []float32{3, 4.5, 7.5, 9} { // (1+2+4+5)/4, (3+6)/2, (7+8)/2, 9/1
		if math.Abs(float64(got[i]-want)) > 1e-6 {
			t.Errorf("avg same [%d] = %v, want %v", i, got[i], want)
		}
	}
	got = tp.MaxPool(in, w).Value.Data
	for i, want := range []float32{5, 6, 8, 9} {
		if got[i] != want {
			t.Errorf("max same [%d] = %v, want %v", i, got[i], want)
		}
	}
	// 3×3 window, stride 1, same, on negative values: the max never sees a
	// zero pad.
	for i := range x.Data {
		x.Data[i] = -x.Data[i]
	}
	got = tp.MaxPool(in, Window{Size: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: Same}).Value.Data
	for i, want := range []float32{-1, -1, -2, -1, -1, -2, -4, -4, -5} {
		if got[i] != want {
			t.Errorf("max same 3x3/1 [%d] = %v, want %v", i, got[i], want)
		}
	}
}

// TestMaxPoolFastPathSame checks that MaxPool with the 2×2/2 window gives
// the same values, gradients and trace as MaxPool2D, whose fast kernels it
// routes to, and that 'same' padding over an even input routes there too.
func TestMaxPoolFastPathSame(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 43))
	for _, pad := range []Padding{Valid, Same} {
		x := distinctInput(r, "x", 2, 6, 8, 17)
		tp := NewTape(nil, 0)
		tp.TraceInput(x.Value)
		a := tp.MaxPool(tp.TraceInput(x.Value), Window{Size: [2]int{2, 2}, Padding: pad})
		b := tp.MaxPool2D(tp.TraceInput(x.Value))
		if !tensor.SameShape(a.Shape(), b.Shape()) {
			t.Fatalf("%v: shapes %v and %v", pad, a.Shape(), b.Shape())
		}
		for i := range a.Value.Data {
			if a.Value.Data[i] != b.Value.Data[i] {
				t.Fatalf("%v: [%d] %v vs MaxPool2D's %v", pad, i, a.Value.Data[i], b.Value.Data[i])
			}
		}
		tr := tp.Trace()
		if len(tr) != 2 || tr[0].Op != "MaxPool2D" || tr[0].Window != [2]int{2, 2} || tr[0].Strides != [2]int{2, 2} || tr[0].Pads != [4]int{} {
			t.Fatalf("%v: trace %+v", pad, tr)
		}
	}
}

func TestGlobalAvgPoolGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(44, 44))
	for _, shape := range [][]int{{1, 1, 1, 1}, {2, 3, 5, 7}, {5, 7, 7, 3}} {
		x := gcParam(r, "x", shape...)
		name := fmt.Sprintf("global avg %v", shape)
		build := func(tp *Tape, in []*Var) *Var { return tp.GlobalAvgPool(in[0]) }
		out := build(NewTape(nil, 0), []*Var{{Value: x.Value}})
		if want := []int{shape[0], shape[3]}; !tensor.SameShape(out.Shape(), want) {
			t.Fatalf("%s: output shape %v, want %v", name, out.Shape(), want)
		}
		checkGrad(t, gradCase{name: name, params: []*Param{x}, build: build})
	}
}

// TestConcatGrad checks Concat of one to four inputs, NHWC and 2-D, with
// an input that needs no gradient and an input used twice.
func TestConcatGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 45))
	for _, widths := range [][]int{{3}, {2, 5}, {4, 1, 3, 2}} {
		for _, lead := range [][]int{{2, 3, 5}, {7}} {
			var params []*Param
			for i, w := range widths {
				params = append(params, gcParam(r, fmt.Sprintf("x%d", i), append(append([]int(nil), lead...), w)...))
			}
			constant := tensor.New(append(append([]int(nil), lead...), 2)...)
			for i := range constant.Data {
				constant.Data[i] = float32(i)
			}
			name := fmt.Sprintf("concat %v×%v", lead, widths)
			build := func(tp *Tape, in []*Var) *Var {
				all := append([]*Var{tp.Constant(constant)}, in...)
				all = append(all, in[0]) // the first input twice
				return tp.Concat(all...)
			}
			var in []*Var
			total := 2 + widths[0]
			for i, p := range params {
				in = append(in, &Var{Value: p.Value})
				total += widths[i]
			}
			out := build(NewTape(nil, 0), in)
			if want := append(append([]int(nil), lead...), total); !tensor.SameShape(out.Shape(), want) {
				t.Fatalf("%s: output shape %v, want %v", name, out.Shape(), want)
			}
			if y := out.Value.Data; y[total] != constant.Data[2] || y[2] != params[0].Value.Data[0] || y[total-1] != params[0].Value.Data[widths[0]-1] {
				t.Fatalf("%s: inputs not side by side in order", name)
			}
			checkGrad(t, gradCase{name: name, params: params, build: build})
		}
	}
}

// TestPoolingConcatStepAllocatesNothing checks that a warm step through
// Concat, the pools and their backward passes takes every buffer from the
// tape: no allocation once the tape has run the step once.
func TestPoolingConcatStepAllocatesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(46, 46))
	x, w := gcParam(r, "x", 4, 9, 9, 5), gcParam(r, "w", 20, 3)
	labels := []int32{0, 2, 1, 2}
	tp := NewTape(nil, 0)
	win := Window{Size: [2]int{3, 3}, Strides: [2]int{2, 2}, Padding: Same}
	step := func() {
		tp.Reset()
		xv := tp.Param(x)
		h := tp.Concat(xv, tp.ReLU(xv))                       // [4, 9, 9, 10]
		h = tp.Concat(tp.MaxPool(h, win), tp.AvgPool(h, win)) // [4, 5, 5, 20]
		h = tp.GlobalAvgPool(tp.MaxPool2D(tp.AvgPool2D(h)))   // [4, 20]
		if err := tp.Backward(tp.SoftmaxCrossEntropy(tp.Dense(h, tp.Param(w), nil), labels, nil)); err != nil {
			t.Fatal(err)
		}
	}
	step()
	if testutil.RaceEnabled {
		t.Skip("the race detector allocates")
	}
	if a := testing.AllocsPerRun(5, step); a != 0 {
		t.Fatalf("a warm step allocates %v times", a)
	}
}
