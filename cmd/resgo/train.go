package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"resgo/compute"
	"resgo/data"
	"resgo/models"
	"resgo/train"
)

func init() {
	register(&command{name: "train", summary: "train a model on MNIST (default: the tutorial's ResNet)", run: runTrain})
}

// trainFlags are the flags shared by train and the commands that train
// (compare).
type trainFlags struct {
	model  string
	epochs int
	batch  int
	lr     float64
	seed   uint64
	dataFlags
	threads    int
	trainLimit int
	testLimit  int
	width      float64
	maxLoss    float64
	bnMomentum float64
	shuffle    int
}

func (f *trainFlags) register(fs *flag.FlagSet, withModel bool) {
	if withModel {
		fs.StringVar(&f.model, "model", "resnet", "model to train: "+strings.Join(models.Names(), ", "))
	}
	fs.IntVar(&f.epochs, "epochs", 10, "number of epochs")
	fs.IntVar(&f.batch, "batch", 32, "batch size")
	lr := "Adam's learning rate"
	if withModel { // train, which also takes --lr-schedule
		lr = "learning rate (with --lr-schedule, its peak)"
	}
	fs.Float64Var(&f.lr, "lr", 0.001, lr)
	fs.Uint64Var(&f.seed, "seed", 1, "random seed for initialisation, shuffling and dropout")
	f.dataFlags.register(fs)
	fs.IntVar(&f.threads, "threads", runtime.NumCPU(), "worker threads (default: all cores)")
	fs.IntVar(&f.trainLimit, "train-limit", 0, "use only the first `N` training images (0: all)")
	fs.IntVar(&f.testLimit, "test-limit", 0, "use only the first `N` test images (0: all)")
	fs.Float64Var(&f.width, "width", 0, fmt.Sprintf("width multiplier for VGG models, at most %v (0: the model's default, 0.25)", models.MaxWidthMultiplier))
	fs.Float64Var(&f.maxLoss, "max-loss", train.DefaultMaxLoss, "stop as diverged when a training step's loss exceeds `L`\n(0: stop only when the loss is NaN or infinite)")
	fs.IntVar(&f.shuffle, "shuffle-buffer", 10000, "shuffle with a buffer of `N` images, as tf.data's shuffle(N)\n(the tutorial's 10,000; the number of training images or more shuffles fully)")
	fs.Float64Var(&f.bnMomentum, "bn-momentum", 0.99, "BatchNorm momentum of the moving statistics (Keras's 0.99; 0.9 suits runs of a few hundred steps)")
}

// check validates the flag values.
func (f *trainFlags) check(cmd string) error {
	switch {
	case f.epochs < 1:
		return badFlag(cmd, "--epochs must be at least 1, got %d", f.epochs)
	case f.batch < 1:
		return badFlag(cmd, "--batch must be at least 1, got %d", f.batch)
	case !(f.lr > 0) || f.lr > maxLR:
		return badFlag(cmd, "--lr must be more than 0 and at most %g (Adam's usual is 0.001), got %v", maxLR, f.lr)
	case f.threads < 1 || f.threads > maxThreads:
		return badFlag(cmd, "--threads must be 1 to %d, got %d", maxThreads, f.threads)
	case f.trainLimit < 0:
		return badFlag(cmd, "--train-limit must be 0 or more, got %d", f.trainLimit)
	case f.testLimit < 0:
		return badFlag(cmd, "--test-limit must be 0 or more, got %d", f.testLimit)
	case !(f.width >= 0 && f.width <= models.MaxWidthMultiplier):
		return badFlag(cmd, "--width must be more than 0 and at most %v, got %v", models.MaxWidthMultiplier, f.width)
	case !(f.maxLoss >= 0):
		return badFlag(cmd, "--max-loss must be 0 or more, got %v", f.maxLoss)
	case f.shuffle < 1:
		return badFlag(cmd, "--shuffle-buffer must be at least 1, got %d", f.shuffle)
	case !(f.bnMomentum > 0 && f.bnMomentum < 1):
		return badFlag(cmd, "--bn-momentum must be between 0 and 1, got %v", f.bnMomentum)
	}
	return nil
}

