package autograd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"resgo/compute"
	"resgo/tensor"
)

// Finite-difference gradient checks of every op on the tape (see
// gradcheck_test.go for the checker and its tolerances), on small random
// shapes with odd sizes, and on a few shapes large enough that the kernels
// split their work across the 3-worker pool (those check a random sample of
// coordinates).

// tfOut is TensorFlow's output size and leading padding for one dimension.
func tfOut(in, k, stride int, pad Padding) (out, before int) {
	if pad == Same {
		out = (in + stride - 1) / stride
		return out, max((out-1)*stride+k-in, 0) / 2
	}
	return (in-k)/stride + 1, 0
}

func TestConvGeometry(t *testing.T) {
	for in := 1; in <= 12; in++ {
		for k := 1; k <= 5; k++ {
			for stride := 1; stride <= 3; stride++ {
				for _, pad := range []Padding{Same, Valid} {
					s, err := convGeometry([]int{2, in, in + 1, 3}, k, k, 4, stride, pad)
					if pad == Valid && k > in {
						if err == nil {
							t.Errorf("in=%d k=%d valid: want an error", in, k)
						}
						continue
					}
					if err != nil {
						t.Fatalf("in=%d k=%d stride=%d pad=%d: %v", in, k, stride, pad, err)
					}
					oh, pt := tfOut(in, k, stride, pad)
					ow, pl := tfOut(in+1, k, stride, pad)
					if s.OH != oh || s.OW != ow || s.PadT != pt || s.PadL != pl || s.N != 2 || s.C != 3 || s.Cout != 4 {
						t.Errorf("in=%d k=%d stride=%d pad=%d: got %+v, want out %dx%d pad %d,%d", in, k, stride, pad, s, oh, ow, pt, pl)
					}
				}
			}
		}
	}
	if _, err := convGeometry([]int{1, 5, 5, 1}, 3, 3, 1, 0, Same); err == nil {
		t.Error("stride 0: want an error")
	}
	if _, err := convGeometry([]int{5, 5, 1}, 3, 3, 1, 1, Same); err == nil {
		t.Error("3-D input: want an error")
	}
}

type convGradCase struct {
	n, h, w, c, kh, kw, cout, stride int
	pad                              Padding
	bias                             bool
	sample                           int
}

func convGradCases() []convGradCase {
	var cases []convGradCase
	chans := [][2]int{{1, 3}, {3, 4}, {4, 1}, {3, 3}, {1, 1}}
	i := 0
	for _, k := range []int{1, 3, 5} {
		for _, pad := range []Padding{Same, Valid} {
			for _, stride := range []int{1, 2} {
				for _, bias := range []bool{true, false} {
					ch := chans[i%len(chans)]
					i++
					cases = append(cases, convGradCase{2, 5, 7, ch[0], k, k, ch[1], stride, pad, bias, 0})
				}
			}
		}
	}
	return append(cases,
		convGradCase{1, 6, 5, 2, 2, 2, 3, 1, Same, true, 0},     // even kernel: the odd padding at the bottom
		convGradCase{2, 6, 7, 2, 4, 4, 2, 2, Same, false, 0},    // even kernel, stride 2
		convGradCase{1, 5, 6, 3, 3, 1, 2, 1, Same, true, 0},     // non-square kernels
		convGradCase{1, 6, 5, 2, 1, 3, 3, 2, Valid, true, 0},    //
		convGradCase{2, 6, 6, 3, 3, 3, 2, 2, Valid, true, 0},    // the last row and column are never read
		convGradCase{1, 1, 1, 3, 1, 1, 4, 1, Same, true, 0},     // 1×1 image
		convGradCase{1, 2, 3, 2, 3, 3, 2, 1, Same, true, 0},     // kernel larger than the image
		convGradCase{1, 7, 7, 2, 3, 3, 2, 3, Same, true, 0},     // stride 3
		convGradCase{3, 12, 11, 4, 5, 5, 5, 1, Same, true, 60},  // split across workers
		convGradCase{2, 16, 15, 8, 5, 5, 3, 2, Same, true, 60},  // split, strided
		convGradCase{3, 12, 12, 16, 1, 1, 8, 1, Same, true, 60}, // pointwise, split
	)
}

