package autograd

import "fmt"

// Inference is an op without a gradient, for a runtime that runs a graph
// of ops on a tape in inference (package onnx): it takes an output of the
// given shape from the tape's arena, lets f fill it from the inputs, and
// records it under the name op so that Trace (and so a model summary)
// shows it. A backward pass that reaches it panics: such a graph is for
// predictions, not training.
func (t *Tape) Inference(op string, shape []int, f func(y []float32), in ...*Var) *Var {
	needs := false
	for _, v := range in {
		needs = needs || v.needsGrad
	}
	y := t.newVar(needs, shape...)
	f(y.Value.Data)
	nd := node{kind: OpElementwise, op: op, back: inferenceBack, out: y}
	t.recordArgs(&nd, in) // any number of inputs (a Concat's)
	return y
}

func inferenceBack(_ *Tape, n *node) {
	panic(fmt.Sprintf("autograd: %s has no gradient (an inference-only op)", n.op))
}
