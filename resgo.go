// Package resgo is the Go API for using a model that resgo trained: load
// a checkpoint written by "resgo train --checkpoint-dir" and classify
// pictures of handwritten digits.
//
//	m, err := resgo.Load("runs/best.safetensors")
//	if err != nil { ... }
//	p, err := m.Predict(img) // any image.Image of a digit
//	fmt.Println(p.Class, p.Probabilities[p.Class])
//
// Images are prepared as MNIST's digits were (package resgo/imageprep):
// any size, dark-on-light or light-on-dark, cropped, scaled to fit 20×20
// and centred by centre of mass in 28×28. The engine is pure Go; no cgo.
package resgo

import (
	"fmt"
	"image"
	"sort"
	"sync"

	"resgo/autograd"
	"resgo/checkpoint"
	"resgo/imageprep"
	"resgo/internal/kernels"
	"resgo/models"
	"resgo/tensor"
)

// Model is a trained classifier loaded from a checkpoint. Its methods are
// safe for concurrent use (calls run one at a time).
type Model struct {
	mu   sync.Mutex
	net  models.Model
	tape *autograd.Tape
	x    *tensor.Tensor
	info Info
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
}

// Prediction is a model's answer for one image.
type Prediction struct {
	Class         int       // the most probable class (a digit for MNIST)
	Probabilities []float32 // the probability of each class; they sum to 1
}

// Top returns the k most probable classes, most probable first (ties to
// the lower class).
func (p Prediction) Top(k int) []int {
	idx := make([]int, len(p.Probabilities))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p.Probabilities[idx[a]] > p.Probabilities[idx[b]] })
	return idx[:min(k, len(idx))]
}

// batch is how many images a forward pass takes at most.
const batch = 64

// Load reads a checkpoint written by resgo (see docs/checkpoint.md) and
// returns its model, ready to predict. The file is checked completely;
// errors name it and say what is wrong.
func Load(path string) (*Model, error) {
	st, err := checkpoint.Load(path)
	if err != nil {
		return nil, err
	}
	tp := autograd.NewTape(kernels.Default(), 0)
	tp.NoGrad = true
	m := &Model{net: st.Net, tape: tp, info: Info{Path: path, Model: st.Model, Epoch: st.Epoch, Step: st.Step}}
	if n := len(st.History); n > 0 {
		m.info.TestAccuracy = st.History[n-1].TestAccuracy
	}
	// The number of classes is the width of the last layer's output.
	probe, err := m.forward(make([]float32, imageprep.Size*imageprep.Size), 1)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: the model cannot run: %v", path, err)
	}
	m.info.Classes = len(probe)
	return m, nil
}

// Info describes the loaded checkpoint.
func (m *Model) Info() Info { return m.info }

// Predict classifies one image (see PredictBatch).
func (m *Model) Predict(img image.Image) (Prediction, error) {
	ps, err := m.PredictBatch([]image.Image{img})
	if err != nil {
		return Prediction{}, err
	}
	return ps[0], nil
}

// PredictBatch prepares each image as MNIST's digits were and classifies
// them all. It fails if an image holds no digit (imageprep.ErrBlank),
// naming its index.
func (m *Model) PredictBatch(imgs []image.Image) ([]Prediction, error) {
	const px = imageprep.Size * imageprep.Size
	pixels := make([]float32, len(imgs)*px)
	for i, img := range imgs {
		if img == nil {
			return nil, fmt.Errorf("resgo: image %d is nil", i)
		}
		if err := imageprep.PrepareInto(pixels[i*px:(i+1)*px], img); err != nil {
			return nil, fmt.Errorf("resgo: image %d: %w", i, err)
		}
	}
	return m.PredictPixels(pixels)
}

// PredictPixels classifies images already prepared: n×28×28 grey levels in
// [0, 1], white digit on black, row-major, as imageprep.Prepare returns
// them and as the MNIST loader feeds training (pixel/255).
func (m *Model) PredictPixels(pixels []float32) ([]Prediction, error) {
	const px = imageprep.Size * imageprep.Size
	if len(pixels)%px != 0 {
		return nil, fmt.Errorf("resgo: %d pixels is not a whole number of %d×%d images", len(pixels), imageprep.Size, imageprep.Size)
	}
	n := len(pixels) / px
	out := make([]Prediction, 0, n)
	for i := 0; i < n; i += batch {
		b := min(batch, n-i)
		probs, err := m.forward(pixels[i*px:(i+b)*px], b)
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
			out = append(out, p)
		}
	}
	return out, nil
}

// forward runs the network in inference mode on b images and returns their
// probabilities, b×classes, in a new slice.
func (m *Model) forward(pixels []float32, b int) (probs []float32, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer func() {
		if r := recover(); r != nil { // a model that does not fit 28×28 inputs
			err = fmt.Errorf("resgo: %v", r)
		}
	}()
	const s = imageprep.Size
	if m.x == nil {
		m.x = tensor.New(batch, s, s, 1)
	}
	copy(m.x.Data, pixels)
	x := &tensor.Tensor{Shape: []int{b, s, s, 1}, Data: m.x.Data[:b*s*s]}
	m.tape.Reset()
	logits := m.net.Forward(m.tape, m.tape.Constant(x), false)
	k := logits.Value.Shape[1]
	probs = make([]float32, b*k)
	kernels.Softmax(logits.Value.Data, b, k, probs)
	return probs, nil
}
