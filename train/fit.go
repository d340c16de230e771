package train

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"resgo/compute"
	"resgo/data"
	"resgo/models"
	"resgo/optim"
)

// Config is everything a training run needs.
type Config struct {
	Model        string         // registered model name
	ModelOptions models.Options // Seed is set from Seed when zero
	Epochs       int            // total epochs to reach
	Batch        int            // training batch size (the tutorial's 32)
	LR           float64        // the learning rate (a schedule's peak)
	Optimizer    string         // "adam" (default), "adamw" or "sgd" (momentum 0.9)
	Seed         uint64         // seeds initialisation, shuffling and dropout
	Shuffle      int            // shuffle buffer (tf.data's 10,000); 0 = 10,000
	EvalBatch    int            // batch size for the test pass; 0 = 32, the tutorial's
	Train, Test  *data.Dataset
	Pool         *compute.Pool // nil: the default pool
	// MaxLoss is the largest training batch loss accepted before the run
	// counts as diverged: 0 means DefaultMaxLoss, +Inf only NaN and Inf.
	MaxLoss float64

	// Recipe is what the run adds to the tutorial's recipe (zero: nothing).
	Recipe Recipe

	// OnProgress, if not nil, is called after every training step.
	OnProgress func(Progress)
	// OnEpoch, if not nil, is called after every epoch with the history so
	// far (the new result last); an error stops training and is returned.
	OnEpoch func(s *Session, r EpochResult) error
}

// Session is one training run: the model, its optimiser, where it is and
// what it has measured. A Session can be restored from a checkpoint by
// setting the model's parameters, the optimiser's state, History and the
// trainer's step count (and, mid-epoch, its Position) before Run.
type Session struct {
	Config  Config
	Model   models.Model
	Opt     optim.Optimizer
	Trainer *Trainer
	Loader  *data.Loader
	History []EpochResult
	// Stopped is set when Run stopped early (Recipe.Patience): the epoch
	// whose monitored metric was the best.
	Stopped int
}

// Recipe is a training recipe's settings beyond the tutorial's: the
// learning-rate schedule, weight decay, label smoothing, augmentation and
// early stopping. Its zero value is the tutorial's recipe. A checkpoint
// keeps it, so that a resumed run continues under the same recipe.
type Recipe struct {
	// Schedule is one of optim.Schedules ("": constant), stepped per batch
	// over ScheduleEpochs (0: Config.Epochs, which NewSession sets), after
	// WarmupEpochs of linear warmup from 0 (onecycle's rising phase).
	Schedule       string  `json:"lr_schedule,omitempty"`
	WarmupEpochs   float64 `json:"warmup_epochs,omitempty"`
	ScheduleEpochs int     `json:"schedule_epochs,omitempty"`
	// StepEpochs is the step schedule's period: the learning rate drops
	// tenfold every StepEpochs epochs (0: a third of ScheduleEpochs).
	StepEpochs int `json:"step_epochs,omitempty"`
	// WeightDecay is AdamW's or SGD's decoupled weight decay λ.
	WeightDecay float64 `json:"weight_decay,omitempty"`
	// Nesterov gives SGD Nesterov's momentum.
	Nesterov bool `json:"nesterov,omitempty"`
	// LabelSmoothing is the loss's label smoothing ε, in [0, 1).
	LabelSmoothing float64 `json:"label_smoothing,omitempty"`
	// Augment is the training images' augmentation, as data.ParseAugment
	// reads it ("": none).
	Augment string `json:"augment,omitempty"`
	// Patience stops the run once the monitored metric has not improved
	// for Patience epochs (0: never). Monitor is "loss" (the test loss,
	// the default) or "accuracy" (the test accuracy).
	Patience int    `json:"patience,omitempty"`
	Monitor  string `json:"monitor,omitempty"`
}

// check validates r.
func (r Recipe) check() error {
	switch {
	case r.Schedule != "" && !slices.Contains(optim.Schedules, r.Schedule):
		return fmt.Errorf("train: unknown learning-rate schedule %q (%s)", r.Schedule, strings.Join(optim.Schedules, ", "))
	case !(r.WarmupEpochs >= 0) || r.ScheduleEpochs < 0 || r.StepEpochs < 0:
		return fmt.Errorf("train: negative warmup %v, schedule %d or step %d epochs", r.WarmupEpochs, r.ScheduleEpochs, r.StepEpochs)
	case !(r.WeightDecay >= 0 && r.WeightDecay < 1):
		return fmt.Errorf("train: weight decay %v is not in [0, 1)", r.WeightDecay)
	case !(r.LabelSmoothing >= 0 && r.LabelSmoothing < 1):
		return fmt.Errorf("train: label smoothing %v is not in [0, 1)", r.LabelSmoothing)
	case r.Patience < 0:
		return fmt.Errorf("train: negative patience %d", r.Patience)
	case r.Monitor != "" && r.Monitor != "loss" && r.Monitor != "accuracy":
		return fmt.Errorf("train: unknown monitor %q (loss or accuracy)", r.Monitor)
	}
	_, err := data.ParseAugment(r.Augment)
	return err
}

