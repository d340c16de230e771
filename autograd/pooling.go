package autograd

import (
	"fmt"

	"resgo/internal/kernels"
	"resgo/tensor"
)

// Window is a pooling window, as Keras's pool_size, strides and padding.
type Window struct {
	// Size is the window's rows and columns.
	Size [2]int
	// Strides are the rows and columns it moves at a time; zero means
	// Size (Keras's strides=None): windows that tile the input.
	Strides [2]int
	// Padding: Valid keeps every window inside the input; Same gives
	// ceil(H/stride) rows and columns, the windows overhanging the input
	// evenly (the odd row or column below and right), and the positions
	// outside it count for nothing: not in a max, not in an average's
	// divisor (as Keras and TensorFlow do).
	Padding Padding
}

// Pool2x2 is Keras's MaxPool2D() and AveragePooling2D() default: a 2×2
// window with stride 2, 'valid'.
var Pool2x2 = Window{Size: [2]int{2, 2}}

// shape returns the kernels' geometry of w over x [N, H, W, C].
func (w Window) shape(op string, xs []int) kernels.PoolShape {
	if len(xs) != 4 {
		panic(fmt.Sprintf("%s: want input [N, H, W, C], got %v", op, xs))
	}
	sh, sw := w.Strides[0], w.Strides[1]
	if sh == 0 && sw == 0 {
		sh, sw = w.Size[0], w.Size[1]
	}
	s, err := kernels.NewPoolShape(xs[0], xs[1], xs[2], xs[3], w.Size[0], w.Size[1], sh, sw, w.Padding == Same)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", op, err))
	}
	return s
}

// MaxPool is max pooling of x [N, H, W, C] over window w (Keras's
// MaxPooling2D). Ties go to the first position of a window, row-major.
// A 2×2 window with stride 2 that stays inside the input runs the fast
// 2×2 kernels (those of MaxPool2D), which save the position of each
// maximum; other windows save nothing beyond x and y, from which backward
// finds the maximum again.
func (t *Tape) MaxPool(x *Var, w Window) *Var {
	s := w.shape("maxpool", x.Value.Shape)
	if s.KH == 2 && s.KW == 2 && s.SH == 2 && s.SW == 2 && s.PadT == 0 && s.PadL == 0 && s.OH == s.H/2 && s.OW == s.W/2 {
		return t.MaxPool2D(x)
	}
	defer t.since(OpPooling, t.now())
	y := t.newVar(x.needsGrad, s.N, s.OH, s.OW, s.C)
	kernels.MaxPool(t.pool, s, x.Value.Data, y.Value.Data)
	t.record(node{kind: OpPooling, op: "MaxPool2D", back: maxPoolWindowBack, in: [3]*Var{x}, out: y, pool: s})
	return y
}

// maxPoolWindowBack: dx[argmax of each window] += dy.
func maxPoolWindowBack(t *Tape, n *node) {
	kernels.MaxPoolBackward(t.pool, n.pool, n.in[0].Value.Data, n.out.Value.Data, n.out.Grad.Data, t.grad(n.in[0]).Data)
}

// AvgPool is average pooling of x [N, H, W, C] over window w (Keras's
// AveragePooling2D): each output is the mean of its window's positions
// inside the input. Forward saves nothing.
func (t *Tape) AvgPool(x *Var, w Window) *Var {
	defer t.since(OpPooling, t.now())
	s := w.shape("avgpool", x.Value.Shape)
	y := t.newVar(x.needsGrad, s.N, s.OH, s.OW, s.C)
	kernels.AvgPool(t.pool, s, x.Value.Data, y.Value.Data)
	t.record(node{kind: OpPooling, op: "AvgPool2D", back: avgPoolBack, in: [3]*Var{x}, out: y, pool: s})
	return y
}

