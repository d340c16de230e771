package train

import (
	"encoding/json"
	"fmt"

	"resgo/autograd"
	"resgo/checkpoint"
	"resgo/tensor"
)

// Checkpoint returns the session's state as package checkpoint saves it,
// sharing its memory: save it before the session trains on. If the
// session stopped mid-epoch, Position says where. (Package checkpoint,
// which inference uses, knows nothing of training: this is the one place
// that joins them.)
func (s *Session) Checkpoint() *checkpoint.State {
	slots, step := s.Opt.State()
	opt := s.Config.Optimizer
	if opt == "" {
		opt = "adam"
	}
	st := &checkpoint.State{
		Model: s.Config.Model, Options: s.Config.ModelOptions, Net: s.Model,
		Epoch: len(s.History), Step: s.Trainer.Steps(), Seed: s.Config.Seed,
		Loader: checkpoint.LoaderState{Seed: s.Config.Seed, Batch: s.Config.Batch, Shuffle: s.Config.Shuffle,
			NextEpoch: len(s.History) + 1},
		Optimizer: checkpoint.OptimizerState{Name: opt, LR: s.Config.LR, Step: step},
		Run:       checkpoint.RunInfo{Epochs: s.Config.Epochs, EvalBatch: s.Config.EvalBatch},
		History:   make([]checkpoint.EpochResult, len(s.History)),
		Slots:     slots,
	}
	for i, r := range s.History {
		st.History[i] = checkpoint.EpochResult(r)
	}
	if s.Config.Recipe != (Recipe{}) {
		b, _ := json.Marshal(s.Config.Recipe) // plain fields: never fails
		st.Recipe = string(b)
	}
	if s.Config.Train != nil {
		st.Run.TrainImages = s.Config.Train.N
		st.Classes = s.Config.Train.Classes
	}
	if s.Config.Test != nil {
		st.Run.TestImages = s.Config.Test.N
	}
	if s.Config.Pool != nil {
		st.Run.Threads = s.Config.Pool.Workers()
	}
	if p := s.Trainer.Position(); p.Epoch == len(s.History)+1 {
		st.Position = &p
		st.Loader.Batches = p.Batches
	}
	return st
}

// Restore puts st into a session built for the same run: the model's
// weights, the optimiser's state, the history, the step count and, for an
// interrupted run, the position within the epoch. The session must have
// the same model, optimiser, batch size, shuffle buffer, seed and recipe.
// Errors are *checkpoint.Error naming st.Path.
func (s *Session) Restore(st *checkpoint.State) error {
	c := s.Config
	bad := func(format string, args ...any) error {
		return &checkpoint.Error{File: st.Path, Problem: fmt.Sprintf(format, args...)}
	}
	opt := c.Optimizer
	if opt == "" {
		opt = "adam"
	}
	recipe, err := RecipeOf(st)
	if err != nil {
		return err
	}
	switch {
	case st.Model != c.Model:
		return bad("is a checkpoint of model %s, not %s", st.Model, c.Model)
	case st.Slots == nil && st.Step > 0:
		return bad("holds only weights, no optimizer state: it cannot resume training")
	case st.Optimizer.Name != opt:
		return bad("was trained with optimizer %s, not %s", st.Optimizer.Name, opt)
	case st.Loader.Batch != c.Batch:
		return bad("was trained with batch size %d, not %d", st.Loader.Batch, c.Batch)
	case st.Loader.Shuffle != c.Shuffle:
		return bad("was trained with shuffle buffer %d, not %d", st.Loader.Shuffle, c.Shuffle)
	case st.Seed != c.Seed:
		return bad("was trained with seed %d, not %d", st.Seed, c.Seed)
	case recipe != c.Recipe:
		return bad("was trained with recipe %+v, not %+v", recipe, c.Recipe)
	}
	src := map[string]*autograd.Param{}
	for _, p := range st.Net.Params() {
		src[p.Name] = p
	}
	for _, p := range s.Model.Params() {
		q := src[p.Name]
		if q == nil || !tensor.SameShape(q.Value.Shape, p.Value.Shape) {
			return bad("does not fit the session's model %s (parameter %q)", c.Model, p.Name)
		}
		copy(p.Value.Data, q.Value.Data)
	}
	s.Opt.SetState(st.Slots, st.Step)
	s.History = make([]EpochResult, len(st.History))
	for i, r := range st.History {
		s.History[i] = EpochResult(r)
	}
	s.Trainer.SetSteps(st.Step)
	if st.Position != nil {
		s.Trainer.SetPosition(*st.Position)
	}
	return nil
}

// RecipeOf returns the training recipe a checkpoint records (the zero
// Recipe, the tutorial's, if none).
func RecipeOf(st *checkpoint.State) (Recipe, error) {
	var r Recipe
	if st.Recipe == "" {
		return r, nil
	}
	if err := json.Unmarshal([]byte(st.Recipe), &r); err != nil {
		return r, &checkpoint.Error{File: st.Path, Problem: fmt.Sprintf("metadata %q is not valid: %v", "recipe", err)}
	}
	return r, nil
}
