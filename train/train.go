// Package train runs the fit loop of the tutorial: for each epoch, a pass
// over the shuffled training batches with the loss's gradient and an
// optimiser step, then a pass over the test set in inference mode, with
// Keras's Mean and SparseCategoricalAccuracy metrics reset at each epoch.
package train

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"resgo/autograd"
	"resgo/checkpoint"
	"resgo/compute"
	"resgo/data"
	"resgo/models"
	"resgo/optim"
	"resgo/tensor"
)

// EpochResult is what one epoch measured, as a checkpoint's history keeps
// it: its fields are checkpoint.EpochResult's.
type EpochResult checkpoint.EpochResult

// Line formats the tutorial's per-epoch line, accuracies in percent.
func (r EpochResult) Line() string {
	return fmt.Sprintf("Epoch %d, Loss: %.4f, Accuracy: %.2f, Test Loss: %.4f, Test Accuracy: %.2f",
		r.Epoch, r.Loss, 100*r.Accuracy, r.TestLoss, 100*r.TestAccuracy)
}

// Progress is reported after every training step.
type Progress struct {
	Epoch, Step, Steps int // Step is 1-based within the epoch
	Images             int // images seen this epoch
	Loss, Accuracy     float64
	Elapsed            time.Duration
}

// Trainer holds a model, its optimiser and the reusable state of the loop.
type Trainer struct {
	Model  models.Model
	Opt    optim.Optimizer
	Params []*autograd.Param
	Pool   *compute.Pool
	// Profile, if not nil, receives the optimiser's time per step (the
	// tape's ops are timed with the tape's own SetProfile).
	Profile *autograd.Profile

	tape  *autograd.Tape
	x     *tensor.Tensor
	y     []int32
	loss  Mean
	acc   SparseCategoricalAccuracy
	batch int
	// epochImages counts the images trained in the current (or last) epoch
	// by this process: fewer than the epoch's when it resumed mid-way.
	epochImages int
	imgShape    [3]int
	step        int64
	seed        uint64
	pos         Position  // the epoch in progress (or last finished)
	resume      *Position // set by SetPosition, used by the next TrainEpoch

	// MaxLoss is the largest batch loss TrainEpoch accepts (see
	// DefaultMaxLoss, which NewTrainer sets); +Inf stops only on NaN and
	// infinite losses.
	MaxLoss float64
	// Schedule, if not nil, sets the optimiser's learning rate before each
	// step from the step count (the optimiser must be an optim.LRSetter):
	// a resumed run, which restores the count, continues the schedule.
	Schedule *optim.Schedule
	// LabelSmoothing is the loss's label smoothing ε (0: none).
	LabelSmoothing float32
	lr             float64 // the learning rate of the last step, if scheduled
}

// Position is where a Trainer stands within an epoch between two steps:
// what a checkpoint taken mid-epoch records (checkpoint.Position) so that a
// resumed run can skip the batches already trained and carry on the
// epoch's running metrics.
type Position = checkpoint.Position

// Position returns where the trainer stands: the epoch it is training or
// last trained, the batches of it done and its running metrics.
func (t *Trainer) Position() Position {
	p := t.pos
	p.LossSum, p.LossCount = t.loss.sum, t.loss.count
	p.Correct, p.Total = t.acc.correct, t.acc.total
	return p
}

// SetPosition makes the next TrainEpoch of epoch p.Epoch skip the first
// p.Batches batches of the loader's order for that epoch and continue the
// running metrics from p (when resuming mid-epoch). Other epochs start
// afresh.
func (t *Trainer) SetPosition(p Position) { t.resume = &p }

// NewTrainer prepares to train m with opt on batches of up to batch images
// h×w×c (the buffers are sized for batch: give at most the number of
// images an epoch has). seed seeds dropout.
func NewTrainer(m models.Model, opt optim.Optimizer, pool *compute.Pool, batch, h, w, c int, seed uint64) *Trainer {
	if pool == nil {
		pool = compute.Default()
	}
	if u, ok := opt.(optim.PoolUser); ok {
		u.UsePool(pool)
	}
	return &Trainer{
		Model: m, Opt: opt, Params: m.Params(), Pool: pool,
		tape:     autograd.NewTape(pool, seed),
		x:        tensor.New(batch, h, w, c),
		y:        make([]int32, batch),
		batch:    batch,
		imgShape: [3]int{h, w, c},
		seed:     seed,
		MaxLoss:  DefaultMaxLoss,
	}
}

