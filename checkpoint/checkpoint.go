// Package checkpoint saves and loads resgo's training state in the
// safetensors format (https://github.com/huggingface/safetensors), which
// PyTorch and Hugging Face users already read: an 8-byte little-endian
// header length, a JSON header describing every tensor and holding string
// metadata, then the raw little-endian data.
//
// A checkpoint holds every parameter of the model, BatchNorm's moving
// statistics included, under its stable name (res1.0.conv1.kernel; conv
// kernels HWIO as in Keras, dense kernels [in, out]); the optimiser's slots
// under "optimizer.<param>.<slot>"; and in the metadata the model's name and
// options, the epoch, step and seed, the loader's state, the optimiser's
// settings, the metrics history and, for a run interrupted mid-epoch, where
// in the epoch it stopped. docs/checkpoint.md documents the layout.
//
// Writes are atomic (WriteFile); reads validate everything and return an
// *Error naming the file and the problem, never panicking.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"resgo/autograd"
	"resgo/models"
	"resgo/tensor"
)

// The metadata's identification.
const (
	// Format is the metadata value of "format" in every resgo checkpoint.
	Format = "resgo.checkpoint"
	// FormatVersion is the version of the layout this package writes and
	// the newest it reads. Version 2 added the checksum (ChecksumKey),
	// which it requires; a version 1 file, without one, loads with a
	// Notice.
	FormatVersion = 2
	// OptimizerPrefix starts the names of the optimiser's slot tensors:
	// "optimizer.<param>.<slot>".
	OptimizerPrefix = "optimizer."
)

// State is a training run as a checkpoint records it.
type State struct {
	Model     string         // registered model name
	Options   models.Options // the options it was built with
	Net       models.Model   // the model; Load builds it with the file's weights
	Epoch     int            // epochs completed
	Step      int64          // optimiser steps taken
	Seed      uint64         // the run's seed (initialisation, shuffling, dropout)
	Loader    LoaderState
	Optimizer OptimizerState
	Run       RunInfo
	History   []EpochResult // one per completed epoch
	// Position is where an interrupted run stopped within epoch Epoch+1;
	// nil at an epoch's end.
	Position *Position
	// Slots are the optimiser's slots keyed "<param>.<slot>" (Adam's m and
	// v, SGD's velocity); nil in a file that holds only weights.
	Slots map[string][]float32
	// Recipe is the training recipe beyond the tutorial's (schedule,
	// weight decay, label smoothing, augmentation, early stopping): the
	// metadata's "recipe", JSON of train.Recipe, which package train
	// reads; "" for the tutorial's.
	Recipe string
	// Classes names the classes, label i being Classes[i] (the metadata's
	// "classes", a JSON list); nil in files written before it was kept, whose
	// classes are named by their indices.
	Classes []string
	// Path is the file Load read.
	Path string
	// Notice is a remark for the user about the file Load read, "" if
	// none: that it has no checksum, so damage cannot be detected.
	Notice string
}

// LoaderState is the training loader's state. Its order for an epoch
// depends only on (Seed, epoch), so this suffices to replay it.
type LoaderState struct {
	Seed      uint64 `json:"seed"`
	Batch     int    `json:"batch"`
	Shuffle   int    `json:"shuffle"`      // shuffle buffer size
	NextEpoch int    `json:"next_epoch"`   // the epoch to train next, 1-based
	Batches   int    `json:"batches_done"` // of NextEpoch, when interrupted
}

// OptimizerState is the optimiser's settings and step count.
type OptimizerState struct {
	Name string  `json:"name"` // "adam", "adamw" or "sgd"
	LR   float64 `json:"lr"`
	Step int64   `json:"step"`
}

