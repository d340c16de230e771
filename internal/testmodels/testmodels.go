// Package testmodels registers models that only tests use.
package testmodels

import (
	"math"
	"sync/atomic"

	"resgo/autograd"
	"resgo/models"
)

// NaNInference is the name of a ResNet whose inference (the test pass)
// gives NaN logits while PoisonInference is set; training is unaffected.
// It stands for a model whose inference alone breaks (moving statistics
// gone bad, say), which the fast kernels' ReLU could otherwise hide.
const NaNInference = "test-nan-inference"

// PoisonInference switches NaNInference's NaN logits on and off.
var PoisonInference atomic.Bool

type nanInference struct{ models.Model }

func (m nanInference) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	out := m.Model.Forward(t, x, training)
	if !training && PoisonInference.Load() {
		for i := range out.Value.Data {
			out.Value.Data[i] = float32(math.NaN())
		}
	}
	return out
}

func init() {
	models.Register(NaNInference, "a ResNet whose inference gives NaN on demand (tests only)", func(o models.Options) (models.Model, error) {
		m, err := models.New("resnet", o)
		return nanInference{m}, err
	})
}
