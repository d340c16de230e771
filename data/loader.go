package data

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
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
// with the data set's channels, then applies the Transform, if any. By
// default Next prepares each batch when asked; after SetWorkers, worker
// goroutines prepare the next batches while the caller trains on the
// current one (tf.data's prefetch). Either way the batches are the same,
// and Next does not allocate. A Loader is not safe for concurrent use.
type Loader struct {
	f      *filler
	batch  int
	buffer int // shuffle buffer size, 0 or 1 = in order, clamped to d.N
	seed   uint64

	pcg   rand.PCG
	rng   *rand.Rand
	order []int32 // the current epoch's order of image indices
	slots []int32 // the shuffle buffer, used by Start
	pos   int     // next position in order
	epoch int     // the epoch Start began

	// Synchronous preparation's transform state.
	tpcg    rand.PCG
	trng    *rand.Rand
	scratch []float32

	p *pipeline // the prefetching workers, if SetWorkers started them
}

// Transform changes one image as the Loader prepares it (augmentation):
// img holds the image as float32 H×W×C, row-major, already scaled to
// [0, 1]; scratch is a buffer of the same length that the transform may
// use freely. rng is seeded from (seed, epoch, image index) alone, so a
// transform that draws only from it gives the same images whatever the
// number of workers and in a resumed run. A Transform is called from
// several goroutines at once and must not keep state between calls.
type Transform func(img, scratch []float32, h, w, c int, rng *rand.Rand)

// transformStream offsets the transforms' random streams from the
// loader's shuffling streams and the tape's dropout streams, which share
// the seed.
const transformStream = 0xa06 << 40

// filler prepares batches. It is shared by the Loader and its workers and
// does not point back to the Loader, so that an abandoned Loader can be
// collected and its workers stopped.
type filler struct {
	d         *Dataset
	px        int // bytes per image
	c         int
	seed      uint64
	scale     [256]float32
	transform Transform
}

// fill prepares the images idx into x and their labels into y. Image k of
// the batch is at position first+k of epoch's order.
func (f *filler) fill(x []float32, y []int32, idx []int32, epoch int, pcg *rand.PCG, rng *rand.Rand, scratch []float32) {
	px := f.px
	for k, i := range idx {
		src := f.d.Images[int(i)*px : int(i)*px+px]
		dst := x[k*px : k*px+px]
		for j, p := range src {
			dst[j] = f.scale[p]
		}
		y[k] = f.d.Labels[i]
		if f.transform != nil {
			pcg.Seed(f.seed^transformStream, uint64(epoch)<<32|uint64(uint32(i)))
			f.transform(dst, scratch, f.d.H, f.d.W, f.c, rng)
		}
	}
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
		f:      &filler{d: d, px: d.ImageLen(), c: d.Channels(), seed: seed},
		batch:  batch,
		buffer: min(shuffleBuffer, d.N),
		seed:   seed,
		order:  make([]int32, d.N),
	}
	l.rng = rand.New(&l.pcg)
	l.trng = rand.New(&l.tpcg)
	if l.buffer > 1 {
		l.slots = make([]int32, l.buffer)
	}
	for i := range l.f.scale {
		l.f.scale[i] = float32(i) / 255
	}
	l.Start(0)
	return l
}

// SetTransform makes the Loader apply t to every image it prepares (nil:
// none). It takes effect from the next Start.
func (l *Loader) SetTransform(t Transform) {
	l.drain()
	f := *l.f
	f.transform = t
	l.f = &f
	if t != nil && l.scratch == nil {
		l.scratch = make([]float32, l.f.px)
	}
	l.Start(l.epoch)
}

// DefaultWorkers is the number of prefetching workers that training uses:
// half the cores, at least 1 and at most 4. Preparing a batch costs little
// next to a training step, which uses every core.
func DefaultWorkers() int { return min(max(runtime.GOMAXPROCS(0)/2, 1), 4) }

// SetWorkers starts n goroutines that prepare up to 2n batches ahead of
// Next (n of 0 stops them: Next prepares each batch itself). The workers
// stop when the Loader is garbage-collected or Close is called. It
// restarts the current epoch.
func (l *Loader) SetWorkers(n int) {
	l.Close()
	if n > 0 {
		l.p = newPipeline(l.f, n, 2*n, min(l.batch, l.f.d.N))
		runtime.AddCleanup(l, func(p *pipeline) { p.close() }, l.p)
	}
	l.Start(l.epoch)
}

// Close stops the Loader's workers, if any; Next then prepares batches
// itself.
func (l *Loader) Close() {
	if l.p != nil {
		l.drain()
		l.p.close()
		l.p = nil
	}
}

