package main

import (
	"fmt"
	"runtime/debug"

	"resgo/autograd"
	"resgo/compute"
	"resgo/models"
	"resgo/tensor"
)

// memoryEstimate is what a training run of one model at one batch size
// needs, in bytes.
type memoryEstimate struct {
	batch  int
	tape   int64 // the tape's arena: activations and their gradients
	params int64 // parameters, their gradients and Adam's two moments
	input  int64 // the loader's batch buffer
}

func (e memoryEstimate) total() int64 { return e.tape + e.params + e.input }

// trainMemory estimates the memory of a training step of the named model
// at batch size batch. Every buffer of a step comes from the tape's arena
// and is sized by the batch, so the arena grows linearly with it: two
// steps of a fresh copy of the model (whose BatchNorm statistics may
// move), at batch 2 and 4, give the slope and the intercept. The estimate leaves out the Go runtime and the kernels'
// per-thread scratch, a few tens of MiB.
func trainMemory(name string, o models.Options, batch int, pool *compute.Pool) (e memoryEstimate, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("estimating the memory of %s: %v", name, r)
		}
	}()
	m, err := models.New(name, o)
	if err != nil {
		return e, err
	}
	shape := o.InputShape()
	var arena [2]int64
	for i, b := range []int{2, 4} {
		tp := autograd.NewTape(pool, 1)
		x := tensor.New(b, shape[0], shape[1], shape[2])
		logits := m.Forward(tp, tp.Constant(x), true)
		if err := tp.Backward(tp.SoftmaxCrossEntropy(logits, make([]int32, b), nil)); err != nil {
			return e, err
		}
		arena[i] = int64(tp.ArenaBytes())
	}
	perImage := (arena[1] - arena[0]) / 2
	fixed := max(arena[0]-2*perImage, 0)
	var params int64
	for _, p := range m.Params() {
		n := int64(p.Value.Len()) * 4
		if p.Trainable {
			n *= 4 // value, gradient, Adam's m and v
		}
		params += n
	}
	imageBytes := int64(4 * shape[0] * shape[1] * shape[2])
	return memoryEstimate{batch: batch, tape: fixed + perImage*int64(batch), params: params, input: imageBytes * int64(batch)}, nil
}

// checkBatchMemory refuses a batch whose estimated memory exceeds what
// the machine, the address-space limit (ulimit -v) or the control group
// leaves this process, with the estimate and the largest batch that fits.
// Go cannot recover from running out of memory (the runtime ends the
// process with its own trace), so this check before training is the
// defence. Where a limit is known it also becomes the garbage collector's
// soft memory limit.
func checkBatchMemory(cmd, name string, o models.Options, batch int, pool *compute.Pool) error {
	avail, source := memoryAvailable()
	if avail <= 0 {
		return nil // unknown here
	}
	e, err := trainMemory(name, o, batch, pool)
	if err != nil {
		return err
	}
	if e.total() <= avail {
		return nil
	}
	one, err := trainMemory(name, o, 1, pool)
	if err != nil {
		return err
	}
	perImage := (e.total() - one.total()) / int64(max(batch-1, 1))
	fits := int64(0)
	if perImage > 0 {
		fits = (avail*9/10 - (one.total() - perImage)) / perImage
	}
	hint := "no batch fits: free some memory or raise the limit"
	if fits >= 1 {
		hint = fmt.Sprintf("try --batch %d or less", fits)
	}
	return badFlag(cmd, "--batch %d of %s needs about %s of memory (%s of activations and gradients, %s of parameters, gradients and Adam's moments), more than the %s available (%s); %s",
		batch, name, byteSize(e.total()), byteSize(e.tape+e.input), byteSize(e.params), byteSize(avail), source, hint)
}

// setMemoryLimit makes a known limit on the process's memory the garbage
// collector's soft limit, so that the heap is collected harder as it nears
// the limit instead of growing past it.
func setMemoryLimit() {
	if limit := memoryLimit(); limit > 0 {
		debug.SetMemoryLimit(limit - limit/10)
	}
}

// byteSize formats n bytes in KiB, MiB or GiB.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
}
