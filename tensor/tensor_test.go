package tensor

import (
	"testing"
	"unsafe"
)

func TestShapes(t *testing.T) {
	x := New(2, 3, 4)
	if x.Len() != 24 || Size([]int{2, 3, 4}) != 24 || x.Dim(-1) != 4 || x.Dim(0) != 2 {
		t.Fatalf("shape bookkeeping wrong: %v len %d", x.Shape, x.Len())
	}
	if !SameShape(x.Shape, []int{2, 3, 4}) || SameShape(x.Shape, []int{2, 12}) {
		t.Fatal("SameShape wrong")
	}
	if ShapeString(x.Shape) != "(2, 3, 4)" {
		t.Fatalf("ShapeString = %s", ShapeString(x.Shape))
	}
	c := x.Clone()
	c.Data[0] = 1
	if x.Data[0] != 0 {
		t.Fatal("Clone shares data")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("FromData accepted 5 values for shape (2, 3)")
		}
	}()
	FromData(make([]float32, 5), 2, 3)
}

// TestArenaReuse checks that after Reset the arena hands out the same
// buffers in the same order, growing one only when a request is larger.
func TestArenaReuse(t *testing.T) {
	var a Arena
	x, y := a.Get(4, 4), a.Get(10)
	px, py := unsafe.SliceData(x.Data), unsafe.SliceData(y.Data)
	x.Data[3] = 7
	a.Reset()
	x2, y2 := a.GetZeroed(2, 8), a.Get(3)
	if unsafe.SliceData(x2.Data) != px || unsafe.SliceData(y2.Data) != py {
		t.Fatal("buffers were not reused in order")
	}
	if x2.Data[3] != 0 || !SameShape(x2.Shape, []int{2, 8}) || y2.Len() != 3 {
		t.Fatalf("GetZeroed/shape wrong: %v %v", x2.Data[:4], x2.Shape)
	}
	a.Reset()
	a.Get(16)
	big := a.Get(100) // larger than before: a new buffer
	if big.Len() != 100 {
		t.Fatalf("len %d", big.Len())
	}
	before := a.Bytes()
	a.Reset()
	a.Get(16)
	a.Get(100)
	if a.Bytes() != before {
		t.Fatal("a warm arena grew")
	}
}

// TestArenaRelease checks that Release keeps exactly the named buffer and
// makes the others reusable.
func TestArenaRelease(t *testing.T) {
	var a Arena
	keepOld := a.Get(5)
	m := a.Mark()
	a.Get(8)
	k := a.Get(6)
	k.Data[0] = 42
	a.Get(9)
	a.Release(m, k.Data)
	if a.Mark() != m+1 || a.bufs[m] != k || k.Data[0] != 42 {
		t.Fatalf("kept buffer not at the mark: mark %d next %d", m, a.Mark())
	}
	n := a.Get(8) // reuses a released buffer, not k's
	if n == k || n == keepOld {
		t.Fatal("Release handed out a kept buffer")
	}
	a.Release(m, keepOld.Data) // keep is older than the mark: release all
	if a.Mark() != m {
		t.Fatalf("next = %d, want %d", a.Mark(), m)
	}
}
