package autograd

import (
	"fmt"

	"resgo/tensor"
)

// Custom records an op defined outside this package: a differentiable
// step that no built-in op covers, written as a forward and a backward
// function over flat NHWC slices, the way the built-in ops are.
//
// The op reads inputs and produces a value of the given shape. forward
// fills y (whose contents are undefined on entry) from the inputs'
// Value.Data. If any input needs a gradient the op is recorded, and
// during Backward, backward receives the op's output y, its gradient dy,
// and for each input i the gradient grads[i] to add into (+=, since other
// ops may use the same input), or nil when input i needs none. Both
// functions run on the calling goroutine; to use the tape's threads,
// split a loop with t.Pool().For. Whatever forward keeps for backward is
// best captured by the closures, in buffers from Temp, which the tape
// reuses step after step.
//
// Trace reports the op under name, and a Profile times it as OpCustom.
// The closures are called once each per step; built fresh every step they
// cost an allocation, so a layer that wants an allocation-free step makes
// them once.
func (t *Tape) Custom(name string, inputs []*Var, shape []int, forward func(y []float32), backward func(y, dy []float32, grads [][]float32)) *Var {
	defer t.since(OpCustom, t.now())
	if name == "" || forward == nil || backward == nil {
		panic("autograd: Custom needs a name, a forward and a backward function")
	}
	if len(shape) == 0 || tensor.Size(shape) <= 0 {
		panic(fmt.Sprintf("autograd: custom op %s: output shape %v", name, shape))
	}
	needs := false
	for _, v := range inputs {
		needs = needs || v.needsGrad
	}
	y := t.newVar(needs, shape...)
	forward(y.Value.Data)
	nd := node{kind: OpCustom, op: name, back: customBack, out: y, custom: backward}
	t.recordArgs(&nd, inputs)
	return y
}

// customBack hands the custom op's backward its gradients.
func customBack(t *Tape, n *node) {
	in := t.inputs(n)
	grads, _ := t.scratchArgs(len(in))
	for i, x := range in {
		grads[i] = nil
		if x.needsGrad {
			grads[i] = t.grad(x).Data
		}
	}
	n.custom(n.out.Value.Data, n.out.Grad.Data, grads)
}

// Temp returns n floats from the tape's arena, with undefined contents,
// valid until the next Reset: the place for what a custom op's forward
// keeps for its backward, reused from step to step without allocating.
func (t *Tape) Temp(n int) []float32 { return t.arena.Get(n).Data }
