// Package mixnet is an example of using resgo as a library from a module
// of one's own: it defines a small network that resgo does not ship, with
// two branches concatenated along the channels and average pooling, and
// registers it by name, so that resgo's training, checkpoints and
// prediction take it as they take the built-in models.
//
// The network, for 28×28×1 digits:
//
//	Conv(8, 3×3, same, ReLU)                          28×28×8
//	Mix(4): concat(Conv 1×1 → 4, Conv 3×3 → 4)        28×28×8
//	AvgPool 2×2                                       14×14×8
//	Mix(8)                                            14×14×16
//	AvgPool 2×2                                        7×7×16
//	Mix(16)                                            7×7×32
//	Flatten                                            1568
//	Dense(10)
//
// Every convolution has a ReLU.
package mixnet

import (
	"math/rand/v2"

	"resgo/autograd"
	"resgo/models"
	"resgo/nn"
)

// Name is the name the network is registered under.
const Name = "mixnet"

func init() {
	models.Register(Name, "an example network from outside resgo: two-branch blocks, average pooling", func(o models.Options) (models.Model, error) {
		return New(o), nil
	})
}

// Mix is a two-branch block in the manner of Inception (Szegedy et al.,
// 2015): a 1×1 and a 3×3 convolution of the same input, each to filters
// channels, concatenated along the channels.
type Mix struct {
	narrow, wide *nn.Conv2D
}

// NewMix returns a Mix block; its convolutions take their input channels
// from the first input.
func NewMix(rng *rand.Rand, name string, filters int) *Mix {
	return &Mix{
		narrow: nn.NewConv2D(rng, name+".narrow", filters, 1, autograd.Same, nn.ReLU),
		wide:   nn.NewConv2D(rng, name+".wide", filters, 3, autograd.Same, nn.ReLU),
	}
}

// Forward concatenates the two branches.
func (m *Mix) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	return t.Concat(m.narrow.Forward(t, x, training), m.wide.Forward(t, x, training))
}

// Params returns both branches' parameters.
func (m *Mix) Params() []*autograd.Param {
	return append(m.narrow.Params(), m.wide.Params()...)
}

// Net is the example network: a stem convolution, Mix blocks separated by
// average pooling, and a classifier.
type Net struct {
	layers nn.Sequential
	out    *nn.Dense
}

// New builds the network for o's classes; models.New builds its layers
// for o's image shape.
func New(o models.Options) *Net {
	rng := rand.New(rand.NewPCG(o.Seed, 1))
	pool := nn.AvgPool2D{}
	classes := o.Classes
	if classes == 0 {
		classes = 10
	}
	return &Net{
		layers: nn.Sequential{
			nn.NewConv2D(rng, "stem", 8, 3, autograd.Same, nn.ReLU),
			NewMix(rng, "mix1", 4), pool,
			NewMix(rng, "mix2", 8), pool,
			NewMix(rng, "mix3", 16),
		},
		out: nn.NewDense(rng, "out", classes, nn.Linear),
	}
}

// Forward returns the logits for x [N, H, W, C].
func (n *Net) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	return n.out.Forward(t, t.Flatten(n.layers.Forward(t, x, training)), training)
}

// Params returns every parameter, in a fixed order.
func (n *Net) Params() []*autograd.Param {
	return append(n.layers.Params(), n.out.Params()...)
}