// maxLR is the largest learning rate accepted: far above any that trains
// (the ResNet diverges from about 0.1), low enough to refuse a typo.
const maxLR = 1e6

// maxLossLimit is --max-loss as train.Config.MaxLoss wants it.
func (f *trainFlags) maxLossLimit() float64 {
	if f.maxLoss == 0 {
		return math.Inf(1)
	}
	return f.maxLoss
}

// loadData reads the data set and applies the limits.
func (f *trainFlags) loadData(cmd string) (tr, te *data.Dataset, err error) {
	if tr, te, err = f.open(cmd); err != nil {
		return nil, nil, err
	}
	if f.trainLimit > 0 && tr != nil {
		if f.trainLimit > tr.N {
			return nil, nil, badFlag(cmd, "--train-limit %d is larger than the %d training images", f.trainLimit, tr.N)
		}
		if tr, err = tr.Limit(f.trainLimit); err != nil {
			return nil, nil, &exitError{code: 2, err: err}
		}
	}
	if f.testLimit > 0 {
		if f.testLimit > te.N {
			return nil, nil, badFlag(cmd, "--test-limit %d is larger than the %d test images", f.testLimit, te.N)
		}
		if te, err = te.Limit(f.testLimit); err != nil {
			return nil, nil, &exitError{code: 2, err: err}
		}
	}
	return tr, te, nil
}

const trainSynopsis = `
Usage: resgo train [flags]

Trains a model on MNIST (embedded in the binary) or on IDX files from --data,
printing after each epoch the tutorial's line:

  Epoch 1, Loss: 0.1342, Accuracy: 95.87, Test Loss: 0.0521, Test Accuracy: 98.31

Loss and accuracy are the epoch's running averages over the training batches
(metrics are reset each epoch, unlike the tutorial's, which accumulate);
test figures are over the whole test set in inference mode. Accuracies are in
percent, and the training pass's wall time and images/s. While an epoch runs
on a terminal, a progress bar shows the step, images/s over the last 5
seconds, the running loss and accuracy, the epoch's ETA and the run's.

With --checkpoint-dir DIR, DIR/last.safetensors is saved after every epoch
and DIR/best.safetensors whenever the test accuracy improves (docs/checkpoint.md
describes the format); DIR is locked while the run lasts, and a DIR that
holds another run is refused unless --overwrite. --resume DIR continues the run saved in
DIR/last.safetensors with its model, settings and seed, bit for bit as if it
had never stopped; --epochs may extend it (not past the end of a cosine or
onecycle schedule, whose rate ends near 0). Ctrl-C (or SIGTERM) finishes the
current step, saves DIR/last.safetensors (or ` + interruptDir + `/ without
--checkpoint-dir), prints the command that resumes and exits with status 130.

A run that diverges — a step's loss NaN, infinite or above --max-loss, a
weight NaN or the test loss NaN at an epoch's end — stops at once with
status 1, saving nothing: the checkpoints keep the last sound epoch. So does
a save that fails (a full disk), leaving the previous checkpoint intact.`

// interruptDir is where Ctrl-C saves when no --checkpoint-dir is given.
const interruptDir = "resgo-checkpoints"

