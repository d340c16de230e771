package models

import (
	"fmt"
	"math/rand/v2"

	"resgo/autograd"
	"resgo/nn"
)

func init() {
	Register("densenet", "the course's DenseNet, mirroring the tutorial's ResNet (growth 4, 8, 16): 429,930 trainable parameters", func(o Options) (Model, error) {
		return NewDenseNet(o)
	})
	Register("densenet-bc", "DenseNet-BC (Huang et al.) for 28×28 digits: depth 40, growth 12, compression 0.5: 175,690 trainable parameters", func(o Options) (Model, error) {
		return NewDenseNetBC(o)
	})
}

// DenseUnit is the course's dense unit, the DenseNet counterpart of the
// tutorial's ResidualUnit (Huang et al., "Densely Connected Convolutional
// Networks", 2017):
//
//	h   = Conv(growth, k×k, same)(ReLU(BN(x)))
//	out = concat([x, h])                 channels: in + growth
//
// BN→ReLU runs as one fused op.
type DenseUnit struct {
	bn   *nn.BatchNorm
	conv *nn.Conv2D
}

// NewDenseUnit returns DenseUnit(growth, kernel): its layers take their
// input channels from x.
func NewDenseUnit(rng *rand.Rand, o Options, name string, growth, kernel int) *DenseUnit {
	return &DenseUnit{
		bn:   o.batchNorm(name + ".bn"),
		conv: nn.NewConv2D(rng, name+".conv", growth, kernel, autograd.Same, nn.Linear),
	}
}

// Forward is the unit's call: concat([x, Conv(BN→ReLU(x))]).
func (u *DenseUnit) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	h := u.conv.Forward(t, u.bn.ForwardReLU(t, x, training), training)
	return t.Concat(x, h)
}

// Params returns the unit's parameters.
func (u *DenseUnit) Params() []*autograd.Param {
	return append(u.bn.Params(), u.conv.Params()...)
}

// NewDenseLayer is the course's DenseLayer(numUnits, growth, kernel):
// numUnits DenseUnits in a row, each adding growth channels.
func NewDenseLayer(rng *rand.Rand, o Options, name string, numUnits, growth, kernel int) nn.Sequential {
	var s nn.Sequential
	for i := range numUnits {
		s = append(s, NewDenseUnit(rng, o, fmt.Sprintf("%s.%d", name, i), growth, kernel))
	}
	return s
}

// NewTransitionLayer is the course's TransitionLayer(filters, kernel):
// Conv(filters, k×k, same) → MaxPool 2×2, which sets the channels and
// halves the size between dense layers.
func NewTransitionLayer(rng *rand.Rand, name string, filters, kernel int) nn.Sequential {
	return nn.Sequential{nn.NewConv2D(rng, name+".conv", filters, kernel, autograd.Same, nn.Linear), nn.MaxPool2D{}}
}

// DenseNet is the course's DenseNet, built like the tutorial's ResNet with
// dense layers in place of residual ones, shown here for 28×28×1 digits:
//
//	Conv(8, 3×3, same, ReLU)    28×28×8
//	DenseLayer(2, 4, 3)         28×28×16
//	TransitionLayer(16, 3)      14×14×16
//	DenseLayer(2, 8, 3)         14×14×32
//	TransitionLayer(32, 3)       7×7×32
//	DenseLayer(2, 16, 3)         7×7×64
//	Flatten → Dense(128, ReLU) → Dense(10, softmax)
//
// 429,930 trainable parameters and 280 non-trainable (BatchNorm moving
// statistics). Other shapes change the first convolution's input, the
// Flatten's length ((H/2/2)·(W/2/2)·64) and the last Dense's output;
// images need at least 4×4 pixels for the two pools.
type DenseNet struct {
	conv1          *nn.Conv2D
	body           nn.Sequential // dense and transition layers
	dense1, dense2 *nn.Dense
}

