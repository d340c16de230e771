// Package resgo is the Go API for using a model that resgo trained: load
// a checkpoint written by "resgo train --checkpoint-dir" and classify
// pictures: handwritten digits, or the classes of the data it was trained on.
//
//	m, err := resgo.Load("runs/best.safetensors")
//	if err != nil { ... }
//	p, err := m.Predict(img) // any image.Image
//	fmt.Println(p.Label, p.Probabilities[p.Class])
//
// A model trained on MNIST's digits (the embedded set, or IDX files that
// hold MNIST's images; Info.Digits) gets pictures
// prepared as MNIST's digits were (package resgo/imageprep): any size,
// dark-on-light or light-on-dark, cropped, scaled to fit 20×20 and centred
// by centre of mass in 28×28. Any other model gets them as its training
// data's pictures were: converted to its channels (grey or RGB) and resized
// to its height and width. The engine is pure Go; no cgo.
package resgo

import (
	"errors"
	"fmt"
	"image"
	"math"
	"sort"
	"sync"

	"resgo/autograd"
	"resgo/checkpoint"
	"resgo/compute"
	"resgo/imageprep"
	"resgo/internal/kernels"
	"resgo/internal/raster"
	"resgo/models"
	"resgo/onnx"
	"resgo/tensor"
)

// Model is a trained classifier loaded from a checkpoint. Its methods are
// safe for concurrent use (calls run one at a time).
type Model struct {
	mu   sync.Mutex
	run  runner // what computes the probabilities
	info Info
}

// runner computes a network's class probabilities for b prepared images
// (pixels holds b×H×W×C values); calls are serialised by Model.mu.
type runner interface {
	probabilities(pixels []float32, b int) ([]float32, error)
}

// Info describes the checkpoint a Model was loaded from.
type Info struct {
	Path  string // the file
	Model string // the network's registered name, such as "resnet"
	Epoch int    // epochs trained
	Step  int64  // optimiser steps taken
	// TestAccuracy is the test accuracy, in [0, 1], measured after the
	// last epoch (0 if the checkpoint has no history).
	TestAccuracy float64
	Classes      int // number of classes
	// ClassNames names them, as the training data did ("0" to "9" for
	// MNIST, folder names for an image folder).
	ClassNames []string
	// Height, Width and Channels are the shape of the images the model
	// takes (Channels 1: grey, 3: RGB).
	Height, Width, Channels int
	// Digits says the model takes MNIST's handwritten digits, so that a
	// picture is prepared as MNIST's were (package imageprep), not only
	// scaled to Height×Width.
	Digits bool
	// Notice is a remark about the file for its user, "" if none: that it
	// has no checksum (an older resgo wrote it), so damage to it cannot be
	// detected.
	Notice string
}

// ErrNonFinite is matched (errors.Is) by the error of a prediction whose
// probabilities are not finite numbers: weights that overflow on the
// input, from a damaged checkpoint. No NaN is ever returned as an answer.
var ErrNonFinite = errors.New("non-finite probabilities")

// Prediction is a model's answer for one image.
type Prediction struct {
	Class         int       // the most probable class (a digit for MNIST)
	Label         string    // its name, such as "cat" ("7" for MNIST's 7)
	Probabilities []float32 // the probability of each class; they sum to 1
}

// Top returns the k most probable classes, most probable first (ties to
// the lower class): all of them if k is larger than their number, none (an
// empty slice) if k is 0 or negative.
func (p Prediction) Top(k int) []int {
	if k <= 0 {
		return []int{}
	}
	idx := make([]int, len(p.Probabilities))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p.Probabilities[idx[a]] > p.Probabilities[idx[b]] })
	return idx[:min(k, len(idx))]
}

// batch is how many images a forward pass takes at most.
const batch = 64

// Load reads a checkpoint written by resgo (see docs/checkpoint.md), or an
// ONNX file of a digit classifier (docs/onnx.md), and returns its model,
// ready to predict. The file is checked completely;
// errors name it and say what is wrong.
func Load(path string) (*Model, error) {
	if onnx.Sniff(path) {
		return loadONNX(path)
	}
	st, err := checkpoint.Load(path)
	if err != nil {
		return nil, err
	}
	tp := autograd.NewTape(compute.Default(), 0)
	tp.NoGrad = true
	shape := st.Options.InputShape()
	m := &Model{run: &engine{net: st.Net, tape: tp, shape: shape},
		info: Info{Path: path, Model: st.Model, Epoch: st.Epoch, Step: st.Step, Notice: st.Notice,
			Height: shape[0], Width: shape[1], Channels: shape[2]}}
	m.info.Digits = st.Run.Digits() && shape[0] == imageprep.Size && shape[1] == imageprep.Size && shape[2] == 1
	if n := len(st.History); n > 0 {
		m.info.TestAccuracy = st.History[n-1].TestAccuracy
	}
	// The number of classes is the width of the last layer's output; a
	// blank image also shows weights that overflow whatever the input.
	probe, err := m.probabilities(make([]float32, m.inputLen()), 1)
	if err != nil {
		var ce *checkpoint.Error
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, fmt.Errorf("checkpoint %s: the model cannot run: %v", path, err)
	}
	m.info.Classes = len(probe)
	for c := range m.info.Classes {
		m.info.ClassNames = append(m.info.ClassNames, st.ClassName(c))
	}
	return m, nil
}

// inputLen is the number of values of one prepared image: H×W×C.
func (m *Model) inputLen() int { return m.info.Height * m.info.Width * m.info.Channels }

