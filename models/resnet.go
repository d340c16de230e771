package models

import (
	"fmt"
	"math/rand/v2"

	"resgo/autograd"
	"resgo/nn"
)

func init() {
	Register("resnet", "the tutorial's pre-activation ResNet: 576,282 trainable parameters", func(o Options) (Model, error) {
		return NewResNet(o)
	})
}

// ResidualUnit is the tutorial's pre-activation residual unit (He et al.,
// "Identity Mappings in Deep Residual Networks", 2016):
//
//	h   = Conv(BN→ReLU(Conv(BN→ReLU(x))))    two k×k 'same' convolutions
//	out = identity(x) + h
//
// where identity is x itself when filterIn == filterOut and a 1×1
// convolution (with bias) otherwise. The layers take their input channels
// from x; filterIn is the tutorial's, which chooses the identity path (x
// must have filterIn channels).
type ResidualUnit struct {
	bn1, bn2     *nn.BatchNorm
	conv1, conv2 *nn.Conv2D
	identity     nn.Layer
}

// NewResidualUnit returns ResidualUnit(filterIn, filterOut, kernel).
func NewResidualUnit(rng *rand.Rand, o Options, name string, filterIn, filterOut, kernel int) *ResidualUnit {
	u := &ResidualUnit{
		bn1:   o.batchNorm(name + ".bn1"),
		conv1: nn.NewConv2D(rng, name+".conv1", filterOut, kernel, autograd.Same, nn.Linear),
		bn2:   o.batchNorm(name + ".bn2"),
		conv2: nn.NewConv2D(rng, name+".conv2", filterOut, kernel, autograd.Same, nn.Linear),
	}
	if filterIn == filterOut {
		u.identity = nn.Identity{}
	} else {
		u.identity = nn.NewConv2D(rng, name+".identity", filterOut, 1, autograd.Same, nn.Linear)
	}
	return u
}

// Forward is the unit's call: BN→ReLU→Conv twice, plus the identity path.
// BN→ReLU runs as one fused op. In inference (a NoGrad tape) the two
// convolutions do the rest too: the first applies BN→ReLU to its input as
// it pads it and the second BN→ReLU to its output, the second adds the
// identity path as it writes its output. Otherwise (training), once the
// layers are built, the second convolution still adds the identity path
// as it writes its output (autograd.Tape.Conv2DAdd).
func (u *ResidualUnit) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	if t.NoGrad && !training && u.conv1.Activation == nn.Linear && u.conv2.Activation == nn.Linear && u.conv1.Kernel != nil {
		h := inferConv(t, u.conv1, x, u.bn1.Map(true), u.bn2.Map(true), nil)
		return inferConv(t, u.conv2, h, nil, nil, u.identity.Forward(t, x, false))
	}
	h := u.conv1.Forward(t, u.bn1.ForwardReLU(t, x, training), training)
	h = u.bn2.ForwardReLU(t, h, training)
	if c := u.conv2; c.Kernel != nil && c.Activation == nn.Linear {
		// Built (so the identity path is too, after it, as the first pass
		// drew their initial weights): the second convolution adds the
		// identity path as it writes its output.
		id := u.identity.Forward(t, x, training)
		var b *autograd.Var
		if c.Bias != nil {
			b = t.Param(c.Bias)
		}
		return t.Conv2DAdd(h, t.Param(c.Kernel), b, c.Stride, c.Padding, id)
	}
	h = u.conv2.Forward(t, h, training)
	return t.Add(u.identity.Forward(t, x, training), h)
}

// inferConv runs c on x in inference with BatchNorm maps fused before and
// after it and a residual added (see autograd.Tape.ConvInference).
func inferConv(t *autograd.Tape, c *nn.Conv2D, x *autograd.Var, pre, post *autograd.BNMap, res *autograd.Var) *autograd.Var {
	var b *autograd.Var
	if c.Bias != nil {
		b = t.Param(c.Bias)
	}
	return t.ConvInference(x, t.Param(c.Kernel), b, c.Stride, c.Padding, pre, post, res)
}