func runTrain(args []string, stdout, stderr io.Writer) error {
	var f trainFlags
	var ck ckFlags
	var rf recipeFlags
	fs := newFlags("train", trainSynopsis+recipeSynopsis, stdout)
	f.register(fs, true)
	ck.register(fs)
	rf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := rf.expand(fs); err != nil {
		return err
	}
	resumed, err := ck.resume(fs, &f, stdout, stderr)
	if err != nil {
		return err
	}
	if err := f.check("train"); err != nil {
		return err
	}
	if err := rf.check(); err != nil {
		return err
	}
	if resumed != nil {
		if err := rf.resume(fs, resumed.st); err != nil {
			return err
		}
		if err := resumed.extends(f.epochs); err != nil {
			return err
		}
	}
	if err := rf.startLog(resumed != nil); err != nil {
		return err
	}
	ck.log = rf.log
	if _, err := models.New(f.model, models.Options{WidthMultiplier: f.width}); err != nil {
		return badFlag("train", "%v", err)
	}
	if err := checkWidth("train", f.model, f.width); err != nil {
		return err
	}
	f.splitSeed = f.seed
	tr, te, err := f.loadData("train")
	if err != nil {
		return err
	}
	compute.SetThreads(f.threads)
	pool := compute.Default()
	bar := newProgressBar(stdout, f.epochs)
	defer bar.close()
	cfg := train.Config{
		Model: f.model, ModelOptions: models.Options{WidthMultiplier: f.width, Seed: f.seed, BNMomentum: float32(f.bnMomentum)},
		Epochs: f.epochs, Batch: f.batch, LR: f.lr, Seed: f.seed, Shuffle: f.shuffle,
		Train: tr, Test: te, Pool: pool, MaxLoss: f.maxLossLimit(),
		OnProgress: bar.update,
		Optimizer:  rf.optimizer, Recipe: rf.value(),
		OnEpoch: func(s *train.Session, r train.EpochResult) error {
			bar.clear()
			line := epochLine(r)
			if s.Config.Recipe != (train.Recipe{}) {
				line += fmt.Sprintf(", LR: %.3g", r.LR)
			}
			fmt.Fprintln(stdout, line)
			if err := ck.epochDone(s, r, stdout); err != nil {
				return err
			}
			return rf.epochDone(r)
		},
	}
	if resumed != nil {
		resumed.configure(&cfg)
		cfg.Recipe = resumed.recipe
	}
	if err := checkBatchMemory("train", cfg.Model, cfg.ModelOptions, min(cfg.Batch, tr.N), pool); err != nil {
		return err
	}
	setMemoryLimit()
	s, err := train.NewSession(cfg)
	if err != nil {
		return badFlag("train", "%s", strings.TrimPrefix(err.Error(), "train: "))
	}
	defer ck.release()
	if err := ck.start(s, resumed, &f); err != nil {
		return err
	}
	tc, nc := models.CountParams(s.Model)
	f.announce(stdout, tr)
	fmt.Fprintf(stdout, "Training %s (%d trainable + %d non-trainable parameters) on %d images, testing on %d; batch %d, %d threads, %s kernels\n",
		f.model, tc, nc, tr.N, te.N, f.batch, pool.Workers(), compute.Kernels())
	if resumed != nil {
		fmt.Fprintln(stdout, resumed.describe(cfg.Epochs))
	} else if note := shortRunNote(f.bnMomentum, f.epochs*s.Loader.Batches()); nc > 0 && note != "" {
		fmt.Fprintln(stdout, note)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	runDone := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			// A second Ctrl-C ends the process at once; a second SIGTERM
			// does not: a stop sent to a whole process group (timeout,
			// systemd, a batch scheduler) reaches the run twice, directly
			// and through its supervisor.
			signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM)
			stop()
			bar.close() // the message takes the bar's line
			fmt.Fprintln(stderr, "Interrupted: finishing the current step, then saving a checkpoint (Ctrl-C again quits at once)")
		case <-runDone:
		}
	}()
	err = s.Run(ctx)
	close(runDone)
	bar.clear()
	if err == nil {
		stopped(s, stdout)
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return ck.interrupted(s, stdout)
	}
	var nf *train.NonFiniteError
	if errors.As(err, &nf) {
		return &exitError{code: 1, err: fmt.Errorf("%v; %s", err, ck.lastGood())}
	}
	return err
}

// epochLine is the tutorial's line for an epoch with the training pass's
// wall time and speed.
func epochLine(r train.EpochResult) string {
	return fmt.Sprintf("%s (%.1f s, %.0f images/s)", r.Line(), r.Seconds, r.ImagesPerSec)
}
