// Package report turns the results of training several models on the same
// data into what resgo compare writes: a table for the terminal, a
// Markdown report that reads the result in plain sentences, the per-epoch
// history as CSV, accuracy and loss curves (PNG and SVG) and a confusion
// matrix heatmap per model. Charts are drawn with gonum.org/v1/plot.
package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"resgo/models"
	"resgo/train"
)

// Run is one model's part in a comparison.
type Run struct {
	Model string // registered name
	Doc   string // one-line description
	// Seed is the seed it was trained from (initial weights, shuffling,
	// dropout). A comparison may hold one run per model and seed.
	Seed uint64
	// Trainable and NonTrainable count its parameter values; MACs are its
	// forward multiply-adds per image.
	Trainable, NonTrainable int
	MACs                    int64
	// BNMomentum is its BatchNorm momentum if it has BatchNorm layers
	// (0 if it has none).
	BNMomentum float64
	// History holds one result per completed epoch.
	History []train.EpochResult
	// Confusion[t][p] counts the test images of true class t predicted as
	// p by the final model (nil if there is none).
	Confusion [][]int
	// ClassNames names the classes, label i being ClassNames[i] (nil:
	// their indices, as MNIST's digits).
	ClassNames []string
	// Steps is the number of optimiser steps taken.
	Steps int64
	// Wall is the model's whole time: training, test passes and the
	// confusion matrix.
	Wall time.Duration
	// Err is why training stopped early (a diverged loss), or nil.
	Err error

	spread *spread // set on the fold of several seeds' runs (seeds.go)
}

// Comparison is a set of runs on the same data and settings.
type Comparison struct {
	Runs []Run
	// Command is the command line that produced it.
	Command string
	// Machine describes where it ran (CPU, cores, kernels).
	Machine string
	// Data names the data set ("MNIST (embedded)").
	Data                    string
	TrainImages, TestImages int
	Epochs, Batch           int
	LR                      float64
	Seed                    uint64
	// Seeds are the seeds every model was trained from, when more than
	// one (then Seed is unused).
	Seeds   []uint64
	Started time.Time
	// Elapsed is the wall time of the whole comparison.
	Elapsed time.Duration
	// Interrupted is set when the comparison was stopped before the end.
	Interrupted bool
}

// Final returns the run's last epoch result (the zero result if none).
func (r *Run) Final() train.EpochResult {
	if len(r.History) == 0 {
		return train.EpochResult{}
	}
	return r.History[len(r.History)-1]
}

// Best returns the epoch result with the highest test accuracy (the
// earliest on ties).
func (r *Run) Best() train.EpochResult {
	var best train.EpochResult
	for i, e := range r.History {
		if i == 0 || e.TestAccuracy > best.TestAccuracy {
			best = e
		}
	}
	return best
}

// SecondsPerEpoch returns the mean duration of the training passes.
func (r *Run) SecondsPerEpoch() float64 {
	if len(r.History) == 0 {
		return 0
	}
	s := 0.0
	for _, e := range r.History {
		s += e.Seconds
	}
	return s / float64(len(r.History))
}

// ImagesPerSec returns the training throughput over all epochs.
func (r *Run) ImagesPerSec(trainImages int) float64 {
	s := r.SecondsPerEpoch()
	if s == 0 {
		return 0
	}
	return float64(trainImages) / s
}

// Classes returns the number of classes (from the confusion matrix; 10 if
// there is none).
// ClassName returns the name of class k: ClassNames[k], or k's digits.
func (r *Run) ClassName(k int) string {
	if k >= 0 && k < len(r.ClassNames) {
		return r.ClassNames[k]
	}
	return strconv.Itoa(k)
}

func (r *Run) Classes() int {
	if len(r.Confusion) > 0 {
		return len(r.Confusion)
	}
	return 10
}

// Files are the names WriteAll writes, apart from one confusion matrix per
// model (ConfusionFile).
var Files = []string{"report.md", "history.csv", "summary.csv", "accuracy.png", "accuracy.svg", "loss.png", "loss.svg"}

// ConfusionFile returns the name of a model's confusion matrix image.
func ConfusionFile(model string) string { return "confusion-" + model + ".png" }

