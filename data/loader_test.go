package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// indexed returns a Dataset of n 2×2 images whose pixels spell the image's
// index (low byte, high byte, 255, 0) and whose label is index mod 10.
func indexed(n int) *Dataset {
	d := &Dataset{Images: make([]uint8, 4*n), Labels: make([]int32, n), N: n, H: 2, W: 2}
	for i := range n {
		copy(d.Images[4*i:], []uint8{uint8(i), uint8(i >> 8), 255, 0})
		d.Labels[i] = int32(i % 10)
	}
	return d
}

// epoch runs one epoch and returns the image indices in the order the
// batches gave them, and the batch sizes. It checks every value on the way.
func epoch(t *testing.T, l *Loader, d *Dataset, e int) (order []int, sizes []int) {
	t.Helper()
	l.Start(e)
	x := make([]float32, l.BatchSize()*d.H*d.W)
	y := make([]int32, l.BatchSize())
	for {
		n, ok := l.Next(x, y)
		if !ok {
			if n != 0 {
				t.Fatalf("Next returned n=%d with ok=false", n)
			}
			break
		}
		sizes = append(sizes, n)
		for k := range n {
			px := x[4*k : 4*k+4]
			i := int(math.Round(float64(px[0]*255))) + 256*int(math.Round(float64(px[1]*255)))
			if px[0] != float32(uint8(i))/255 || px[2] != 1 || px[3] != 0 {
				t.Fatalf("image %d: pixels %v are not pixel/255", i, px)
			}
			if y[k] != int32(i%10) {
				t.Fatalf("image %d: label %d, want %d", i, y[k], i%10)
			}
			order = append(order, i)
		}
	}
	if n, ok := l.Next(x, y); ok || n != 0 {
		t.Fatal("Next after the end of an epoch did not return 0, false")
	}
	return order, sizes
}

func TestLoaderEpoch(t *testing.T) {
	for _, tc := range []struct {
		name          string
		n, batch, buf int
		sizes         []int
	}{
		{"partial last batch", 103, 10, 20, []int{10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3}},
		{"exact batches", 96, 32, 50, []int{32, 32, 32}},
		{"no shuffle", 70, 32, 0, []int{32, 32, 6}},
		{"buffer above N", 50, 7, 1000, []int{7, 7, 7, 7, 7, 7, 7, 1}},
		{"batch above N", 5, 32, 3, []int{5}},
		{"one image", 1, 4, 4, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := indexed(tc.n)
			l := NewLoader(d, tc.batch, tc.buf, 42)
			if l.Batches() != len(tc.sizes) || l.Len() != tc.n {
				t.Fatalf("Batches() = %d, Len() = %d, want %d, %d", l.Batches(), l.Len(), len(tc.sizes), tc.n)
			}
			for e := range 3 {
				order, sizes := epoch(t, l, d, e)
				if !slices.Equal(sizes, tc.sizes) {
					t.Fatalf("epoch %d: batch sizes %v, want %v", e, sizes, tc.sizes)
				}
				// Every image exactly once.
				sorted := slices.Sorted(slices.Values(order))
				for i, v := range sorted {
					if v != i {
						t.Fatalf("epoch %d: not a permutation of 0..%d: %v", e, tc.n-1, order)
					}
				}
				if tc.buf == 0 && !slices.IsSorted(order) {
					t.Fatalf("buffer 0 shuffled: %v", order)
				}
				// A shuffle buffer of b cannot emit image i before
				// position i-b+1: it has not been read yet.
				for p, i := range order {
					if tc.buf > 0 && i > p+tc.buf-1 {
						t.Fatalf("epoch %d: image %d at position %d, beyond a buffer of %d", e, i, p, tc.buf)
					}
				}
				if got := l.Order(); len(got) != tc.n || int(got[0]) != order[0] {
					t.Fatalf("Order() disagrees with the batches")
				}
			}
		})
	}
}

func TestLoaderDeterminism(t *testing.T) {
	d := indexed(200)
	a := NewLoader(d, 32, 64, 7)
	b := NewLoader(d, 32, 64, 7)
	c := NewLoader(d, 32, 64, 8)
	e0, _ := epoch(t, a, d, 0)
	e1, _ := epoch(t, a, d, 1)
	if slices.Equal(e0, e1) {
		t.Error("epochs 0 and 1 have the same order")
	}
	if slices.IsSorted(e0) {
		t.Error("epoch 0 is not shuffled")
	}
	// The same (seed, epoch) gives the same order, in another Loader and in
	// any sequence of epochs (as a resumed run needs).
	if b1, _ := epoch(t, b, d, 1); !slices.Equal(b1, e1) {
		t.Error("another Loader with the same seed gives another epoch 1")
	}
	if a0, _ := epoch(t, a, d, 0); !slices.Equal(a0, e0) {
		t.Error("epoch 0 run again differs")
	}
	if c0, _ := epoch(t, c, d, 0); slices.Equal(c0, e0) {
		t.Error("seeds 7 and 8 give the same epoch 0")
	}
}