func TestConv2DGrad(t *testing.T) {
	t.Logf("kernels=%s", compute.Kernels())
	r := rand.New(rand.NewPCG(20, 20))
	for _, c := range convGradCases() {
		x := gcParam(r, "x", c.n, c.h, c.w, c.c)
		w := gcParam(r, "w", c.kh, c.kw, c.c, c.cout)
		params := []*Param{x, w}
		if c.bias {
			params = append(params, gcParam(r, "b", c.cout))
		}
		stride, pad := c.stride, c.pad
		build := func(tp *Tape, in []*Var) *Var {
			var b *Var
			if len(in) == 3 {
				b = in[2]
			}
			return tp.Conv2D(in[0], in[1], b, stride, pad)
		}
		name := fmt.Sprintf("conv x=%v k=%dx%dx%d stride=%d pad=%d bias=%v", x.Value.Shape, c.kh, c.kw, c.cout, c.stride, c.pad, c.bias)
		// The output has TensorFlow's shape.
		out := build(NewTape(nil, 0), []*Var{{Value: x.Value}, {Value: w.Value}})
		oh, _ := tfOut(c.h, c.kh, c.stride, c.pad)
		ow, _ := tfOut(c.w, c.kw, c.stride, c.pad)
		if want := []int{c.n, oh, ow, c.cout}; !tensor.SameShape(out.Shape(), want) {
			t.Fatalf("%s: output shape %v, want %v", name, out.Shape(), want)
		}
		checkGrad(t, gradCase{name: name, params: params, build: build, sample: c.sample})
		// With x a constant (the first layer): the kernel and bias only.
		xc := x.Value
		checkGrad(t, gradCase{name: name + " constant x", params: params[1:], sample: c.sample,
			build: func(tp *Tape, in []*Var) *Var { return build(tp, append([]*Var{tp.Constant(xc)}, in...)) }})
	}
}

// TestConv2DGradGenericKernels re-runs TestConv2DGrad in a child process
// with RESGO_KERNELS=generic (read once at start-up), so that a plain
// `go test` checks the gradients on both the assembly and the portable
// kernels.
func TestConv2DGradGenericKernels(t *testing.T) {
	if compute.Kernels() == "generic" {
		t.Skip("already running on the generic kernels")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestConv2DGrad$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "RESGO_KERNELS=generic")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("TestConv2DGrad with RESGO_KERNELS=generic: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "kernels=generic") || !strings.Contains(string(out), "--- PASS: TestConv2DGrad") {
		t.Fatalf("the child did not run TestConv2DGrad on the generic kernels:\n%s", out)
	}
}

// bnSetup makes the inputs of a BatchNorm check: x [shape] whose channels
// have different means and scales, gamma of either sign, beta, and moving
// statistics near the batch's. With relu, beta is chosen per channel to put
// the ReLU's kink in the middle of the widest gap between the channel's
// values of gamma·xhat, so that no finite-difference step crosses it.
func bnSetup(t *testing.T, r *rand.Rand, shape []int, training, relu bool, h float64) (x, gamma, beta, mm, mv *Param) {
	t.Helper()
	C := shape[len(shape)-1]
	x = NewParam("x", true, shape...)
	M := x.Value.Len() / C
	gamma, beta = NewParam("gamma", true, C), NewParam("beta", true, C)
	mm, mv = NewParam("moving_mean", false, C), NewParam("moving_var", false, C)
	for c := 0; c < C; c++ {
		off, sd := 2*r.NormFloat64(), 0.5+r.Float64()
		for i := c; i < len(x.Value.Data); i += C {
			x.Value.Data[i] = float32(off + sd*r.NormFloat64())
		}
		g := 0.5 + r.Float64()
		if r.IntN(2) == 0 {
			g = -g
		}
		gamma.Value.Data[c] = float32(g)
		beta.Value.Data[c] = float32(0.5 * r.NormFloat64())
		mm.Value.Data[c] = float32(off + 0.3*r.NormFloat64())
		mv.Value.Data[c] = float32(sd * sd * (0.5 + 1.5*r.Float64()))
	}
	if !relu {
		return
	}
	for c := 0; c < C; c++ {
		vals := make([]float64, 0, M)
		for i := c; i < len(x.Value.Data); i += C {
			vals = append(vals, float64(x.Value.Data[i]))
		}
		var mean, variance float64
		if training {
			for _, v := range vals {
				mean += v
			}
			mean /= float64(M)
			for _, v := range vals {
				variance += (v - mean) * (v - mean)
			}
			variance /= float64(M)
		} else {
			mean, variance = float64(mm.Value.Data[c]), float64(mv.Value.Data[c])
		}
		s := float64(gamma.Value.Data[c]) / math.Sqrt(variance+1e-3)
		o := make([]float64, M)
		for i, v := range vals {
			o[i] = (v - mean) * s
		}
		sort.Float64s(o)
		gap, mid := 0.0, 0.0
		for i := 1; i < M; i++ {
			if o[i]-o[i-1] > gap {
				gap, mid = o[i]-o[i-1], (o[i]+o[i-1])/2
			}
		}
		beta.Value.Data[c] = float32(-mid)
		// A step h moves this element's gamma·xhat by about |s|·h (and the
		// others by about |s|·h/M through the batch statistics).
		if gap/2 < 4*h*math.Abs(s) {
			t.Fatalf("BatchNorm setup: channel %d's widest gap %.3g is too narrow for h=%g", c, gap, h)
		}
	}
	return
}

func TestBatchNormGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 21))
	for _, c := range []struct {
		shape  []int
		sample int
	}{
		{[]int{2, 3, 5, 3}, 0},
		{[]int{1, 5, 7, 4}, 0},
		{[]int{7, 1}, 0},
		{[]int{9, 16}, 0},         // channels that fill an AVX-512 vector
		{[]int{3, 10, 10, 2}, 40}, // M = 300: split across workers
		{[]int{2, 9, 9, 16}, 40},
	} {
		for _, training := range []bool{true, false} {
			for _, relu := range []bool{false, true} {
				h := 1e-2
				if relu {
					h = 2e-3
				}
				x, gamma, beta, mm, mv := bnSetup(t, r, c.shape, training, relu, h)
				name := fmt.Sprintf("batchnorm %v training=%v relu=%v", c.shape, training, relu)
				build := func(tp *Tape, in []*Var) *Var {
					return tp.BatchNorm(in[0], in[1], in[2], mm, mv, 0.99, 1e-3, training, relu)
				}
				checkGrad(t, gradCase{name: name, params: []*Param{x, gamma, beta}, build: build, h: h, sample: c.sample})
				// With x a constant (no input gradient): gamma and beta only.
				xc := x.Value
				checkGrad(t, gradCase{name: name + " constant x", params: []*Param{gamma, beta}, h: h, sample: c.sample,
					build: func(tp *Tape, in []*Var) *Var {
						return tp.BatchNorm(tp.Constant(xc), in[0], in[1], mm, mv, 0.99, 1e-3, training, relu)
					}})
			}
		}
	}
}

// TestBatchNormFusedReLU checks that the fused BatchNorm+ReLU gives the
// output and gradients of BatchNorm followed by ReLU.
func TestBatchNormFusedReLU(t *testing.T) {
	r := rand.New(rand.NewPCG(22, 22))
	for _, training := range []bool{true, false} {
		x, gamma, beta, mm, mv := bnSetup(t, r, []int{2, 4, 5, 3}, training, true, 1e-3)
		var outs [2][]float32
		var grads [2][][]float32
		for k, fused := range []bool{true, false} {
			tp := NewTape(gcTestPools()[1], 1)
			for _, p := range []*Param{x, gamma, beta} {
				p.Grad.Zero()
			}
			y := tp.BatchNorm(tp.Param(x), tp.Param(gamma), tp.Param(beta), mm, mv, 0.99, 1e-3, training, fused)
			if !fused {
				y = tp.ReLU(y)
			}
			w := make([]float32, y.Value.Len())
			for i := range w {
				w[i] = float32(i%7) - 3
			}
			if err := tp.Backward(gcWeightedSum(tp, y, w)); err != nil {
				t.Fatal(err)
			}
			outs[k] = append([]float32(nil), y.Value.Data...)
			for _, p := range []*Param{x, gamma, beta} {
				grads[k] = append(grads[k], append([]float32(nil), p.Grad.Data...))
			}
		}
		zeros := 0
		for i := range outs[0] {
			if outs[0][i] != outs[1][i] {
				t.Fatalf("training=%v: fused output[%d] = %v, unfused %v", training, i, outs[0][i], outs[1][i])
			}
			if outs[0][i] == 0 {
				zeros++
			}
		}
		if zeros == 0 || zeros == len(outs[0]) {
			t.Fatalf("training=%v: %d of %d outputs clipped: the ReLU is not exercised", training, zeros, len(outs[0]))
		}
		for p := range grads[0] {
			for i := range grads[0][p] {
				a, b := grads[0][p][i], grads[1][p][i]
				if math.Abs(float64(a-b)) > 1e-4*max(1, math.Abs(float64(b))) {
					t.Fatalf("training=%v: fused gradient %d[%d] = %v, unfused %v", training, p, i, a, b)
				}
			}
		}
	}
}

// reluInput returns values of either sign with |x| in [0.1, 1.1]: at least
// 10 steps of h = 1e-2 away from ReLU's kink.
func reluInput(r *rand.Rand, name string, shape ...int) *Param {
	p := NewParam(name, true, shape...)
	for i := range p.Value.Data {
		v := 0.1 + r.Float32()
		if r.IntN(2) == 0 {
			v = -v
		}
		p.Value.Data[i] = v
	}
	return p
}

func TestReLUGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 23))
	for _, c := range []struct {
		shape  []int
		sample int
	}{{[]int{3, 5, 7}, 0}, {[]int{1}, 0}, {[]int{2, 3, 3, 5}, 0}, {[]int{9001}, 50}} {
		x := reluInput(r, "x", c.shape...)
		checkGrad(t, gradCase{name: fmt.Sprintf("relu %v", c.shape), params: []*Param{x}, sample: c.sample,
			build: func(tp *Tape, in []*Var) *Var { return tp.ReLU(in[0]) }})
	}
}

