// Package tensor defines resgo's one tensor type: a contiguous float32
// array with a shape, laid out row-major; images are NHWC (batch, height,
// width, channels), as in Keras. It also provides Arena, which hands out
// tensors that a training step reuses from one step to the next.
package tensor

import (
	"fmt"
	"strings"
)

// Tensor is a contiguous row-major float32 array of the given Shape.
// len(Data) always equals the product of Shape.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Size returns the number of elements of a shape.
func Size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// New returns a zero tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, Size(shape))}
}

// FromData wraps data as a tensor of the given shape; it panics if the
// sizes differ, which is always a programming error.
func FromData(data []float32, shape ...int) *Tensor {
	if len(data) != Size(shape) {
		panic(fmt.Sprintf("tensor: %d values for shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

// Len returns the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// Dim returns the size of dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// Zero sets every element to 0.
func (t *Tensor) Zero() { clear(t.Data) }

// SameShape reports whether two shapes are equal.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ShapeString formats a shape as (a, b, c).
func ShapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// String describes the tensor's shape (not its values).
func (t *Tensor) String() string { return "Tensor" + ShapeString(t.Shape) }