// avgPoolBack: every position of a window gets dy/count.
func avgPoolBack(t *Tape, n *node) {
	kernels.AvgPoolBackward(t.pool, n.pool, n.out.Grad.Data, t.grad(n.in[0]).Data)
}

// AvgPool2D is 2×2 average pooling with stride 2 ('valid'), as Keras's
// AveragePooling2D(): AvgPool(x, Pool2x2).
func (t *Tape) AvgPool2D(x *Var) *Var { return t.AvgPool(x, Pool2x2) }

// GlobalAvgPool averages x [N, H, W, C] over its rows and columns into
// [N, C] (Keras's GlobalAveragePooling2D). Forward saves nothing.
func (t *Tape) GlobalAvgPool(x *Var) *Var {
	defer t.since(OpPooling, t.now())
	xs := x.Value.Shape
	if len(xs) != 4 || xs[1]*xs[2] == 0 {
		panic(fmt.Sprintf("globalavgpool: want input [N, H, W, C] with H, W >= 1, got %v", xs))
	}
	N, HW, C := xs[0], xs[1]*xs[2], xs[3]
	y := t.newVar(x.needsGrad, N, C)
	kernels.GlobalAvgPool(t.pool, x.Value.Data, N, HW, C, y.Value.Data)
	t.record(node{kind: OpPooling, op: "GlobalAvgPool", back: globalAvgPoolBack, in: [3]*Var{x}, out: y})
	return y
}

// globalAvgPoolBack: dx[n, h, w, c] += dy[n, c]/(H·W).
func globalAvgPoolBack(t *Tape, n *node) {
	xs := n.in[0].Value.Shape
	kernels.GlobalAvgPoolBackward(t.pool, n.out.Grad.Data, xs[0], xs[1]*xs[2], xs[3], t.grad(n.in[0]).Data)
}

// Concat joins xs along their last axis (channels, for NHWC tensors), in
// order: Keras's Concatenate(). Every input has the same shape but for
// the last dimension. Forward saves nothing; backward hands each input
// its slice of the gradient.
func (t *Tape) Concat(xs ...*Var) *Var {
	defer t.since(OpConcat, t.now())
	if len(xs) == 0 {
		panic("concat: no inputs")
	}
	first := xs[0].Value.Shape
	r := len(first)
	if r < 2 {
		panic(fmt.Sprintf("concat: want inputs of rank 2 or more, got %v", first))
	}
	needs, width := false, 0
	for i, x := range xs {
		s := x.Value.Shape
		if len(s) != r || !tensor.SameShape(s[:r-1], first[:r-1]) {
			panic(fmt.Sprintf("concat: input %d has shape %v, input 0 %v: all but the last dimension must agree", i, s, first))
		}
		needs = needs || x.needsGrad
		width += s[r-1]
	}
	shape := append(t.shapeBuf(r), first[:r-1]...)
	y := t.newVar(needs, append(shape, width)...)
	M := y.Value.Len() / width
	data, widths := t.scratchArgs(len(xs))
	for i, x := range xs {
		data[i], widths[i] = x.Value.Data, x.Value.Shape[r-1]
	}
	kernels.Concat(t.pool, data, widths, M, y.Value.Data)
	nd := node{kind: OpConcat, op: "Concat", back: concatBack, out: y}
	t.recordArgs(&nd, xs)
	return y
}

// concatBack: dxᵢ += dy[..., offᵢ : offᵢ+widthᵢ].
func concatBack(t *Tape, n *node) {
	in := t.inputs(n)
	dxs, widths := t.scratchArgs(len(in))
	for i, x := range in {
		widths[i], dxs[i] = x.Value.Shape[len(x.Value.Shape)-1], nil
		if x.needsGrad {
			dxs[i] = t.grad(x).Data
		}
	}
	ys := n.out.Value.Shape
	kernels.ConcatBackward(t.pool, n.out.Grad.Data, widths, n.out.Value.Len()/ys[len(ys)-1], dxs)
}
