// Package autograd is resgo's define-by-run automatic differentiation.
//
// An op called on a Tape computes its output at once and records a node:
// the inputs, the output and whatever the backward pass needs. Tape.Backward
// walks the nodes in reverse and accumulates gradients into each input's
// Grad. Every op is a pair of plain functions, forward (the Tape method) and
// backward (a package function of the same name with a "Back" suffix), that
// call the kernels in resgo/internal/kernels.
//
// A Tape is reused from step to step: Reset keeps its nodes, variables and
// arena, so once warm a training step draws every activation and gradient
// from buffers it used last step. Its ops run on a compute.Pool (the
// threads) with the kernel set compute.SetKernels chose.
//
// # How to add an op
//
// Outside this package, call Tape.Custom with the op's name, its inputs,
// its output shape, a forward function that fills the output from the
// inputs' values, and a backward function that adds the gradient of each
// input that needs one, given the output and its gradient:
//
//	// y = x², elementwise
//	func Square(t *autograd.Tape, x *autograd.Var) *autograd.Var {
//		xv := x.Value.Data
//		return t.Custom("Square", []*autograd.Var{x}, x.Shape(),
//			func(y []float32) {
//				for i, v := range xv {
//					y[i] = v * v
//				}
//			},
//			func(y, dy []float32, grads [][]float32) {
//				for i, g := range dy {
//					grads[0][i] += 2 * xv[i] * g
//				}
//			})
//	}
//
// What forward keeps for backward goes in buffers from Tape.Temp, and a
// loop worth splitting over threads runs on Tape.Pool().For. Check the
// gradient against finite differences in float64 before training with it,
// as custom_test.go does for an op of two inputs (ExampleTape_Custom runs
// the op above).
//
// Inside this package an op is a Tape method that checks its shapes,
// takes its output from the arena (newVar), runs its kernels (a portable
// Go version in internal/kernels first, assembly only where a profile
// says it pays), and records a node whose back function is a package
// function named after the op with a "Back" suffix; the node's comment
// says what forward saved. Give it an OpKind for profiles, a case in
// Trace if a summary needs more than its shapes, and a gradient test
// with gradCheck on odd sizes, one and three workers.
package autograd

import (
	"fmt"
	"math/rand/v2"

	"resgo/compute"
	"resgo/internal/kernels"
	"resgo/tensor"
)

// Param is a model parameter: a value, its gradient, and whether an
// optimiser should train it. Non-trainable params (BatchNorm's moving
// statistics) have a nil Grad.
type Param struct {
	Name      string
	Value     *tensor.Tensor
	Grad      *tensor.Tensor
	Trainable bool
}

// NewParam returns a parameter of the given shape with zero value (and a
// zero gradient if trainable).
func NewParam(name string, trainable bool, shape ...int) *Param {
	p := &Param{Name: name, Value: tensor.New(shape...), Trainable: trainable}
	if trainable {
		p.Grad = tensor.New(shape...)
	}
	return p
}

// Var is a value on the tape. Grad is nil until a gradient reaches it.
type Var struct {
	Value     *tensor.Tensor
	Grad      *tensor.Tensor
	needsGrad bool
	param     bool
	// Where the recorded nodes make and use v, as node indices plus one
	// (0: none): made is the node that computed it, lastUse and prevUse
	// the last two that took it as an input. Backward reads v's gradient
	// only at made and writes it only at its users, so these say when a
	// gradient buffer can be shared (see addBack).
	made, prevUse, lastUse int
}

// NeedsGrad reports whether gradients are propagated into v.
func (v *Var) NeedsGrad() bool { return v.needsGrad }

// Shape returns the value's shape.
func (v *Var) Shape() []int { return v.Value.Shape }

// node is one recorded op: its backward function and what it saved.
type node struct {
	op     string // the op's name, for Trace
	kind   OpKind
	back   func(t *Tape, n *node)
	in     [3]*Var
	out    *Var
	saved  [3]*tensor.Tensor
	aux    [2]*tensor.Tensor // what Trace reports beyond inputs and output (BatchNorm's moving statistics)
	conv   kernels.ConvShape
	pool   kernels.PoolShape                        // a pooling op's window
	argLo  int                                      // an op of any number of inputs (Concat) keeps
	argN   int                                      // them in Tape.args[argLo : argLo+argN], not in in
	custom func(y, dy []float32, grads [][]float32) // a Custom op's backward
	ints   [4]int
	f      float32
	ints32 []int32
	res    *Var // a residual a convolution adds to its output (Conv2DAdd), or nil
}

