package autograd_test

import (
	"fmt"

	"resgo/autograd"
)

// Square is y = x², elementwise: an op defined outside package autograd.
func Square(t *autograd.Tape, x *autograd.Var) *autograd.Var {
	xv := x.Value.Data
	return t.Custom("Square", []*autograd.Var{x}, x.Shape(),
		func(y []float32) {
			for i, v := range xv {
				y[i] = v * v
			}
		},
		func(_, dy []float32, grads [][]float32) {
			for i, g := range dy {
				grads[0][i] += 2 * xv[i] * g
			}
		})
}

// Sum is the sum of x's values, a scalar.
func Sum(t *autograd.Tape, x *autograd.Var) *autograd.Var {
	xv := x.Value.Data
	return t.Custom("Sum", []*autograd.Var{x}, []int{1},
		func(y []float32) {
			y[0] = 0
			for _, v := range xv {
				y[0] += v
			}
		},
		func(_, dy []float32, grads [][]float32) {
			for i := range grads[0] {
				grads[0][i] += dy[0]
			}
		})
}

func ExampleTape_Custom() {
	p := autograd.NewParam("x", true, 3)
	copy(p.Value.Data, []float32{1, 2, 3})
	t := autograd.NewTape(nil, 0)
	loss := Sum(t, Square(t, t.Param(p)))
	if err := t.Backward(loss); err != nil {
		panic(err)
	}
	fmt.Println(loss.Value.Data[0], p.Grad.Data)
	// Output: 14 [2 4 6]
}