// NewDenseNet builds the course's DenseNet for images of o's shape, with
// Keras initialisation seeded by o.Seed, and runs nn.Build on it.
func NewDenseNet(o Options) (*DenseNet, error) {
	s := newSizer("densenet", o, "at least 4×4")
	for _, l := range []string{"tr1's max-pool", "tr2's max-pool"} {
		if err := s.pool(l); err != nil {
			return nil, err
		}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0xde05e))
	var body nn.Sequential
	body = append(body, NewDenseLayer(rng, o, "dl1", 2, 4, 3), NewTransitionLayer(rng, "tr1", 16, 3))
	body = append(body, NewDenseLayer(rng, o, "dl2", 2, 8, 3), NewTransitionLayer(rng, "tr2", 32, 3))
	body = append(body, NewDenseLayer(rng, o, "dl3", 2, 16, 3))
	d := &DenseNet{
		conv1:  nn.NewConv2D(rng, "conv1", 8, 3, autograd.Same, nn.ReLU),
		body:   body,
		dense1: nn.NewDense(rng, "dense1", 128, nn.ReLU),
		dense2: nn.NewDense(rng, "dense2", o.classes(), nn.Linear),
	}
	return d, nn.Build(d, o.InputShape())
}

// Forward is the network's call; it returns logits.
func (d *DenseNet) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	x = d.conv1.Forward(t, x, training)
	x = d.body.Forward(t, x, training)
	m := t.Mark()
	x = d.dense1.Forward(t, t.Flatten(x), training)
	t.Release(m, x)
	return d.dense2.Forward(t, x, training)
}

// Params returns every parameter in a fixed order.
func (d *DenseNet) Params() []*autograd.Param {
	ps := append(d.conv1.Params(), d.body.Params()...)
	ps = append(ps, d.dense1.Params()...)
	return append(ps, d.dense2.Params()...)
}

// bottleneck is DenseNet-BC's composite layer: BN → ReLU → Conv 1×1 to
// 4·growth → BN → ReLU → Conv 3×3 to growth, concatenated to its input.
// The convolutions have no bias, since a BatchNorm follows each (as in
// Huang et al.'s code and torchvision).
type bottleneck struct {
	bn1, bn2     *nn.BatchNorm
	conv1, conv2 *nn.Conv2D
}

func newBottleneck(rng *rand.Rand, o Options, name string, growth int) *bottleneck {
	b := &bottleneck{
		bn1:   o.batchNorm(name + ".bn1"),
		conv1: nn.NewConv2D(rng, name+".conv1", 4*growth, 1, autograd.Same, nn.Linear),
		bn2:   o.batchNorm(name + ".bn2"),
		conv2: nn.NewConv2D(rng, name+".conv2", growth, 3, autograd.Same, nn.Linear),
	}
	b.conv1.NoBias, b.conv2.NoBias = true, true
	return b
}

func (b *bottleneck) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	h := b.conv1.Forward(t, b.bn1.ForwardReLU(t, x, training), training)
	h = b.conv2.Forward(t, b.bn2.ForwardReLU(t, h, training), training)
	return t.Concat(x, h)
}

func (b *bottleneck) Params() []*autograd.Param {
	ps := append(b.bn1.Params(), b.conv1.Params()...)
	ps = append(ps, b.bn2.Params()...)
	return append(ps, b.conv2.Params()...)
}

// transitionBC is DenseNet-BC's transition: BN → ReLU → Conv 1×1 (no bias)
// to the compressed width → 2×2 average pool.
type transitionBC struct {
	bn   *nn.BatchNorm
	conv *nn.Conv2D
}

func (tr *transitionBC) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	h := tr.conv.Forward(t, tr.bn.ForwardReLU(t, x, training), training)
	return t.AvgPool2D(h)
}

func (tr *transitionBC) Params() []*autograd.Param {
	return append(tr.bn.Params(), tr.conv.Params()...)
}

