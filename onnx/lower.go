package onnx

import (
	"fmt"
	"math"
	"slices"

	"resgo/autograd"
	"resgo/onnx/internal/onnxpb"
)

// lower turns one node into steps (or folds it into constants or into the
// step before it).
func (l *loader) lower(n *onnxpb.NodeProto) error {
	if d := n.GetDomain(); d != "" && d != "ai.onnx" {
		return l.fail("op of domain %q: resgo runs the default ONNX domain only", d)
	}
	if len(n.Output) == 0 {
		return l.fail("the node has no output")
	}
	ins := make([]*val, len(n.Input))
	allConst := true
	for i, name := range n.Input {
		if name == "" {
			continue // an optional input left out
		}
		v, ok := l.vals[name]
		if !ok {
			return l.fail("input %q is computed by no earlier node", name)
		}
		ins[i] = v
		allConst = allConst && v.konst()
	}
	in := func(i int) *val {
		if i < len(ins) {
			return ins[i]
		}
		return nil
	}
	op := n.GetOpType()
	for i := 1; i < len(n.Output); i++ {
		if n.Output[i] != "" && l.used(n.Output[i]) > 0 {
			return l.fail("its output %d (%q) is used; resgo computes only the first output of %s", i, n.Output[i], op)
		}
	}
	set := func(v *val) error {
		l.vals[n.Output[0]] = v
		return nil
	}
	switch op {
	case "Constant":
		return l.constant(set)
	case "Identity":
		return set(in(0))
	case "Dropout":
		if x := in(2); x != nil && (!x.konst() || len(x.i) > 0 && x.i[0] != 0) {
			return l.fail("training_mode must be a constant false: resgo runs inference")
		}
		return set(in(0))
	}
	if len(ins) == 0 || in(0) == nil {
		return l.fail("unsupported op (or no input)")
	}
	if allConst {
		v, err := l.fold(op, ins)
		if err != nil {
			return err
		}
		return set(v)
	}
	x := in(0)
	if x.konst() && op != "Add" && op != "Mul" {
		return l.fail("its first input is a constant and the op is not one resgo folds")
	}
	switch op {
	case "Conv":
		return l.conv(x, in(1), in(2))
	case "BatchNormalization":
		return l.batchNorm(n, x, ins)
	case "Relu":
		p := x.prod
		if p != nil && l.used(n.Input[0]) == 1 && !p.relu && (p.kind.linear() || p.kind == stepBatchNorm) {
			p.relu = true // fused: Conv+ReLU, Gemm+ReLU, BatchNorm+ReLU
			return set(x)
		}
		l.emit(&step{kind: stepReLU, in: []int{x.id}}, x)
		return nil
	case "LeakyRelu":
		a := l.attrFloat("alpha", 0.01)
		return l.mapped(x, "LeakyRelu", func(v float32) float32 {
			if v < 0 {
				return a * v
			}
			return v
		})
	case "Sigmoid":
		return l.mapped(x, "Sigmoid", func(v float32) float32 { return float32(1 / (1 + math.Exp(-float64(v)))) })
	case "Clip":
		lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
		if l.opset < 11 {
			lo, hi = l.attrFloat("min", lo), l.attrFloat("max", hi)
		}
		for i, p := range []*float32{&lo, &hi} {
			if c := in(i + 1); c != nil {
				if !c.konst() || len(c.f) != 1 {
					return l.fail("its min and max must be constant scalars")
				}
				*p = c.f[0]
			}
		}
		return l.mapped(x, "Clip", func(v float32) float32 { return min(max(v, lo), hi) })
	case "MaxPool", "AveragePool":
		return l.pool(x, op == "MaxPool")
	case "GlobalAveragePool":
		x, err := l.nhwc(x)
		if err != nil {
			return err
		}
		l.emit(&step{kind: stepGlobalAvg, in: []int{x.id}}, &val{shape: []int{-1, x.shape[1], 1, 1}, nhwc: true})
		return nil
	case "Gemm":
		if l.attrInt("transA", 0) != 0 {
			return l.fail("transA is not supported")
		}
		return l.dense(x, in(1), in(2), l.attrInt("transB", 0) != 0, l.attrFloat("alpha", 1), l.attrFloat("beta", 1))
	case "MatMul":
		return l.dense(x, in(1), nil, false, 1, 1)
	case "Add", "Sub", "Mul", "Div":
		return l.arith(op, in(0), in(1))
	case "Concat":
		return l.concat(ins)
	case "Flatten":
		if a := l.attrInt("axis", 1); a != 1 {
			return l.fail("axis %d: resgo flattens from axis 1", a)
		}
		return set(l.flatten(x))
	case "Reshape":
		return l.reshape(x, in(1))
	case "Transpose":
		return l.transpose(x)
	case "Softmax":
		a := l.attrInt("axis", map[bool]int64{true: -1, false: 1}[l.opset >= 13])
		x = l.unflat(x)
		if len(x.shape) != 2 || (a != 1 && a != -1) {
			return l.fail("softmax over axis %d of a rank-%d value; resgo runs it over the classes of [N, classes]", a, len(x.shape))
		}
		l.emit(&step{kind: stepSoftmax, in: []int{x.id}}, x)
		return nil
	case "Pad":
		return l.pad(x, in(1), in(2))
	}
	return l.fail("unsupported op (docs/onnx.md lists the ops resgo runs)")
}