// Steps returns the number of optimiser steps taken so far.
func (t *Trainer) Steps() int64 { return t.step }

// SetSteps sets the step counter (when resuming).
func (t *Trainer) SetSteps(n int64) { t.step = n }

// DefaultMaxLoss is the largest mean batch loss that training accepts
// before it declares the run diverged (Config.MaxLoss 0). A mean
// cross-entropy of 10,000 nats gives the true classes a probability of
// e^-10000 on average: the network is confidently wrong with logits
// thousands apart. Runs that healthy lose less than a few hundred nats in
// their worst step (the ResNet at --lr 0.01 peaks near 400); those that
// pass 10,000 (--lr 0.1 and above) end at chance or overflow to NaN.
const DefaultMaxLoss = 1e4

// NonFiniteError reports a diverged run: a training step whose loss is NaN,
// infinite or above the MaxLoss limit, a parameter that holds NaN or an
// infinity at the end of an epoch (Loss is then that value), or a test
// pass whose loss is NaN or infinite. The run stops at once, before
// OnEpoch is called for the epoch, so nothing saves the broken state.
type NonFiniteError struct {
	Epoch int     // 1-based
	Step  int     // 1-based within the epoch; 0 for the test pass
	Loss  float64 // the offending loss
	Limit float64 // the MaxLoss limit that a finite Loss exceeded, else 0
	Test  bool    // the test pass at the end of Epoch, not a training step
	// Param names a parameter found NaN or infinite at the end of Epoch
	// although the losses were finite (a ReLU can hide a NaN from them).
	Param string
}

// Error says where the run diverged and what to try.
func (e *NonFiniteError) Error() string {
	loss := fmt.Sprintf("%v", e.Loss)
	if e.Limit > 0 {
		loss = fmt.Sprintf("%.4g, over the limit of %g,", e.Loss, e.Limit)
	}
	switch {
	case e.Param != "":
		return fmt.Sprintf("training diverged: parameter %s holds %v after epoch %d (try a lower --lr)", e.Param, e.Loss, e.Epoch)
	case e.Test:
		return fmt.Sprintf("training diverged: the test loss is %s after epoch %d (try a lower --lr)", loss, e.Epoch)
	}
	return fmt.Sprintf("training diverged: the loss is %s at epoch %d, step %d (try a lower --lr)", loss, e.Epoch, e.Step)
}

// finite reports whether x is neither NaN nor infinite.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// dropoutStream offsets the per-step random streams of the tape from the
// loader's per-epoch streams, which share the seed.
const dropoutStream = 0x5eed << 32

// TrainStep runs forward, backward and an optimiser step on x [B, H, W, 1]
// with labels y, and returns the batch's mean loss. It updates the epoch's
// running metrics. The step's random ops draw from a stream that depends
// only on the seed and the step count, so a resumed run repeats them.
func (t *Trainer) TrainStep(x *tensor.Tensor, y []int32) float64 {
	tp := t.tape
	tp.Reset()
	tp.Seed(t.seed, dropoutStream+uint64(t.step))
	optim.ZeroGrad(t.Params)
	logits := t.Model.Forward(tp, tp.Constant(x), true)
	loss := tp.SmoothedSoftmaxCrossEntropy(logits, y, t.LabelSmoothing, nil)
	if err := tp.Backward(loss); err != nil {
		panic(err) // a model without trainable parameters: a programming error
	}
	if t.Schedule != nil {
		t.lr = t.Schedule.At(t.step)
		t.Opt.(optim.LRSetter).SetLR(t.lr)
	}
	var start time.Time
	if t.Profile != nil {
		start = time.Now()
	}
	t.Opt.Step(t.Params)
	if t.Profile != nil {
		t.Profile.Time[autograd.OpOptimizer] += time.Since(start)
	}
	t.step++
	l := float64(loss.Value.Data[0])
	t.loss.Update(l, float64(len(y)))
	t.acc.Update(logits.Value.Data, y, logits.Value.Shape[1])
	return l
}