// Tape records ops for one forward pass and runs their backward pass.
type Tape struct {
	pool  *compute.Pool
	arena tensor.Arena
	nodes []node
	args  []*Var // inputs of ops with any number of them (see node.argLo)
	vars  []*Var
	nvar  int
	heads []*tensor.Tensor // tensor headers for views
	nhead int
	pcg   *rand.PCG
	rng   *rand.Rand
	// NoGrad disables recording: ops compute values only (inference).
	NoGrad bool

	// Scratch argument lists for kernels, reused op after op.
	fusion       kernels.Fusion // a training convolution's epilogue, during the call
	scratchData  [][]float32
	scratchInts  []int
	scratchShape []int

	prof  *Profile // nil: no timing
	flops float64  // conv and dense FLOPs since Reset

	used    []*Param        // parameters that entered the tape (TrackParams)
	usedSet map[*Param]bool // nil: not tracking
}

// NewTape returns a tape whose ops run on pool (nil: the default pool) and
// whose random ops (Dropout) draw from a generator seeded with seed.
func NewTape(pool *compute.Pool, seed uint64) *Tape {
	if pool == nil {
		pool = compute.Default()
	}
	pcg := rand.NewPCG(seed, 0x5eed)
	return &Tape{pool: pool, pcg: pcg, rng: rand.New(pcg)}
}

// Seed restarts the random stream of the tape's random ops (Dropout) at the
// PCG state (seed, stream), so that a step's randomness can depend on the
// seed and the step alone (as a resumed run needs). It does not allocate.
func (t *Tape) Seed(seed, stream uint64) { t.pcg.Seed(seed, stream) }

// Pool returns the worker pool the tape's ops run on.
func (t *Tape) Pool() *compute.Pool { return t.pool }

// Reset forgets the recorded ops and makes every buffer reusable. Values
// returned before Reset must not be used after it.
func (t *Tape) Reset() {
	for i := range t.nodes {
		t.nodes[i] = node{}
	}
	t.nodes = t.nodes[:0]
	clear(t.args)
	t.args = t.args[:0]
	t.flops = 0
	t.nvar = 0
	t.nhead = 0
	t.arena.Reset()
}

// ArenaBytes reports the memory held by the tape's arena.
func (t *Tape) ArenaBytes() int { return t.arena.Bytes() }

// newVar returns a fresh variable with an arena value of the given shape.
func (t *Tape) newVar(needsGrad bool, shape ...int) *Var {
	if t.nvar == len(t.vars) {
		t.vars = append(t.vars, &Var{})
	}
	v := t.vars[t.nvar]
	t.nvar++
	*v = Var{Value: t.arena.Get(shape...), needsGrad: needsGrad && !t.NoGrad}
	return v
}

// view returns a variable that shares in's data under another shape.
func (t *Tape) view(in *Var, shape ...int) *Var {
	if t.nhead == len(t.heads) {
		t.heads = append(t.heads, &tensor.Tensor{Shape: make([]int, 0, 4)})
	}
	h := t.heads[t.nhead]
	t.nhead++
	h.Shape = append(h.Shape[:0], shape...)
	h.Data = in.Value.Data
	if t.nvar == len(t.vars) {
		t.vars = append(t.vars, &Var{})
	}
	v := t.vars[t.nvar]
	t.nvar++
	*v = Var{Value: h, needsGrad: in.needsGrad}
	return v
}

// record appends a node for backward, unless nothing needs a gradient.
func (t *Tape) record(n node) {
	if t.NoGrad || !n.out.needsGrad {
		return
	}
	t.placed(n.in[:], n.out)
	if n.res != nil {
		t.placed([]*Var{n.res}, n.out)
	}
	t.nodes = append(t.nodes, n)
}

// placed notes that the node about to be recorded takes ins and makes out
// (Var.made, Var.lastUse).
func (t *Tape) placed(ins []*Var, out *Var) {
	idx := len(t.nodes) + 1
	for _, v := range ins {
		if v != nil {
			v.prevUse, v.lastUse = v.lastUse, idx
		}
	}
	out.made = idx
}

