package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"

	"resgo/checkpoint"
	"resgo/compute"
	"resgo/data"
	"resgo/train"
)

func init() {
	register(&command{name: "eval", summary: "test a saved model: loss, accuracy, per-class accuracy, confusion matrix", run: runEval})
}

const evalSynopsis = `
Usage: resgo eval --checkpoint FILE [--data PATH] [--test-limit N] [--json]

Evaluates the model saved in FILE (by 'resgo train --checkpoint-dir') on the
test set of --data (by default the data it was trained on if not MNIST, else
the embedded MNIST), read as training read it: the same format, image shape
and, for a single class tree, the same held-out images. In inference mode: the test
loss and accuracy (as training computes them, so the figures of best.safetensors
match the line training printed for its epoch, given the same --test-limit),
the accuracy of each class and the confusion matrix. --json prints them as
one JSON object instead.`

// evalResult is what eval prints with --json.
type evalResult struct {
	Checkpoint string       `json:"checkpoint"`
	Model      string       `json:"model"`
	Epoch      int          `json:"epoch"`
	Step       int64        `json:"step"`
	Images     int          `json:"images"`
	Loss       float64      `json:"loss"`
	Accuracy   float64      `json:"accuracy"`
	PerClass   []classScore `json:"per_class"`
	// Confusion[t][p] counts the images of true class t predicted as p.
	Confusion [][]int `json:"confusion"`
}