// scheduled reports whether the learning rate varies.
func (r Recipe) scheduled() bool {
	return (r.Schedule != "" && r.Schedule != optim.Constant) || r.WarmupEpochs > 0
}

// schedule returns the recipe's learning-rate schedule for a run with peak
// rate lr and steps per epoch, nil for the tutorial's constant rate.
func (r Recipe) schedule(lr float64, steps int) (*optim.Schedule, error) {
	if !r.scheduled() {
		return nil, nil
	}
	s := &optim.Schedule{Kind: cmp.Or(r.Schedule, optim.Constant), LR: lr,
		Warmup: int64(math.Round(r.WarmupEpochs * float64(steps))),
		Total:  int64(max(r.ScheduleEpochs, 1)) * int64(steps), Gamma: 0.1}
	if s.Kind != optim.Constant && s.Warmup >= s.Total {
		return nil, fmt.Errorf("train: %v warmup epochs leave nothing of the %d epochs to the %s schedule", r.WarmupEpochs, r.ScheduleEpochs, s.Kind)
	}
	if s.Kind == optim.StepDecay {
		s.StepEvery = int64(cmp.Or(r.StepEpochs, max(r.ScheduleEpochs/3, 1))) * int64(steps)
	}
	if err := s.Check(); err != nil {
		return nil, fmt.Errorf("train: %v", err)
	}
	return s, nil
}

// NewSession validates cfg and builds the model, the optimiser and the
// loader.
func NewSession(cfg Config) (*Session, error) {
	if cfg.Train == nil || cfg.Test == nil {
		return nil, fmt.Errorf("train: no data")
	}
	if cfg.Batch < 1 {
		return nil, fmt.Errorf("train: batch size %d < 1", cfg.Batch)
	}
	if cfg.Epochs < 0 {
		return nil, fmt.Errorf("train: negative epoch count %d", cfg.Epochs)
	}
	if cfg.EvalBatch < 0 || cfg.Shuffle < 0 {
		return nil, fmt.Errorf("train: negative test batch %d or shuffle buffer %d", cfg.EvalBatch, cfg.Shuffle)
	}
	if cfg.Train.N < 1 || cfg.Test.N < 1 {
		return nil, fmt.Errorf("train: %d training and %d test images: need at least one of each", cfg.Train.N, cfg.Test.N)
	}
	if !(cfg.MaxLoss >= 0) {
		return nil, fmt.Errorf("train: MaxLoss %v is negative", cfg.MaxLoss)
	}
	if cfg.MaxLoss == 0 {
		cfg.MaxLoss = DefaultMaxLoss
	}
	if cfg.Shuffle == 0 {
		cfg.Shuffle = 10000
	}
	if cfg.EvalBatch == 0 {
		cfg.EvalBatch = 32
	}
	if cfg.Pool == nil {
		cfg.Pool = compute.Default()
	}
	if cfg.ModelOptions.Seed == 0 {
		cfg.ModelOptions.Seed = cfg.Seed
	}
	opts, err := DataOptions(cfg.ModelOptions, cfg.Train)
	if err != nil {
		return nil, err
	}
	cfg.ModelOptions = opts
	m, err := models.New(cfg.Model, cfg.ModelOptions)
	if err != nil {
		return nil, err
	}
	rc := &cfg.Recipe
	if err := rc.check(); err != nil {
		return nil, err
	}
	if rc.ScheduleEpochs == 0 && rc.scheduled() {
		rc.ScheduleEpochs = cfg.Epochs
	}
	var opt optim.Optimizer
	switch cfg.Optimizer {
	case "", "adam":
		if rc.WeightDecay != 0 {
			return nil, fmt.Errorf("train: Adam takes no weight decay: use AdamW")
		}
		opt = optim.NewAdam(cfg.LR)
	case "adamw":
		opt = optim.NewAdamW(cfg.LR, rc.WeightDecay)
	case "sgd":
		opt = &optim.SGD{LR: cfg.LR, Momentum: 0.9, Nesterov: rc.Nesterov, WeightDecay: rc.WeightDecay}
	default:
		return nil, fmt.Errorf("train: unknown optimizer %q (adam, adamw or sgd)", cfg.Optimizer)
	}
	if rc.Nesterov && cfg.Optimizer != "sgd" {
		return nil, fmt.Errorf("train: Nesterov momentum is SGD's")
	}
	s := &Session{Config: cfg, Model: m, Opt: opt}
	// A batch larger than the training set is one batch of all of it: the
	// buffers need hold no more.
	s.Trainer = NewTrainer(m, opt, cfg.Pool, min(cfg.Batch, cfg.Train.N), cfg.Train.H, cfg.Train.W, cfg.Train.Channels(), cfg.Seed)
	s.Trainer.MaxLoss = cfg.MaxLoss
	s.Trainer.LabelSmoothing = float32(rc.LabelSmoothing)
	s.Loader = data.NewLoader(cfg.Train, cfg.Batch, cfg.Shuffle, cfg.Seed)
	s.Loader.SetWorkers(data.DefaultWorkers())
	if s.Trainer.Schedule, err = rc.schedule(cfg.LR, s.Loader.Batches()); err != nil {
		return nil, err
	}
	aug, _ := data.ParseAugment(rc.Augment) // checked above
	if !aug.None() {
		s.Loader.SetTransform(aug.Apply)
	}
	s.Config = cfg
	return s, nil
}