// Params returns the unit's parameters.
func (u *ResidualUnit) Params() []*autograd.Param {
	ps := append(u.bn1.Params(), u.conv1.Params()...)
	ps = append(ps, u.bn2.Params()...)
	ps = append(ps, u.conv2.Params()...)
	return append(ps, u.identity.Params()...)
}

// NewResnetLayer is the tutorial's ResnetLayer(filterIn, filters, kernel):
// one ResidualUnit for each pair of zip([filterIn]+filters, filters).
func NewResnetLayer(rng *rand.Rand, o Options, name string, filterIn int, filters []int, kernel int) nn.Sequential {
	var s nn.Sequential
	in := filterIn
	for i, f := range filters {
		s = append(s, NewResidualUnit(rng, o, fmt.Sprintf("%s.%d", name, i), in, f, kernel))
		in = f
	}
	return s
}

// ResNet is the tutorial's network, shown here for 28×28×1 digits:
//
//	Conv(8, 3×3, same, ReLU)              28×28×8
//	ResnetLayer(8,  [16, 16], 3), MaxPool  14×14×16
//	ResnetLayer(16, [32, 32], 3), MaxPool   7×7×32
//	ResnetLayer(32, [64, 64], 3)            7×7×64
//	Flatten → Dense(128, ReLU) → Dense(10, softmax)
//
// 576,282 trainable parameters and 784 non-trainable (BatchNorm moving
// statistics). Other image sizes, channel counts and class counts change
// the first convolution's input, the Flatten's length ((H/2/2)·(W/2/2)·64,
// the pools rounding down) and the last Dense's output; images need at
// least 4×4 pixels for the two pools.
type ResNet struct {
	conv1            *nn.Conv2D
	res1, res2, res3 nn.Sequential
	dense1, dense2   *nn.Dense
}

// NewResNet builds the ResNet for images of o's shape, with Keras
// initialisation seeded by o.Seed, and runs nn.Build on it.
func NewResNet(o Options) (*ResNet, error) {
	s := newSizer("resnet", o, "at least 4×4")
	if err := s.pool("the max-pool after res1"); err != nil {
		return nil, err
	}
	if err := s.pool("the max-pool after res2"); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5e5))
	r := &ResNet{
		conv1:  nn.NewConv2D(rng, "conv1", 8, 3, autograd.Same, nn.ReLU),
		res1:   NewResnetLayer(rng, o, "res1", 8, []int{16, 16}, 3),
		res2:   NewResnetLayer(rng, o, "res2", 16, []int{32, 32}, 3),
		res3:   NewResnetLayer(rng, o, "res3", 32, []int{64, 64}, 3),
		dense1: nn.NewDense(rng, "dense1", 128, nn.ReLU),
		dense2: nn.NewDense(rng, "dense2", o.classes(), nn.Linear),
	}
	return r, nn.Build(r, o.InputShape())
}

// Forward is the tutorial's call; it returns logits.
func (r *ResNet) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	m := t.Mark() // inference keeps only the current layer's values
	x = r.conv1.Forward(t, x, training)
	x = t.MaxPool2D(r.res1.Forward(t, x, training))
	t.Release(m, x)
	x = t.MaxPool2D(r.res2.Forward(t, x, training))
	t.Release(m, x)
	x = r.res3.Forward(t, x, training)
	x = r.dense1.Forward(t, t.Flatten(x), training)
	t.Release(m, x)
	return r.dense2.Forward(t, x, training)
}

// Params returns every parameter in a fixed order.
func (r *ResNet) Params() []*autograd.Param {
	ps := r.conv1.Params()
	ps = append(ps, r.res1.Params()...)
	ps = append(ps, r.res2.Params()...)
	ps = append(ps, r.res3.Params()...)
	ps = append(ps, r.dense1.Params()...)
	return append(ps, r.dense2.Params()...)
}