// RunInfo is how the run was set up, for resuming it the same way.
type RunInfo struct {
	Epochs      int    `json:"epochs"`        // the epochs the run aims for
	EvalBatch   int    `json:"eval_batch"`    // batch size of the test pass
	TrainImages int    `json:"train_images"`  // training images per epoch
	TestImages  int    `json:"test_images"`   // test images
	TrainLimit  int    `json:"train_limit"`   // --train-limit (0: all)
	TestLimit   int    `json:"test_limit"`    // --test-limit (0: all)
	Data        string `json:"data"`          // --data folder ("": embedded MNIST)
	Threads     int    `json:"threads"`       // worker threads (bit-exact resumes need the same)
	Log         string `json:"log,omitempty"` // --log's CSV file, continued on resume
	// How --data was read, so that eval and a resumed run read it alike
	// (the image shape is the model's): its format, whether bad pictures
	// were skipped, and the split of a single class tree, ValSplit of each
	// class held out with SplitSeed, SplitTest images in all.
	Format    string  `json:"format,omitempty"`
	SkipBad   bool    `json:"skip_bad,omitempty"`
	ValSplit  float64 `json:"val_split,omitempty"`
	SplitSeed uint64  `json:"split_seed,omitempty"`
	SplitTest int     `json:"split_test,omitempty"`
	// Prepare says how a picture is prepared for the model:
	// PrepareDigits for a model trained on MNIST's digits, PreparePixels
	// for one trained on other images. Checkpoints written before it was
	// recorded leave it empty.
	Prepare string `json:"prepare,omitempty"`
}

// Digits says whether the model was trained on MNIST's digits, so that
// pictures are prepared for it as MNIST's were: as Prepare records, or,
// for a checkpoint written before it was recorded, if the run read IDX
// files (or the embedded MNIST).
func (r RunInfo) Digits() bool {
	if r.Prepare != "" {
		return r.Prepare == PrepareDigits
	}
	return r.Format == "" || r.Format == "idx"
}

// The values of RunInfo.Prepare.
const (
	// PrepareDigits: as MNIST's digits were (package imageprep): cropped,
	// scaled into a 20×20 box and centred by mass.
	PrepareDigits = "digits"
	// PreparePixels: the picture's pixels scaled to the model's input.
	PreparePixels = "pixels"
)

// EpochResult is what one epoch of training measured, as the history
// records it. Accuracies are in [0, 1].
type EpochResult struct {
	Epoch        int     `json:"epoch"` // 1-based
	Loss         float64 `json:"loss"`
	Accuracy     float64 `json:"accuracy"`
	TestLoss     float64 `json:"test_loss"`
	TestAccuracy float64 `json:"test_accuracy"`
	Seconds      float64 `json:"seconds"` // training pass only
	ImagesPerSec float64 `json:"images_per_sec"`
	LR           float64 `json:"lr,omitempty"` // the learning rate of the epoch's last step
}

// Position is where a run stood within an epoch when it was interrupted
// between two steps: enough for a resumed run to skip the batches already
// trained and carry on the epoch's running metrics.
type Position struct {
	Epoch     int     `json:"epoch"`      // the epoch in progress, 1-based
	Batches   int     `json:"batches"`    // its batches already trained
	LossSum   float64 `json:"loss_sum"`   // the loss Mean's weighted sum
	LossCount float64 `json:"loss_count"` // and its total weight
	Correct   int     `json:"correct"`    // the accuracy's correct examples
	Total     int     `json:"total"`      // and examples seen
}

// slotNames are the slots each optimiser keeps per trainable parameter.
var slotNames = map[string][]string{"adam": {"m", "v"}, "adamw": {"m", "v"}, "sgd": {"velocity"}}

// Save writes st to path atomically (see WriteFile): the model's
// parameters in its order, then the optimiser's slots sorted by name. It
// refuses a state that holds NaN or an infinity.
func Save(path string, st *State) error {
	ts, meta, err := st.parts()
	if err != nil {
		return &Error{File: path, Problem: "cannot save: " + err.Error(), Err: err}
	}
	return WriteFile(path, ts, meta)
}

// parts returns the tensors and metadata that Save writes for st.
func (st *State) parts() ([]Tensor, map[string]string, error) {
	if st.Net == nil {
		return nil, nil, errors.New("no model")
	}
	var ts []Tensor
	shapes := map[string][]int{}
	for _, p := range st.Net.Params() {
		ts = append(ts, Tensor{Name: p.Name, Shape: p.Value.Shape, Data: p.Value.Data})
		shapes[p.Name] = p.Value.Shape
	}
	for _, k := range slices.Sorted(maps.Keys(st.Slots)) {
		v := st.Slots[k]
		shape := []int{len(v)} // a slot of no known parameter: Load will refuse it
		if i := strings.LastIndexByte(k, '.'); i > 0 && shapes[k[:i]] != nil && tensor.Size(shapes[k[:i]]) == len(v) {
			shape = shapes[k[:i]]
		}
		ts = append(ts, Tensor{Name: OptimizerPrefix + k, Shape: shape, Data: v})
	}
	for _, t := range ts {
		if err := allFinite(t); err != nil {
			return nil, nil, fmt.Errorf("%v (a diverged state is never saved; the previous file, if any, is intact)", err)
		}
		if err := nonNegative(t); err != nil {
			return nil, nil, err
		}
	}
	meta, err := st.metadata()
	if err != nil {
		return nil, nil, err
	}
	return ts, meta, nil
}