// emit appends s, computing the node's first output with like's shape and
// layout, and returns that value.
func (l *loader) emit(s *step, like *val) *val {
	s.size = 1
	for _, d := range like.shape[1:] {
		s.size *= d
		if d < 1 || s.size > maxActivation {
			// A failed check of a node's own output; nothing runs.
			l.tooLarge = fmt.Errorf("output of shape %v is larger than resgo runs (%d values per image)", like.shape, maxActivation)
			s.size = maxActivation
		}
	}
	s.name = l.node.GetName()
	if s.name == "" {
		s.name = fmt.Sprintf("%s_%d", l.node.GetOpType(), l.nid)
	}
	s.out = l.m.nvals
	l.m.nvals++
	l.m.steps = append(l.m.steps, s)
	v := &val{shape: slices.Clone(like.shape), nhwc: like.nhwc, id: s.out, prod: s, flat: like.flat, hwc: like.hwc}
	l.vals[l.node.Output[0]] = v
	return v
}

func (l *loader) mapped(x *val, name string, f func(float32) float32) error {
	l.emit(&step{kind: stepMap, in: []int{x.id}, f: f, fname: name}, x)
	return nil
}

func (l *loader) constant(set func(*val) error) error {
	if a := l.attr("value"); a != nil && a.T != nil {
		v, err := l.tensor(a.T)
		if err != nil {
			return err
		}
		return set(v)
	}
	if a := l.attr("value_float"); a != nil {
		return set(&val{id: -1, shape: []int{}, f: []float32{a.GetF()}})
	}
	if a := l.attr("value_floats"); a != nil {
		return set(&val{id: -1, shape: []int{len(a.Floats)}, f: slices.Clone(a.Floats)})
	}
	if a := l.attr("value_int"); a != nil {
		return set(&val{id: -1, shape: []int{}, i: []int64{a.GetI()}})
	}
	if a := l.attr("value_ints"); a != nil {
		return set(&val{id: -1, shape: []int{len(a.Ints)}, i: slices.Clone(a.Ints)})
	}
	return l.fail("a Constant without a tensor, float or int value")
}

// nhwc returns x stored NHWC, transposing a plain rank-4 value (once).
func (l *loader) nhwc(x *val) (*val, error) {
	if len(x.shape) != 4 || x.konst() {
		return nil, l.fail("wants an image batch [N, C, H, W], got shape %v", x.shape)
	}
	if x.nhwc {
		return x, nil
	}
	// Stored [N, C, H, W] in logical order: to [N, H, W, C].
	s := &step{kind: stepTranspose, in: []int{x.id}, shape: slices.Clone(x.shape[1:]), perm: []int{0, 2, 3, 1}}
	save := l.vals[l.node.Output[0]]
	v := l.emit(s, &val{shape: x.shape, nhwc: true})
	l.vals[l.node.Output[0]] = save
	return v, nil
}

