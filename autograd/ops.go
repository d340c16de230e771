package autograd

import (
	"fmt"

	"resgo/internal/kernels"
	"resgo/tensor"
)

// Padding is a convolution's padding mode, as in Keras.
type Padding int

const (
	// Valid uses no padding: the output shrinks by kernel−1.
	Valid Padding = iota
	// Same pads with zeros so that the output has ceil(input/stride) rows
	// and columns, putting any odd extra padding after (bottom/right), as
	// TensorFlow does.
	Same
)

// convGeometry returns the convolution shape for input x [N, H, W, C] and
// a KH×KW kernel with cout filters.
func convGeometry(xs []int, kh, kw, cout, stride int, pad Padding) (kernels.ConvShape, error) {
	if len(xs) != 4 {
		return kernels.ConvShape{}, fmt.Errorf("conv2d: want input [N, H, W, C], got %v", xs)
	}
	s := kernels.ConvShape{N: xs[0], H: xs[1], W: xs[2], C: xs[3], KH: kh, KW: kw, Cout: cout, Stride: stride}
	if stride < 1 {
		return s, fmt.Errorf("conv2d: stride %d < 1", stride)
	}
	switch pad {
	case Same:
		s.OH = (s.H + stride - 1) / stride
		s.OW = (s.W + stride - 1) / stride
		padH := max((s.OH-1)*stride+kh-s.H, 0)
		padW := max((s.OW-1)*stride+kw-s.W, 0)
		s.PadT, s.PadL = padH/2, padW/2
	default:
		s.OH = (s.H-kh)/stride + 1
		s.OW = (s.W-kw)/stride + 1
		if s.H < kh || s.W < kw {
			return s, fmt.Errorf("conv2d: %dx%d kernel larger than %dx%d input with valid padding", kh, kw, s.H, s.W)
		}
	}
	return s, nil
}

// Conv2D convolves x [N, H, W, C] with kernel w [KH, KW, C, Cout] (HWIO)
// and adds bias [Cout] (nil for none). Forward saves nothing beyond x and w,
// whose values the backward pass reads.
func (t *Tape) Conv2D(x, w, b *Var, stride int, pad Padding) *Var {
	ws := w.Value.Shape
	s, err := convGeometry(x.Value.Shape, ws[0], ws[1], ws[3], stride, pad)
	if err != nil {
		panic(err)
	}
	return t.conv2D(x, w, b, s, nil)
}

// Conv2DAdd is Add(res, Conv2D(x, w, b, stride, pad)) with the addition
// done as the convolution writes its output (a residual unit's last
// convolution and its skip connection), instead of as a pass of its own.
// The values and gradients are those of the two ops, bit for bit. Trace
// reports the two ops.
func (t *Tape) Conv2DAdd(x, w, b *Var, stride int, pad Padding, res *Var) *Var {
	ws := w.Value.Shape
	s, err := convGeometry(x.Value.Shape, ws[0], ws[1], ws[3], stride, pad)
	if err != nil {
		panic(err)
	}
	if !tensor.SameShape(res.Value.Shape, []int{s.N, s.OH, s.OW, s.Cout}) {
		panic(fmt.Sprintf("add: shapes %v and %v differ", res.Value.Shape, []int{s.N, s.OH, s.OW, s.Cout}))
	}
	return t.conv2D(x, w, b, s, res)
}

// Conv2DPads is Conv2D with explicit zero padding: pads rows above, columns
// left, rows below and columns right (ONNX's Conv pads, in that order).
func (t *Tape) Conv2DPads(x, w, b *Var, stride int, pads [4]int) *Var {
	ws := w.Value.Shape
	s, err := padsGeometry(x.Value.Shape, ws[0], ws[1], ws[3], stride, pads)
	if err != nil {
		panic(err)
	}
	return t.conv2D(x, w, b, s, nil)
}

