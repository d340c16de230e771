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
// at batch size batch, from two steps of a fresh copy of the model (whose
// BatchNorm statistics may move). The estimate leaves out the Go runtime
// and the kernels' per-thread scratch, a few tens of MiB.
func trainMemory(name string, o models.Options, batch int, pool *compute.Pool) (memoryEstimate, error) {
	m, err := models.New(name, o)
	if err != nil {
		return memoryEstimate{}, err
	}
	return passMemory(name, m, o.InputShape(), batch, true, pool)
}

// passMemory estimates the memory of a pass of m, the model called name,
// over batches of batch images of shape (height, width, channels): with
// train a training step, whose trainable parameters also have a gradient
// and Adam's two moments; otherwise an inference pass as eval runs it
// (the inference tape keeps every activation of the batch until the
// next), which does not change m.
func passMemory(name string, m models.Model, shape []int, batch int, train bool, pool *compute.Pool) (memoryEstimate, error) {
	fixed, perImage, err := arenaGrowth(m, shape, train, pool)
	if err != nil {
		return memoryEstimate{}, fmt.Errorf("estimating the memory of %s: %v", name, err)
	}
	var params int64
	for _, p := range m.Params() {
		n := int64(p.Value.Len()) * 4
		if train && p.Trainable {
			n *= 4 // value, gradient, Adam's m and v
		}
		params += n
	}
	imageBytes := int64(4 * shape[0] * shape[1] * shape[2])
	return memoryEstimate{batch: batch, tape: fixed + perImage*int64(batch), params: params, input: imageBytes * int64(batch)}, nil
}

// arenaGrowth measures how the tape's arena grows with the batch. Every
// buffer of a pass comes from the arena and is sized by the batch, so the
// arena grows linearly with it: passes at batch 2 and 4 give the slope and
// the intercept. With train, a pass is a training step (forward and
// backward); otherwise an inference forward pass and its loss.
func arenaGrowth(m models.Model, shape []int, train bool, pool *compute.Pool) (fixed, perImage int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	var arena [2]int64
	for i, b := range []int{2, 4} {
		tp := autograd.NewTape(pool, 1)
		tp.NoGrad = !train
		x := tensor.New(b, shape[0], shape[1], shape[2])
		loss := tp.SoftmaxCrossEntropy(m.Forward(tp, tp.Constant(x), train), make([]int32, b), nil)
		if train {
			if err := tp.Backward(loss); err != nil {
				return 0, 0, err
			}
		}
		arena[i] = int64(tp.ArenaBytes())
	}
	perImage = (arena[1] - arena[0]) / 2
	return max(arena[0]-2*perImage, 0), perImage, nil
}

// checkBatchMemory refuses a training batch whose estimated memory exceeds
// what the machine, the address-space limit (ulimit -v) or the control
// group leaves this process, with the estimate and the largest batch that
// fits. Go cannot recover from running out of memory (the runtime ends
// the process with its own trace), so this check before training is the
// defence.
func checkBatchMemory(cmd, name string, o models.Options, batch int, pool *compute.Pool) error {
	return checkMemory(cmd, name, batch, "activations and gradients", "parameters, gradients and Adam's moments", func(b int) (memoryEstimate, error) {
		return trainMemory(name, o, b, pool)
	})
}

// checkEvalMemory is checkBatchMemory for an inference pass of the loaded
// model m over images of the given shape.
func checkEvalMemory(cmd, name string, m models.Model, shape []int, batch int, pool *compute.Pool) error {
	return checkMemory(cmd, name, batch, "activations", "parameters", func(b int) (memoryEstimate, error) {
		return passMemory(name, m, shape, b, false, pool)
	})
}

// checkMemory refuses batch if estimate(batch) exceeds the memory this
// process has, saying what its parts hold (tape, params) and the largest
// batch that fits.
func checkMemory(cmd, name string, batch int, tape, params string, estimate func(batch int) (memoryEstimate, error)) error {
	avail, source := memoryAvailable()
	if avail <= 0 {
		return nil // unknown here
	}
	e, err := estimate(batch)
	if err != nil {
		return err
	}
	// The estimate counts the tape, the parameters and the batch. Go's heap
	// needs room beyond those live bytes (address space reserved in
	// arenas, fragmentation, the loader's and the kernels' buffers), which
	// under an address-space limit measured up to a fifth of it; a third
	// is kept free.
	usable := avail * 2 / 3
	if e.total() <= usable {
		return nil
	}
	one, err := estimate(1)
	if err != nil {
		return err
	}
	perImage := (e.total() - one.total()) / int64(max(batch-1, 1))
	// The batch suggested needs at most half of what is available, not two
	// thirds: what is available moves from one start to the next (by tens
	// of MiB under ulimit -v), and the suggestion must still pass.
	fits := int64(0)
	if perImage > 0 {
		fits = (avail/2 - (one.total() - perImage)) / perImage
	}
	hint := "no batch fits: free some memory or raise the limit"
	if fits >= 1 {
		hint = fmt.Sprintf("try --batch %d or less", fits)
	}
	return badFlag(cmd, "--batch %d of %s needs about %s of memory (%s of %s, %s of %s), more than the %s it may use, two thirds of the %s available (%s); %s",
		batch, name, byteSize(e.total()), byteSize(e.tape+e.input), tape, byteSize(e.params), params, byteSize(usable), byteSize(avail), source, hint)
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
