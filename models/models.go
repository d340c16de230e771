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

// Model is a network (an nn.Layer) that maps a batch of images [N, H, W, C] to logits
// [N, classes], for the height, width, channels and classes of the Options
// it was built with (MNIST's [N, 28, 28, 1] and 10 by default). The softmax of the tutorial's last Dense layer is fused into
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
	// WidthMultiplier multiplies every layer's width (VGG models; 0 means
	// the model's default). Its JSON key is "Width", the name checkpoints
	// written before Options held the image shape use for it.
	WidthMultiplier float64 `json:"Width"`
	// Height, Width and Channels are the shape of one input image
	// (0 means MNIST's 28, 28 and 1). Models build their layers from them.
	Height   int
	Width    int `json:"ImageWidth"`
	Channels int
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

// InputShape returns one image's shape [H, W, C]: Height, Width and
// Channels, with MNIST's 28, 28 and 1 for those that are 0.
func (o Options) InputShape() []int {
	or := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	return []int{or(o.Height, 28), or(o.Width, 28), or(o.Channels, 1)}
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
func (o Options) batchNorm(name string) *nn.BatchNorm {
	b := nn.NewBatchNorm(name)
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
	// MaxWidthMultiplier is the largest width multiplier: 1, the papers'
	// widths (VGG-16 at width 1 has 33.6 M parameters on MNIST).
	MaxWidthMultiplier = 1.0
	// MaxClasses is the largest number of output classes.
	MaxClasses = 1000
	// MaxSide is the largest image height or width.
	MaxSide = 512
	// MaxChannels is the largest number of image channels.
	MaxChannels = 16
)

// New builds the named model. It checks the options against the limits
// above first, and gives the builder options whose Classes, Height, Width
// and Channels are filled in (10, 28, 28, 1 where they are 0). Then it
// runs one pass of a zero image through the model (nn.Build), which
// creates the parameters of layers that size themselves on first use and
// checks that Params lists every parameter the pass uses, once, under a
// unique name: the model New returns has all its parameters.
func New(name string, o Options) (Model, error) {
	e, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown model %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	switch {
	case !(o.WidthMultiplier >= 0 && o.WidthMultiplier <= MaxWidthMultiplier):
		return nil, fmt.Errorf("width multiplier %v is out of range: want more than 0 and at most %v (0: the model's default)", o.WidthMultiplier, MaxWidthMultiplier)
	case o.Classes < 0 || o.Classes > MaxClasses:
		return nil, fmt.Errorf("%d classes is out of range: want 1 to %d (0: 10)", o.Classes, MaxClasses)
	case o.Height < 0 || o.Height > MaxSide || o.Width < 0 || o.Width > MaxSide:
		return nil, fmt.Errorf("image size %d×%d is out of range: want 1 to %d on each side (0: 28)", o.Height, o.Width, MaxSide)
	case o.Channels < 0 || o.Channels > MaxChannels:
		return nil, fmt.Errorf("%d channels is out of range: want 1 to %d (0: 1)", o.Channels, MaxChannels)
	case !(o.BNMomentum >= 0 && o.BNMomentum < 1):
		return nil, fmt.Errorf("BatchNorm momentum %v is out of range: want 0 to 1 (0: 0.99)", o.BNMomentum)
	}
	o.Classes = o.classes()
	in := o.InputShape()
	o.Height, o.Width, o.Channels = in[0], in[1], in[2]
	m, err := e.build(o)
	if err != nil {
		return nil, err
	}
	if err := nn.Build(m, in); err != nil {
		return nil, fmt.Errorf("model %s: %v", name, err)
	}
	return m, nil
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

// sizer follows the height and width of a network's feature maps through
// its 2×2 max-pools while a builder lays out its layers, so that an image
// too small for the network is an error naming the layer it fails at.
type sizer struct {
	model      string
	imgH, imgW int    // the image's size, for messages
	need       string // what image sizes the network takes, for messages
	h, w       int    // the current feature maps' size
}

// newSizer starts at o's image size; need says what sizes the model
// takes ("at least 4×4").
func newSizer(model string, o Options, need string) *sizer {
	in := o.InputShape()
	return &sizer{model: model, imgH: in[0], imgW: in[1], need: need, h: in[0], w: in[1]}
}

// pool halves the size as a 2×2 max-pool with stride 2 does ('valid': an
// odd size loses its last row or column), or says that layer's input is
// smaller than its window.
func (s *sizer) pool(layer string) error {
	if s.h < 2 || s.w < 2 {
		return fmt.Errorf("%s: %s would get %d×%d feature maps, smaller than its 2×2 window: %d×%d images are too small for %s (it takes %s)",
			s.model, layer, s.h, s.w, s.imgH, s.imgW, s.model, s.need)
	}
	s.h, s.w = s.h/2, s.w/2
	return nil
}