// PadsGeometry returns the output height and width of Conv2DPads for input
// x [N, H, W, C], a KH×KW kernel and explicit pads (top, left, bottom,
// right): OH = (H+top+bottom−KH)/stride + 1, and likewise OW. An input
// that is not 4-D, a stride below 1, negative pads or a kernel larger than
// the padded input is an error.
func PadsGeometry(xs []int, kh, kw, stride int, pads [4]int) (oh, ow int, err error) {
	s, err := padsGeometry(xs, kh, kw, 1, stride, pads)
	return s.OH, s.OW, err
}

// padsGeometry returns the convolution shape of Conv2DPads.
func padsGeometry(xs []int, kh, kw, cout, stride int, pads [4]int) (kernels.ConvShape, error) {
	if len(xs) != 4 {
		return kernels.ConvShape{}, fmt.Errorf("conv2d: want input [N, H, W, C], got %v", xs)
	}
	s := kernels.ConvShape{N: xs[0], H: xs[1], W: xs[2], C: xs[3], KH: kh, KW: kw, Cout: cout, Stride: stride, PadT: pads[0], PadL: pads[1]}
	switch {
	case stride < 1:
		return s, fmt.Errorf("conv2d: stride %d < 1", stride)
	case min(pads[0], pads[1], pads[2], pads[3]) < 0:
		return s, fmt.Errorf("conv2d: negative pads %v", pads)
	case s.H+pads[0]+pads[2] < kh || s.W+pads[1]+pads[3] < kw:
		return s, fmt.Errorf("conv2d: %dx%d kernel larger than the padded %dx%d input", kh, kw, s.H+pads[0]+pads[2], s.W+pads[1]+pads[3])
	}
	s.OH = (s.H+pads[0]+pads[2]-kh)/stride + 1
	s.OW = (s.W+pads[1]+pads[3]-kw)/stride + 1
	return s, nil
}

// conv2D runs the convolution of shape s, adding res (nil for none) to
// its output.
func (t *Tape) conv2D(x, w, b *Var, s kernels.ConvShape, res *Var) *Var {
	defer t.since(OpConvForward, t.now())
	ws := w.Value.Shape
	if ws[2] != s.C {
		panic(fmt.Sprintf("conv2d: kernel %v expects %d input channels, input has %d", ws, ws[2], s.C))
	}
	needs := x.needsGrad || w.needsGrad || (b != nil && b.needsGrad) || (res != nil && res.needsGrad)
	y := t.newVar(needs, s.N, s.OH, s.OW, s.Cout)
	var bias []float32
	if b != nil {
		bias = b.Value.Data
	}
	nd := node{kind: OpConvForward, op: "Conv2D", back: conv2DBack, in: [3]*Var{x, w, b}, out: y, conv: s, res: res}
	t.flops += 2 * float64(s.Rows()) * float64(s.K()) * float64(s.Cout)
	var f *kernels.Fusion
	if res != nil {
		// The residual is added to each output row after the bias, as
		// Add(res, y) would add it (y + res = res + y, bit for bit).
		t.fusion = kernels.Fusion{Res: res.Value.Data}
		f = &t.fusion
	}
	if kernels.PreferWinograd(s) {
		// 3×3 stride 1: Winograd F(4×4, 3×3), the kernel transformed on
		// every call (training moves it every step).
		kernels.ConvWinograd(t.pool, s, x.Value.Data, w.Value.Data, bias, y.Value.Data, f)
	} else if f != nil {
		// The implicit or packed GEMM of the else branches, with the
		// residual in its epilogue.
		kernels.ConvForwardFused(t.pool, s, x.Value.Data, w.Value.Data, bias, y.Value.Data, f, nil)
	} else if kernels.PreferImplicit(s) {
		// Stride 1: an implicit GEMM reads patches in place from input
		// rows each work unit pads in cache.
		kernels.ConvForwardImplicit(t.pool, s, x.Value.Data, w.Value.Data, bias, y.Value.Data, false)
	} else {
		kernels.ConvForward(t.pool, s, x.Value.Data, w.Value.Data, bias, y.Value.Data, false)
	}
	t.record(nd)
	t.fusion = kernels.Fusion{}
	return y
}