// distinctInput returns a parameter whose values are a random permutation
// of 0, 0.05, 0.1, ... shifted to straddle zero: all distinct with gaps of
// 0.05 > 2h, so no max-pool window has a near tie.
func distinctInput(r *rand.Rand, name string, shape ...int) *Param {
	p := NewParam(name, true, shape...)
	n := p.Value.Len()
	for i, k := range r.Perm(n) {
		p.Value.Data[i] = 0.05 * float32(k-n/2)
	}
	return p
}

func TestMaxPool2DGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(24, 24))
	for _, c := range []struct {
		shape  []int
		sample int
	}{
		{[]int{2, 5, 7, 3}, 0}, // odd: the last row and column are dropped
		{[]int{1, 4, 6, 2}, 0},
		{[]int{2, 3, 2, 1}, 0},
		{[]int{1, 2, 2, 5}, 0},
		{[]int{3, 9, 6, 2}, 0},    // 12 output rows: split across workers
		{[]int{4, 15, 14, 8}, 80}, // split
	} {
		x := distinctInput(r, "x", c.shape...)
		name := fmt.Sprintf("maxpool %v", c.shape)
		build := func(tp *Tape, in []*Var) *Var { return tp.MaxPool2D(in[0]) }
		out := build(NewTape(nil, 0), []*Var{{Value: x.Value}})
		if want := []int{c.shape[0], c.shape[1] / 2, c.shape[2] / 2, c.shape[3]}; !tensor.SameShape(out.Shape(), want) {
			t.Fatalf("%s: output shape %v, want %v", name, out.Shape(), want)
		}
		checkGrad(t, gradCase{name: name, params: []*Param{x}, build: build, sample: c.sample})
	}
}

func TestDenseGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 25))
	for _, c := range []struct {
		b, in, out int
		bias       bool
		sample     int
	}{
		{3, 5, 4, true, 0}, {3, 5, 4, false, 0}, {1, 1, 1, true, 0}, {2, 7, 10, true, 0},
		{3, 37, 35, true, 60}, // split along In and Out
	} {
		x, w := gcParam(r, "x", c.b, c.in), gcParam(r, "w", c.in, c.out)
		params := []*Param{x, w}
		if c.bias {
			params = append(params, gcParam(r, "b", c.out))
		}
		build := func(tp *Tape, in []*Var) *Var {
			var b *Var
			if len(in) == 3 {
				b = in[2]
			}
			return tp.Dense(in[0], in[1], b)
		}
		name := fmt.Sprintf("dense %dx%d·%dx%d bias=%v", c.b, c.in, c.in, c.out, c.bias)
		checkGrad(t, gradCase{name: name, params: params, build: build, sample: c.sample})
		// With a constant input (the first layer): w and b only.
		xc := x.Value
		checkGrad(t, gradCase{name: name + " constant x", params: params[1:], sample: c.sample,
			build: func(tp *Tape, in []*Var) *Var {
				return build(tp, append([]*Var{tp.Constant(xc)}, in...))
			}})
	}
}

func TestFlattenReshapeGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(26, 26))
	x := gcParam(r, "x", 2, 3, 5, 4)
	// Flatten keeps NHWC order: out[n, (h·W + w)·C + c] = x[n, h, w, c].
	tp := NewTape(nil, 0)
	f := tp.Flatten(tp.Param(x))
	if !tensor.SameShape(f.Shape(), []int{2, 60}) {
		t.Fatalf("Flatten shape %v, want [2 60]", f.Shape())
	}
	for n := 0; n < 2; n++ {
		for h := 0; h < 3; h++ {
			for w := 0; w < 5; w++ {
				for c := 0; c < 4; c++ {
					if got, want := f.Value.Data[n*60+(h*5+w)*4+c], x.Value.Data[((n*3+h)*5+w)*4+c]; got != want {
						t.Fatalf("Flatten[%d, %d] = %v, want x[%d,%d,%d,%d] = %v", n, (h*5+w)*4+c, got, n, h, w, c, want)
					}
				}
			}
		}
	}
	checkGrad(t, gradCase{name: "flatten", params: []*Param{x},
		build: func(tp *Tape, in []*Var) *Var { return tp.Flatten(in[0]) }})
	checkGrad(t, gradCase{name: "reshape", params: []*Param{x},
		build: func(tp *Tape, in []*Var) *Var { return tp.Reshape(tp.Reshape(in[0], 6, 20), 120) }})
	// Two views of the same variable feeding one op, then a Dense.
	w := gcParam(r, "w", 60, 3)
	checkGrad(t, gradCase{name: "flatten+reshape→add→dense", params: []*Param{x, w},
		build: func(tp *Tape, in []*Var) *Var {
			return tp.Dense(tp.Add(tp.Flatten(in[0]), tp.Reshape(in[0], 2, 60)), in[1], nil)
		}})
}

func TestAddGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 27))
	x, y := gcParam(r, "x", 2, 3, 5), gcParam(r, "y", 2, 3, 5)
	checkGrad(t, gradCase{name: "add", params: []*Param{x, y},
		build: func(tp *Tape, in []*Var) *Var { return tp.Add(in[0], in[1]) }})
	big, big2 := gcParam(r, "x", 9001), gcParam(r, "y", 9001)
	checkGrad(t, gradCase{name: "add split", params: []*Param{big, big2}, sample: 50,
		build: func(tp *Tape, in []*Var) *Var { return tp.Add(in[0], in[1]) }})
	// The same variable twice in one op: the gradient is 2·w.
	checkGrad(t, gradCase{name: "add(x, x)", params: []*Param{x},
		build: func(tp *Tape, in []*Var) *Var { return tp.Add(in[0], in[0]) }})
	checkGrad(t, gradCase{name: "add(add(x, y), x)", params: []*Param{x, y},
		build: func(tp *Tape, in []*Var) *Var { return tp.Add(tp.Add(in[0], in[1]), in[0]) }})
	// One variable feeding two ops, whose results meet again.
	xr := reluInput(r, "x", 2, 3, 5)
	checkGrad(t, gradCase{name: "add(relu(x), x)", params: []*Param{xr},
		build: func(tp *Tape, in []*Var) *Var { return tp.Add(tp.ReLU(in[0]), in[0]) }})
	checkGrad(t, gradCase{name: "add(add(relu(x), x), add(relu(x), x))", params: []*Param{xr},
		build: func(tp *Tape, in []*Var) *Var {
			a := tp.Add(tp.ReLU(in[0]), in[0])
			return tp.Add(a, a)
		}})
	// Residual shapes, where both inputs of an Add may share its gradient
	// buffer (shareGrad) and where they must not: x's other user coming
	// after the other input is made, and an input made by an Add, which
	// hands the buffer on.
	checkGrad(t, gradCase{name: "add(relu(x), relu(relu(relu(x)))) shared", params: []*Param{xr},
		build: func(tp *Tape, in []*Var) *Var {
			a := tp.ReLU(in[0])
			return tp.Add(a, tp.ReLU(tp.ReLU(a)))
		}})
	checkGrad(t, gradCase{name: "add(relu(x), add(relu(relu(x)), relu(relu(x))))", params: []*Param{xr},
		build: func(tp *Tape, in []*Var) *Var {
			a := tp.ReLU(in[0])
			u := tp.ReLU(a)
			return tp.Add(a, tp.Add(u, u))
		}})
	checkGrad(t, gradCase{name: "add(add(relu(x), relu(y)), relu(relu(x)))", params: []*Param{xr, y},
		build: func(tp *Tape, in []*Var) *Var {
			a, b := tp.ReLU(in[0]), tp.ReLU(in[1])
			c := tp.ReLU(a)
			return tp.Add(tp.Add(a, b), c)
		}})
	// Exactly: d/dx of Σ w·(x + x) is 2w.
	tp := NewTape(nil, 0)
	x.Grad.Zero()
	w := make([]float32, x.Value.Len())
	for i := range w {
		w[i] = float32(i) - 7
	}
	if err := tp.Backward(gcWeightedSum(tp, tp.Add(tp.Param(x), tp.Param(x)), w)); err != nil {
		t.Fatal(err)
	}
	for i, g := range x.Grad.Data {
		if g != 2*w[i] {
			t.Fatalf("add(x, x): grad[%d] = %v, want %v", i, g, 2*w[i])
		}
	}
}

// TestSharedUseGrad covers a convolution output feeding two ops (a residual
// connection) and one parameter put on the tape twice (shared weights).
func TestSharedUseGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(28, 28))
	x, w1, b1, w2 := gcParam(r, "x", 2, 5, 7, 3), gcParam(r, "w1", 3, 3, 3, 4), gcParam(r, "b1", 4), gcParam(r, "w2", 3, 3, 4, 4)
	checkGrad(t, gradCase{name: "h = conv(x); conv(h) + h", params: []*Param{x, w1, b1, w2},
		build: func(tp *Tape, in []*Var) *Var {
			h := tp.Conv2D(in[0], in[1], in[2], 1, Same)
			return tp.Add(tp.Conv2D(h, in[3], nil, 1, Same), h)
		}})
	// The identity path of a residual unit: the add hands its gradient to
	// h, which the second convolution's input gradient is then added to;
	// the max pool writes the add's gradient, not adds to it.
	checkGrad(t, gradCase{name: "h = conv(x); maxpool(h + conv(h))", params: []*Param{x, w1, b1, w2}, sample: 40,
		build: func(tp *Tape, in []*Var) *Var {
			h := tp.Conv2D(in[0], in[1], in[2], 1, Same)
			return tp.MaxPool2D(tp.Add(h, tp.Conv2D(h, in[3], nil, 1, Same)))
		}})
	ws := gcParam(r, "w", 3, 3, 3, 3)
	checkGrad(t, gradCase{name: "conv(conv(x, w), w)", params: []*Param{x, ws},
		build: func(tp *Tape, in []*Var) *Var {
			return tp.Conv2D(tp.Conv2D(in[0], in[1], nil, 1, Same), tp.Param(ws), nil, 2, Same)
		}})
}

