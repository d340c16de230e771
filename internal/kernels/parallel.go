package kernels

import (
	"sync"

	"resgo/compute"
)

// Pool is the worker pool every kernel runs on; it is defined in package
// compute so that it can appear in exported signatures above the kernels.
type Pool = compute.Pool

// Task is the body of a parallel loop (see compute.Task).
type Task = compute.Task

// taskPool recycles a kernel's argument structs.
type taskPool[T any] struct{ sync.Pool }

func (tp *taskPool[T]) get() *T {
	if v := tp.Get(); v != nil {
		return v.(*T)
	}
	return new(T)
}

func (tp *taskPool[T]) put(t *T) {
	var zero T
	*t = zero // drop references to the caller's slices
	tp.Put(t)
}

// parallel runs args as a Task over [0, n) on p, with the argument struct
// drawn from (and returned to) tp.
func parallel[T any, PT interface {
	*T
	Task
}](p *Pool, tp *taskPool[T], n, grain int, args T) {
	t := tp.get()
	*t = args
	p.Run(n, grain, PT(t))
	tp.put(t)
}