// conv2DBack: dx += conv(dy, flip(w)); dw += patches(x)ᵀ·dy; db += Σ dy;
// and dres += dy for a residual added to the output (Conv2DAdd), as
// addBack passes it on.
func conv2DBack(t *Tape, n *node) {
	x, w, b, dy := n.in[0], n.in[1], n.in[2], n.out.Grad.Data
	implicit := kernels.PreferImplicit(n.conv)
	macs := float64(n.conv.Rows()) * float64(n.conv.K()) * float64(n.conv.Cout)
	if x.needsGrad {
		t.flops += 2 * macs
		wf := t.arena.Get(len(w.Value.Data))
		dx, acc := t.gradInto(x)
		if bs := kernels.BackwardInputShape(n.conv); n.conv.Stride == 1 && kernels.PreferWinograd(bs) {
			kernels.ConvBackwardInputWinograd(t.pool, n.conv, dy, w.Value.Data, wf.Data, dx, acc)
		} else if implicit {
			kernels.ConvBackwardInputImplicit(t.pool, n.conv, dy, w.Value.Data, wf.Data, dx, acc)
		} else {
			kernels.ConvBackwardInput(t.pool, n.conv, dy, w.Value.Data, wf.Data, dx, acc)
		}
	}
	if w.needsGrad || (b != nil && b.needsGrad) {
		var db []float32
		if b != nil && b.needsGrad {
			db = t.grad(b).Data
		}
		t.flops += 2 * macs
		if kernels.PreferImplicitWeight(n.conv) {
			kernels.ConvBackwardWeightImplicit(t.pool, n.conv, x.Value.Data, dy, t.grad(w).Data, db)
		} else {
			kernels.ConvBackwardWeight(t.pool, n.conv, x.Value.Data, dy, t.grad(w).Data, db)
		}
	}
	if r := n.res; r != nil && r.needsGrad {
		// dy is complete and read for the last time above: a residual
		// that no gradient has reached yet takes it, as in addBack.
		if r.Grad == nil {
			r.Grad = n.out.Grad
		} else {
			kernels.AddTo(t.pool, dy, r.Grad.Data)
		}
	}
}

// Dense computes x·w + b for x [B, In], w [In, Out], b [Out] (or nil).
func (t *Tape) Dense(x, w, b *Var) *Var {
	defer t.since(OpDense, t.now())
	xs, ws := x.Value.Shape, w.Value.Shape
	if len(xs) != 2 || len(ws) != 2 || xs[1] != ws[0] {
		panic(fmt.Sprintf("dense: input %v does not match kernel %v", xs, ws))
	}
	B, In, Out := xs[0], ws[0], ws[1]
	needs := x.needsGrad || w.needsGrad || (b != nil && b.needsGrad)
	y := t.newVar(needs, B, Out)
	var bias []float32
	if b != nil {
		bias = b.Value.Data
	}
	kernels.DenseForward(t.pool, x.Value.Data, w.Value.Data, bias, y.Value.Data, B, In, Out)
	t.flops += 2 * float64(B) * float64(In) * float64(Out)
	t.record(node{kind: OpDense, op: "Dense", back: denseBack, in: [3]*Var{x, w, b}, out: y})
	return y
}

// denseBack: dx += dy·wᵀ, dw += xᵀ·dy, db += Σ dy.
func denseBack(t *Tape, n *node) {
	x, w, b := n.in[0], n.in[1], n.in[2]
	B, In, Out := x.Value.Shape[0], w.Value.Shape[0], w.Value.Shape[1]
	var dx, db []float32
	if x.needsGrad {
		dx = t.grad(x).Data
	}
	if b != nil && b.needsGrad {
		db = t.grad(b).Data
	}
	kernels.DenseBackward(t.pool, x.Value.Data, w.Value.Data, n.out.Grad.Data, dx, t.grad(w).Data, db, B, In, Out)
	t.flops += 2 * float64(B) * float64(In) * float64(Out)
	if dx != nil {
		t.flops += 2 * float64(B) * float64(In) * float64(Out)
	}
}