func TestPad2DGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 29))
	x := gcParam(r, "x", 2, 3, 5, 2)
	for _, p := range [][4]int{{1, 2, 0, 3}, {0, 0, 2, 1}, {2, 2, 2, 2}, {0, 0, 0, 0}} {
		top, bottom, left, right := p[0], p[1], p[2], p[3]
		tp := NewTape(nil, 0)
		y := tp.Pad2D(tp.Param(x), top, bottom, left, right)
		OH, OW := 3+top+bottom, 5+left+right
		if !tensor.SameShape(y.Shape(), []int{2, OH, OW, 2}) {
			t.Fatalf("pad %v: shape %v", p, y.Shape())
		}
		for n := 0; n < 2; n++ {
			for i := 0; i < OH; i++ {
				for j := 0; j < OW; j++ {
					for c := 0; c < 2; c++ {
						var want float32
						if i >= top && i < top+3 && j >= left && j < left+5 {
							want = x.Value.Data[((n*3+i-top)*5+j-left)*2+c]
						}
						if got := y.Value.Data[((n*OH+i)*OW+j)*2+c]; got != want {
							t.Fatalf("pad %v: y[%d,%d,%d,%d] = %v, want %v", p, n, i, j, c, got, want)
						}
					}
				}
			}
		}
		checkGrad(t, gradCase{name: fmt.Sprintf("pad2d %v", p), params: []*Param{x},
			build: func(tp *Tape, in []*Var) *Var { return tp.Pad2D(in[0], top, bottom, left, right) }})
	}
}

func TestDropoutGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(30, 30))
	x := reluInput(r, "x", 4, 5, 6) // no zeros, so the mask can be read back as y/x
	const rate = 0.3
	build := func(tp *Tape, in []*Var) *Var { return tp.Dropout(in[0], rate, true) }
	// Every evaluation uses a fresh tape with the same seed, so the mask is
	// the same in the forward pass and in every finite-difference pass.
	checkGrad(t, gradCase{name: "dropout", params: []*Param{x}, build: build, seed: 5})

	// The gradient is exactly w·mask, the mask the forward pass drew.
	tp := NewTape(nil, 5)
	x.Grad.Zero()
	y := build(tp, []*Var{tp.Param(x)})
	w := make([]float32, y.Value.Len())
	for i := range w {
		w[i] = float32(i%5) + 1
	}
	if err := tp.Backward(gcWeightedSum(tp, y, w)); err != nil {
		t.Fatal(err)
	}
	scale := float32(1 / (1 - rate))
	for i, v := range x.Value.Data {
		m := y.Value.Data[i] / v
		if math.Abs(float64(m)) > 1e-6 && math.Abs(float64(m-scale)) > 1e-6 {
			t.Fatalf("dropout: y/x = %v at %d, want 0 or %v", m, i, scale)
		}
		if d := x.Grad.Data[i] - w[i]*m; math.Abs(float64(d)) > 1e-5*float64(w[i]) {
			t.Fatalf("dropout: grad[%d] = %v, want w·mask = %v", i, x.Grad.Data[i], w[i]*m)
		}
	}

	// About a fraction rate of a large input is dropped; the same seed gives
	// the same mask and another seed another one.
	big := NewParam("x", true, 20000)
	for i := range big.Value.Data {
		big.Value.Data[i] = 1
	}
	masks := make([][]float32, 3)
	for k, seed := range []uint64{1, 1, 2} {
		tp := NewTape(nil, seed)
		masks[k] = append([]float32(nil), tp.Dropout(tp.Param(big), rate, true).Value.Data...)
	}
	dropped, same, differ := 0, true, false
	for i := range masks[0] {
		if masks[0][i] == 0 {
			dropped++
		}
		same = same && masks[0][i] == masks[1][i]
		differ = differ || masks[0][i] != masks[2][i]
	}
	if f := float64(dropped) / 20000; math.Abs(f-rate) > 0.02 {
		t.Errorf("dropout dropped %.3f of the inputs, want about %v", f, rate)
	}
	if !same || !differ {
		t.Errorf("dropout masks: same seed equal %v, different seed different %v", same, differ)
	}
	// Inference, or rate 0: the identity, the very same variable.
	tp = NewTape(nil, 1)
	v := tp.Param(x)
	if tp.Dropout(v, rate, false) != v || tp.Dropout(v, 0, true) != v {
		t.Error("dropout in inference or with rate 0 should return its input")
	}
}

func TestSoftmaxCrossEntropyGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 31))
	logits := gcParam(r, "logits", 4, 5)
	for i := range logits.Value.Data {
		logits.Value.Data[i] *= 2
	}
	labels := []int32{0, 4, 2, 2}
	checkGrad(t, gradCase{name: "softmax cross-entropy", params: []*Param{logits}, isLoss: true,
		build: func(tp *Tape, in []*Var) *Var { return tp.SoftmaxCrossEntropy(in[0], labels, nil) }})
	// Through a dense layer, as at the end of the networks.
	x, w, b := gcParam(r, "x", 3, 7), gcParam(r, "w", 7, 10), gcParam(r, "b", 10)
	checkGrad(t, gradCase{name: "dense → softmax cross-entropy", params: []*Param{x, w, b}, isLoss: true,
		build: func(tp *Tape, in []*Var) *Var {
			return tp.SoftmaxCrossEntropy(tp.Dense(in[0], in[1], in[2]), []int32{9, 0, 3}, nil)
		}})
}

// TestSmoothedSoftmaxCrossEntropy checks label smoothing's gradient
// against finite differences, and its loss by hand: logits [1, 2, 3],
// label 2, ε = 0.1 gives −Σ_k q_k·log p_k with q = (0.1/3, 0.1/3, 0.9 + 0.1/3).
func TestSmoothedSoftmaxCrossEntropy(t *testing.T) {
	r := rand.New(rand.NewPCG(32, 32))
	logits := gcParam(r, "logits", 4, 5)
	labels := []int32{0, 4, 2, 2}
	checkGrad(t, gradCase{name: "smoothed softmax cross-entropy", params: []*Param{logits}, isLoss: true,
		build: func(tp *Tape, in []*Var) *Var { return tp.SmoothedSoftmaxCrossEntropy(in[0], labels, 0.1, nil) }})
	tp := NewTape(nil, 0)
	p := NewParam("logits", true, 1, 3)
	copy(p.Value.Data, []float32{1, 2, 3})
	loss := tp.SmoothedSoftmaxCrossEntropy(tp.Param(p), []int32{2}, 0.1, nil)
	ls := math.Log(math.Exp(1) + math.Exp(2) + math.Exp(3))
	want := 0.0
	for k, q := range []float64{0.1 / 3, 0.1 / 3, 0.9 + 0.1/3} {
		want -= q * (float64(k+1) - ls)
	}
	if math.Abs(float64(loss.Value.Data[0])-want) > 1e-6 {
		t.Fatalf("smoothed loss %v, want %v", loss.Value.Data[0], want)
	}
}

func TestSoftmaxCrossEntropyHandValues(t *testing.T) {
	// logits [1, 2, 3], label 2: loss = log(1 + e^−1 + e^−2); the gradient
	// is softmax − onehot.
	tp := NewTape(nil, 0)
	p := NewParam("logits", true, 1, 3)
	copy(p.Value.Data, []float32{1, 2, 3})
	prob := tensor.New(1, 3)
	loss := tp.SoftmaxCrossEntropy(tp.Param(p), []int32{2}, prob)
	if want := math.Log(1 + math.Exp(-1) + math.Exp(-2)); math.Abs(float64(loss.Value.Data[0])-want) > 1e-6 {
		t.Fatalf("loss %v, want %v", loss.Value.Data[0], want)
	}
	if err := tp.Backward(loss); err != nil {
		t.Fatal(err)
	}
	s := math.Exp(1) + math.Exp(2) + math.Exp(3)
	for k, want := range []float64{math.Exp(1) / s, math.Exp(2) / s, math.Exp(3)/s - 1} {
		if math.Abs(float64(p.Grad.Data[k])-want) > 1e-6 {
			t.Errorf("dlogits[%d] = %v, want %v", k, p.Grad.Data[k], want)
		}
		if k < 2 && math.Abs(float64(prob.Data[k])-want) > 1e-6 {
			t.Errorf("prob[%d] = %v, want %v", k, prob.Data[k], want)
		}
	}
	// Huge logits stay finite.
	tp = NewTape(nil, 0)
	copy(p.Value.Data, []float32{1000, -1000, 0})
	p.Grad.Zero()
	loss = tp.SoftmaxCrossEntropy(tp.Param(p), []int32{1}, nil)
	if got := loss.Value.Data[0]; got != 2000 {
		t.Fatalf("loss for logits [1000 −1000 0], label 1: %v, want 2000", got)
	}
	if err := tp.Backward(loss); err != nil {
		t.Fatal(err)
	}
	for k, want := range []float32{1, -1, 0} {
		if math.Abs(float64(p.Grad.Data[k]-want)) > 1e-6 {
			t.Errorf("dlogits[%d] = %v, want %v", k, p.Grad.Data[k], want)
		}
	}
}

