package serve

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"resgo"
	"resgo/imageprep"
)

// pixelsPerImage is the size of one prepared image.
const pixelsPerImage = imageprep.Size * imageprep.Size

// job is one request's images waiting for a forward pass.
type job struct {
	ctx    context.Context
	pixels []float32 // n prepared images, n×28×28
	n      int
	done   chan result // buffered: the batcher never blocks on a caller
}

// result is a job's answer: a prediction per image, from model m.
type result struct {
	preds []resgo.Prediction
	model *resgo.Model
	err   error
}

// Errors of submit.
var (
	errQueueFull = errors.New("the model's queue is full: retry later")
	errClosed    = errors.New("the server is shutting down")
)

// batcher runs a model's queued jobs, several per forward pass, in one or
// more loops that each run their own forward passes.
type batcher struct {
	e        *entry
	queue    chan *job
	maxBatch int
	delay    time.Duration
	threads  int // of each loop's forward passes
	met      *metrics
	quit     chan struct{}
	done     chan struct{}
	// taken counts the jobs the loops have taken from the queue and not
	// yet answered.
	taken atomic.Int64
}

func newBatcher(e *entry, cfg *Config, met *metrics) *batcher {
	b := &batcher{e: e, queue: make(chan *job, cfg.MaxQueue), maxBatch: cfg.MaxBatch, delay: cfg.BatchDelay,
		threads: cfg.PassThreads, met: met, quit: make(chan struct{}), done: make(chan struct{})}
	b.start(cfg.Threads / cfg.PassThreads)
	return b
}

// start runs n loops; done is closed when they have all returned.
func (b *batcher) start(n int) {
	var wg sync.WaitGroup
	for range max(n, 1) {
		wg.Go(b.loop)
	}
	go func() { wg.Wait(); close(b.done) }()
}

// submit queues j, or fails at once if the queue is full.
func (b *batcher) submit(j *job) error {
	select {
	case <-b.quit:
		return errClosed
	default:
	}
	select {
	case b.queue <- j:
		return nil
	default:
		return errQueueFull
	}
}

// close stops the loop; jobs still queued get errClosed.
func (b *batcher) close() {
	close(b.quit)
	<-b.done
	for {
		select {
		case j := <-b.queue:
			j.done <- result{err: errClosed}
		default:
			return
		}
	}
}

// loop takes the first job waiting, then more until the batch holds
// maxBatch images or delay has passed since the first (it does not wait
// when every other request for the model under way is already in a batch),
// and runs them on its own copy of the model. A job that would overflow the
// batch starts the next one. A job larger than maxBatch runs alone (the
// model splits it).
func (b *batcher) loop() {
	var own ownModel
	var carry *job
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-b.queue:
				b.taken.Add(1)
			case <-b.quit:
				return
			}
		}
		jobs := []*job{first}
		n := first.n
		if n < b.maxBatch && b.delay > 0 {
			timer.Reset(b.delay)
		}
		for n < b.maxBatch {
			var j *job
			// Wait only if requests not yet queued may join the batch.
			if b.delay > 0 && b.e.active.Load() > b.taken.Load() {
				select {
				case j = <-b.queue:
				case <-timer.C:
				case <-b.quit:
				}
			} else {
				select {
				case j = <-b.queue:
				default:
				}
			}
			if j == nil {
				break
			}
			b.taken.Add(1)
			if n+j.n > b.maxBatch {
				carry = j
				break
			}
			jobs = append(jobs, j)
			n += j.n
		}
		timer.Stop() // since Go 1.23 a stopped timer delivers no stale tick
		b.run(&own, jobs)
		b.taken.Add(-int64(len(jobs)))
	}
}

// ownModel is a batcher loop's copy of the served model (m, a copy of of),
// made anew when the model is reloaded.
type ownModel struct{ of, m *resgo.Model }

// run answers jobs with one forward pass. Jobs whose caller has gone are
// dropped first. If the pass fails, each job is run alone, so that only the
// job that causes the failure gets it.
func (b *batcher) run(own *ownModel, jobs []*job) {
	live := jobs[:0]
	for _, j := range jobs {
		if err := j.ctx.Err(); err != nil {
			j.done <- result{err: err}
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	m := b.e.model.Load()
	if own.of != m {
		own.of, own.m = m, m.WithThreads(b.threads)
	}
	var pixels []float32
	if len(live) == 1 {
		pixels = live[0].pixels
	} else {
		n := 0
		for _, j := range live {
			n += j.n
		}
		pixels = make([]float32, 0, n*pixelsPerImage)
		for _, j := range live {
			pixels = append(pixels, j.pixels...)
		}
	}
	preds, err := own.m.PredictPixels(pixels)
	if err == nil {
		b.met.batchSize.WithLabelValues(b.e.name).Observe(float64(len(preds)))
	}
	if err != nil && len(live) > 1 {
		for _, j := range live {
			b.run(own, []*job{j})
		}
		return
	}
	if err == nil && len(preds) != len(pixels)/pixelsPerImage {
		err = errors.New("the model returned a wrong number of predictions")
	}
	at := 0
	for _, j := range live {
		if err != nil {
			j.done <- result{err: err}
			continue
		}
		j.done <- result{preds: preds[at : at+j.n : at+j.n], model: m}
		at += j.n
	}
}

// predict runs n prepared images through the model's batcher and waits for
// them, at most until ctx is done.
func (s *Server) predict(ctx context.Context, e *entry, pixels []float32, n int) (result, error) {
	j := &job{ctx: ctx, pixels: pixels, n: n, done: make(chan result, 1)}
	if err := e.b.submit(j); err != nil {
		if errors.Is(err, errQueueFull) {
			return result{}, &httpError{code: 429, msg: "model " + e.name + ": " + err.Error()}
		}
		return result{}, &httpError{code: 503, msg: err.Error()}
	}
	select {
	case r := <-j.done:
		if r.err != nil {
			return r, s.predictError(ctx, r.err)
		}
		return r, nil
	case <-ctx.Done():
		return result{}, s.predictError(ctx, ctx.Err())
	}
}

// predictError maps an error of a forward pass to an HTTP error.
func (s *Server) predictError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &httpError{code: 504, msg: "the request took longer than " + s.cfg.Timeout.String()}
	case errors.Is(err, context.Canceled):
		return &httpError{code: 499, msg: "the client went away"}
	case errors.Is(err, errClosed):
		return &httpError{code: 503, msg: err.Error()}
	}
	return &httpError{code: 500, msg: err.Error()}
}