// With a buffer of at least N, the order is a uniform permutation: each
// image is equally likely at each position.
func TestLoaderFullShuffleIsUniform(t *testing.T) {
	const n, epochs = 8, 8000
	d := indexed(n)
	l := NewLoader(d, 3, n, 1)
	var count [n][n]int // count[position][image]
	for e := range epochs {
		l.Start(e)
		for p, i := range l.Order() {
			count[p][i]++
		}
	}
	const want = epochs / n // 1000; a binomial standard deviation is about 30
	for p := range n {
		for i := range n {
			if c := count[p][i]; c < want-150 || c > want+150 {
				t.Errorf("image %d at position %d in %d of %d epochs, want about %d", i, p, c, epochs, want)
			}
		}
	}
}

func TestLoaderNoAllocs(t *testing.T) {
	for _, workers := range []int{0, 2} {
		d := indexed(1000)
		l := NewLoader(d, 32, 100, 3)
		if workers > 0 {
			l.SetWorkers(workers)
		}
		x := make([]float32, 32*4)
		y := make([]int32, 32)
		e := 0
		allocs := testing.AllocsPerRun(200, func() {
			if _, ok := l.Next(x, y); !ok {
				e++
				l.Start(e)
			}
		})
		l.Close()
		if allocs != 0 {
			t.Errorf("Next/Start with %d workers allocate %v times a call", workers, allocs)
		}
	}
}

func TestLoaderPanics(t *testing.T) {
	d := indexed(10)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"nil dataset", func() { NewLoader(nil, 1, 0, 0) }},
		{"batch 0", func() { NewLoader(d, 0, 0, 0) }},
		{"negative buffer", func() { NewLoader(d, 2, -1, 0) }},
		{"x too small", func() { NewLoader(d, 4, 0, 0).Next(make([]float32, 15), make([]int32, 4)) }},
		{"y too small", func() { NewLoader(d, 4, 0, 0).Next(make([]float32, 16), make([]int32, 3)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f()
		})
	}
}

func BenchmarkLoaderEpochMNIST(b *testing.B) {
	train, _, err := LoadMNIST()
	if err != nil {
		b.Fatal(err)
	}
	l := NewLoader(train, 32, 10000, 1)
	x := make([]float32, 32*28*28)
	y := make([]int32, 32)
	b.ResetTimer()
	for e := 0; b.Loop(); e++ {
		l.Start(e)
		for {
			if _, ok := l.Next(x, y); !ok {
				break
			}
		}
	}
	b.ReportMetric(float64(train.N)*float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

// batches returns every batch of epoch e, concatenated.
func batches(l *Loader, d *Dataset, e int) (x []float32, y []int32) {
	l.Start(e)
	bx := make([]float32, l.BatchSize()*d.ImageLen())
	by := make([]int32, l.BatchSize())
	for {
		n, ok := l.Next(bx, by)
		if !ok {
			return x, y
		}
		x = append(x, bx[:n*d.ImageLen()]...)
		y = append(y, by[:n]...)
	}
}

// The prefetching workers give the same batches as Next alone, with three
// channels and a transform drawing from its per-image stream, in any
// order of epochs.
func TestLoaderWorkersAndTransform(t *testing.T) {
	d := &Dataset{N: 50, H: 2, W: 3, C: 3, Classes: Digits()}
	d.Images = make([]uint8, d.N*d.ImageLen())
	d.Labels = make([]int32, d.N)
	for i := range d.Images {
		d.Images[i] = uint8(i * 13)
	}
	for i := range d.Labels {
		d.Labels[i] = int32(i % 10)
	}
	noise := func(img, scratch []float32, h, w, c int, rng *rand.Rand) {
		if h != 2 || w != 3 || c != 3 || len(img) != 18 || len(scratch) != 18 {
			panic("wrong shape")
		}
		copy(scratch, img)
		for i := range img {
			img[i] = scratch[len(img)-1-i] + rng.Float32()
		}
	}
	sync := NewLoader(d, 7, 20, 5)
	x0, y0 := batches(sync, d, 0)
	if x0[0] == x0[1] || len(x0) != 50*18 {
		t.Fatal("unexpected plain batches")
	}
	sync.SetTransform(noise)
	sx1, sy1 := batches(sync, d, 1)
	sx0, _ := batches(sync, d, 0)
	for _, workers := range []int{1, 3} {
		l := NewLoader(d, 7, 20, 5)
		l.SetTransform(noise)
		l.SetWorkers(workers)
		x1, y1 := batches(l, d, 1) // epoch 1 first, as a resumed run
		x0, _ := batches(l, d, 0)
		if !slices.Equal(x1, sx1) || !slices.Equal(y1, sy1) || !slices.Equal(x0, sx0) {
			t.Errorf("%d workers: batches differ from the synchronous loader's", workers)
		}
		// Stopping mid-epoch and starting another leaves nothing behind.
		l.Start(2)
		l.Next(make([]float32, 7*18), make([]int32, 7))
		if x1b, _ := batches(l, d, 1); !slices.Equal(x1b, sx1) {
			t.Errorf("%d workers: epoch 1 differs after an interrupted epoch", workers)
		}
		l.Close()
		if x1c, _ := batches(l, d, 1); !slices.Equal(x1c, sx1) {
			t.Errorf("epoch 1 differs after Close")
		}
	}
	if slices.Equal(sx0, x0) {
		t.Error("the transform changed nothing")
	}
	if !slices.Equal(y0, func() []int32 { _, y := batches(NewLoader(d, 7, 20, 5), d, 0); return y }()) {
		t.Error("labels differ between loaders")
	}
}