// flatten returns x flattened to [N, rest]: a view. An nhwc value becomes
// a flat value (see val.flat).
func (l *loader) flatten(x *val) *val {
	if len(x.shape) == 2 {
		return x
	}
	rest := 1
	for _, d := range x.shape[1:] {
		rest *= d
	}
	s := &step{kind: stepView, in: []int{x.id}, shape: []int{rest}}
	like := &val{shape: []int{-1, rest}}
	// (h, w, c) and (c, h, w) orders differ unless a 1×1 image or one
	// channel.
	if x.nhwc && x.shape[1] > 1 && x.shape[2]*x.shape[3] > 1 {
		like.flat, like.hwc = true, [3]int{x.shape[2], x.shape[3], x.shape[1]}
	}
	return l.emit(s, like)
}

// unflat returns x in logical order: a flat value transposed from (h, w,
// c) to (c, h, w), once.
func (l *loader) unflat(x *val) *val {
	if !x.flat {
		return x
	}
	if x.plain == nil {
		H, W, C := x.hwc[0], x.hwc[1], x.hwc[2]
		s := &step{kind: stepTranspose, in: []int{x.id}, shape: []int{H, W, C}, perm: []int{0, 3, 1, 2}}
		save := l.vals[l.node.Output[0]]
		t := l.emit(s, &val{shape: []int{-1, C, H, W}})
		l.vals[l.node.Output[0]] = save
		v := l.emit(&step{kind: stepView, in: []int{t.id}, shape: []int{C * H * W}}, &val{shape: x.shape})
		l.vals[l.node.Output[0]] = save
		x.plain = v
	}
	return x.plain
}

func (l *loader) conv(x, w, b *val) error {
	x, err := l.nhwc(x)
	if err != nil {
		return err
	}
	if w == nil || !w.konst() || len(w.shape) != 4 || w.f == nil {
		return l.fail("its weights must be a constant float tensor [O, C, KH, KW]")
	}
	O, C, KH, KW := w.shape[0], w.shape[1], w.shape[2], w.shape[3]
	depthwise := false
	if g := l.attrInt("group", 1); g != 1 {
		// Depthwise (one group per input channel, O a multiple of it) runs;
		// other groupings do not.
		if int64(x.shape[1]) != g || C != 1 || O%x.shape[1] != 0 {
			return l.fail("group %d: resgo runs group 1 and depthwise convolutions (group = input channels) only", g)
		}
		depthwise = true
		C = x.shape[1]
	}
	if C != x.shape[1] {
		return l.fail("weights %v expect %d input channels, the input %v has %d", w.shape, C, x.shape, x.shape[1])
	}
	for _, d := range l.attrInts("dilations") {
		if d != 1 {
			return l.fail("dilation %v: resgo runs dilation 1 only", l.attrInts("dilations"))
		}
	}
	if k := l.attrInts("kernel_shape"); k != nil && (len(k) != 2 || int(k[0]) != KH || int(k[1]) != KW) {
		return l.fail("kernel_shape %v does not match the weights %v", k, w.shape)
	}
	stride, pads, err := l.window(x, KH, KW)
	if err != nil {
		return err
	}
	// A zero Pad that only this Conv reads becomes part of its pads.
	if p := x.padOf; p != nil && l.used(l.node.Input[0]) == 1 && len(l.m.steps) > 0 && l.m.steps[len(l.m.steps)-1] == x.prod {
		l.m.steps = l.m.steps[:len(l.m.steps)-1]
		for i := range pads {
			pads[i] += x.prod.pads[i]
		}
		x = p
	}
	oh, ow, err := autograd.PadsGeometry([]int{1, x.shape[2], x.shape[3], C}, KH, KW, stride, pads)
	if err != nil {
		return l.fail("%v", err)
	}
	var st *step
	if depthwise {
		hwo := make([]float32, len(w.f)) // [KH, KW, O]
		for o := range O {
			for h := range KH {
				for k := range KW {
					hwo[(h*KW+k)*O+o] = w.f[(o*KH+h)*KW+k]
				}
			}
		}
		st = &step{kind: stepDepthwise, in: []int{x.id}, stride: stride, pads: pads, kh: KH, kw: KW,
			w: &autograd.Param{Name: l.name(1), Value: tensorOf(hwo, KH, KW, O), Trainable: true}}
	} else {
		hwio := make([]float32, len(w.f))
		for o := range O {
			for c := range C {
				for h := range KH {
					for k := range KW {
						hwio[((h*KW+k)*C+c)*O+o] = w.f[((o*C+c)*KH+h)*KW+k]
					}
				}
			}
		}
		st = &step{kind: stepConv, in: []int{x.id}, stride: stride, pads: pads,
			w: &autograd.Param{Name: l.name(1), Value: tensorOf(hwio, KH, KW, C, O), Trainable: true}}
	}
	if b != nil {
		if !b.konst() || len(b.f) != O {
			return l.fail("its bias must be a constant of %d floats", O)
		}
		st.b = &autograd.Param{Name: l.name(2), Value: tensorOf(slices.Clone(b.f), O), Trainable: true}
	}
	l.emit(st, &val{shape: []int{-1, O, oh, ow}, nhwc: true})
	return nil
}