// allFinite returns an error naming t and the first NaN or infinite value
// in it, if any.
func allFinite(t Tensor) error {
	for i, v := range t.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("tensor %q holds %v at index %d", t.Name, v, i)
		}
	}
	return nil
}

// isVariance says whether the tensor called name holds variances, which
// are never negative: BatchNorm's moving variance or Adam's second moment.
func isVariance(name string) bool {
	return strings.HasSuffix(name, ".moving_variance") ||
		strings.HasPrefix(name, OptimizerPrefix) && strings.HasSuffix(name, ".v")
}

// nonNegative returns an error naming t and its first negative value if t
// holds variances (see isVariance) and any is below zero.
func nonNegative(t Tensor) error {
	if !isVariance(t.Name) {
		return nil
	}
	for i, v := range t.Data {
		if v < 0 {
			return fmt.Errorf("tensor %q holds %v at index %d, but it holds variances, which are never negative", t.Name, v, i)
		}
	}
	return nil
}

// metadata returns the header's metadata for st.
func (st *State) metadata() (map[string]string, error) {
	m := map[string]string{
		"format":         Format,
		"format_version": strconv.Itoa(FormatVersion),
		"model":          st.Model,
		"epoch":          strconv.Itoa(st.Epoch),
		"step":           strconv.FormatInt(st.Step, 10),
		"seed":           strconv.FormatUint(st.Seed, 10),
	}
	hist := st.History
	if hist == nil {
		hist = []EpochResult{}
	}
	for key, v := range map[string]any{"model_options": st.Options, "loader": st.Loader,
		"optimizer": st.Optimizer, "run": st.Run, "history": hist} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %v", key, err)
		}
		m[key] = string(b)
	}
	if st.Recipe != "" {
		m["recipe"] = st.Recipe
	}
	if st.Classes != nil {
		b, err := json.Marshal(st.Classes)
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %v", "classes", err)
		}
		m["classes"] = string(b)
	}
	if st.Position != nil {
		b, err := json.Marshal(st.Position)
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %v", "interrupted", err)
		}
		m["interrupted"] = string(b)
	}
	return m, nil
}

// Load reads the checkpoint at path and checks it against the model it
// names: every parameter present with the model's shape, no stray tensors,
// optimiser slots complete and of the right shapes, and metadata that is
// whole and consistent. It returns the state with Net built and holding the
// file's weights. Every error is an *Error naming the file and the problem.
func Load(path string) (*State, error) {
	f, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return FromFile(path, f)
}

