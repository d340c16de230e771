package models

import (
	"fmt"
	"math"
	"math/rand/v2"

	"resgo/autograd"
	"resgo/nn"
)

func init() {
	Register("vgg16", "VGG-16 (configuration D), widths ×0.25; 28×28 digits padded to 32×32: 2,112,442 parameters", func(o Options) (Model, error) {
		return NewVGG16(o, false)
	})
	Register("vgg16-bn", "VGG-16 with BatchNorm after every convolution (torchvision's vgg16_bn), widths ×0.25", func(o Options) (Model, error) {
		return NewVGG16(o, true)
	})
	Register("vgg16-reduced", "the course's reduced VGG-16 for MNIST (6 convolutions, Dense 128): 474,618 parameters", func(o Options) (Model, error) {
		return NewVGG16Reduced(o)
	})
}

// DefaultVGGWidth is the width multiplier the VGG models use when
// Options.WidthMultiplier is 0: a quarter of the paper's widths, which gives VGG-16
// about as much compute per image on MNIST as the tutorial's ResNet.
const DefaultVGGWidth = 0.25

// vgg16Config is configuration D of Simonyan & Zisserman's Table 1: the
// output channels of the thirteen 3×3 convolutions, in five blocks, each
// block followed by a 2×2 max-pool.
var vgg16Config = [][]int{
	{64, 64},
	{128, 128},
	{256, 256, 256},
	{512, 512, 512},
	{512, 512, 512},
}

// vgg16Dense is the width of the paper's two hidden fully connected layers.
const vgg16Dense = 4096

// scaleWidth returns n·width rounded to the nearest integer, at least 1.
func scaleWidth(n int, width float64) int {
	return max(1, int(math.Round(float64(n)*width)))
}

// vggWidth returns o.WidthMultiplier, or the VGG default when it is 0.
func (o Options) vggWidth() (float64, error) {
	w := o.WidthMultiplier
	if w == 0 {
		w = DefaultVGGWidth
	}
	if !(w > 0) || math.IsInf(w, 0) {
		return 0, fmt.Errorf("vgg: width multiplier %v must be a positive number", o.WidthMultiplier)
	}
	return w, nil
}

// vgg16Pad returns the zero-padding VGG-16 adds before and after a side of
// n pixels: up to the next multiple of 32 (the five pools' 2⁵) when that is
// at most 4 pixels away, half before and half after (MNIST's 28 → 2 + 28 +
// 2, as the course pads it; 60 → 64), and none otherwise. A side of a
// multiple of 32 pools to whole feature maps with no row or column dropped;
// padding further would mostly add zeros to compute on, so other sides are
// pooled as they are, rounding down.
func vgg16Pad(n int) (before, after int) {
	r := (32 - n%32) % 32
	if r > 4 {
		return 0, 0
	}
	return r / 2, r - r/2
}

// VGG is a plain convolutional network in the manner of Simonyan &
// Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
// Recognition" (2014, arXiv:1409.1556): an optional zero-padding of the
// input, stacks of 3×3 'same' convolutions with ReLU separated by 2×2
// max-pools, then fully connected layers. NewVGG16 and NewVGG16Reduced
// build its two configurations.
type VGG struct {
	// Features is the convolutional part: the zero-padding (VGG-16 on
	// MNIST: 28×28 → 32×32, so that five pools end at 1×1), convolutions
	// (with BatchNorm in vgg16-bn), ReLUs and pools, in order.
	Features nn.Sequential
	// Classifier is Flatten followed by the dense layers (and dropout).
	Classifier nn.Sequential
}

// Forward runs the features and the classifier on x [N, H, W, C] and
// returns logits [N, classes].
func (v *VGG) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	return v.Classifier.Forward(t, v.Features.Forward(t, x, training), training)
}

// Params returns every parameter in a fixed order.
func (v *VGG) Params() []*autograd.Param {
	return append(v.Features.Params(), v.Classifier.Params()...)
}

// convBNReLU is Conv2D (with bias) → BatchNorm → ReLU, the unit of
// torchvision's vgg16_bn; BatchNorm and ReLU run as one fused op.
type convBNReLU struct {
	conv *nn.Conv2D
	bn   *nn.BatchNorm
}

func (c *convBNReLU) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	return c.bn.ForwardReLU(t, c.conv.Forward(t, x, training), training)
}

func (c *convBNReLU) Params() []*autograd.Param {
	return append(c.conv.Params(), c.bn.Params()...)
}

