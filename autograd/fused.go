package autograd

import (
	"fmt"

	"resgo/internal/kernels"
	"resgo/tensor"
)

// BNMap is a BatchNorm layer as inference applies it, with its moving
// statistics, and whether a ReLU follows: what ConvInference fuses into a
// convolution.
type BNMap struct {
	Gamma, Beta, MovingMean, MovingVar *Param
	Eps                                float32
	ReLU                               bool
}

// ConvInference is, for inference only (a NoGrad tape), the convolution
// y = post(Conv2D(pre(x), w, b)) + res, where pre and post are BatchNorms
// with their moving statistics (each nil for none) and res a residual (nil
// for none): a pre-activation residual unit's BN→ReLU→Conv→BN→ReLU and
// Conv→Add. The maps run as the convolution pads its input and writes its
// output, instead of as passes of their own, and give the values of the
// separate ops (BatchNorm, Conv2D, Add).
func (t *Tape) ConvInference(x, w, b *Var, stride int, pad Padding, pre, post *BNMap, res *Var) *Var {
	if !t.NoGrad {
		panic("autograd: ConvInference runs on an inference (NoGrad) tape only")
	}
	defer t.since(OpConvForward, t.now())
	ws := w.Value.Shape
	s, err := convGeometry(x.Value.Shape, ws[0], ws[1], ws[3], stride, pad)
	if err != nil {
		panic(err)
	}
	if ws[2] != s.C {
		panic(fmt.Sprintf("conv2d: kernel %v expects %d input channels, input has %d", ws, ws[2], s.C))
	}
	y := t.newVar(false, s.N, s.OH, s.OW, s.Cout)
	f := &kernels.Fusion{}
	if pre != nil {
		f.Pre = t.bnAffine(pre, s.C)
	}
	if post != nil {
		f.Post = t.bnAffine(post, s.Cout)
	}
	if res != nil {
		if !tensor.SameShape(res.Value.Shape, y.Value.Shape) {
			panic(fmt.Sprintf("conv inference: residual %v, output %v", res.Value.Shape, y.Value.Shape))
		}
		f.Res = res.Value.Data
	}
	var bias []float32
	if b != nil {
		bias = b.Value.Data
	}
	t.flops += 2 * float64(s.Rows()) * float64(s.K()) * float64(s.Cout)
	kernels.ConvForwardFused(t.pool, s, x.Value.Data, w.Value.Data, bias, y.Value.Data, f, t.arena.Get(kernels.FusedScratch(s)).Data)
	return y
}

// bnAffine returns m's map over C channels, in the tape's arena.
func (t *Tape) bnAffine(m *BNMap, C int) kernels.Affine {
	if m.Gamma.Value.Len() != C {
		panic(fmt.Sprintf("conv inference: a BatchNorm of %d channels on %d", m.Gamma.Value.Len(), C))
	}
	for _, p := range []*Param{m.Gamma, m.Beta, m.MovingMean, m.MovingVar} {
		t.use(p)
	}
	invstd := t.arena.Get(C).Data
	kernels.InvStd(m.MovingVar.Value.Data, m.Eps, invstd)
	return kernels.NewBNAffine(m.MovingMean.Value.Data, invstd, m.Gamma.Value.Data, m.Beta.Value.Data, m.ReLU, t.arena.Get(kernels.AffineLen(C)).Data)
}