// TestNetworkGrad checks a small network that chains most ops the way the
// models do: BatchNorm (training) → conv 3×3 → BatchNorm (inference) →
// conv 3×3, plus a 1×1 conv shortcut, added; then Pad2D, a strided 'valid'
// conv, Flatten, Dense and the softmax cross-entropy loss.
func TestNetworkGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(32, 32))
	x, g1, b1, mm1, mv1 := bnSetup(t, r, []int{2, 6, 5, 3}, true, false, 1e-2)
	c1 := gcParam(r, "conv1", 3, 3, 3, 4)
	_, g2, b2, mm2, mv2 := bnSetup(t, r, []int{1, 1, 1, 4}, false, false, 1e-2)
	c2 := gcParam(r, "conv2", 3, 3, 4, 4)
	sc, scb := gcParam(r, "shortcut", 1, 1, 3, 4), gcParam(r, "shortcut_bias", 4)
	c3 := gcParam(r, "conv3", 3, 3, 4, 2)
	d, db := gcParam(r, "dense", 2*3*2, 5), gcParam(r, "dense_bias", 5)
	for _, p := range []*Param{c1, c2, sc, c3, d} {
		for i := range p.Value.Data {
			p.Value.Data[i] *= 0.4
		}
	}
	params := []*Param{x, g1, b1, c1, g2, b2, c2, sc, scb, c3, d, db}
	checkGrad(t, gradCase{name: "network", params: params, isLoss: true, h: 5e-3, sample: 30,
		build: func(tp *Tape, in []*Var) *Var {
			h := tp.BatchNorm(in[0], in[1], in[2], mm1, mv1, 0.99, 1e-3, true, false)
			h = tp.Conv2D(h, in[3], nil, 1, Same)
			h = tp.BatchNorm(h, in[4], in[5], mm2, mv2, 0.99, 1e-3, false, false)
			h = tp.Conv2D(h, in[6], nil, 1, Same)
			h = tp.Add(tp.Conv2D(in[0], in[7], in[8], 1, Same), h) // [2, 6, 5, 4]
			h = tp.Pad2D(h, 1, 0, 0, 2)                            // [2, 7, 7, 4]
			h = tp.Conv2D(h, in[9], nil, 2, Valid)                 // [2, 3, 3, 2]
			h = tp.Reshape(h, 2, 3, 3*2)                           // [2, 3, 6]
			h = tp.Flatten(tp.Reshape(h, 2, 3, 3, 2))              // [2, 18]
			h = tp.Dense(tp.Reshape(h, 3, 12), in[10], in[11])     // [3, 5]
			return tp.SoftmaxCrossEntropy(h, []int32{1, 4, 0}, nil)
		}})
}

// TestSoftmaxCrossEntropyRefusesBadShapes checks that logits of another
// rank (which used to give a loss over the wrong axis), a wrong label
// count, an out-of-range label and a prob of the wrong size each panic
// with a message saying what is wrong.
func TestSoftmaxCrossEntropyRefusesBadShapes(t *testing.T) {
	for _, c := range []struct {
		name   string
		shape  []int
		labels []int32
		prob   *tensor.Tensor
		want   string
	}{
		{"4-D logits", []int{2, 1, 1, 3}, []int32{0, 1}, nil, "want logits [B, K]"},
		{"1-D logits", []int{3}, []int32{0}, nil, "want logits [B, K]"},
		{"3-D logits", []int{2, 3, 4}, []int32{0, 1}, nil, "want logits [B, K]"},
		{"few labels", []int{2, 3}, []int32{0}, nil, "1 labels for 2 rows"},
		{"label too big", []int{2, 3}, []int32{0, 3}, nil, "outside 0..2"},
		{"negative label", []int{2, 3}, []int32{-1, 0}, nil, "outside 0..2"},
		{"prob size", []int{2, 3}, []int32{0, 1}, tensor.New(3, 3), "prob has shape"},
	} {
		tp := NewTape(nil, 0)
		x := tp.Param(NewParam("x", true, c.shape...))
		got := fmt.Sprint(catchPanic(func() { tp.SoftmaxCrossEntropy(x, c.labels, c.prob) }))
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: panic %q, want one containing %q", c.name, got, c.want)
		}
	}
}

// catchPanic runs f and returns what it panicked with.
func catchPanic(f func()) (r any) {
	defer func() { r = recover() }()
	f()
	return nil
}
