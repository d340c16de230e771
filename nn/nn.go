// Package nn holds layers with parameters, in the manner of Keras layers:
// Conv2D, BatchNormalization, Dense, and the parameter-free MaxPool2D,
// Flatten, ReLU and Dropout. Layers initialise as Keras does: kernels with
// Glorot (Xavier) uniform, biases zero, BatchNorm gamma 1, beta 0, moving
// mean 0 and moving variance 1.
package nn

import (
	"math"
	"math/rand/v2"

	"resgo/autograd"
)

// Layer is anything that maps a variable to a variable on a tape. training
// selects batch statistics (BatchNorm) and active dropout.
type Layer interface {
	Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var
	// Params returns the layer's parameters, trainable and not, in a fixed
	// order.
	Params() []*autograd.Param
}

// Activation is an optional activation applied by Conv2D and Dense.
type Activation int

const (
	// Linear applies no activation.
	Linear Activation = iota
	// ReLU applies max(x, 0).
	ReLU
)

// GlorotUniform fills w with samples from U(−l, l), l = sqrt(6/(fanIn+fanOut)):
// Keras's default kernel initialiser (Glorot & Bengio, 2010).
func GlorotUniform(rng *rand.Rand, w []float32, fanIn, fanOut int) {
	l := math.Sqrt(6 / float64(fanIn+fanOut))
	for i := range w {
		w[i] = float32((rng.Float64()*2 - 1) * l)
	}
}

// Identity is the layer that returns its input.
type Identity struct{}

// Forward returns x.
func (Identity) Forward(_ *autograd.Tape, x *autograd.Var, _ bool) *autograd.Var { return x }

// Params returns nothing.
func (Identity) Params() []*autograd.Param { return nil }

// Conv2D is a 2-D convolution with an HWIO kernel [k, k, in, out], a bias
// [out] and an optional activation: keras.layers.Conv2D.
type Conv2D struct {
	Kernel, Bias *autograd.Param
	Stride       int
	Padding      autograd.Padding
	Activation   Activation
}

// NewConv2D returns a k×k convolution from in to out channels with bias,
// stride 1, the given padding and activation, initialised as Keras does.
func NewConv2D(rng *rand.Rand, name string, in, out, k int, pad autograd.Padding, act Activation) *Conv2D {
	c := &Conv2D{
		Kernel:     autograd.NewParam(name+".kernel", true, k, k, in, out),
		Bias:       autograd.NewParam(name+".bias", true, out),
		Stride:     1,
		Padding:    pad,
		Activation: act,
	}
	GlorotUniform(rng, c.Kernel.Value.Data, k*k*in, k*k*out)
	return c
}

// Forward convolves x [N, H, W, in].
func (c *Conv2D) Forward(t *autograd.Tape, x *autograd.Var, _ bool) *autograd.Var {
	var b *autograd.Var
	if c.Bias != nil {
		b = t.Param(c.Bias)
	}
	y := t.Conv2D(x, t.Param(c.Kernel), b, c.Stride, c.Padding)
	if c.Activation == ReLU {
		y = t.ReLU(y)
	}
	return y
}

// Params returns the kernel and the bias.
func (c *Conv2D) Params() []*autograd.Param {
	if c.Bias == nil {
		return []*autograd.Param{c.Kernel}
	}
	return []*autograd.Param{c.Kernel, c.Bias}
}

// BatchNorm is keras.layers.BatchNormalization over the last axis (Ioffe &
// Szegedy, 2015), with Keras's defaults momentum 0.99 and epsilon 1e-3.
// Training normalises with the batch's statistics and moves the moving ones
// towards them; inference uses the moving statistics.
type BatchNorm struct {
	Gamma, Beta           *autograd.Param
	MovingMean, MovingVar *autograd.Param // not trainable
	Momentum, Epsilon     float32
}

// Keras's BatchNormalization defaults.
const (
	DefaultBNMomentum = 0.99
	DefaultBNEpsilon  = 1e-3
)

// NewBatchNorm returns a BatchNorm over c channels.
func NewBatchNorm(name string, c int) *BatchNorm {
	b := &BatchNorm{
		Gamma:      autograd.NewParam(name+".gamma", true, c),
		Beta:       autograd.NewParam(name+".beta", true, c),
		MovingMean: autograd.NewParam(name+".moving_mean", false, c),
		MovingVar:  autograd.NewParam(name+".moving_variance", false, c),
		Momentum:   DefaultBNMomentum,
		Epsilon:    DefaultBNEpsilon,
	}
	for i := range b.Gamma.Value.Data {
		b.Gamma.Value.Data[i] = 1
		b.MovingVar.Value.Data[i] = 1
	}
	return b
}