// name returns the name of the current node's input i, for a parameter.
func (l *loader) name(i int) string { return l.node.Input[i] }

// window reads a convolution's or pooling's strides, pads and auto_pad
// for input x and a KH×KW window. resgo runs equal strides.
func (l *loader) window(x *val, KH, KW int) (int, [4]int, error) {
	var pads [4]int
	stride := 1
	if s := l.attrInts("strides"); s != nil {
		if len(s) != 2 || s[0] != s[1] || s[0] < 1 || s[0] > 1<<16 {
			return 0, pads, l.fail("strides %v: resgo runs equal strides on both axes", s)
		}
		stride = int(s[0])
	}
	H, W := x.shape[2], x.shape[3]
	switch ap := l.attrString("auto_pad", "NOTSET"); ap {
	case "NOTSET", "":
		if p := l.attrInts("pads"); p != nil {
			if len(p) != 4 {
				return 0, pads, l.fail("pads %v: want 4 values", p)
			}
			for i, v := range p {
				if v < 0 || v > 1<<16 {
					return 0, pads, l.fail("pads %v are out of range", p)
				}
				pads[i] = int(v)
			}
			// ONNX: [top, left, bottom, right] = [x1_begin, x2_begin, x1_end, x2_end].
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		for i, sz := range [2][2]int{{H, KH}, {W, KW}} {
			out := (sz[0] + stride - 1) / stride
			total := max((out-1)*stride+sz[1]-sz[0], 0)
			begin := total / 2
			if ap == "SAME_LOWER" {
				begin = total - total/2
			}
			pads[i], pads[i+2] = begin, total-begin
		}
	default:
		return 0, pads, l.fail("auto_pad %q is not an ONNX padding mode", ap)
	}
	if H+pads[0]+pads[2] < KH || W+pads[1]+pads[3] < KW {
		return 0, pads, l.fail("a %d×%d window does not fit the %d×%d input with pads %v", KH, KW, H, W, pads)
	}
	return stride, pads, nil
}

func (l *loader) batchNorm(n *onnxpb.NodeProto, x *val, ins []*val) error {
	if l.attrInt("training_mode", 0) != 0 || l.attrInt("is_test", 1) == 0 {
		return l.fail("training mode: resgo runs inference")
	}
	if l.attrInt("spatial", 1) != 1 {
		return l.fail("spatial 0 is not supported")
	}
	x = l.unflat(x)
	if len(x.shape) != 4 && len(x.shape) != 2 {
		return l.fail("input of rank %d: resgo normalises [N, C, H, W] or [N, C]", len(x.shape))
	}
	C := x.shape[1]
	var v [4][]float32
	for i := range v {
		if i+1 >= len(ins) || ins[i+1] == nil || !ins[i+1].konst() || len(ins[i+1].f) != C {
			return l.fail("scale, bias, mean and variance must be constants of %d floats", C)
		}
		v[i] = ins[i+1].f
	}
	eps := l.attrFloat("epsilon", 1e-5)
	for c, variance := range v[3] {
		if !(variance+eps > 0) {
			return l.fail("variance %g + epsilon of channel %d is not positive", variance, c)
		}
	}
	// Folded into the convolution or dense layer that computes x alone:
	// w·s and (b−mean)·s + beta, s = gamma/sqrt(var+eps), in float64.
	if p := x.prod; p != nil && l.used(n.Input[0]) == 1 && !p.relu && p.kind.linear() {
		O := p.w.Value.Shape[len(p.w.Value.Shape)-1]
		scale := make([]float64, O)
		for o := range O {
			scale[o] = float64(v[0][o]) / math.Sqrt(float64(v[3][o])+float64(eps))
		}
		for i := range p.w.Value.Data {
			p.w.Value.Data[i] = float32(float64(p.w.Value.Data[i]) * scale[i%O])
		}
		if p.b == nil {
			p.b = &autograd.Param{Name: n.Input[2], Value: tensorOf(make([]float32, O), O), Trainable: true}
		}
		for o, b := range p.b.Value.Data {
			p.b.Value.Data[o] = float32((float64(b)-float64(v[2][o]))*scale[o] + float64(v[1][o]))
		}
		l.vals[n.Output[0]] = x
		return nil
	}
	if len(x.shape) == 4 {
		var err error
		if x, err = l.nhwc(x); err != nil {
			return err
		}
	}
	par := func(i int, trainable bool) *autograd.Param {
		return &autograd.Param{Name: n.Input[i+1], Value: tensorOf(slices.Clone(v[i]), C), Trainable: trainable}
	}
	l.emit(&step{kind: stepBatchNorm, in: []int{x.id}, w: par(0, true), b: par(1, true), mean: par(2, false), variance: par(3, false), eps: eps}, x)
	return nil
}

func (l *loader) pool(x *val, isMax bool) error {
	x, err := l.nhwc(x)
	if err != nil {
		return err
	}
	k := l.attrInts("kernel_shape")
	if len(k) != 2 || k[0] < 1 || k[1] < 1 || k[0] > 1<<16 || k[1] > 1<<16 {
		return l.fail("kernel_shape %v: want two positive sizes", k)
	}
	if l.attrInt("ceil_mode", 0) != 0 {
		return l.fail("ceil_mode 1 is not supported")
	}
	if l.attrInt("storage_order", 0) != 0 {
		return l.fail("storage_order 1 is not supported")
	}
	for _, d := range l.attrInts("dilations") {
		if d != 1 {
			return l.fail("dilation %v: resgo runs dilation 1 only", l.attrInts("dilations"))
		}
	}
	KH, KW := int(k[0]), int(k[1])
	stride, pads, err := l.window(x, KH, KW)
	if err != nil {
		return err
	}
	H, W := x.shape[2], x.shape[3]
	OH, OW := (H+pads[0]+pads[2]-KH)/stride+1, (W+pads[1]+pads[3]-KW)/stride+1
	if pads[0] >= KH || pads[1] >= KW || pads[2] >= KH || pads[3] >= KW {
		return l.fail("pads %v as large as the %d×%d window", pads, KH, KW)
	}
	like := &val{shape: []int{-1, x.shape[1], OH, OW}, nhwc: true}
	if isMax && KH == 2 && KW == 2 && stride == 2 && pads == [4]int{} {
		l.emit(&step{kind: stepMaxPool2, in: []int{x.id}}, like) // resgo's own kernel
		return nil
	}
	l.emit(&step{kind: stepPool, in: []int{x.id}, kh: KH, kw: KW, stride: stride, pads: pads, max: isMax,
		count: l.attrInt("count_include_pad", 0) != 0}, like)
	return nil
}

// dense lowers Gemm (and MatMul: no bias) with constant weights b.
func (l *loader) dense(x, b, c *val, transB bool, alpha, beta float32) error {
	if b == nil || !b.konst() || len(b.shape) != 2 || b.f == nil {
		return l.fail("its second input must be a constant float matrix; resgo multiplies by weights only")
	}
	if len(x.shape) != 2 {
		return l.fail("input of shape %v: resgo multiplies [N, K] matrices (Flatten first)", x.shape)
	}
	K, M := b.shape[0], b.shape[1]
	if transB {
		K, M = M, K
	}
	if K != x.shape[1] {
		return l.fail("weights %v (transB %v) do not fit the input %v", b.shape, transB, x.shape)
	}
	w := make([]float32, K*M)
	for k := range K {
		for m := range M {
			if transB {
				w[k*M+m] = alpha * b.f[m*K+k]
			} else {
				w[k*M+m] = alpha * b.f[k*M+m]
			}
		}
	}
	if x.flat {
		// The input is an NHWC flatten: weights rows from (c, h, w) order
		// to (h, w, c), once, instead of a transpose at every run.
		H, W, C := x.hwc[0], x.hwc[1], x.hwc[2]
		p := make([]float32, len(w))
		for h := range H {
			for xx := range W {
				for ch := range C {
					copy(p[((h*W+xx)*C+ch)*M:][:M], w[((ch*H+h)*W+xx)*M:][:M])
				}
			}
		}
		w = p
	}
	st := &step{kind: stepDense, in: []int{x.id}, w: &autograd.Param{Name: l.name(1), Value: tensorOf(w, K, M), Trainable: true}}
	if c != nil {
		v, ok := broadcastVec(c, M, 2)
		if !ok {
			return l.fail("its bias of shape %v does not broadcast to [N, %d] by rows", c.shape, M)
		}
		for i := range v {
			v[i] *= beta
		}
		st.b = &autograd.Param{Name: l.name(2), Value: tensorOf(v, M), Trainable: true}
	}
	l.emit(st, &val{shape: []int{-1, M}})
	return nil
}

// broadcastVec returns constant c as one value per channel (axis 1) of a
// rank-r value with C channels, if c broadcasts that way (a scalar, [C],
// [C, 1, 1], [1, C, 1, 1], ...).
func broadcastVec(c *val, C, r int) ([]float32, bool) {
	if c.f == nil || len(c.shape) > r {
		return nil, false
	}
	n := len(c.f)
	if n == 1 {
		v := make([]float32, C)
		for i := range v {
			v[i] = c.f[0]
		}
		return v, true
	}
	// Right-aligned: c's axis for the channels is r−1−(len−1−j).
	for j, d := range c.shape {
		axis := r - len(c.shape) + j
		if (axis == 1 && d != C) || (axis != 1 && d != 1) {
			return nil, false
		}
	}
	return slices.Clone(c.f), true
}

// arith lowers Add, Sub, Mul and Div: of two computed values of one shape
// (Add), or of a computed value and a constant per channel or scalar,
// folded into the convolution or dense layer before it where it can be.
func (l *loader) arith(op string, a, b *val) error {
	n := l.node
	if !a.konst() && !b.konst() {
		if op != "Add" {
			return l.fail("%s of two computed values: resgo adds computed values only", op)
		}
		a, b = l.unflat(a), l.unflat(b)
		if !slices.Equal(a.shape, b.shape) {
			return l.fail("adds shapes %v and %v; resgo adds equal shapes only", a.shape, b.shape)
		}
		if a.nhwc != b.nhwc {
			var err error
			if a, err = l.nhwc(a); err != nil {
				return err
			}
			if b, err = l.nhwc(b); err != nil {
				return err
			}
		}
		l.emit(&step{kind: stepAdd, in: []int{a.id, b.id}}, a)
		return nil
	}
	xi := 0
	x, c := a, b
	if a.konst() {
		if op == "Sub" || op == "Div" {
			return l.fail("%s of a constant by a computed value is not supported", op)
		}
		x, c, xi = b, a, 1
	}
	x = l.unflat(x)
	if len(x.shape) != 4 && len(x.shape) != 2 {
		return l.fail("input of shape %v: resgo applies constants to [N, C, H, W] or [N, C]", x.shape)
	}
	C := x.shape[1]
	v, ok := broadcastVec(c, C, len(x.shape))
	if !ok {
		return l.fail("a constant of shape %v applies per channel of %v only if it broadcasts along axis 1", c.shape, x.shape)
	}
	scale, shift := make([]float32, C), make([]float32, C)
	for i := range C {
		switch op {
		case "Add":
			scale[i], shift[i] = 1, v[i]
		case "Sub":
			scale[i], shift[i] = 1, -v[i]
		case "Mul":
			scale[i] = v[i]
		case "Div":
			if v[i] == 0 {
				return l.fail("division by zero")
			}
			scale[i] = 1 / v[i]
		}
	}
	// Folded into the layer computing x alone: w·scale, b·scale + shift.
	if p := x.prod; p != nil && l.used(n.Input[xi]) == 1 && !p.relu && p.kind.linear() {
		O := p.w.Value.Shape[len(p.w.Value.Shape)-1]
		for i := range p.w.Value.Data {
			p.w.Value.Data[i] *= scale[i%O]
		}
		if p.b == nil {
			p.b = &autograd.Param{Name: p.w.Name + ".bias", Value: tensorOf(make([]float32, O), O), Trainable: true}
		}
		for o := range p.b.Value.Data {
			p.b.Value.Data[o] = p.b.Value.Data[o]*scale[o] + shift[o]
		}
		l.vals[n.Output[0]] = x
		return nil
	}
	// Otherwise a per-channel affine map, run as an inference BatchNorm
	// with mean 0, variance 1 and epsilon 0 (1/sqrt(1) is exactly 1).
	if len(x.shape) == 4 {
		var err error
		if x, err = l.nhwc(x); err != nil {
			return err
		}
	}
	ones := make([]float32, C)
	for i := range ones {
		ones[i] = 1
	}
	nm := n.Input[1-xi]
	l.emit(&step{kind: stepBatchNorm, in: []int{x.id},
		w:        &autograd.Param{Name: nm + ".scale", Value: tensorOf(scale, C)},
		b:        &autograd.Param{Name: nm + ".shift", Value: tensorOf(shift, C)},
		mean:     &autograd.Param{Name: nm + ".zero", Value: tensorOf(make([]float32, C), C)},
		variance: &autograd.Param{Name: nm + ".one", Value: tensorOf(ones, C)}}, x)
	return nil
}

func (l *loader) concat(ins []*val) error {
	axis := l.attrInt("axis", 1)
	var xs []*val
	for _, v := range ins {
		if v == nil || v.konst() {
			return l.fail("concatenates a constant with computed values; resgo concatenates computed values only")
		}
		xs = append(xs, l.unflat(v))
	}
	r := len(xs[0].shape)
	if axis < 0 {
		axis += int64(r)
	}
	if axis != 1 || (r != 4 && r != 2) {
		return l.fail("axis %d of rank %d: resgo concatenates channels (axis 1) of [N, C, H, W] or [N, C]", l.attrInt("axis", 1), r)
	}
	shape := slices.Clone(xs[0].shape)
	shape[1] = 0
	ids := make([]int, len(xs))
	for i, v := range xs {
		if r == 4 {
			var err error
			if v, err = l.nhwc(v); err != nil {
				return err
			}
		}
		if len(v.shape) != r || (r == 4 && (v.shape[2] != shape[2] || v.shape[3] != shape[3])) {
			return l.fail("input %d of shape %v does not fit input 0 of shape %v", i, v.shape, xs[0].shape)
		}
		shape[1] += v.shape[1]
		ids[i] = v.id
	}
	l.emit(&step{kind: stepConcat, in: ids}, &val{shape: shape, nhwc: r == 4})
	return nil
}

// target resolves a Reshape's shape for an input of shape in.
func (l *loader) target(in []int, s *val) ([]int, error) {
	if s == nil || !s.konst() || s.i == nil || len(s.shape) != 1 {
		return nil, l.fail("its shape must be a constant 1-D int64 tensor")
	}
	total := 1
	for _, d := range in {
		total *= d
	}
	out := make([]int, len(s.i))
	neg, known := -1, 1
	for i, d := range s.i {
		switch {
		case d == 0 && l.attrInt("allowzero", 0) == 0:
			if i >= len(in) {
				return nil, l.fail("shape %v copies dimension %d of a rank-%d input", s.i, i, len(in))
			}
			out[i] = in[i]
		case d == -1 && neg < 0:
			neg = i
			continue
		case d < 1 || d > maxElems:
			return nil, l.fail("shape %v has dimension %d", s.i, d)
		default:
			out[i] = int(d)
		}
		known *= out[i]
	}
	if neg >= 0 {
		if known == 0 || total%known != 0 {
			return nil, l.fail("cannot reshape %v to %v", in, s.i)
		}
		out[neg] = total / known
	} else if known != total {
		return nil, l.fail("cannot reshape %v (%d values) to %v", in, total, s.i)
	}
	return out, nil
}

func (l *loader) reshape(x, s *val) error {
	// The batch is free: resolve with a batch of one, and the target's
	// first dimension must be that batch (0 or −1).
	in := slices.Clone(x.shape)
	in[0] = 1
	out, err := l.target(in, s)
	if err != nil {
		return err
	}
	if len(out) == 0 || (s.i[0] != 0 && s.i[0] != -1) || out[0] != 1 {
		return l.fail("shape %v does not keep the batch dimension first (0 or -1)", s.i)
	}
	out[0] = -1
	if slices.Equal(out, x.shape) {
		l.vals[l.node.Output[0]] = x
		return nil
	}
	if len(out) == 2 && (x.nhwc || x.flat) {
		l.vals[l.node.Output[0]] = l.flatten(x)
		return nil
	}
	if x.nhwc {
		return l.fail("reshaping %v to %v depends on the layout; resgo reshapes images only by flattening them", x.shape, out)
	}
	x = l.unflat(x)
	l.emit(&step{kind: stepView, in: []int{x.id}, shape: out[1:]}, &val{shape: out})
	return nil
}

func (l *loader) transpose(x *val) error {
	x = l.unflat(x)
	r := len(x.shape)
	perm := make([]int, r)
	if p := l.attrInts("perm"); p != nil {
		if len(p) != r {
			return l.fail("perm %v for a rank-%d value", p, r)
		}
		for i, a := range p {
			perm[i] = int(a)
		}
	} else {
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	if !isPerm(perm) || perm[0] != 0 {
		return l.fail("perm %v: resgo transposes with the batch axis first", perm)
	}
	out := make([]int, r)
	for i, a := range perm {
		out[i] = x.shape[a]
	}
	// NHWC-stored NCHW to NHWC (PyTorch's permute before a Keras-order
	// flatten) and back cost nothing: only the layout changes.
	if r == 4 && x.nhwc && slices.Equal(perm, []int{0, 2, 3, 1}) {
		l.vals[l.node.Output[0]] = &val{shape: out, id: x.id}
		return nil
	}
	if r == 4 && !x.nhwc && slices.Equal(perm, []int{0, 3, 1, 2}) {
		l.vals[l.node.Output[0]] = &val{shape: out, id: x.id, nhwc: true}
		return nil
	}
	stored, sperm := x.shape[1:], perm
	if x.nhwc {
		// Stored axes are logical (0, 2, 3, 1).
		stored = []int{x.shape[2], x.shape[3], x.shape[1]}
		pos := []int{0, 3, 1, 2} // logical axis -> stored axis
		sperm = make([]int, 4)
		for i, a := range perm {
			sperm[i] = pos[a]
		}
	}
	l.emit(&step{kind: stepTranspose, in: []int{x.id}, shape: slices.Clone(stored), perm: sperm}, &val{shape: out})
	return nil
}

func isPerm(p []int) bool {
	seen := make([]bool, len(p))
	for _, a := range p {
		if a < 0 || a >= len(p) || seen[a] {
			return false
		}
		seen[a] = true
	}
	return true
}

func (l *loader) pad(x, p, v *val) error {
	if m := l.attrString("mode", "constant"); m != "constant" {
		return l.fail("mode %q: resgo pads with zeros only", m)
	}
	var pads []int64
	if l.opset < 11 {
		pads = l.attrInts("pads")
		if l.attrFloat("value", 0) != 0 {
			return l.fail("a non-zero value: resgo pads with zeros only")
		}
	} else {
		if p == nil || !p.konst() || p.i == nil {
			return l.fail("its pads must be a constant int64 tensor")
		}
		pads = p.i
		if v != nil && (!v.konst() || len(v.f) != 1 || v.f[0] != 0) {
			return l.fail("a non-zero value: resgo pads with zeros only")
		}
	}
	x, err := l.nhwc(x)
	if err != nil {
		return err
	}
	if len(pads) != 8 || pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0 {
		return l.fail("pads %v: resgo pads H and W of [N, C, H, W] only", pads)
	}
	var pd [4]int
	for i, j := range []int{2, 3, 6, 7} {
		if pads[j] < 0 || pads[j] > 1<<16 {
			return l.fail("pads %v are out of range", pads)
		}
		pd[i] = int(pads[j])
	}
	out := l.emit(&step{kind: stepPad, in: []int{x.id}, pads: pd},
		&val{shape: []int{-1, x.shape[1], x.shape[2] + pd[0] + pd[2], x.shape[3] + pd[1] + pd[3]}, nhwc: true})
	out.padOf = x
	return nil
}
