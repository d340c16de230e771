// Package nn holds layers with parameters, in the manner of Keras layers:
// Conv2D, BatchNormalization, Dense, and the parameter-free MaxPool2D,
// AvgPool2D, GlobalAvgPool, ZeroPadding2D, Flatten, Identity and Dropout
// (channel concatenation is autograd's Tape.Concat, as it takes several
// inputs). As in Keras, a layer with
// parameters takes its input size (channels for Conv2D and BatchNorm,
// features for Dense) from the first input it sees and creates its
// parameters then, so a network is written without counting channels by
// hand; models.New runs one pass of a zero image to build every layer
// before training or loading. Layers initialise as Keras does: kernels
// with Glorot (Xavier) uniform, biases zero, BatchNorm gamma 1, beta 0,
// moving mean 0 and moving variance 1.
package nn

import (
	"fmt"
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
// [out] and an optional activation: keras.layers.Conv2D. Like Keras's, it
// takes its input channels from the first input it sees: Kernel and Bias
// are nil until then (models.New runs one pass so that a model's layers
// are built before training or loading).
type Conv2D struct {
	// Kernel [k, k, in, out] and Bias [out]; nil until the layer is built.
	Kernel, Bias *autograd.Param
	// Filters is the number of output channels and KernelSize k.
	Filters, KernelSize int
	Stride              int
	Padding             autograd.Padding
	Activation          Activation
	// NoBias builds the layer without a bias (Keras's use_bias=False), as
	// before a BatchNorm; set it before the layer's first use.
	NoBias bool

	name string
	rng  *rand.Rand // drawn from when the layer is built, then dropped
}

// NewConv2D returns a k×k convolution to filters output channels with bias,
// stride 1, the given padding and activation. Its input channels are those
// of the first input it sees; its kernel is then initialised as Keras does,
// with Glorot uniform samples drawn from rng (so layers built in the same
// order from the same seed are the same) and a zero bias. Parameters are
// named name+".kernel" and name+".bias".
func NewConv2D(rng *rand.Rand, name string, filters, k int, pad autograd.Padding, act Activation) *Conv2D {
	return &Conv2D{Filters: filters, KernelSize: k, Stride: 1, Padding: pad, Activation: act, name: name, rng: rng}
}

// build creates the parameters for in input channels.
func (c *Conv2D) build(in int) {
	k, out := c.KernelSize, c.Filters
	c.Kernel = autograd.NewParam(c.name+".kernel", true, k, k, in, out)
	GlorotUniform(c.rng, c.Kernel.Value.Data, k*k*in, k*k*out)
	if !c.NoBias {
		c.Bias = autograd.NewParam(c.name+".bias", true, out)
	}
	c.rng = nil
}

// Forward convolves x [N, H, W, in], building the layer on its first call.
func (c *Conv2D) Forward(t *autograd.Tape, x *autograd.Var, _ bool) *autograd.Var {
	if c.Kernel == nil {
		c.build(channels(c.name, x))
	}
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

// Params returns the kernel and the bias (if any); nothing before the
// layer is built.
func (c *Conv2D) Params() []*autograd.Param {
	switch {
	case c.Kernel == nil:
		return nil
	case c.Bias == nil:
		return []*autograd.Param{c.Kernel}
	}
	return []*autograd.Param{c.Kernel, c.Bias}
}

// channels returns the channels of x [N, H, W, C] for the layer name to be
// built with, or panics (as the ops do on shapes they cannot take).
func channels(name string, x *autograd.Var) int {
	s := x.Shape()
	if len(s) != 4 || s[3] < 1 {
		panic(fmt.Sprintf("%s: want an input [N, H, W, C], got %v", name, s))
	}
	return s[3]
}

// BatchNorm is keras.layers.BatchNormalization over the last axis (Ioffe &
// Szegedy, 2015), with Keras's defaults momentum 0.99 and epsilon 1e-3.
// Training normalises with the batch's statistics and moves the moving ones
// towards them; inference uses the moving statistics. Its channels are
// those of the first input it sees: the parameters are nil until then.
type BatchNorm struct {
	Gamma, Beta           *autograd.Param
	MovingMean, MovingVar *autograd.Param // not trainable
	Momentum, Epsilon     float32

	name string
}

// Keras's BatchNormalization defaults.
const (
	DefaultBNMomentum = 0.99
	DefaultBNEpsilon  = 1e-3
)

// NewBatchNorm returns a BatchNorm over the channels (last axis) of its
// first input, with gamma 1, beta 0, moving mean 0 and moving variance 1
// once built, named name+".gamma", ".beta", ".moving_mean" and
// ".moving_variance".
func NewBatchNorm(name string) *BatchNorm {
	return &BatchNorm{Momentum: DefaultBNMomentum, Epsilon: DefaultBNEpsilon, name: name}
}

// build creates the parameters for c channels.
func (b *BatchNorm) build(c int) {
	b.Gamma = autograd.NewParam(b.name+".gamma", true, c)
	b.Beta = autograd.NewParam(b.name+".beta", true, c)
	b.MovingMean = autograd.NewParam(b.name+".moving_mean", false, c)
	b.MovingVar = autograd.NewParam(b.name+".moving_variance", false, c)
	for i := range b.Gamma.Value.Data {
		b.Gamma.Value.Data[i] = 1
		b.MovingVar.Value.Data[i] = 1
	}
}

// Forward normalises x [N, H, W, C], building the layer on its first call.
func (b *BatchNorm) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	return b.forward(t, x, training, false)
}

// ForwardReLU is ReLU(BatchNorm(x)) in one fused pass.
func (b *BatchNorm) ForwardReLU(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	return b.forward(t, x, training, true)
}

func (b *BatchNorm) forward(t *autograd.Tape, x *autograd.Var, training, relu bool) *autograd.Var {
	if b.Gamma == nil {
		s := x.Shape()
		if len(s) < 2 || s[len(s)-1] < 1 {
			panic(fmt.Sprintf("%s: want an input [..., C], got %v", b.name, s))
		}
		b.build(s[len(s)-1])
	}
	return t.BatchNorm(x, t.Param(b.Gamma), t.Param(b.Beta), b.MovingMean, b.MovingVar, b.Momentum, b.Epsilon, training, relu)
}

// Map returns the layer as inference applies it (its moving statistics),
// with a ReLU after it if relu, for autograd.Tape.ConvInference; nil before
// the layer is built.
func (b *BatchNorm) Map(relu bool) *autograd.BNMap {
	if b.Gamma == nil {
		return nil
	}
	return &autograd.BNMap{Gamma: b.Gamma, Beta: b.Beta, MovingMean: b.MovingMean, MovingVar: b.MovingVar, Eps: b.Epsilon, ReLU: relu}
}

// Params returns gamma, beta, moving mean and moving variance; nothing
// before the layer is built.
func (b *BatchNorm) Params() []*autograd.Param {
	if b.Gamma == nil {
		return nil
	}
	return []*autograd.Param{b.Gamma, b.Beta, b.MovingMean, b.MovingVar}
}

// Dense is a fully connected layer x·W + b with kernel [in, out]:
// keras.layers.Dense. Like Keras's, it takes its input features from the
// first input it sees: Kernel and Bias are nil until then.
type Dense struct {
	Kernel, Bias *autograd.Param
	// Units is the number of outputs.
	Units      int
	Activation Activation
	// NoBias builds the layer without a bias (Keras's use_bias=False); set
	// it before the layer's first use.
	NoBias bool

	name string
	rng  *rand.Rand // drawn from when the layer is built, then dropped
}

// NewDense returns a Dense layer to units outputs. Its input features are
// those of the first input [B, in] it sees; its kernel is then initialised
// as Keras does, with Glorot uniform samples drawn from rng, and a zero
// bias. Parameters are named name+".kernel" and name+".bias".
func NewDense(rng *rand.Rand, name string, units int, act Activation) *Dense {
	return &Dense{Units: units, Activation: act, name: name, rng: rng}
}

// build creates the parameters for in input features.
func (d *Dense) build(in int) {
	d.Kernel = autograd.NewParam(d.name+".kernel", true, in, d.Units)
	GlorotUniform(d.rng, d.Kernel.Value.Data, in, d.Units)
	if !d.NoBias {
		d.Bias = autograd.NewParam(d.name+".bias", true, d.Units)
	}
	d.rng = nil
}

// Forward applies the layer to x [B, in], building it on its first call.
func (d *Dense) Forward(t *autograd.Tape, x *autograd.Var, _ bool) *autograd.Var {
	if d.Kernel == nil {
		s := x.Shape()
		if len(s) != 2 || s[1] < 1 {
			panic(fmt.Sprintf("%s: want an input [B, features], got %v", d.name, s))
		}
		d.build(s[1])
	}
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

// Params returns the kernel and the bias (if any); nothing before the
// layer is built.
func (d *Dense) Params() []*autograd.Param {
	switch {
	case d.Kernel == nil:
		return nil
	case d.Bias == nil:
		return []*autograd.Param{d.Kernel}
	}
	return []*autograd.Param{d.Kernel, d.Bias}
}

// MaxPool2D is max pooling over Window: keras.layers.MaxPool2D. The zero
// Window is Keras's default, 2×2 with stride 2, 'valid', which runs the
// fast 2×2 kernels.
type MaxPool2D struct{ Window autograd.Window }

// Forward pools x [N, H, W, C].
func (p MaxPool2D) Forward(t *autograd.Tape, x *autograd.Var, _ bool) *autograd.Var {
	if p.Window == (autograd.Window{}) {
		return t.MaxPool2D(x)
	}
	return t.MaxPool(x, p.Window)
}

// Params returns nothing.
func (MaxPool2D) Params() []*autograd.Param { return nil }

// AvgPool2D is average pooling over Window: keras.layers.AveragePooling2D.
// The zero Window is Keras's default, 2×2 with stride 2, 'valid'.
type AvgPool2D struct{ Window autograd.Window }

// Forward pools x [N, H, W, C].
func (p AvgPool2D) Forward(t *autograd.Tape, x *autograd.Var, _ bool) *autograd.Var {
	if p.Window == (autograd.Window{}) {
		return t.AvgPool2D(x)
	}
	return t.AvgPool(x, p.Window)
}

// Params returns nothing.
func (AvgPool2D) Params() []*autograd.Param { return nil }

// GlobalAvgPool averages [N, H, W, C] over rows and columns into [N, C]:
// keras.layers.GlobalAveragePooling2D.
type GlobalAvgPool struct{}

// Forward pools x.
func (GlobalAvgPool) Forward(t *autograd.Tape, x *autograd.Var, _ bool) *autograd.Var {
	return t.GlobalAvgPool(x)
}

// Params returns nothing.
func (GlobalAvgPool) Params() []*autograd.Param { return nil }

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
