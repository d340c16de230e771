package autograd

import "resgo/tensor"

// This file lets a caller see what a forward pass did, for model summaries
// (resgo summary): TraceInput starts a pass whose every op is recorded, and
// Trace lists the recorded ops with their shapes and multiply-adds.

// OpInfo describes one op recorded on a tape.
type OpInfo struct {
	// Op names the op: "Conv2D", "Dense", "BatchNorm", "ReLU", "Add",
	// "MaxPool2D", "AvgPool2D", "GlobalAvgPool", "Concat", "Flatten",
	// "Reshape", "Pad2D", "Dropout", "SoftmaxCrossEntropy": the name each
	// op records (a custom op's is the name given to Tape.Custom).
	Op string
	// Inputs are the values the op read, in the order of its arguments
	// (for Conv2D and Dense: x, kernel, bias; for BatchNorm: x, gamma,
	// beta). Parameters appear as their Param.Value tensors, so a caller can
	// tell which parameters an op used by pointer.
	Inputs []*tensor.Tensor
	// Output is the op's result. Inputs and Output stay valid until the
	// tape's next Reset.
	Output *tensor.Tensor
	// FusedReLU is set for a BatchNorm with a ReLU fused onto its output.
	FusedReLU bool
	// Stride is a Conv2D's stride (0 for other ops).
	Stride int
	// Window and Strides are a pooling op's window and the rows and
	// columns it moves at a time (zero for other ops).
	Window, Strides [2]int
	// Pads are the zero rows and columns a Conv2D reads around its input,
	// or that a Pad2D adds, or that a pooling window overhangs the input
	// by: top, left, bottom, right (ONNX's order). A bottom or right pad
	// that the stride never reaches is left out.
	Pads [4]int
	// MovingMean and MovingVar are a BatchNorm's moving statistics (the
	// non-trainable parameters it normalises with in inference), and
	// Epsilon the value added to the variance. An exporter reads them.
	MovingMean, MovingVar *tensor.Tensor
	Epsilon               float32
	// MACs is the number of multiply-adds of the forward pass, for the
	// whole batch: N·OH·OW·Cout·KH·KW·C for Conv2D, B·In·Out for Dense,
	// and 0 for every other op (they do no multiply-accumulate work).
	MACs int64
}

// TraceInput puts x on the tape as a variable that takes a gradient, so
// that every op downstream of it is recorded, even one whose other inputs
// are constants (Pad2D on the input image). Use it for the input of a pass
// to be read back with Trace; the gradient buffer is allocated only if a
// backward pass reaches x.
func (t *Tape) TraceInput(x *tensor.Tensor) *Var {
	v := t.Constant(x)
	v.needsGrad = !t.NoGrad
	return v
}

// Trace describes the ops recorded since the last Reset, in the order they
// ran. Only recorded ops appear: run the pass with NoGrad unset, in
// training mode if dropout should show, from an input given by
// TraceInput. A view that flattens [N, ...] to [N, rest] is reported as
// "Flatten".
func (t *Tape) Trace() []OpInfo {
	ops := make([]OpInfo, 0, len(t.nodes))
	for i := range t.nodes {
		n := &t.nodes[i]
		op := OpInfo{Op: n.op, Output: n.out.Value}
		for _, v := range t.inputs(n) {
			op.Inputs = append(op.Inputs, v.Value)
		}
		switch op.Op {
		case "Conv2D":
			s := n.conv
			op.MACs = int64(s.N) * int64(s.OH*s.OW) * int64(s.Cout) * int64(s.KH*s.KW*s.C)
			op.Stride = s.Stride
			op.Pads = [4]int{s.PadT, s.PadL, max(0, (s.OH-1)*s.Stride+s.KH-s.H-s.PadT), max(0, (s.OW-1)*s.Stride+s.KW-s.W-s.PadL)}
		case "MaxPool2D", "AvgPool2D":
			p := n.pool
			op.Window, op.Strides = [2]int{p.KH, p.KW}, [2]int{p.SH, p.SW}
			op.Pads = [4]int{p.PadT, p.PadL, max(0, (p.OH-1)*p.SH+p.KH-p.H-p.PadT), max(0, (p.OW-1)*p.SW+p.KW-p.W-p.PadL)}
		case "Pad2D":
			in, out := n.in[0].Value.Shape, n.out.Value.Shape
			top, left := n.ints[0], n.ints[1]
			op.Pads = [4]int{top, left, out[1] - in[1] - top, out[2] - in[2] - left}
		case "Dense":
			xs, ws := n.in[0].Value.Shape, n.in[1].Value.Shape
			op.MACs = int64(xs[0]) * int64(ws[0]) * int64(ws[1])
		case "BatchNorm":
			op.FusedReLU = n.ints[1] == 1
			op.MovingMean, op.MovingVar, op.Epsilon = n.aux[0], n.aux[1], n.f
		case "Reshape":
			in, out := n.in[0].Value.Shape, n.out.Value.Shape
			if len(in) > 2 && len(out) == 2 && out[0] == in[0] {
				op.Op = "Flatten"
			}
		}
		if n.res != nil {
			// Conv2DAdd: the convolution, then Add(res, conv).
			conv := tensor.New(n.out.Value.Shape...)
			op.Output = conv
			ops = append(ops, op, OpInfo{Op: "Add", Inputs: []*tensor.Tensor{n.res.Value, conv}, Output: n.out.Value})
			continue
		}
		ops = append(ops, op)
	}
	return ops
}

// TrackParams makes the tape note every parameter that enters it from now
// on, through Param or as BatchNorm's moving statistics, for UsedParams. A
// model builder traces one pass with it to check that the model's Params
// lists every parameter its forward pass uses (one left out would never be
// trained or saved).
func (t *Tape) TrackParams() {
	t.used, t.usedSet = nil, map[*Param]bool{}
}

// UsedParams returns the parameters that entered the tape since
// TrackParams, each once, in the order they first did.
func (t *Tape) UsedParams() []*Param { return t.used }

// use notes p for UsedParams when tracking.
func (t *Tape) use(p *Param) {
	if t.usedSet != nil && !t.usedSet[p] {
		t.usedSet[p] = true
		t.used = append(t.used, p)
	}
}