// NewVGG16 builds VGG-16, configuration D of Simonyan & Zisserman (2014),
// shown here for 28×28×1 digits:
//
//	ZeroPadding 2                                   32×32×1
//	Conv 64,  Conv 64,             MaxPool          16×16×64
//	Conv 128, Conv 128,            MaxPool           8×8×128
//	Conv 256, Conv 256, Conv 256,  MaxPool           4×4×256
//	Conv 512, Conv 512, Conv 512,  MaxPool           2×2×512
//	Conv 512, Conv 512, Conv 512,  MaxPool           1×1×512
//	Flatten → Dense 4096, ReLU, Dropout 0.5
//	        → Dense 4096, ReLU, Dropout 0.5 → Dense 10 (softmax in the loss)
//
// Every convolution is 3×3, 'same', with bias and ReLU. Every width
// (convolutions and the two hidden dense layers) is multiplied by o.Width,
// default 0.25 (16,16 | 32,32 | 64×3 | 128×3 | 128×3, Dense 1024, 1024:
// 2,112,442 parameters); o.Width = 1 is the paper's network (for 10
// classes). With bn set, each convolution is followed by BatchNorm before
// its ReLU, as in torchvision's vgg16_bn (the convolutions keep their
// biases). Initialisation is Keras's (Glorot uniform, zero biases).
//
// Other image shapes are zero-padded as vgg16Pad says (sides within 4
// pixels below a multiple of 32 are padded up to it) and must then be at
// least 32×32, Keras's VGG16 minimum; the first convolution takes the
// images' channels and fc1 the flattened (H/32)·(W/32)·C features. The
// network is returned built (nn.Build).
func NewVGG16(o Options, bn bool) (*VGG, error) {
	w, err := o.vggWidth()
	if err != nil {
		return nil, err
	}
	name := "vgg16"
	if bn {
		name = "vgg16-bn"
	}
	img := o.InputShape()
	top, bottom := vgg16Pad(img[0])
	left, right := vgg16Pad(img[1])
	s := newSizer(name, o, "at least 32×32; sides of 28 to 31 are zero-padded to 32")
	s.h, s.w = img[0]+top+bottom, img[1]+left+right
	rng := rand.New(rand.NewPCG(o.Seed, 0x7661))
	v := &VGG{}
	if top+bottom+left+right > 0 {
		v.Features = nn.Sequential{nn.ZeroPadding2D{Top: top, Bottom: bottom, Left: left, Right: right}}
	}
	for b, block := range vgg16Config {
		for i, c := range block {
			out := scaleWidth(c, w)
			conv := fmt.Sprintf("block%d.conv%d", b+1, i+1)
			if bn {
				v.Features = append(v.Features, &convBNReLU{
					conv: nn.NewConv2D(rng, conv, out, 3, autograd.Same, nn.Linear),
					bn:   o.batchNorm(fmt.Sprintf("block%d.bn%d", b+1, i+1)),
				})
			} else {
				v.Features = append(v.Features, nn.NewConv2D(rng, conv, out, 3, autograd.Same, nn.ReLU))
			}
		}
		if err := s.pool(fmt.Sprintf("block%d's max-pool", b+1)); err != nil {
			return nil, err
		}
		v.Features = append(v.Features, nn.MaxPool2D{})
	}
	hidden := scaleWidth(vgg16Dense, w)
	v.Classifier = nn.Sequential{
		nn.Flatten{},
		nn.NewDense(rng, "fc1", hidden, nn.ReLU),
		nn.Dropout{Rate: 0.5},
		nn.NewDense(rng, "fc2", hidden, nn.ReLU),
		nn.Dropout{Rate: 0.5},
		nn.NewDense(rng, "predictions", o.classes(), nn.Linear),
	}
	return v, nn.Build(v, img)
}

// NewVGG16Reduced builds the reduced VGG-16 that the tutorial's course
// trains on MNIST for speed: the first three blocks of VGG-16 (Simonyan &
// Zisserman, 2014), two convolutions each and no pool after the third, and
// one small hidden dense layer:
//
//	Conv 16, Conv 16, MaxPool    14×14×16
//	Conv 32, Conv 32, MaxPool     7×7×32
//	Conv 64, Conv 64              7×7×64
//	Flatten (3136) → Dense 128, ReLU → Dense 10 (softmax in the loss)
//
// Convolutions are 3×3, 'same', with bias and ReLU: 474,618 parameters.
// The widths are the paper's (64, 128, 256 and a dense 512) times
// o.WidthMultiplier, default 0.25, so --width scales it alongside vgg16.
// Other image shapes change the first convolution's input and fc1's
// ((H/2/2)·(W/2/2)·64); images need at least 4×4 pixels for the two pools.
// The network is returned built (nn.Build).
func NewVGG16Reduced(o Options) (*VGG, error) {
	w, err := o.vggWidth()
	if err != nil {
		return nil, err
	}
	s := newSizer("vgg16-reduced", o, "at least 4×4")
	for b := 1; b <= 2; b++ {
		if err := s.pool(fmt.Sprintf("block%d's max-pool", b)); err != nil {
			return nil, err
		}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x7672))
	c1, c2, c3 := scaleWidth(64, w), scaleWidth(128, w), scaleWidth(256, w)
	conv := func(name string, filters int) *nn.Conv2D {
		return nn.NewConv2D(rng, name, filters, 3, autograd.Same, nn.ReLU)
	}
	v := &VGG{
		Features: nn.Sequential{
			conv("block1.conv1", c1), conv("block1.conv2", c1), nn.MaxPool2D{},
			conv("block2.conv1", c2), conv("block2.conv2", c2), nn.MaxPool2D{},
			conv("block3.conv1", c3), conv("block3.conv2", c3),
		},
	}
	v.Classifier = nn.Sequential{
		nn.Flatten{},
		nn.NewDense(rng, "fc1", scaleWidth(512, w), nn.ReLU),
		nn.NewDense(rng, "predictions", o.classes(), nn.Linear),
	}
	return v, nn.Build(v, o.InputShape())
}