// Sizes of DenseNet-BC as resgo builds it for digits.
const (
	denseNetBCDepth  = 40  // L: 3 blocks of (L−4)/6 = 6 bottleneck layers
	denseNetBCGrowth = 12  // k
	denseNetBCTheta  = 0.5 // compression
)

// DenseNetBC is DenseNet-BC of Huang et al., "Densely Connected
// Convolutional Networks" (2017), in their CIFAR configuration with depth
// L = 40 and growth k = 12, shown here for 28×28×1 digits:
//
//	Conv 3×3 to 2k = 24 (no bias)                     28×28×24
//	Dense block: 6 bottleneck layers                  28×28×96
//	Transition: BN → ReLU → Conv 1×1 (θ = 0.5), AvgPool 14×14×48
//	Dense block: 6 bottleneck layers                  14×14×120
//	Transition                                         7×7×60
//	Dense block: 6 bottleneck layers                   7×7×132
//	BN → ReLU → global average pool → Dense(10)            132
//
// A bottleneck layer is BN → ReLU → Conv 1×1 to 4k → BN → ReLU → Conv 3×3
// to k, concatenated to its input. 175,690 trainable parameters and 5,088
// non-trainable; depth 40 (the paper's smallest is 100, for CIFAR's
// harder task) keeps an MNIST epoch to a few minutes on a CPU. Other image
// shapes need at least 4×4 pixels for the two pools; the classifier sees
// 132 features whatever the size.
type DenseNetBC struct {
	conv0    *nn.Conv2D
	body     nn.Sequential // blocks and transitions
	bn       *nn.BatchNorm
	classify *nn.Dense
}

// NewDenseNetBC builds DenseNet-BC for images of o's shape, with Keras
// initialisation (Glorot uniform) seeded by o.Seed, and runs nn.Build on
// it.
func NewDenseNetBC(o Options) (*DenseNetBC, error) {
	s := newSizer("densenet-bc", o, "at least 4×4")
	for _, l := range []string{"trans1's average pool", "trans2's average pool"} {
		if err := s.pool(l); err != nil {
			return nil, err
		}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0xde05ebc))
	k, n := denseNetBCGrowth, (denseNetBCDepth-4)/6
	d := &DenseNetBC{conv0: nn.NewConv2D(rng, "conv0", 2*k, 3, autograd.Same, nn.Linear)}
	d.conv0.NoBias = true
	channels := 2 * k
	for b := 1; b <= 3; b++ {
		for i := range n {
			d.body = append(d.body, newBottleneck(rng, o, fmt.Sprintf("block%d.%d", b, i), k))
		}
		channels += n * k
		if b < 3 {
			channels = int(denseNetBCTheta * float64(channels))
			name := fmt.Sprintf("trans%d", b)
			tr := &transitionBC{bn: o.batchNorm(name + ".bn"), conv: nn.NewConv2D(rng, name+".conv", channels, 1, autograd.Same, nn.Linear)}
			tr.conv.NoBias = true
			d.body = append(d.body, tr)
		}
	}
	d.bn = o.batchNorm("bn")
	d.classify = nn.NewDense(rng, "classifier", o.classes(), nn.Linear)
	return d, nn.Build(d, o.InputShape())
}

// Forward is the network's call; it returns logits.
func (d *DenseNetBC) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	x = d.body.Forward(t, d.conv0.Forward(t, x, training), training)
	m := t.Mark()
	x = t.GlobalAvgPool(d.bn.ForwardReLU(t, x, training))
	t.Release(m, x)
	return d.classify.Forward(t, x, training)
}

// Params returns every parameter in a fixed order.
func (d *DenseNetBC) Params() []*autograd.Param {
	ps := append(d.conv0.Params(), d.body.Params()...)
	ps = append(ps, d.bn.Params()...)
	return append(ps, d.classify.Params()...)
}