// Forward normalises x.
func (b *BatchNorm) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	return t.BatchNorm(x, t.Param(b.Gamma), t.Param(b.Beta), b.MovingMean, b.MovingVar, b.Momentum, b.Epsilon, training, false)
}

// ForwardReLU is ReLU(BatchNorm(x)) in one fused pass.
func (b *BatchNorm) ForwardReLU(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	return t.BatchNorm(x, t.Param(b.Gamma), t.Param(b.Beta), b.MovingMean, b.MovingVar, b.Momentum, b.Epsilon, training, true)
}

// Params returns gamma, beta, moving mean and moving variance.
func (b *BatchNorm) Params() []*autograd.Param {
	return []*autograd.Param{b.Gamma, b.Beta, b.MovingMean, b.MovingVar}
}

// Dense is a fully connected layer x·W + b with kernel [in, out]:
// keras.layers.Dense.
type Dense struct {
	Kernel, Bias *autograd.Param
	Activation   Activation
}

// NewDense returns a Dense layer from in to out units, initialised as Keras
// does.
func NewDense(rng *rand.Rand, name string, in, out int, act Activation) *Dense {
	d := &Dense{
		Kernel:     autograd.NewParam(name+".kernel", true, in, out),
		Bias:       autograd.NewParam(name+".bias", true, out),
		Activation: act,
	}
	GlorotUniform(rng, d.Kernel.Value.Data, in, out)
	return d
}

// Forward applies the layer to x [B, in].
func (d *Dense) Forward(t *autograd.Tape, x *autograd.Var, _ bool) *autograd.Var {
	var b *autograd.Var
	if d.Bias != nil {
		b = t.Param(d.Bias)
	}
	y := t.Dense(x, t.Param(d.Kernel), b)
	if d.Activation == ReLU {
		y = t.ReLU(y)
	}
	return y
}

// Params returns the kernel and the bias (if any).
func (d *Dense) Params() []*autograd.Param {
	if d.Bias == nil {
		return []*autograd.Param{d.Kernel}
	}
	return []*autograd.Param{d.Kernel, d.Bias}
}

// MaxPool2D is 2×2 max pooling with stride 2: keras.layers.MaxPool2D().
type MaxPool2D struct{}

// Forward pools x [N, H, W, C] to [N, H/2, W/2, C].
func (MaxPool2D) Forward(t *autograd.Tape, x *autograd.Var, _ bool) *autograd.Var {
	return t.MaxPool2D(x)
}

// Params returns nothing.
func (MaxPool2D) Params() []*autograd.Param { return nil }

// ZeroPadding2D adds Top and Bottom rows and Left and Right columns of
// zeros around x [N, H, W, C]: keras.layers.ZeroPadding2D(((Top, Bottom),
// (Left, Right))).
type ZeroPadding2D struct{ Top, Bottom, Left, Right int }

// Forward pads x.
func (p ZeroPadding2D) Forward(t *autograd.Tape, x *autograd.Var, _ bool) *autograd.Var {
	return t.Pad2D(x, p.Top, p.Bottom, p.Left, p.Right)
}

// Params returns nothing.
func (ZeroPadding2D) Params() []*autograd.Param { return nil }

// Flatten reshapes [N, H, W, C] to [N, H·W·C] in NHWC order.
type Flatten struct{}

// Forward flattens x.
func (Flatten) Forward(t *autograd.Tape, x *autograd.Var, _ bool) *autograd.Var { return t.Flatten(x) }

// Params returns nothing.
func (Flatten) Params() []*autograd.Param { return nil }

// Dropout drops units with probability Rate in training.
type Dropout struct{ Rate float32 }

// Forward applies dropout when training.
func (d Dropout) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	return t.Dropout(x, d.Rate, training)
}

// Params returns nothing.
func (Dropout) Params() []*autograd.Param { return nil }

// Sequential runs layers one after another: keras.Sequential.
type Sequential []Layer

// Forward runs every layer in order. In inference each layer's
// intermediate values are released once the next layer has run.
func (s Sequential) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	m := t.Mark()
	for _, l := range s {
		x = l.Forward(t, x, training)
		t.Release(m, x)
	}
	return x
}

// Params returns every layer's parameters in order.
func (s Sequential) Params() []*autograd.Param {
	var ps []*autograd.Param
	for _, l := range s {
		ps = append(ps, l.Params()...)
	}
	return ps
}