// Run trains from the epoch after the last one in History up to
// Config.Epochs, or until Recipe.Patience stops it (Stopped then says at
// which epoch the monitored metric was best). It returns ctx's error if ctx is cancelled (after finishing
// the current step), a *NonFiniteError if the run diverges, or OnEpoch's
// error. A diverged epoch, whether a training step's loss or the test
// loss gave it away, is not added to History and OnEpoch is not called
// for it: a checkpoint saved by OnEpoch is always of a sound state.
func (s *Session) Run(ctx context.Context) error {
	cfg := s.Config
	for epoch := len(s.History) + 1; epoch <= cfg.Epochs; epoch++ {
		if best, stop := s.plateau(); stop {
			s.Stopped = best
			return nil
		}
		start := time.Now()
		loss, acc, err := s.Trainer.TrainEpoch(ctx, epoch, s.Loader, cfg.OnProgress)
		if err != nil {
			return err
		}
		secs := time.Since(start).Seconds()
		if err := checkParams(s.Model, epoch); err != nil {
			return err
		}
		tl, ta := Evaluate(s.Model, cfg.Pool, cfg.Test, cfg.EvalBatch)
		if !finite(tl) {
			// Training losses were finite, but inference is not (the
			// moving statistics of BatchNorm, say, have overflowed).
			return &NonFiniteError{Epoch: epoch, Loss: tl, Test: true}
		}
		r := EpochResult{Epoch: epoch, Loss: loss, Accuracy: acc, TestLoss: tl, TestAccuracy: ta,
			Seconds: secs, ImagesPerSec: float64(s.Trainer.epochImages) / secs, LR: cfg.LR}
		if s.Trainer.Schedule != nil {
			r.LR = s.Trainer.lr
		}
		s.History = append(s.History, r)
		if cfg.OnEpoch != nil {
			if err := cfg.OnEpoch(s, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// plateau returns the epoch (1-based) of the best monitored metric in the
// history, the first if several tie, and whether the run should stop: the
// Patience epochs since have not bettered it (Keras's EarlyStopping with
// min_delta 0).
func (s *Session) plateau() (best int, stop bool) {
	rc := s.Config.Recipe
	if rc.Patience == 0 || len(s.History) == 0 {
		return 0, false
	}
	better := func(a, b EpochResult) bool { return a.TestLoss < b.TestLoss }
	if rc.Monitor == "accuracy" {
		better = func(a, b EpochResult) bool { return a.TestAccuracy > b.TestAccuracy }
	}
	b := 0
	for i, r := range s.History {
		if better(r, s.History[b]) {
			b = i
		}
	}
	return b + 1, len(s.History)-1-b >= rc.Patience
}

// checkParams returns a *NonFiniteError for the first parameter of m that
// holds NaN or an infinity. A loss can stay finite while a weight is not:
// a ReLU may turn the NaN it produces into 0.
func checkParams(m models.Model, epoch int) error {
	for _, p := range m.Params() {
		for _, v := range p.Value.Data {
			if x := float64(v); !finite(x) {
				return &NonFiniteError{Epoch: epoch, Loss: x, Param: p.Name}
			}
		}
	}
	return nil
}

// DataOptions returns o with the image shape and class count of d where o
// leaves them 0, so that a model is built for the data it trains on. It
// returns an error if o asks for another shape than d's images have, or
// fewer classes than d's labels need.
func DataOptions(o models.Options, d *data.Dataset) (models.Options, error) {
	if o.Height == 0 && o.Width == 0 && o.Channels == 0 {
		o.Height, o.Width, o.Channels = d.H, d.W, d.Channels()
	}
	if o.Classes == 0 && len(d.Classes) > 0 {
		o.Classes = len(d.Classes)
	}
	if s := o.InputShape(); s[0] != d.H || s[1] != d.W || s[2] != d.Channels() {
		return o, fmt.Errorf("train: the model takes %d×%d×%d images, but the data's are %d×%d×%d", s[0], s[1], s[2], d.H, d.W, d.Channels())
	}
	classes := o.Classes
	if classes == 0 {
		classes = 10
	}
	for _, l := range d.Labels {
		if int(l) >= classes || l < 0 {
			return o, fmt.Errorf("train: label %d, but the model has %d classes", l, classes)
		}
	}
	return o, nil
}
