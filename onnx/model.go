package onnx

import (
	"fmt"

	"resgo/autograd"
	"resgo/compute"
	"resgo/internal/kernels"
	"resgo/tensor"
)

// Model is an ONNX network loaded for inference, laid out for resgo's
// kernels: activations NHWC, convolution kernels HWIO, dense kernels
// [in, out]. It is a models.Model: Forward maps images [N, H, W, C] to
// the graph's first output (its logits), so everything that runs a resgo
// model (prediction, evaluation, summaries) runs it. A Model is read-only
// once loaded; concurrent Forward calls on different tapes are safe.
type Model struct {
	// Path is the file the model was loaded from.
	Path string
	// Input is one image's shape [H, W, C] (the file's [N, C, H, W]
	// without N).
	Input []int
	// Classes are the class names of metadata_props "classes", if any.
	Classes []string
	// Metadata is the file's metadata_props.
	Metadata map[string]string
	// Producer is the program that wrote the file, with its version.
	Producer string
	// Opset is the version of the default ONNX domain the file imports.
	Opset int64

	steps  []*step
	nvals  int // values the steps compute (the input is value 0)
	output int // the value Forward returns
	params []*autograd.Param
}

// stepKind says what a step computes.
type stepKind int

const (
	stepConv      stepKind = iota // Conv2DPads, optional ReLU in place
	stepDense                     // Dense, optional ReLU in place
	stepBatchNorm                 // BatchNorm in inference, optional fused ReLU
	stepReLU
	stepAdd      // two values of one shape
	stepMaxPool2 // 2×2 stride 2 max pooling (resgo's own op)
	stepPool     // max or average pooling of any window
	stepGlobalAvg
	stepMap       // elementwise function
	stepConcat    // along channels (NHWC's last axis) or a 2-D value's columns
	stepView      // the same data under another shape
	stepTranspose // a copy in another axis order
	stepPad       // zero padding of H and W
	stepSoftmax
	stepDepthwise // one k×k filter per output channel over its input channel
)

// linear reports whether a step is a convolution or a dense layer, into
// whose weights and bias a following per-channel affine map folds.
func (k stepKind) linear() bool { return k == stepConv || k == stepDepthwise || k == stepDense }

// step is one op of the graph as resgo runs it.
type step struct {
	kind stepKind
	name string // the ONNX node, for errors and summaries
	in   []int
	out  int

	stride int
	pads   [4]int // top, left, bottom, right
	relu   bool
	w, b   *autograd.Param
	// BatchNorm: w = gamma, b = beta.
	mean, variance *autograd.Param
	eps            float32
	// stepPool: kernel, max (or average), count the padding (average).
	kh, kw     int
	max, count bool
	// stepMap: the function and its name.
	f     func(float32) float32
	fname string
	// stepView: the stored shape without the batch; stepTranspose: the
	// stored input's shape without the batch and the permutation of
	// stored axes (batch included).
	shape []int
	perm  []int
	// size is the output's number of values per image.
	size int
	// release: after this step the only live value is its output, so the
	// tape may drop everything else.
	release bool
}

// Params returns the parameters of the graph (the initializers as resgo
// laid them out), in the order the steps use them.
func (m *Model) Params() []*autograd.Param { return m.params }

// Forward runs the graph in inference on x [N, H, W, C] and returns the
// graph's first output. training is ignored: an imported graph always runs
// as in inference (BatchNorm with its moving statistics, no dropout).
func (m *Model) Forward(t *autograd.Tape, x *autograd.Var, _ bool) *autograd.Var {
	xs := x.Value.Shape
	if len(xs) != 4 || xs[1] != m.Input[0] || xs[2] != m.Input[1] || xs[3] != m.Input[2] {
		panic(fmt.Sprintf("onnx %s: input %v, want [N %d %d %d] (NHWC)", m.Path, xs, m.Input[0], m.Input[1], m.Input[2]))
	}
	vals := make([]*autograd.Var, m.nvals)
	vals[0] = x
	mark := t.Mark()
	for _, s := range m.steps {
		vals[s.out] = s.run(t, vals)
		if s.release {
			t.Release(mark, vals[s.out])
		}
	}
	return vals[m.output]
}