// BatchNorm normalises x [..., C] per channel. In training it uses the
// batch's mean and biased variance and updates the moving statistics as
// Keras does: moving = moving·momentum + batch·(1−momentum). In inference it
// uses the moving statistics. If relu is set, a ReLU is fused onto the
// output. Forward saves the mean and 1/sqrt(var+eps) it used.
func (t *Tape) BatchNorm(x, gamma, beta *Var, movingMean, movingVar *Param, momentum, eps float32, training, relu bool) *Var {
	t.use(movingMean)
	t.use(movingVar)
	defer t.since(OpBatchNorm, t.now())
	C := x.Value.Shape[len(x.Value.Shape)-1]
	M := x.Value.Len() / C
	needs := x.needsGrad || gamma.needsGrad || beta.needsGrad
	y := t.newVar(needs, x.Value.Shape...)
	mean := t.arena.Get(C)
	invstd := t.arena.Get(C)
	if training {
		variance := t.arena.Get(C)
		kernels.BNStats(t.pool, x.Value.Data, M, C, mean.Data, variance.Data)
		kernels.InvStd(variance.Data, eps, invstd.Data)
		mm, mv := movingMean.Value.Data, movingVar.Value.Data
		for c := 0; c < C; c++ {
			mm[c] = mm[c]*momentum + mean.Data[c]*(1-momentum)
			mv[c] = mv[c]*momentum + variance.Data[c]*(1-momentum)
		}
	} else {
		copy(mean.Data, movingMean.Value.Data)
		kernels.InvStd(movingVar.Value.Data, eps, invstd.Data)
	}
	kernels.BNApply(t.pool, x.Value.Data, M, C, mean.Data, invstd.Data, gamma.Value.Data, beta.Value.Data, y.Value.Data, relu, t.arena.Get(kernels.BNScratch(C)).Data)
	nd := node{kind: OpBatchNorm, op: "BatchNorm", back: batchNormBack, in: [3]*Var{x, gamma, beta}, out: y, saved: [3]*tensor.Tensor{mean, invstd},
		aux: [2]*tensor.Tensor{movingMean.Value, movingVar.Value}, f: eps}
	if training {
		nd.ints[0] = 1
	}
	if relu {
		nd.ints[1] = 1
	}
	t.record(nd)
	return y
}

// batchNormBack: the gradients of the normalisation (see kernels.BNBackward).
func batchNormBack(t *Tape, n *node) {
	x, gamma, beta := n.in[0], n.in[1], n.in[2]
	C := gamma.Value.Len()
	M := x.Value.Len() / C
	mean, invstd := n.saved[0].Data, n.saved[1].Data
	// Parameter gradients nobody wants go to scratch; the input gradient is
	// skipped altogether (dx nil) when the input needs none.
	paramGrad := func(v *Var) []float32 {
		if v.needsGrad {
			return t.grad(v).Data
		}
		return t.arena.GetZeroed(C).Data
	}
	dgamma, dbeta := paramGrad(gamma), paramGrad(beta)
	var y []float32
	if n.ints[1] == 1 {
		y = n.out.Value.Data
	}
	dy := n.out.Grad.Data
	if n.ints[0] == 1 {
		var dx []float32
		acc := true
		if x.needsGrad {
			dx, acc = t.gradInto(x)
		}
		kernels.BNBackward(t.pool, x.Value.Data, dy, y, M, C, mean, invstd, gamma.Value.Data, beta.Value.Data, dx, dgamma, dbeta, t.arena.Get(kernels.BNScratch(C)).Data, acc)
		return
	}
	var dx []float32
	if x.needsGrad {
		dx = t.grad(x).Data
	}
	if y != nil {
		masked := t.arena.Get(len(dy)).Data
		for i, v := range dy {
			if y[i] > 0 {
				masked[i] = v
			} else {
				masked[i] = 0
			}
		}
		dy = masked
	}
	kernels.BNBackwardInference(x.Value.Data, dy, M, C, mean, invstd, gamma.Value.Data, dx, dgamma, dbeta)
}

