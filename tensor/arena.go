package tensor

import "unsafe"

// Arena hands out tensors that are reused from one training step to the
// next. A step asks for its activations and gradients in the same order
// every time, so after the first (warm-up) step each Get returns the buffer
// it returned at the same position last step and nothing is allocated.
// Reset starts a new step. An Arena is not safe for concurrent use.
type Arena struct {
	bufs []*Tensor
	next int
}

// Get returns a tensor of the given shape whose contents are undefined
// (typically last step's values). The shape slice is copied.
func (a *Arena) Get(shape ...int) *Tensor {
	n := Size(shape)
	if a.next == len(a.bufs) {
		a.bufs = append(a.bufs, &Tensor{Shape: make([]int, 0, 4)})
	}
	t := a.bufs[a.next]
	a.next++
	if cap(t.Data) < n {
		t.Data = make([]float32, n)
	}
	t.Data = t.Data[:n]
	t.Shape = append(t.Shape[:0], shape...)
	return t
}

// GetZeroed is Get followed by zeroing the contents.
func (a *Arena) GetZeroed(shape ...int) *Tensor {
	t := a.Get(shape...)
	clear(t.Data)
	return t
}

// Reset makes every buffer available again, in the same order.
func (a *Arena) Reset() { a.next = 0 }

// Bytes reports the memory held by the arena.
func (a *Arena) Bytes() int {
	n := 0
	for _, t := range a.bufs {
		n += 4 * cap(t.Data)
	}
	return n
}

// Mark returns the arena's position, for Release.
func (a *Arena) Mark() int { return a.next }

// Release makes every buffer handed out since mark reusable, except the one
// that holds keep's data (if keep is one of them), which moves to position
// mark and stays valid. Tensors handed out since mark must not be used
// afterwards. Inference uses it to drop a layer's intermediate values once
// the layer has returned, so memory follows the widest layer rather than
// the whole network.
func (a *Arena) Release(mark int, keep []float32) {
	if mark < 0 || mark > a.next {
		return
	}
	if len(keep) > 0 {
		kp := unsafe.SliceData(keep)
		for i := mark; i < a.next; i++ {
			if len(a.bufs[i].Data) > 0 && unsafe.SliceData(a.bufs[i].Data) == kp {
				a.bufs[mark], a.bufs[i] = a.bufs[i], a.bufs[mark]
				a.next = mark + 1
				return
			}
		}
	}
	a.next = mark
}
