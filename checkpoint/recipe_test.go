package checkpoint_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"resgo/checkpoint"
	"resgo/compute"
	"resgo/models"
	"resgo/optim"
	"resgo/train"
)

// recipeSession is newSession with a training recipe.
func recipeSession(t *testing.T, opt string, r train.Recipe, epochs int) *train.Session {
	t.Helper()
	tr, te := limited(t, 160, 32)
	s, err := train.NewSession(train.Config{Model: tinyModel, ModelOptions: models.Options{BNMomentum: 0.9},
		Epochs: epochs, Batch: 16, LR: 0.002, Optimizer: opt, Seed: 7, Shuffle: 100,
		Train: tr, Test: te, Pool: compute.Default(), Recipe: r})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stopAndSave runs s until the given step (1-based) of the given epoch,
// saves it, and returns the checkpoint loaded back from the file.
func stopAndSave(t *testing.T, s *train.Session, epoch, step int) *checkpoint.State {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Config.OnProgress = func(p train.Progress) {
		if p.Epoch == epoch && p.Step == step {
			cancel()
		}
	}
	if err := s.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	path := filepath.Join(t.TempDir(), "last.safetensors")
	if err := checkpoint.Save(path, s.Checkpoint()); err != nil {
		t.Fatal(err)
	}
	st, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRecipeResumeBitExact stops runs with every recipe setting on —
// schedules with warmup, AdamW and SGD with Nesterov momentum and weight
// decay, label smoothing, every augmentation, early stopping — between two
// steps and at an epoch's end, saves, and resumes in a fresh session from
// the file: the result equals the uninterrupted run's bit for bit. It also
// checks that each epoch's learning rate in the history is the schedule's
// at the epoch's last step.
func TestRecipeResumeBitExact(t *testing.T) {
	aug := "shift=2,rotate=10,crop=2,flip,scale=0.1"
	for _, c := range []struct {
		opt string
		r   train.Recipe
	}{
		{"adamw", train.Recipe{Schedule: optim.Cosine, WarmupEpochs: 1, WeightDecay: 1e-2, LabelSmoothing: 0.1,
			Augment: aug, Patience: 5, Monitor: "accuracy"}},
		{"sgd", train.Recipe{Schedule: optim.OneCycle, WeightDecay: 1e-3, Nesterov: true, Augment: "rotate=15"}},
		{"adam", train.Recipe{Schedule: optim.StepDecay, StepEpochs: 1, WarmupEpochs: 0.5, Patience: 2}},
	} {
		t.Run(c.opt+"-"+c.r.Schedule, func(t *testing.T) {
			straight := recipeSession(t, c.opt, c.r, 3)
			if err := straight.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			sched := straight.Trainer.Schedule
			for i, h := range straight.History {
				if want := sched.At(int64(10*(i+1) - 1)); h.LR != want || math.IsNaN(h.LR) {
					t.Fatalf("epoch %d: history's lr %v, the schedule's at its last step %v", i+1, h.LR, want)
				}
			}
			for _, stop := range []struct{ epoch, step int }{{2, 3}, {1, 10}} {
				s := recipeSession(t, c.opt, c.r, 3)
				st := stopAndSave(t, s, stop.epoch, stop.step)
				recipe, err := train.RecipeOf(st)
				if err != nil || recipe != s.Config.Recipe || st.Optimizer.Name != c.opt {
					t.Fatalf("the file's recipe %+v (%v), optimizer %s; the run's %+v, %s", recipe, err, st.Optimizer.Name, s.Config.Recipe, c.opt)
				}
				resumed := recipeSession(t, c.opt, recipe, 3)
				if err := resumed.Restore(st); err != nil {
					t.Fatal(err)
				}
				if err := resumed.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				sameState(t, straight.Checkpoint(), resumed.Checkpoint())
			}
			// A different recipe does not restore.
			other := c.r
			other.LabelSmoothing += 0.05
			st, err := checkpoint.Load(func() string {
				p := filepath.Join(t.TempDir(), "x.safetensors")
				if err := checkpoint.Save(p, straight.Checkpoint()); err != nil {
					t.Fatal(err)
				}
				return p
			}())
			if err != nil {
				t.Fatal(err)
			}
			if err := recipeSession(t, c.opt, other, 3).Restore(st); err == nil {
				t.Fatal("a checkpoint restored into a session with another recipe")
			}
		})
	}
}