// ReLU computes max(x, 0); backward passes dy where the output is positive.
func (t *Tape) ReLU(x *Var) *Var {
	defer t.since(OpElementwise, t.now())
	y := t.newVar(x.needsGrad, x.Value.Shape...)
	kernels.ReLU(t.pool, x.Value.Data, y.Value.Data)
	t.record(node{kind: OpElementwise, op: "ReLU", back: reluBack, in: [3]*Var{x}, out: y})
	return y
}

func reluBack(t *Tape, n *node) {
	kernels.ReLUBackward(t.pool, n.out.Value.Data, n.out.Grad.Data, t.grad(n.in[0]).Data)
}

// Add returns x + y (same shapes): the residual connection.
func (t *Tape) Add(x, y *Var) *Var {
	defer t.since(OpElementwise, t.now())
	if !tensor.SameShape(x.Value.Shape, y.Value.Shape) {
		panic(fmt.Sprintf("add: shapes %v and %v differ", x.Value.Shape, y.Value.Shape))
	}
	z := t.newVar(x.needsGrad || y.needsGrad, x.Value.Shape...)
	kernels.Add(t.pool, x.Value.Data, y.Value.Data, z.Value.Data)
	t.record(node{kind: OpElementwise, op: "Add", back: addBack, in: [3]*Var{x, y}, out: z})
	return z
}

// addBack passes dz on to both inputs. An input that no gradient has
// reached yet takes dz itself (the first such input) or a copy of it,
// instead of a zeroed buffer that dz is added to: the op's output gradient
// is complete here and nothing reads it after this node. Both take dz
// itself when sharing it is safe (shareGrad), as in a residual unit.
func addBack(t *Tape, n *node) {
	dz := n.out.Grad
	var first *Var // the input that took dz
	for _, v := range n.in[:2] {
		switch {
		case !v.needsGrad:
		case v.Grad == nil && first == nil:
			v.Grad, first = dz, v
		case v.Grad == nil && t.shareGrad(first, v, n.out.made):
			v.Grad = dz
		case v.Grad == nil:
			g, _ := t.gradInto(v)
			kernels.Copy(t.pool, dz.Data, g)
		default:
			kernels.AddTo(t.pool, dz.Data, v.Grad.Data)
		}
	}
}

// shareGrad reports whether u and v, both taking their first gradient from
// the Add at node index at (plus one, as in Var.made), can hold it in one
// buffer. Backward runs the nodes in reverse; a variable's gradient is read
// only by the node that made it, and written by the nodes that used it
// (and, through the buffer an Add hands on, by its inputs' users). Let v
// be the one made later, so read first. The buffer is safe to share when
// everything that writes it comes after the read it could spoil: the
// other users of each variable come before the other one is made, and v
// was not made by an Add, which would hand the buffer on to variables
// whose users write it before u's gradient is read. In a residual unit,
// y = x + conv2(…BatchNorm(x)…), conv2's backward reads its gradient
// before the BatchNorm adds to x's. Parameters and leaves keep buffers of
// their own.
func (t *Tape) shareGrad(u, v *Var, at int) bool {
	if u.made > v.made {
		u, v = v, u
	}
	switch {
	case u == v || u.made == 0 || u.param || v.param:
		return false
	case u.lastUse != at || v.lastUse != at:
		return false
	case t.nodes[v.made-1].op == "Add": // see Tape.Add
		return false
	}
	return (u.prevUse == 0 || u.prevUse < v.made) && (v.prevUse == 0 || v.prevUse < u.made)
}

