package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"resgo/train"
)

// This file folds the runs of one model under several seeds into one:
// per epoch, the mean over the seeds and the range (lowest and highest).
// Every table, sentence and chart of a comparison is drawn from these
// folded runs, so a comparison of one seed reads as it always has.

// spread is what a folded run keeps of its seeds.
type spread struct {
	seeds  []uint64
	lo, hi []train.EpochResult // per epoch, each figure's lowest and highest over the seeds
}

// many reports whether the run folds more than one seed.
func (s *spread) many() bool { return len(s.seeds) > 1 }

// models returns one run per model, in the order the models first
// appear: a model's only run, or the fold of its runs under several seeds.
// A fold's history covers the epochs that every seed finished; its
// figures are the means, its confusion matrix the sum over the seeds, its
// steps and wall time the means, and its error the first seed's that
// diverged.
func (c *Comparison) models() []Run {
	var order []string
	byModel := map[string][]*Run{}
	for i := range c.Runs {
		r := &c.Runs[i]
		if _, ok := byModel[r.Model]; !ok {
			order = append(order, r.Model)
		}
		byModel[r.Model] = append(byModel[r.Model], r)
	}
	out := make([]Run, 0, len(order))
	for _, name := range order {
		out = append(out, fold(byModel[name]))
	}
	return out
}

// fold returns the run that stands for runs, those of one model.
func fold(runs []*Run) Run {
	if len(runs) == 1 {
		return *runs[0]
	}
	f := *runs[0]
	f.History, f.Confusion, f.Err = nil, nil, nil
	f.spread = &spread{}
	epochs := len(runs[0].History)
	var steps int64
	var wall float64
	for _, r := range runs {
		f.spread.seeds = append(f.spread.seeds, r.Seed)
		epochs = min(epochs, len(r.History))
		steps += r.Steps
		wall += float64(r.Wall)
		if f.Err == nil && r.Err != nil {
			f.Err = fmt.Errorf("seed %d: %w", r.Seed, r.Err)
		}
		if r.Confusion != nil {
			if f.Confusion == nil {
				f.Confusion = make([][]int, len(r.Confusion))
				for i, row := range r.Confusion {
					f.Confusion[i] = make([]int, len(row))
				}
			}
			for i, row := range r.Confusion {
				for j, v := range row {
					f.Confusion[i][j] += v
				}
			}
		}
	}
	n := float64(len(runs))
	f.Steps = steps / int64(len(runs))
	f.Wall = time.Duration(wall / n)
	for e := range epochs {
		var mean train.EpochResult
		lo, hi := runs[0].History[e], runs[0].History[e]
		for _, r := range runs {
			h := r.History[e]
			fields(&mean, func(v *float64, i int) { *v += figure(h, i) / n })
			fields(&lo, func(v *float64, i int) { *v = minNaN(*v, figure(h, i)) })
			fields(&hi, func(v *float64, i int) { *v = maxNaN(*v, figure(h, i)) })
		}
		mean.Epoch = runs[0].History[e].Epoch
		f.History = append(f.History, mean)
		f.spread.lo = append(f.spread.lo, lo)
		f.spread.hi = append(f.spread.hi, hi)
	}
	return f
}

// figureNames are the figures of an epoch that folding averages, in the
// order figure and fields number them.
var figureNames = []string{"train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds"}

// figure returns figure i of e (see figureNames).
func figure(e train.EpochResult, i int) float64 {
	return [...]float64{e.Loss, e.Accuracy, e.TestLoss, e.TestAccuracy, e.Seconds}[i]
}

// fields calls f on a pointer to each figure of e, numbered as in
// figureNames.
func fields(e *train.EpochResult, f func(v *float64, i int)) {
	for i, p := range []*float64{&e.Loss, &e.Accuracy, &e.TestLoss, &e.TestAccuracy, &e.Seconds} {
		f(p, i)
	}
}

// minNaN and maxNaN are min and max that let a NaN through, so that a
// diverged seed shows in the range instead of vanishing from it.
func minNaN(a, b float64) float64 {
	if a != a || b != b {
		return a + b
	}
	return min(a, b)
}

func maxNaN(a, b float64) float64 {
	if a != a || b != b {
		return a + b
	}
	return max(a, b)
}

// seedList formats the seeds: "1, 2 and 3".
func seedList(seeds []uint64) string {
	parts := make([]string, len(seeds))
	for i, s := range seeds {
		parts[i] = strconv.FormatUint(s, 10)
	}
	return join(parts)
}

// rangeString formats a figure's mean and range in percent:
// "99.12% (99.05–99.20)".
func rangeString(mean, lo, hi float64) string {
	return fmt.Sprintf("%.2f%% (%.2f–%.2f)", 100*mean, 100*lo, 100*hi)
}

// SummaryHeader is the header row of summary.csv.
var SummaryHeader = func() []string {
	h := []string{"epoch", "model", "seeds"}
	for _, f := range figureNames {
		h = append(h, f+"_mean", f+"_min", f+"_max")
	}
	return h
}()

// WriteSummaryCSV writes, per model and epoch, the number of seeds and
// each figure's mean, lowest and highest over them (accuracies in [0, 1],
// seconds of the training pass), in SummaryHeader's columns. With one
// seed the three agree.
func (c *Comparison) WriteSummaryCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(SummaryHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	for _, r := range c.models() {
		seeds := 1
		if r.spread != nil {
			seeds = len(r.spread.seeds)
		}
		for e, h := range r.History {
			lo, hi := h, h
			if r.spread != nil {
				lo, hi = r.spread.lo[e], r.spread.hi[e]
			}
			row := []string{strconv.Itoa(h.Epoch), r.Model, strconv.Itoa(seeds)}
			for i := range figureNames {
				row = append(row, f(figure(h, i)), f(figure(lo, i)), f(figure(hi, i)))
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// seedsSentence describes how the seeds were used, for the report's
// opening ("" with a single seed).
func (c *Comparison) seedsSentence() string {
	if len(c.Seeds) < 2 {
		return ""
	}
	return fmt.Sprintf(" Every model was trained once per seed (%s): a seed sets the initial weights, the shuffled order and dropout, "+
		"and each seed gave every model the same order. Figures are means over the seeds, with the lowest and highest in brackets; "+
		"a difference is called only where the models' ranges do not overlap.", seedList(c.Seeds))
}

// apart reports whether a's range of figure i at epoch index e lies
// wholly above b's (higher is better when higherBetter, else lower).
func apart(a, b *Run, e, i int, higherBetter bool) bool {
	aLo, aHi := epochRange(a, e, i)
	bLo, bHi := epochRange(b, e, i)
	if higherBetter {
		return aLo > bHi
	}
	return aHi < bLo
}

// epochRange returns figure i's range at epoch index e of r.
func epochRange(r *Run, e, i int) (lo, hi float64) {
	if r.spread == nil {
		v := figure(r.History[e], i)
		return v, v
	}
	return figure(r.spread.lo[e], i), figure(r.spread.hi[e], i)
}

// finalRangeText is the range of r's final test accuracy: "98.90–99.10%".
func finalRangeText(r *Run) string { return epochRangeText(r, len(r.History)-1) }

// epochRangeText is a run's test accuracy at epoch index e, as a range in
// percent: "97.10–97.85%".
func epochRangeText(r *Run, e int) string {
	lo, hi := epochRange(r, e, 3)
	return fmt.Sprintf("%.2f–%.2f%%", 100*lo, 100*hi)
}
