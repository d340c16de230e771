package train

import (
	"context"
	"fmt"
	"time"

	"resgo/data"
	"resgo/internal/kernels"
	"resgo/models"
	"resgo/optim"
)

// Config is everything a training run needs.
type Config struct {
	Model        string         // registered model name
	ModelOptions models.Options // Seed is set from Seed when zero
	Epochs       int            // total epochs to reach
	Batch        int            // training batch size (the tutorial's 32)
	LR           float64        // Adam's learning rate
	Optimizer    string         // "adam" (default) or "sgd" (momentum 0.9)
	Seed         uint64         // seeds initialisation, shuffling and dropout
	Shuffle      int            // shuffle buffer (tf.data's 10,000); 0 = 10,000
	EvalBatch    int            // batch size for the test pass; 0 = 32, the tutorial's
	Train, Test  *data.Dataset
	Pool         *kernels.Pool // nil: the default pool
	// MaxLoss is the largest training batch loss accepted before the run
	// counts as diverged: 0 means DefaultMaxLoss, +Inf only NaN and Inf.
	MaxLoss float64

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
		cfg.Pool = kernels.Default()
	}
	if cfg.ModelOptions.Seed == 0 {
		cfg.ModelOptions.Seed = cfg.Seed
	}
	m, err := models.New(cfg.Model, cfg.ModelOptions)
	if err != nil {
		return nil, err
	}
	var opt optim.Optimizer
	switch cfg.Optimizer {
	case "", "adam":
		opt = optim.NewAdam(cfg.LR)
	case "sgd":
		opt = optim.NewSGD(cfg.LR, 0.9)
	default:
		return nil, fmt.Errorf("train: unknown optimizer %q (adam or sgd)", cfg.Optimizer)
	}
	s := &Session{Config: cfg, Model: m, Opt: opt}
	// A batch larger than the training set is one batch of all of it: the
	// buffers need hold no more.
	s.Trainer = NewTrainer(m, opt, cfg.Pool, min(cfg.Batch, cfg.Train.N), cfg.Train.H, cfg.Train.W, cfg.Seed)
	s.Trainer.MaxLoss = cfg.MaxLoss
	s.Loader = data.NewLoader(cfg.Train, cfg.Batch, cfg.Shuffle, cfg.Seed)
	return s, nil
}

// Run trains from the epoch after the last one in History up to
// Config.Epochs. It returns ctx's error if ctx is cancelled (after finishing
// the current step), a *NonFiniteError if the run diverges, or OnEpoch's
// error. A diverged epoch, whether a training step's loss or the test
// loss gave it away, is not added to History and OnEpoch is not called
// for it: a checkpoint saved by OnEpoch is always of a sound state.
func (s *Session) Run(ctx context.Context) error {
	cfg := s.Config
	for epoch := len(s.History) + 1; epoch <= cfg.Epochs; epoch++ {
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
			Seconds: secs, ImagesPerSec: float64(s.Trainer.epochImages) / secs}
		s.History = append(s.History, r)
		if cfg.OnEpoch != nil {
			if err := cfg.OnEpoch(s, r); err != nil {
				return err
			}
		}
	}
	return nil
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