type classScore struct {
	Class    int     `json:"class"`
	Name     string  `json:"name"`
	Images   int     `json:"images"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
}

func runEval(args []string, stdout, stderr io.Writer) error {
	var (
		path             string
		testLimit, batch int
		df               dataFlags
		threads          int
		asJSON           bool
	)
	fs := newFlags("eval", evalSynopsis, stdout)
	fs.StringVar(&path, "checkpoint", "", "the checkpoint `FILE` to evaluate (required)")
	df.register(fs)
	fs.IntVar(&testLimit, "test-limit", 0, "use only the first `N` test images (0: all)")
	fs.IntVar(&batch, "batch", 0, "batch size (0: the one training used for its test pass)")
	fs.IntVar(&threads, "threads", runtime.NumCPU(), "worker threads (default: all cores)")
	fs.BoolVar(&asJSON, "json", false, "print the results as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case path == "":
		return badFlag("eval", "--checkpoint FILE is required")
	case testLimit < 0:
		return badFlag("eval", "--test-limit must be 0 or more, got %d", testLimit)
	case batch < 0:
		return badFlag("eval", "--batch must be positive, got %d", batch)
	case threads < 1 || threads > maxThreads:
		return badFlag("eval", "--threads must be 1 to %d, got %d", maxThreads, threads)
	}
	st, err := loadModel(path) // a checkpoint or an ONNX file
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	notice(stderr, st.Notice)
	f := trainFlags{dataFlags: df, testLimit: testLimit}
	f.testOnly = true
	f.fromCheckpoint(fs, st)
	_, te, err := f.loadData("eval")
	if err != nil {
		return err
	}
	if err := checkClasses(st, te); err != nil {
		return err
	}
	if batch == 0 {
		batch = st.Run.EvalBatch
		if batch < 1 {
			batch = 256
		}
	}
	compute.SetThreads(threads)
	if err := checkEvalMemory("eval", st.Model, st.Net, []int{te.H, te.W, te.Channels()}, min(batch, te.N), compute.Default()); err != nil {
		return err
	}
	r, err := evaluate(st, te, batch)
	if err != nil {
		return err
	}
	r.Checkpoint = path
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printEval(stdout, r, st)
	return nil
}

// fromCheckpoint reads the data as the checkpoint's run did, for the flags
// not given: its data if it was not MNIST, its format, the model's image
// shape, the split of a single class tree and its seed.
func (f *trainFlags) fromCheckpoint(fs *flag.FlagSet, st *checkpoint.State) {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	r := st.Run
	if !set["data"] && r.Format != "" && r.Format != data.FormatIDX {
		f.dataDir = r.Data
	}
	if !set["format"] && f.dataDir == r.Data {
		f.format = r.Format
	}
	shape := st.Options.InputShape()
	if !set["channels"] {
		f.channels = shape[2]
	}
	if !set["image-size"] {
		f.imageSize = fmt.Sprintf("%dx%d", shape[0], shape[1])
	}
	if !set["val-split"] && r.ValSplit > 0 {
		f.valSplit = r.ValSplit
	}
	if !set["skip-bad"] {
		f.skipBad = r.SkipBad
	}
	f.splitSeed = st.Seed
	if r.ValSplit > 0 {
		f.splitSeed = r.SplitSeed
	}
}

// checkClasses returns an error if d's classes are not those the
// checkpoint's model was trained on.
func checkClasses(st *checkpoint.State, d *data.Dataset) error {
	k := st.Options.Classes
	if k == 0 {
		k = 10
	}
	if len(d.Classes) > k {
		return &exitError{code: 2, err: fmt.Errorf("the data has %d classes, but the model of %s has %d", len(d.Classes), st.Path, k)}
	}
	if st.Classes != nil && !slices.Equal(st.Classes, d.Classes) && len(d.Classes) == k {
		return &exitError{code: 2, err: fmt.Errorf("the data's classes (%s) are not those %s was trained on (%s)",
			strings.Join(d.Classes, ", "), st.Path, strings.Join(st.Classes, ", "))}
	}
	return nil
}

// evaluate runs the model over d as train.Evaluate does (the same loss
// and accuracy, bit for bit) and also counts the confusion matrix. Outputs
// that are not finite numbers are an error naming the checkpoint (exit
// status 1), never a printed NaN.
func evaluate(st *checkpoint.State, d *data.Dataset, batch int) (*evalResult, error) {
	r := &evalResult{Model: st.Model, Epoch: st.Epoch, Step: st.Step, Images: d.N}
	var loss train.Mean
	var acc train.SparseCategoricalAccuracy
	seen, bad := 0, -1 // images done; the first whose outputs are not finite
	train.Predict(st.Net, compute.Default(), d, batch, func(logits []float32, labels []int32, K int, batchLoss float64) {
		if bad < 0 && (math.IsNaN(batchLoss) || math.IsInf(batchLoss, 0)) {
			bad = seen // the loss alone may overflow
			for i, v := range logits {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					bad = seen + i/K
					break
				}
			}
		}
		seen += len(labels)
		if r.Confusion == nil {
			r.Confusion = make([][]int, K)
			for i := range r.Confusion {
				r.Confusion[i] = make([]int, K)
			}
		}
		loss.Update(batchLoss, float64(len(labels)))
		acc.Update(logits, labels, K)
		for b, l := range labels {
			r.Confusion[l][train.Argmax(logits[b*K:(b+1)*K])]++
		}
	})
	if bad >= 0 {
		return nil, &exitError{code: 1, err: &checkpoint.Error{File: st.Path, Problem: fmt.Sprintf(
			"the model gives non-finite outputs for test image %d: its weights overflow on it (a damaged file?)", bad)}}
	}
	r.Loss, r.Accuracy = loss.Result(), acc.Result()
	for c, row := range r.Confusion {
		s := classScore{Class: c, Name: st.ClassName(c), Correct: row[c]}
		for _, n := range row {
			s.Images += n
		}
		if s.Images > 0 {
			s.Accuracy = float64(s.Correct) / float64(s.Images)
		}
		r.PerClass = append(r.PerClass, s)
	}
	return r, nil
}

func printEval(w io.Writer, r *evalResult, st *checkpoint.State) {
	fmt.Fprintf(w, "Checkpoint %s: %s after %s (%s)\n", r.Checkpoint, r.Model, plural(r.Epoch, "epoch"), plural(int(r.Step), "step"))
	if n := len(st.History); n > 0 {
		h := st.History[n-1]
		fmt.Fprintf(w, "Training measured for epoch %d: Test Loss: %.4f, Test Accuracy: %.2f on %d test images\n",
			h.Epoch, h.TestLoss, 100*h.TestAccuracy, st.Run.TestImages)
	}
	fmt.Fprintf(w, "Test Loss: %.4f, Test Accuracy: %.2f (%d of %d images)\n\n", r.Loss, 100*r.Accuracy,
		int(r.Accuracy*float64(r.Images)+0.5), r.Images)
	nw := len("Class")
	for _, c := range r.PerClass {
		nw = max(nw, len(c.Name))
	}
	fmt.Fprintf(w, "%-*s  Index  Accuracy  Correct / Images\n", nw, "Class")
	for _, c := range r.PerClass {
		fmt.Fprintf(w, "%-*s  %5d  %8.2f  %7d / %d\n", nw, c.Name, c.Class, 100*c.Accuracy, c.Correct, c.Images)
	}
	// Columns as wide as the longest name, up to 10 characters.
	cw := 6
	for _, c := range r.PerClass {
		cw = max(cw, min(len(c.Name), 10)+1)
	}
	fmt.Fprintln(w, "\nConfusion matrix (rows: true class, columns: predicted class):")
	var b strings.Builder
	fmt.Fprintf(&b, "%*s", nw, "")
	for _, c := range r.PerClass {
		fmt.Fprintf(&b, "%*s", cw, truncName(c.Name, cw-1))
	}
	fmt.Fprintln(w, b.String())
	for t, row := range r.Confusion {
		b.Reset()
		fmt.Fprintf(&b, "%-*s", nw, r.PerClass[t].Name)
		for _, n := range row {
			if n == 0 {
				fmt.Fprintf(&b, "%*s", cw, ".")
			} else {
				fmt.Fprintf(&b, "%*d", cw, n)
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

// truncName shortens a class name to n characters for a column.
func truncName(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