// Prepare returns img as the model takes it: H×W×C values in [0, 1],
// row-major HWC (see the package comment for how). For a model of MNIST's
// digits it returns imageprep.ErrBlank if the image holds no digit.
func (m *Model) Prepare(img image.Image) ([]float32, error) {
	out := make([]float32, m.inputLen())
	if err := m.prepareInto(out, img); err != nil {
		return nil, err
	}
	return out, nil
}

func (m *Model) prepareInto(dst []float32, img image.Image) error {
	if m.info.Digits {
		return imageprep.PrepareInto(dst, img)
	}
	px := make([]uint8, len(dst))
	if err := raster.Pixels(px, img, m.info.Height, m.info.Width, m.info.Channels); err != nil {
		return err
	}
	for i, v := range px {
		dst[i] = float32(v) / 255
	}
	return nil
}

// Info describes the loaded checkpoint.
func (m *Model) Info() Info { return m.info }

// WithThreads returns a model that shares m's weights but runs its forward
// passes on buffers of its own and on a worker pool of its own of n threads
// (n <= 0: one per core), so that it predicts at the same time as m and
// as other such copies: a server runs one per core on the requests that
// arrive together. The weights are only read, never written, by
// predictions.
func (m *Model) WithThreads(n int) *Model {
	e := m.run.(*engine)
	tp := autograd.NewTape(compute.NewPool(n), 0)
	tp.NoGrad = true
	return &Model{run: &engine{net: e.net, tape: tp, shape: e.shape}, info: m.info}
}

// Predict classifies one image (see PredictBatch).
func (m *Model) Predict(img image.Image) (Prediction, error) {
	ps, err := m.PredictBatch([]image.Image{img})
	if err != nil {
		return Prediction{}, err
	}
	return ps[0], nil
}

// PredictBatch prepares each image (see Prepare) and classifies them all.
// It fails if an image cannot be prepared, such as a picture with no digit
// for an MNIST model (imageprep.ErrBlank), naming its index.
func (m *Model) PredictBatch(imgs []image.Image) ([]Prediction, error) {
	px := m.inputLen()
	pixels := make([]float32, len(imgs)*px)
	for i, img := range imgs {
		if img == nil {
			return nil, fmt.Errorf("resgo: image %d is nil", i)
		}
		if err := m.prepareInto(pixels[i*px:(i+1)*px], img); err != nil {
			return nil, fmt.Errorf("resgo: image %d: %w", i, err)
		}
	}
	return m.PredictPixels(pixels)
}

// PredictPixels classifies images already prepared: n×H×W×C values in
// [0, 1], row-major HWC, as Prepare returns them and as the loader feeds
// training (pixel/255); for MNIST, 28×28 grey levels, white digit on black,
// as imageprep.Prepare returns them. A pixel that is
// NaN or infinite is an error naming it; so are probabilities that are not
// finite (matching ErrNonFinite, naming the checkpoint).
func (m *Model) PredictPixels(pixels []float32) ([]Prediction, error) {
	px := m.inputLen()
	if len(pixels)%px != 0 {
		return nil, fmt.Errorf("resgo: %d pixels is not a whole number of %d×%d×%d images", len(pixels), m.info.Height, m.info.Width, m.info.Channels)
	}
	for i, v := range pixels {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("resgo: image %d: pixel %d is %v; pixels must be grey levels in [0, 1]", i/px, i%px, v)
		}
	}
	n := len(pixels) / px
	out := make([]Prediction, 0, n)
	for i := 0; i < n; i += batch {
		b := min(batch, n-i)
		probs, err := m.probabilities(pixels[i*px:(i+b)*px], b)
		if err != nil {
			return nil, err
		}
		k := len(probs) / b
		for j := range b {
			p := Prediction{Probabilities: probs[j*k : (j+1)*k : (j+1)*k]}
			for c, v := range p.Probabilities {
				if v > p.Probabilities[p.Class] {
					p.Class = c
				}
			}
			if p.Class < len(m.info.ClassNames) {
				p.Label = m.info.ClassNames[p.Class]
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// probabilities runs the model on b images and checks that every
// probability is a finite number.
func (m *Model) probabilities(pixels []float32, b int) ([]float32, error) {
	m.mu.Lock()
	probs, err := m.run.probabilities(pixels, b)
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for i, v := range probs {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			k := len(probs) / b
			return nil, &checkpoint.Error{File: m.info.Path, Err: ErrNonFinite, Problem: fmt.Sprintf(
				"the model gives a probability of %v for class %d of image %d: its weights overflow on this input (a damaged file?)",
				v, i%k, i/k)}
		}
	}
	return probs, nil
}

// engine runs a resgo network in inference mode.
type engine struct {
	net   models.Model
	tape  *autograd.Tape
	x     *tensor.Tensor // the input batch, reused
	shape []int          // one image's [H, W, C]
}

// probabilities runs the network on b images and returns their
// probabilities, b×classes, in a new slice.
func (e *engine) probabilities(pixels []float32, b int) (probs []float32, err error) {
	defer func() {
		if r := recover(); r != nil { // a model that does not fit its input shape
			err = fmt.Errorf("resgo: %v", r)
		}
	}()
	h, w, c := e.shape[0], e.shape[1], e.shape[2]
	if e.x == nil {
		e.x = tensor.New(batch, h, w, c)
	}
	copy(e.x.Data, pixels)
	x := &tensor.Tensor{Shape: []int{b, h, w, c}, Data: e.x.Data[:b*h*w*c]}
	e.tape.Reset()
	logits := e.net.Forward(e.tape, e.tape.Constant(x), false)
	k := logits.Value.Shape[1]
	probs = make([]float32, b*k)
	kernels.Softmax(logits.Value.Data, b, k, probs)
	return probs, nil
}