func (s *step) run(t *autograd.Tape, vals []*autograd.Var) *autograd.Var {
	x := vals[s.in[0]]
	xs := x.Value.Shape
	N := xs[0]
	switch s.kind {
	case stepConv:
		var b *autograd.Var
		if s.b != nil {
			b = t.Param(s.b)
		}
		y := t.Conv2DPads(x, t.Param(s.w), b, s.stride, s.pads)
		return s.reluOf(t, y)
	case stepDepthwise:
		H, W, C := xs[1], xs[2], xs[3]
		O := s.w.Value.Shape[2]
		OH := (H+s.pads[0]+s.pads[2]-s.kh)/s.stride + 1
		OW := (W+s.pads[1]+s.pads[3]-s.kw)/s.stride + 1
		y := t.Inference("DepthwiseConv2D", []int{N, OH, OW, O}, func(y []float32) {
			depthwise(t.Pool(), x.Value.Data, N, H, W, C, s, O, y, OH, OW)
		}, x)
		return s.reluOf(t, y)
	case stepDense:
		var b *autograd.Var
		if s.b != nil {
			b = t.Param(s.b)
		}
		return s.reluOf(t, t.Dense(x, t.Param(s.w), b))
	case stepBatchNorm:
		return t.BatchNorm(x, t.Param(s.w), t.Param(s.b), s.mean, s.variance, 0, s.eps, false, s.relu)
	case stepReLU:
		return t.ReLU(x)
	case stepAdd:
		return t.Add(x, vals[s.in[1]])
	case stepMaxPool2:
		return t.MaxPool2D(x)
	case stepPool:
		// resgo's window kernels, with ONNX's explicit pads; an average
		// that counts the padding pads with zeros first.
		if s.count && s.pads != [4]int{} {
			x = t.Pad2D(x, s.pads[0], s.pads[2], s.pads[1], s.pads[3])
			xs = x.Value.Shape
		}
		H, W, C := xs[1], xs[2], xs[3]
		ps := kernels.PoolShape{N: N, H: H, W: W, C: C, KH: s.kh, KW: s.kw, SH: s.stride, SW: s.stride}
		if !s.count {
			ps.PadT, ps.PadL = s.pads[0], s.pads[1]
			H, W = H+s.pads[0]+s.pads[2], W+s.pads[1]+s.pads[3]
		}
		ps.OH, ps.OW = (H-s.kh)/s.stride+1, (W-s.kw)/s.stride+1
		return t.Inference(poolName(s.max), []int{N, ps.OH, ps.OW, C}, func(y []float32) {
			if s.max {
				kernels.MaxPool(t.Pool(), ps, x.Value.Data, y)
			} else {
				kernels.AvgPool(t.Pool(), ps, x.Value.Data, y)
			}
		}, x)
	case stepGlobalAvg:
		return t.Reshape(t.GlobalAvgPool(x), N, 1, 1, xs[3])
	case stepMap:
		return t.Inference(s.fname, xs, func(y []float32) {
			t.Pool().For(len(y), 1<<14, func(_, lo, hi int) {
				for i, v := range x.Value.Data[lo:hi] {
					y[lo+i] = s.f(v)
				}
			})
		}, x)
	case stepConcat:
		ins := make([]*autograd.Var, len(s.in))
		for i, j := range s.in {
			ins[i] = vals[j]
		}
		return t.Concat(ins...)
	case stepView:
		return t.Reshape(x, append([]int{N}, s.shape...)...)
	case stepTranspose:
		in := append([]int{N}, s.shape...)
		out := make([]int, len(in))
		for i, a := range s.perm {
			out[i] = in[a]
		}
		return t.Inference("Transpose", out, func(y []float32) { transpose(x.Value.Data, in, s.perm, y) }, x)
	case stepPad:
		return t.Pad2D(x, s.pads[0], s.pads[2], s.pads[1], s.pads[3])
	case stepSoftmax:
		K := xs[len(xs)-1]
		return t.Inference("Softmax", xs, func(y []float32) { kernels.Softmax(x.Value.Data, x.Value.Len()/K, K, y) }, x)
	}
	panic(fmt.Sprintf("onnx: step %s of unknown kind %d", s.name, s.kind))
}

// reluOf applies a fused ReLU to y in place in inference; a recorded pass
// (a summary's trace) runs it as the tape's op, so that it shows.
func (s *step) reluOf(t *autograd.Tape, y *autograd.Var) *autograd.Var {
	switch {
	case !s.relu:
		return y
	case t.NoGrad:
		kernels.ReLU(t.Pool(), y.Value.Data, y.Value.Data)
		return y
	}
	return t.ReLU(y)
}

func poolName(max bool) string {
	if max {
		return "MaxPool"
	}
	return "AveragePool"
}

// depthwise convolves x [N, H, W, C] with s's [KH, KW, O] filters, output
// channel o reading input channel o/(O/C), into y [N, OH, OW, O], adding
// the bias; rows of output split over the pool's workers.
func depthwise(p *compute.Pool, x []float32, N, H, W, C int, s *step, O int, y []float32, OH, OW int) {
	w := s.w.Value.Data
	mult := O / C
	p.For(N*OH, 1, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			n, oy := r/OH, r%OH
			for ox := range OW {
				out := y[((n*OH+oy)*OW+ox)*O:][:O]
				if s.b != nil {
					copy(out, s.b.Value.Data)
				} else {
					clear(out)
				}
				for kh := range s.kh {
					iy := oy*s.stride - s.pads[0] + kh
					if iy < 0 || iy >= H {
						continue
					}
					for kw := range s.kw {
						ix := ox*s.stride - s.pads[1] + kw
						if ix < 0 || ix >= W {
							continue
						}
						in := x[((n*H+iy)*W+ix)*C:][:C]
						f := w[(kh*s.kw+kw)*O:][:O]
						for o := range out {
							out[o] += in[o/mult] * f[o]
						}
					}
				}
			}
		}
	})
}

// transpose writes x, of shape in, into y with its axes in the order perm:
// y's axis i is x's axis perm[i].
func transpose(x []float32, in, perm []int, y []float32) {
	r := len(in)
	stride := make([]int, r) // x's strides
	stride[r-1] = 1
	for i := r - 2; i >= 0; i-- {
		stride[i] = stride[i+1] * in[i+1]
	}
	out := make([]int, r)
	for i, a := range perm {
		out[i] = in[a]
	}
	idx := make([]int, r)
	for j := range y {
		off := 0
		for i := range r {
			off += idx[i] * stride[perm[i]]
		}
		y[j] = x[off]
		for i := r - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < out[i] {
				break
			}
			idx[i] = 0
		}
	}
}

// tensorOf wraps data in a tensor of the given shape.
func tensorOf(data []float32, shape ...int) *tensor.Tensor {
	return &tensor.Tensor{Shape: shape, Data: data}
}
