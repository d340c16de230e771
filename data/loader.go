package data

import (
	"fmt"
	"math/rand/v2"
)

// Loader yields a Dataset in batches, in the manner of tf.data's
// ds.shuffle(buffer).batch(batch) with reshuffle_each_iteration:
//
//   - Shuffling uses a buffer of shuffleBuffer elements, filled with the
//     first elements of the data set. Each output picks a uniformly random
//     slot of the buffer, emits its element, and refills the slot with the
//     next element of the data set, if any remain; once the data set is
//     exhausted the buffer drains. A buffer of at least N gives a uniformly
//     random permutation; a smaller one only mixes elements locally, as in
//     TensorFlow.
//   - Batches hold batch elements; the last, partial batch is kept
//     (drop_remainder=False).
//   - The order of epoch e depends only on (seed, e), through the PCG
//     generator of math/rand/v2 seeded with (seed, e), so a resumed run
//     reproduces it. (It does not reproduce TensorFlow's own random stream.)
//
// Next converts pixels to float32 in [0, 1] (divided by 255) in NHWC layout
// with one channel, without allocating. A Loader is not safe for concurrent
// use.
type Loader struct {
	d      *Dataset
	batch  int
	buffer int // shuffle buffer size, 0 or 1 = in order, clamped to d.N
	seed   uint64

	pcg   rand.PCG
	rng   *rand.Rand
	order []int32 // the current epoch's order of image indices
	slots []int32 // the shuffle buffer, used by Start
	pos   int     // next position in order
	scale [256]float32
	epoch int // the epoch Start began

	transform Transform
	tpcg      rand.PCG
	trng      *rand.Rand
	scratch   []float32
}

// Transform changes one image as the Loader prepares it (augmentation):
// img holds the image as float32 H×W×C, row-major, already scaled to
// [0, 1]; scratch is a buffer of the same length that the transform may
// use freely. rng is seeded from (seed, epoch, image index) alone, so a
// transform that draws only from it gives the same images in a resumed
// run. A Transform must not keep state between calls.
type Transform func(img, scratch []float32, h, w, c int, rng *rand.Rand)

// transformStream offsets the transforms' random streams from the
// loader's shuffling streams and the tape's dropout streams, which share
// the seed.
const transformStream = 0xa06 << 40

// SetTransform makes the Loader apply t to every image it prepares (nil:
// none).
func (l *Loader) SetTransform(t Transform) {
	l.transform = t
	l.trng = rand.New(&l.tpcg)
	l.scratch = make([]float32, l.d.H*l.d.W)
}

// NewLoader returns a Loader over d with the given batch size and shuffle
// buffer size (0 means no shuffling, as for a test set), positioned at the
// start of epoch 0. It panics if d is nil or empty, batch is below 1 or
// shuffleBuffer is negative: these are programming errors.
func NewLoader(d *Dataset, batch, shuffleBuffer int, seed uint64) *Loader {
	if d == nil || d.N < 1 {
		panic("data: NewLoader: empty dataset")
	}
	if batch < 1 {
		panic(fmt.Sprintf("data: NewLoader: batch %d is below 1", batch))
	}
	if shuffleBuffer < 0 {
		panic(fmt.Sprintf("data: NewLoader: shuffle buffer %d is negative", shuffleBuffer))
	}
	l := &Loader{
		d:      d,
		batch:  batch,
		buffer: min(shuffleBuffer, d.N),
		seed:   seed,
		order:  make([]int32, d.N),
	}
	l.rng = rand.New(&l.pcg)
	if l.buffer > 1 {
		l.slots = make([]int32, l.buffer)
	}
	for i := range l.scale {
		l.scale[i] = float32(i) / 255
	}
	l.Start(0)
	return l
}

// Start begins epoch epoch: it computes the epoch's order from (seed,
// epoch) and rewinds to its first batch. It does not allocate.
func (l *Loader) Start(epoch int) {
	l.pos = 0
	l.epoch = epoch
	n := l.d.N
	if l.buffer <= 1 {
		for i := range l.order {
			l.order[i] = int32(i)
		}
		return
	}
	l.pcg.Seed(l.seed, uint64(epoch))
	buf := l.slots[:l.buffer]
	for i := range buf {
		buf[i] = int32(i)
	}
	next := l.buffer
	for i := range n {
		j := l.rng.IntN(len(buf))
		l.order[i] = buf[j]
		if next < n {
			buf[j] = int32(next)
			next++
		} else {
			last := len(buf) - 1
			buf[j] = buf[last]
			buf = buf[:last]
		}
	}
}

// Next fills x with the next batch of images, as float32 NHWC
// [n, H, W, 1] scaled to [0, 1], and y with their labels, and returns the
// number of images n. It returns ok=false, and n=0, at the end of the epoch.
// n equals the batch size except for the last batch of an epoch, which may
// be smaller. x must hold at least batch×H×W values and y at least batch;
// Next panics otherwise. It does not allocate.
func (l *Loader) Next(x []float32, y []int32) (n int, ok bool) {
	n = min(l.batch, len(l.order)-l.pos)
	if n <= 0 {
		return 0, false
	}
	px := l.d.H * l.d.W
	if len(x) < n*px || len(y) < n {
		panic(fmt.Sprintf("data: Loader.Next: x holds %d values and y %d, want at least %d and %d",
			len(x), len(y), n*px, n))
	}
	for k, idx := range l.order[l.pos : l.pos+n] {
		src := l.d.Images[int(idx)*px : int(idx)*px+px]
		dst := x[k*px : k*px+px]
		for i, p := range src {
			dst[i] = l.scale[p]
		}
		y[k] = int32(l.d.Labels[idx])
		if l.transform != nil {
			l.tpcg.Seed(l.seed^transformStream, uint64(l.epoch)<<32|uint64(uint32(idx)))
			l.transform(dst, l.scratch, l.d.H, l.d.W, 1, l.trng)
		}
	}
	l.pos += n
	return n, true
}

// Batches returns the number of batches in an epoch, the last partial one
// included.
func (l *Loader) Batches() int { return (l.d.N + l.batch - 1) / l.batch }

// BatchSize returns the batch size the Loader was made with.
func (l *Loader) BatchSize() int { return l.batch }

// Len returns the number of images in an epoch.
func (l *Loader) Len() int { return l.d.N }

// Order returns the order of image indices for the current epoch. The slice
// belongs to the Loader and changes with the next Start.
func (l *Loader) Order() []int32 { return l.order }