// MaxPool2D is 2×2 max pooling with stride 2 over x [N, H, W, C]
// ('valid', as Keras's MaxPool2D()): MaxPool(x, Pool2x2) on its fast
// kernels. Forward saves which window position held each maximum.
func (t *Tape) MaxPool2D(x *Var) *Var {
	defer t.since(OpPooling, t.now())
	s := x.Value.Shape
	if len(s) != 4 || s[1] < 2 || s[2] < 2 {
		panic(fmt.Sprintf("maxpool2d: want [N, H, W, C] with H, W >= 2, got %v", s))
	}
	N, H, W, C := s[0], s[1], s[2], s[3]
	y := t.newVar(x.needsGrad, N, H/2, W/2, C)
	arg := t.arena.Get(N, H/2, W/2, C)
	kernels.MaxPool2x2(t.pool, x.Value.Data, N, H, W, C, y.Value.Data, arg.Data)
	ps := kernels.PoolShape{N: N, H: H, W: W, C: C, KH: 2, KW: 2, SH: 2, SW: 2, OH: H / 2, OW: W / 2}
	t.record(node{kind: OpPooling, op: "MaxPool2D", back: maxPoolBack, in: [3]*Var{x}, out: y, saved: [3]*tensor.Tensor{arg}, pool: ps})
	return y
}

func maxPoolBack(t *Tape, n *node) {
	s := n.in[0].Value.Shape
	dx, acc := t.gradInto(n.in[0])
	kernels.MaxPool2x2Backward(t.pool, n.out.Grad.Data, n.saved[0].Data, s[0], s[1], s[2], s[3], dx, acc)
}

// Flatten reshapes x [N, ...] to [N, rest], in NHWC order as Keras does.
func (t *Tape) Flatten(x *Var) *Var {
	N := x.Value.Shape[0]
	y := t.view(x, N, x.Value.Len()/N)
	t.record(node{kind: OpElementwise, op: "Reshape", back: reshapeBack, in: [3]*Var{x}, out: y})
	return y
}

// Reshape views x under a new shape with the same number of elements.
func (t *Tape) Reshape(x *Var, shape ...int) *Var {
	if tensor.Size(shape) != x.Value.Len() {
		panic(fmt.Sprintf("reshape: %v to %v changes the size", x.Value.Shape, shape))
	}
	y := t.view(x, shape...)
	t.record(node{kind: OpElementwise, op: "Reshape", back: reshapeBack, in: [3]*Var{x}, out: y})
	return y
}

func reshapeBack(t *Tape, n *node) {
	kernels.AddTo(t.pool, n.out.Grad.Data, t.grad(n.in[0]).Data)
}

// Pad2D zero-pads x [N, H, W, C] by top, bottom, left and right rows and
// columns (VGG's 28×28 → 32×32).
func (t *Tape) Pad2D(x *Var, top, bottom, left, right int) *Var {
	defer t.since(OpElementwise, t.now())
	s := x.Value.Shape
	N, H, W, C := s[0], s[1], s[2], s[3]
	OH, OW := H+top+bottom, W+left+right
	y := t.newVar(x.needsGrad, N, OH, OW, C)
	clear(y.Value.Data)
	for n := 0; n < N; n++ {
		for i := 0; i < H; i++ {
			src := x.Value.Data[((n*H+i)*W)*C : ((n*H+i)*W+W)*C]
			copy(y.Value.Data[((n*OH+i+top)*OW+left)*C:], src)
		}
	}
	t.record(node{kind: OpElementwise, op: "Pad2D", back: pad2DBack, in: [3]*Var{x}, out: y, ints: [4]int{top, left}})
	return y
}

func pad2DBack(t *Tape, n *node) {
	s := n.in[0].Value.Shape
	N, H, W, C := s[0], s[1], s[2], s[3]
	os := n.out.Value.Shape
	OH, OW := os[1], os[2]
	top, left := n.ints[0], n.ints[1]
	dx, dy := t.grad(n.in[0]).Data, n.out.Grad.Data
	for nn := 0; nn < N; nn++ {
		for i := 0; i < H; i++ {
			d := dx[((nn*H+i)*W)*C : ((nn*H+i)*W+W)*C]
			src := dy[((nn*OH+i+top)*OW+left)*C:]
			for j := range d {
				d[j] += src[j]
			}
		}
	}
}