// WriteAll writes every file of the comparison into dir, creating it if
// needed, and returns the paths written.
func (c *Comparison) WriteAll(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	write := func(name string, fn func(io.Writer) error) error {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		err = fn(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("report: %s: %w", path, err)
		}
		written = append(written, path)
		return nil
	}
	steps := []struct {
		name string
		fn   func(io.Writer) error
	}{
		{"report.md", func(w io.Writer) error { _, err := io.WriteString(w, c.Markdown()); return err }},
		{"history.csv", c.WriteCSV},
		{"summary.csv", c.WriteSummaryCSV},
		{"accuracy.png", func(w io.Writer) error { return c.WriteCurves(w, Accuracy, "png") }},
		{"accuracy.svg", func(w io.Writer) error { return c.WriteCurves(w, Accuracy, "svg") }},
		{"loss.png", func(w io.Writer) error { return c.WriteCurves(w, Loss, "png") }},
		{"loss.svg", func(w io.Writer) error { return c.WriteCurves(w, Loss, "svg") }},
	}
	for _, s := range steps {
		if err := write(s.name, s.fn); err != nil {
			return written, err
		}
	}
	runs := c.models()
	for i := range runs {
		r := &runs[i]
		if r.Confusion == nil {
			continue
		}
		if err := write(ConfusionFile(r.Model), func(w io.Writer) error { return WriteConfusion(w, r) }); err != nil {
			return written, err
		}
	}
	return written, nil
}

// CSVHeader is the header row of history.csv.
var CSVHeader = []string{"epoch", "model", "seed", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds"}

// WriteCSV writes the history of every run, one row per model, seed and
// epoch (accuracies in [0, 1], seconds of the training pass), in
// CSVHeader's columns. WriteSummaryCSV gives the means over the seeds.
func (c *Comparison) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	for _, r := range c.Runs {
		for _, e := range r.History {
			if err := cw.Write([]string{strconv.Itoa(e.Epoch), r.Model, strconv.FormatUint(r.Seed, 10), f(e.Loss), f(e.Accuracy),
				f(e.TestLoss), f(e.TestAccuracy), strconv.FormatFloat(e.Seconds, 'f', 3, 64)}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// tableRows returns the summary table's header and rows.
func (c *Comparison) tableRows() (head []string, rows [][]string) {
	head = []string{"model", "parameters", "MACs/image", "s/epoch", "images/s", "best test acc", "final test acc", "final test loss"}
	runs := c.models()
	for i := range runs {
		r := &runs[i]
		fin, best := r.Final(), r.Best()
		row := []string{r.Model, models.Commas(int64(r.Trainable + r.NonTrainable)), models.MACsString(r.MACs)}
		if len(r.History) == 0 {
			row = append(row, "–", "–", "–", "–", "–")
		} else {
			row = append(row,
				fmt.Sprintf("%.1f", r.SecondsPerEpoch()),
				commas(int(math.Round(r.ImagesPerSec(c.TrainImages)))),
				fmt.Sprintf("%.2f%% (epoch %d)", 100*best.TestAccuracy, best.Epoch),
				finalAccText(r),
				lossString(fin.TestLoss))
		}
		if r.Err != nil {
			row[len(row)-1] += " (stopped: diverged)"
		}
		rows = append(rows, row)
	}
	return head, rows
}

// finalAccText is the final test accuracy for the table: with several
// seeds, the mean and its range.
func finalAccText(r *Run) string {
	fin := r.Final()
	if r.spread == nil || !r.spread.many() {
		return fmt.Sprintf("%.2f%%", 100*fin.TestAccuracy)
	}
	e := len(r.History) - 1
	lo, hi := epochRange(r, e, 3)
	return rangeString(fin.TestAccuracy, lo, hi)
}

func lossString(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%.4f", v)
}

// WriteTable writes the comparison as an aligned table for a terminal.
func (c *Comparison) WriteTable(w io.Writer) error {
	head, rows := c.tableRows()
	width := make([]int, len(head))
	for i, h := range head {
		width[i] = len([]rune(h))
	}
	for _, r := range rows {
		for i, v := range r {
			width[i] = max(width[i], len([]rune(v)))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		for i, v := range cells {
			pad := strings.Repeat(" ", width[i]-len([]rune(v)))
			if i == 0 {
				b.WriteString(v + pad)
			} else {
				b.WriteString("  " + pad + v)
			}
		}
		b.WriteString("\n")
	}
	line(head)
	total := 2 * (len(head) - 1)
	for _, n := range width {
		total += n
	}
	b.WriteString(strings.Repeat("─", total) + "\n")
	for _, r := range rows {
		line(r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