// Start begins epoch epoch: it computes the epoch's order from (seed,
// epoch) and rewinds to its first batch. It does not allocate.
func (l *Loader) Start(epoch int) {
	l.drain()
	l.pos = 0
	l.epoch = epoch
	n := l.f.d.N
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

// drain waits for the batches the workers are preparing, so that the order
// can change.
func (l *Loader) drain() {
	if l.p == nil {
		return
	}
	for b := l.p.consumed; b < l.p.queued; b++ {
		<-l.p.slots[b%len(l.p.slots)].done
	}
	l.p.queued, l.p.consumed = 0, 0
}

// Next fills x with the next batch of images, as float32 NHWC
// [n, H, W, C] scaled to [0, 1], and y with their labels, and returns the
// number of images n. It returns ok=false, and n=0, at the end of the
// epoch. n equals the batch size except for the last batch of an epoch,
// which may be smaller. x must hold at least batch×H×W×C values and y at
// least batch; Next panics otherwise. It does not allocate.
func (l *Loader) Next(x []float32, y []int32) (n int, ok bool) {
	n = min(l.batch, len(l.order)-l.pos)
	if n <= 0 {
		return 0, false
	}
	px := l.f.px
	if len(x) < n*px || len(y) < n {
		panic(fmt.Sprintf("data: Loader.Next: x holds %d values and y %d, want at least %d and %d",
			len(x), len(y), n*px, n))
	}
	if p := l.p; p != nil {
		b := p.consumed
		for p.queued < min(b+len(p.slots), l.Batches()) {
			l.queue(p.queued)
		}
		s := &p.slots[b%len(p.slots)]
		<-s.done
		p.consumed++
		copy(x[:n*px], s.x[:n*px])
		copy(y[:n], s.y[:n])
		l.pos += n
		if b+len(p.slots) < l.Batches() {
			l.queue(b + len(p.slots))
		}
		return n, true
	}
	l.f.fill(x, y, l.order[l.pos:l.pos+n], l.epoch, &l.tpcg, l.trng, l.scratch)
	l.pos += n
	return n, true
}

// queue hands batch b of the epoch to the workers.
func (l *Loader) queue(b int) {
	lo := b * l.batch
	hi := min(lo+l.batch, len(l.order))
	l.p.jobs <- job{f: l.f, slot: &l.p.slots[b%len(l.p.slots)], idx: l.order[lo:hi], epoch: l.epoch}
	l.p.queued = b + 1
}

// pipeline is the prefetching workers and the batches they fill.
type pipeline struct {
	jobs     chan job
	slots    []slot
	queued   int // batches of the epoch handed to the workers
	consumed int // and those Next has taken
	once     sync.Once
}

// slot is one batch being prepared or ready.
type slot struct {
	x    []float32
	y    []int32
	done chan struct{} // receives once the batch is ready
}

// job asks a worker to prepare the images idx into slot.
type job struct {
	f     *filler
	slot  *slot
	idx   []int32
	epoch int
}

func newPipeline(f *filler, workers, depth, batch int) *pipeline {
	p := &pipeline{jobs: make(chan job, depth), slots: make([]slot, depth)}
	for i := range p.slots {
		p.slots[i] = slot{x: make([]float32, batch*f.px), y: make([]int32, batch), done: make(chan struct{}, 1)}
	}
	for range workers {
		go work(p.jobs, f.px)
	}
	return p
}

// work prepares batches until jobs is closed.
func work(jobs <-chan job, px int) {
	var pcg rand.PCG
	rng := rand.New(&pcg)
	var scratch []float32
	for j := range jobs {
		f := j.f
		if f.transform != nil && len(scratch) < px {
			scratch = make([]float32, px)
		}
		f.fill(j.slot.x, j.slot.y, j.idx, j.epoch, &pcg, rng, scratch)
		j.slot.done <- struct{}{}
	}
}

func (p *pipeline) close() { p.once.Do(func() { close(p.jobs) }) }

// Batches returns the number of batches in an epoch, the last partial one
// included.
func (l *Loader) Batches() int { return (l.f.d.N + l.batch - 1) / l.batch }

// BatchSize returns the batch size the Loader was made with.
func (l *Loader) BatchSize() int { return l.batch }

// Len returns the number of images in an epoch.
func (l *Loader) Len() int { return l.f.d.N }

// Order returns the order of image indices for the current epoch. The slice
// belongs to the Loader and changes with the next Start.
func (l *Loader) Order() []int32 { return l.order }