// Dropout zeroes each element with probability rate and scales the rest by
// 1/(1−rate) in training (inverted dropout, as Keras); in inference it is
// the identity. Forward saves the mask of scales.
func (t *Tape) Dropout(x *Var, rate float32, training bool) *Var {
	if !training || rate <= 0 {
		return x
	}
	y := t.newVar(x.needsGrad, x.Value.Shape...)
	mask := t.arena.Get(x.Value.Len())
	scale := 1 / (1 - rate)
	for i, v := range x.Value.Data {
		if t.rng.Float32() < rate {
			mask.Data[i] = 0
		} else {
			mask.Data[i] = scale
		}
		y.Value.Data[i] = v * mask.Data[i]
	}
	t.record(node{kind: OpElementwise, op: "Dropout", back: dropoutBack, in: [3]*Var{x}, out: y, saved: [3]*tensor.Tensor{mask}})
	return y
}

func dropoutBack(t *Tape, n *node) {
	kernels.MulAddTo(n.out.Grad.Data, n.saved[0].Data, t.grad(n.in[0]).Data)
}

// SoftmaxCrossEntropy is the fused softmax and sparse categorical
// cross-entropy over logits [B, K] and labels [B] in 0..K−1: it returns the
// mean loss as a scalar and writes the probabilities into prob [B, K] if it
// is not nil. Backward: dlogits = (softmax − onehot)/B. Logits of any
// other rank, a label count other than B, a label outside 0..K−1 or a
// prob of another size panic: a loss computed over the wrong axis would
// train silently and badly.
func (t *Tape) SoftmaxCrossEntropy(logits *Var, labels []int32, prob *tensor.Tensor) *Var {
	return t.SmoothedSoftmaxCrossEntropy(logits, labels, 0, prob)
}

// SmoothedSoftmaxCrossEntropy is SoftmaxCrossEntropy against one-hot
// targets smoothed by ε as Keras's and PyTorch's label_smoothing: the
// target of class k is (1−ε)·[k = label] + ε/K. Backward: dlogits =
// (softmax − target)/B. ε = 0 is SoftmaxCrossEntropy.
func (t *Tape) SmoothedSoftmaxCrossEntropy(logits *Var, labels []int32, smoothing float32, prob *tensor.Tensor) *Var {
	defer t.since(OpLoss, t.now())
	ls := logits.Value.Shape
	if len(ls) != 2 {
		panic(fmt.Sprintf("softmax cross-entropy: want logits [B, K], got %v (flatten first)", ls))
	}
	B, K := ls[0], ls[1]
	if len(labels) != B {
		panic(fmt.Sprintf("softmax cross-entropy: %d labels for %d rows of logits", len(labels), B))
	}
	for i, l := range labels {
		if l < 0 || int(l) >= K {
			panic(fmt.Sprintf("softmax cross-entropy: label %d of row %d is outside 0..%d", l, i, K-1))
		}
	}
	if prob != nil && prob.Len() != B*K {
		panic(fmt.Sprintf("softmax cross-entropy: prob has shape %v, want [%d, %d]", prob.Shape, B, K))
	}
	p := t.arena.Get(B, K)
	loss := t.newVar(logits.needsGrad, 1)
	loss.Value.Data[0] = kernels.SoftmaxCrossEntropy(logits.Value.Data, labels, B, K, smoothing, p.Data, nil)
	if prob != nil {
		copy(prob.Data, p.Data)
	}
	t.record(node{kind: OpLoss, op: "SoftmaxCrossEntropy", back: softmaxCEBack, in: [3]*Var{logits}, out: loss, saved: [3]*tensor.Tensor{p}, ints32: labels, f: smoothing})
	return loss
}

func softmaxCEBack(t *Tape, n *node) {
	s := n.in[0].Value.Shape
	kernels.SoftmaxCrossEntropyBackward(n.saved[0].Data, n.ints32, s[0], s[1], n.f, n.out.Grad.Data[0], t.grad(n.in[0]).Data)
}

// Softmax returns softmax(logits) row by row; it records nothing (it is
// for predictions: train with SoftmaxCrossEntropy).
func (t *Tape) Softmax(logits *Var) *Var {
	B, K := logits.Value.Shape[0], logits.Value.Shape[1]
	y := t.newVar(false, B, K)
	kernels.Softmax(logits.Value.Data, B, K, y.Value.Data)
	return y
}