// FromFile interprets a decoded safetensors file as a checkpoint (see
// Load); name is used in errors.
func FromFile(name string, f *File) (*State, error) {
	st := &State{Path: name}
	md := f.Metadata
	bad := func(format string, args ...any) (*State, error) { return nil, errf(name, format, args...) }
	switch v, ok := md["format"]; {
	case !ok:
		return bad("not a resgo checkpoint: its __metadata__ has no %q (a safetensors file from elsewhere?)", "format")
	case v != Format:
		return bad("not a resgo checkpoint: format is %q, want %q", v, Format)
	}
	ver, err := strconv.Atoi(md["format_version"])
	switch {
	case err != nil || ver < 1:
		return bad("format_version %q is not a version number", md["format_version"])
	case ver > FormatVersion:
		return bad("format version %d is newer than this resgo reads (%d): update resgo", ver, FormatVersion)
	case ver >= 2 && !f.Checksummed:
		return bad("format version %d requires a checksum, and its metadata has no %q: the file is damaged", ver, ChecksumKey)
	case !f.Checksummed:
		st.Notice = fmt.Sprintf("checkpoint %s has no checksum (an older resgo wrote it): damage to it cannot be detected", name)
	}
	st.Model = md["model"]
	if st.Model == "" {
		return bad("the metadata names no model")
	}
	var epoch, step, seed uint64
	for _, it := range []struct {
		key string
		v   *uint64
		max uint64
	}{{"epoch", &epoch, 1 << 30}, {"step", &step, 1 << 62}, {"seed", &seed, 1<<64 - 1}} {
		s, ok := md[it.key]
		if !ok {
			return bad("the metadata has no %q", it.key)
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n > it.max {
			return bad("metadata %q is %q, not a count", it.key, s)
		}
		*it.v = n
	}
	st.Epoch, st.Step, st.Seed = int(epoch), int64(step), seed
	for _, it := range []struct {
		key string
		v   any
	}{{"model_options", &st.Options}, {"loader", &st.Loader}, {"optimizer", &st.Optimizer},
		{"run", &st.Run}, {"history", &st.History}} {
		s, ok := md[it.key]
		if !ok {
			return bad("the metadata has no %q", it.key)
		}
		if err := json.Unmarshal([]byte(s), it.v); err != nil {
			return bad("metadata %q is not valid: %v", it.key, err)
		}
	}
	if s, ok := md["recipe"]; ok {
		if !json.Valid([]byte(s)) || !strings.HasPrefix(s, "{") {
			return bad("metadata %q is not a JSON object", "recipe")
		}
		st.Recipe = s
	}
	if s, ok := md["interrupted"]; ok {
		st.Position = new(Position)
		if err := json.Unmarshal([]byte(s), st.Position); err != nil {
			return bad("metadata %q is not valid: %v", "interrupted", err)
		}
	}
	if err := st.consistent(); err != nil {
		return bad("inconsistent metadata: %v", err)
	}
	net, err := models.New(st.Model, st.Options)
	if err != nil {
		return bad("cannot build its model: %v", err)
	}
	if s, ok := md["classes"]; ok {
		if err := json.Unmarshal([]byte(s), &st.Classes); err != nil {
			return bad("metadata %q is not valid: %v", "classes", err)
		}
		want := st.Options.Classes
		if want == 0 {
			want = 10 // models.Options: 0 means the digits
		}
		if len(st.Classes) != want {
			return bad("metadata %q names %d classes, but the model has %d", "classes", len(st.Classes), want)
		}
	}
	st.Net = net
	if err := st.fill(f); err != nil {
		return bad("%v", err)
	}
	return st, nil
}

// consistent checks the metadata's values against each other.
func (st *State) consistent() error {
	if len(st.History) != st.Epoch {
		return fmt.Errorf("epoch is %d, but the history has %d epochs", st.Epoch, len(st.History))
	}
	for i, r := range st.History {
		if r.Epoch != i+1 {
			return fmt.Errorf("history entry %d is for epoch %d", i+1, r.Epoch)
		}
	}
	if st.Optimizer.Step != st.Step {
		return fmt.Errorf("step is %d, but the optimizer's step is %d", st.Step, st.Optimizer.Step)
	}
	if _, ok := slotNames[st.Optimizer.Name]; !ok {
		return fmt.Errorf("unknown optimizer %q", st.Optimizer.Name)
	}
	if st.Loader.NextEpoch != st.Epoch+1 {
		return fmt.Errorf("epoch is %d, but the loader's next epoch is %d", st.Epoch, st.Loader.NextEpoch)
	}
	if !(st.Optimizer.LR > 0) {
		return fmt.Errorf("the learning rate is %v", st.Optimizer.LR)
	}
	if r := st.Run; r.Epochs < 0 || r.EvalBatch < 0 || r.TrainImages < 0 || r.TestImages < 0 ||
		r.TrainLimit < 0 || r.TestLimit < 0 || r.Threads < 0 {
		return fmt.Errorf("run settings with a negative count: %+v", r)
	}
	if p := st.Run.Prepare; p != "" && p != PrepareDigits && p != PreparePixels {
		return fmt.Errorf("the pictures' preparation is %q, want %q or %q", p, PrepareDigits, PreparePixels)
	}
	if st.Loader.Batch < 1 || st.Loader.Shuffle < 0 || st.Loader.Batches < 0 {
		return fmt.Errorf("loader batch %d, shuffle %d, batches done %d", st.Loader.Batch, st.Loader.Shuffle, st.Loader.Batches)
	}
	if p := st.Position; p != nil {
		if p.Epoch != st.Epoch+1 || p.Batches != st.Loader.Batches || p.Batches < 0 {
			return fmt.Errorf("interrupted at epoch %d batch %d, but epoch is %d and the loader's batches done %d",
				p.Epoch, p.Batches, st.Epoch, st.Loader.Batches)
		}
	} else if st.Loader.Batches != 0 {
		return fmt.Errorf("the loader has done %d batches of epoch %d, but the run is not marked interrupted", st.Loader.Batches, st.Loader.NextEpoch)
	}
	return nil
}

// fill copies the file's tensors into st.Net and st.Slots, checking names
// and shapes.
func (st *State) fill(f *File) error {
	byName := make(map[string]*Tensor, len(f.Tensors))
	for i := range f.Tensors {
		byName[f.Tensors[i].Name] = &f.Tensors[i]
	}
	params := st.Net.Params()
	pmap := make(map[string]*autograd.Param, len(params))
	var missing []string
	for _, p := range params {
		pmap[p.Name] = p
		if byName[p.Name] == nil {
			missing = append(missing, p.Name)
		}
	}
	if len(missing) > 0 {
		if 2*len(missing) > len(params) {
			return fmt.Errorf("its tensors do not fit model %s: %d of its %d parameters are missing (such as %q); a file of another model?",
				st.Model, len(missing), len(params), missing[0])
		}
		return fmt.Errorf("tensor %q of model %s is missing (%d missing in all)", missing[0], st.Model, len(missing))
	}
	// Parameters, in the model's order.
	for _, p := range params {
		t := byName[p.Name]
		if !tensor.SameShape(t.Shape, p.Value.Shape) {
			return fmt.Errorf("tensor %q has shape %v, but model %s needs %v", p.Name, t.Shape, st.Model, p.Value.Shape)
		}
		copy(p.Value.Data, t.Data)
	}
	// NaN or infinite values: a diverged run's state, never worth loading.
	for _, t := range f.Tensors {
		if err := allFinite(t); err != nil {
			return fmt.Errorf("%v: the run that saved it had diverged", err)
		}
	}
	// Values that no training gives: variances below zero.
	for _, t := range f.Tensors {
		if err := nonNegative(t); err != nil {
			return fmt.Errorf("%v: the file is damaged", err)
		}
	}
	// Everything else must be an optimiser slot of a trainable parameter.
	want := slotNames[st.Optimizer.Name]
	for _, t := range f.Tensors {
		if pmap[t.Name] != nil {
			continue
		}
		rest, ok := strings.CutPrefix(t.Name, OptimizerPrefix)
		i := strings.LastIndexByte(rest, '.')
		if !ok || i < 0 {
			return fmt.Errorf("tensor %q is not a parameter of model %s", t.Name, st.Model)
		}
		p, slot := pmap[rest[:i]], rest[i+1:]
		switch {
		case p == nil || !p.Trainable:
			return fmt.Errorf("tensor %q is a slot of %q, which is not a trainable parameter of model %s", t.Name, rest[:i], st.Model)
		case !slices.Contains(want, slot):
			return fmt.Errorf("tensor %q: %s keeps no slot %q (it keeps %s)", t.Name, st.Optimizer.Name, slot, strings.Join(want, ", "))
		case !tensor.SameShape(t.Shape, p.Value.Shape):
			return fmt.Errorf("tensor %q has shape %v, but its parameter has %v", t.Name, t.Shape, p.Value.Shape)
		}
		if st.Slots == nil {
			st.Slots = map[string][]float32{}
		}
		st.Slots[rest] = t.Data
	}
	if st.Slots == nil {
		return nil // weights only
	}
	for _, p := range params {
		for _, s := range want {
			if p.Trainable && st.Slots[p.Name+"."+s] == nil && st.Step > 0 {
				return fmt.Errorf("optimizer slot %q is missing", OptimizerPrefix+p.Name+"."+s)
			}
		}
	}
	return nil
}

// ClassName returns the name of class c: Classes[c], or c's digits where
// the checkpoint names no classes (MNIST's "0" to "9" alike).
func (st *State) ClassName(c int) string {
	if c >= 0 && c < len(st.Classes) {
		return st.Classes[c]
	}
	return strconv.Itoa(c)
}