// recordArgs is record for an op whose inputs, any number of them, are
// ins (kept in t.args; n.in stays empty).
func (t *Tape) recordArgs(n *node, ins []*Var) {
	if t.NoGrad || !n.out.needsGrad {
		return
	}
	n.argLo, n.argN = len(t.args), len(ins)
	t.args = append(t.args, ins...)
	t.placed(ins, n.out)
	t.nodes = append(t.nodes, *n)
}

// inputs returns the inputs of a recorded op.
func (t *Tape) inputs(n *node) []*Var {
	if n.argN > 0 {
		return t.args[n.argLo : n.argLo+n.argN]
	}
	k := 0
	for k < len(n.in) && n.in[k] != nil {
		k++
	}
	return n.in[:k]
}

// scratchArgs returns a list of n slices and one of n ints for a kernel's
// arguments, valid until the next call.
func (t *Tape) scratchArgs(n int) ([][]float32, []int) {
	if cap(t.scratchData) < n {
		t.scratchData = make([][]float32, n)
		t.scratchInts = make([]int, n)
	}
	return t.scratchData[:n], t.scratchInts[:n]
}

// shapeBuf returns an empty slice with room for a shape of rank r, valid
// until the next call (newVar copies shapes).
func (t *Tape) shapeBuf(r int) []int {
	if cap(t.scratchShape) < r+1 {
		t.scratchShape = make([]int, 0, r+1)
	}
	return t.scratchShape[:0]
}

// Constant puts a value on the tape that needs no gradient (an input batch).
func (t *Tape) Constant(x *tensor.Tensor) *Var {
	if t.nvar == len(t.vars) {
		t.vars = append(t.vars, &Var{})
	}
	v := t.vars[t.nvar]
	t.nvar++
	*v = Var{Value: x}
	return v
}

// Param puts a parameter on the tape; its gradient accumulates into p.Grad.
func (t *Tape) Param(p *Param) *Var {
	t.use(p)
	if t.nvar == len(t.vars) {
		t.vars = append(t.vars, &Var{})
	}
	v := t.vars[t.nvar]
	t.nvar++
	*v = Var{Value: p.Value, Grad: p.Grad, needsGrad: p.Trainable && !t.NoGrad, param: true}
	return v
}

// grad returns v's gradient buffer, allocating a zeroed one on first use.
func (t *Tape) grad(v *Var) *tensor.Tensor {
	if v.Grad == nil {
		v.Grad = t.arena.GetZeroed(v.Value.Shape...)
	}
	return v.Grad
}

// gradInto returns v's gradient buffer for a kernel that can either add
// into it or overwrite it: acc is false when no gradient has reached v yet,
// and the buffer is then taken from the arena unzeroed, to be written
// whole. The first producer of a gradient so skips zeroing it.
func (t *Tape) gradInto(v *Var) (g []float32, acc bool) {
	if v.Grad == nil {
		v.Grad = t.arena.Get(v.Value.Shape...)
		return v.Grad.Data, false
	}
	return v.Grad.Data, true
}

// Backward runs the recorded ops in reverse from loss, a scalar, whose
// gradient is taken as 1. Parameter gradients are accumulated into their
// Param.Grad: zero them before each step (optim does).
func (t *Tape) Backward(loss *Var) error {
	if loss.Value.Len() != 1 {
		return fmt.Errorf("autograd: Backward needs a scalar loss, got shape %v", loss.Value.Shape)
	}
	if !loss.needsGrad {
		return fmt.Errorf("autograd: the loss does not depend on any trainable parameter")
	}
	t.grad(loss).Data[0] += 1
	for i := len(t.nodes) - 1; i >= 0; i-- {
		n := &t.nodes[i]
		if n.out.Grad == nil {
			continue
		}
		start := t.now()
		n.back(t, n)
		t.since(n.backKind(), start)
	}
	return nil
}

// Mark returns a position for Release.
func (t *Tape) Mark() int { return t.arena.Mark() }

// Release, in inference (NoGrad) only, frees every value computed since
// mark except keep, whose buffer stays valid: models call it after each
// layer so that inference memory follows the widest layer, not the whole
// network. With gradients on it does nothing, since backward needs the
// saved values.
func (t *Tape) Release(mark int, keep *Var) {
	if !t.NoGrad {
		return
	}
	t.arena.Release(mark, keep.Value.Data)
}
