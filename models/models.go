// Package models holds the networks resgo trains, written to read like their
// papers and tutorials, and a registry that finds them by name.
package models

import (
	"fmt"
	"sort"
	"strings"

	"resgo/autograd"
	"resgo/nn"
)

// Model is a network that maps a batch of images [N, 28, 28, 1] to logits
// [N, classes]. The softmax of the tutorial's last Dense layer is fused into
// the loss (autograd.Tape.SoftmaxCrossEntropy) for training and applied by
// Softmax for predictions.
type Model interface {
	Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var
	// Params returns every parameter, trainable and not, in a fixed order
	// with unique names.
	Params() []*autograd.Param
}

// Options configure a model when it is built.
type Options struct {
	// Seed seeds the initialisers.
	Seed uint64
	// Width multiplies every layer's width (VGG models; 0 means the
	// model's default).
	Width float64
	// Classes is the number of output classes (0 means 10).
	Classes int
	// BNMomentum overrides BatchNorm's momentum (0 means Keras's 0.99).
	// With 0.99 the moving statistics need several hundred steps to forget
	// their initial values (mean 0, variance 1); short runs evaluate better
	// with 0.9.
	BNMomentum float32
}

// classes returns o.Classes, or 10 (the digits) when it is 0.
func (o Options) classes() int {
	if o.Classes == 0 {
		return 10
	}
	return o.Classes
}

// Momentum returns the BatchNorm momentum the options give: BNMomentum,
// or Keras's 0.99 when it is 0.
func (o Options) Momentum() float32 {
	if o.BNMomentum == 0 {
		return nn.DefaultBNMomentum
	}
	return o.BNMomentum
}

// batchNorm returns a BatchNorm with the options' momentum.
func (o Options) batchNorm(name string, c int) *nn.BatchNorm {
	b := nn.NewBatchNorm(name, c)
	b.Momentum = o.Momentum()
	return b
}

// Builder builds a model from options.
type Builder func(Options) (Model, error)

type entry struct {
	build Builder
	doc   string
}

var registry = map[string]entry{}

// Register adds a model under name; it panics if the name is taken.
func Register(name, doc string, b Builder) {
	if _, ok := registry[name]; ok {
		panic("models: " + name + " registered twice")
	}
	registry[name] = entry{b, doc}
}

// Names returns the registered model names, sorted.
func Names() []string {
	var ns []string
	for n := range registry {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// Doc returns the one-line description of a registered model.
func Doc(name string) string { return registry[name].doc }

// Limits on Options, so that options from a command line or a forged
// checkpoint cannot ask for a network that does not fit in memory.
const (
	// MaxWidth is the largest width multiplier: 1, the papers' widths
	// (VGG-16 at width 1 has 33.6 M parameters on MNIST).
	MaxWidth = 1.0
	// MaxClasses is the largest number of output classes.
	MaxClasses = 1000
)

// New builds the named model. It checks the options against the limits
// above first.
func New(name string, o Options) (Model, error) {
	e, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown model %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	switch {
	case !(o.Width >= 0 && o.Width <= MaxWidth):
		return nil, fmt.Errorf("width %v is out of range: want more than 0 and at most %v (0: the model's default)", o.Width, MaxWidth)
	case o.Classes < 0 || o.Classes > MaxClasses:
		return nil, fmt.Errorf("%d classes is out of range: want 1 to %d (0: 10)", o.Classes, MaxClasses)
	case !(o.BNMomentum >= 0 && o.BNMomentum < 1):
		return nil, fmt.Errorf("BatchNorm momentum %v is out of range: want 0 to 1 (0: 0.99)", o.BNMomentum)
	}
	o.Classes = o.classes()
	return e.build(o)
}

// CountParams returns the numbers of trainable and non-trainable values.
func CountParams(m Model) (trainable, nonTrainable int) {
	for _, p := range m.Params() {
		if p.Trainable {
			trainable += p.Value.Len()
		} else {
			nonTrainable += p.Value.Len()
		}
	}
	return
}