// TrainEpoch runs one epoch (1-based) over loader, calling progress (if not
// nil) after each step. It stops early with ctx's error if ctx is done
// between steps (Position then tells how far it got), and with a
// *NonFiniteError if a step's loss is NaN, infinite or above MaxLoss (the
// step has then updated the parameters: the model's state is lost). After
// SetPosition it resumes the epoch where the position says.
func (t *Trainer) TrainEpoch(ctx context.Context, epoch int, loader *data.Loader, progress func(Progress)) (loss, acc float64, err error) {
	t.loss.Reset()
	t.acc.Reset()
	loader.Start(epoch - 1)
	t.pos = Position{Epoch: epoch}
	if r := t.resume; r != nil && r.Epoch == epoch {
		t.loss.sum, t.loss.count = r.LossSum, r.LossCount
		t.acc.correct, t.acc.total = r.Correct, r.Total
		for t.pos.Batches < r.Batches { // replay the epoch's order up to the position
			if _, ok := loader.Next(t.x.Data, t.y); !ok {
				break
			}
			t.pos.Batches++
		}
	}
	t.resume = nil
	start := time.Now()
	steps := loader.Batches()
	images := 0
	t.epochImages = 0
	for step := t.pos.Batches + 1; ; step++ {
		if err := ctx.Err(); err != nil {
			return t.loss.Result(), t.acc.Result(), err
		}
		n, ok := loader.Next(t.x.Data, t.y)
		if !ok {
			break
		}
		x := t.x
		if n != t.batch {
			x = &tensor.Tensor{Shape: []int{n, t.imgShape[0], t.imgShape[1], t.imgShape[2]}, Data: t.x.Data[:n*t.imgShape[0]*t.imgShape[1]*t.imgShape[2]]}
		}
		l := t.TrainStep(x, t.y[:n])
		t.pos.Batches++
		images += n
		t.epochImages = images
		if !finite(l) {
			return l, t.acc.Result(), &NonFiniteError{Epoch: epoch, Step: step, Loss: l}
		}
		if l > t.MaxLoss {
			return l, t.acc.Result(), &NonFiniteError{Epoch: epoch, Step: step, Loss: l, Limit: t.MaxLoss}
		}
		if progress != nil {
			progress(Progress{Epoch: epoch, Step: step, Steps: steps, Images: images,
				Loss: t.loss.Result(), Accuracy: t.acc.Result(), Elapsed: time.Since(start)})
		}
	}
	return t.loss.Result(), t.acc.Result(), nil
}

// evalTapes holds inference tapes between passes.
var evalTapes sync.Pool

// Evaluate returns the mean loss and the accuracy of the model in inference
// mode over every image of d, in batches of batch.
func Evaluate(m models.Model, pool *compute.Pool, d *data.Dataset, batch int) (loss, acc float64) {
	var lm Mean
	var am SparseCategoricalAccuracy
	Predict(m, pool, d, batch, func(logits []float32, labels []int32, K int, batchLoss float64) {
		lm.Update(batchLoss, float64(len(labels)))
		am.Update(logits, labels, K)
	})
	return lm.Result(), am.Result()
}

// Predict runs the model in inference mode over d in order and calls fn with
// each batch's logits [n, K], labels and mean loss. A batch larger than d
// (or below 1) is taken as d.N: the same single batch.
func Predict(m models.Model, pool *compute.Pool, d *data.Dataset, batch int, fn func(logits []float32, labels []int32, K int, loss float64)) {
	if batch < 1 || batch > d.N {
		batch = d.N
	}
	// Reuse an inference tape (and its arena) from an earlier pass, so that
	// evaluating after every epoch does not leave a dead arena behind each
	// time for the garbage collector.
	tp, _ := evalTapes.Get().(*autograd.Tape)
	if tp == nil || tp.Pool() != pool {
		tp = autograd.NewTape(pool, 0)
		tp.NoGrad = true
	}
	defer evalTapes.Put(tp)
	loader := data.NewLoader(d, batch, 0, 0)
	loader.Start(0)
	c := d.Channels()
	x := tensor.New(batch, d.H, d.W, c)
	y := make([]int32, batch)
	for {
		n, ok := loader.Next(x.Data, y)
		if !ok {
			return
		}
		tp.Reset()
		xb := &tensor.Tensor{Shape: []int{n, d.H, d.W, c}, Data: x.Data[:n*d.H*d.W*c]}
		logits := m.Forward(tp, tp.Constant(xb), false)
		loss := tp.SoftmaxCrossEntropy(logits, y[:n], nil)
		fn(logits.Value.Data, y[:n], logits.Value.Shape[1], float64(loss.Value.Data[0]))
	}
}
