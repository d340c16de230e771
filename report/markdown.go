package report

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"resgo/models"
)

// Markdown returns report.md: the settings, the results table, a reading
// of the result in plain sentences, the charts and the confusion matrices.
func (c *Comparison) Markdown() string {
	var b strings.Builder
	runs := c.models()
	names := make([]string, len(runs))
	for i, r := range runs {
		names[i] = r.Model
	}
	data := c.Data
	if data == "" {
		data = "MNIST"
	}
	fmt.Fprintf(&b, "# %s on %s\n\n", strings.Join(names, " vs "), data)
	if len(c.Seeds) > 1 {
		fmt.Fprintf(&b, "Each model was trained for %s on the same %s training images "+
			"with batch %d and Adam (learning rate %g), and tested after every epoch on %s test images.%s",
			plural(c.Epochs, "epoch"), models.Commas(int64(c.TrainImages)), c.Batch, c.LR, models.Commas(int64(c.TestImages)), c.seedsSentence())
	} else {
		fmt.Fprintf(&b, "Each model was trained for %s on the same %s training images, in the same shuffled order (seed %d), "+
			"with batch %d and Adam (learning rate %g), and tested after every epoch on %s test images.",
			plural(c.Epochs, "epoch"), models.Commas(int64(c.TrainImages)), c.Seed, c.Batch, c.LR, models.Commas(int64(c.TestImages)))
	}
	if !c.Started.IsZero() {
		fmt.Fprintf(&b, " Run on %s", c.Started.Format("2006-01-02 15:04 MST"))
		if c.Machine != "" {
			fmt.Fprintf(&b, " on %s", c.Machine)
		}
		b.WriteString(".")
	}
	if c.Elapsed > 0 {
		fmt.Fprintf(&b, " The whole comparison took %s.", fmtSeconds(c.Elapsed.Seconds()))
	}
	b.WriteString("\n\n")
	if c.Command != "" {
		fmt.Fprintf(&b, "```\n%s\n```\n\n", c.Command)
	}

	b.WriteString("## Results\n\n")
	head, rows := c.tableRows()
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for i := range head {
		if i == 0 {
			b.WriteString(" --- |")
		} else {
			b.WriteString(" ---: |")
		}
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	b.WriteString("\nParameters count trainable and non-trainable values (BatchNorm's moving statistics); " +
		"MACs are the multiply-adds of one image's forward pass (convolutions and dense layers); " +
		"seconds per epoch and images/s time the training pass alone.")
	if len(c.Seeds) > 1 {
		b.WriteString(" Every figure is the mean over the seeds; the final test accuracy gives the lowest and highest in brackets, " +
			"and [summary.csv](summary.csv) has the range of every figure at every epoch.")
	}
	b.WriteString("\n\n")

	b.WriteString("## Reading the result\n\n")
	for _, p := range c.Reading() {
		b.WriteString(p + "\n\n")
	}

	b.WriteString("## Curves\n\n")
	b.WriteString("Solid lines are test figures, over the whole test set in inference mode; dashed lines are training figures, " +
		"the running averages over each epoch's batches with dropout active and BatchNorm on batch statistics " +
		"(so a model with dropout can score lower on its training batches than on the test set).\n\n")
	if len(c.Seeds) > 1 {
		b.WriteString("Lines are the means over the seeds; the shaded band around each test line spans the lowest and highest seed.\n\n")
	}
	b.WriteString("![Accuracy per epoch](accuracy.png)\n\n![Loss per epoch](loss.png)\n\n")
	b.WriteString("The same charts as SVG: [accuracy.svg](accuracy.svg), [loss.svg](loss.svg); every number is in [history.csv](history.csv).\n\n")

	b.WriteString("## Confusion matrices\n\n")
	b.WriteString("Rows are the true digits, columns the predictions of the final model, counted over the test set")
	if len(c.Seeds) > 1 {
		b.WriteString(" and summed over the seeds")
	}
	b.WriteString(". The colour follows the logarithm of the count, so that single mistakes show.\n\n")
	for i := range runs {
		r := &runs[i]
		if r.Confusion == nil {
			continue
		}
		fmt.Fprintf(&b, "### %s\n\n![Confusion matrix of %s](%s)\n\n", r.Model, r.Model, ConfusionFile(r.Model))
		if s := mostConfused(r, 3); s != "" {
			fmt.Fprintf(&b, "Most frequent mistakes: %s.\n\n", s)
		}
	}

	b.WriteString("## Models\n\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "- **%s**: %s. %s parameters", r.Model, r.Doc, models.Commas(int64(r.Trainable+r.NonTrainable)))
		if r.NonTrainable > 0 {
			fmt.Fprintf(&b, " (%s trainable)", models.Commas(int64(r.Trainable)))
		}
		fmt.Fprintf(&b, ", %s multiply-adds per image", models.MACsString(r.MACs))
		if r.Wall > 0 {
			fmt.Fprintf(&b, "; trained and tested in %s", fmtSeconds(r.Wall.Seconds()))
			if r.spread != nil && r.spread.many() {
				b.WriteString(" per seed")
			}
		}
		fmt.Fprintf(&b, ". `resgo summary --model %s` lists its layers.\n", r.Model)
	}
	return b.String()
}

// mostConfused lists the n largest off-diagonal counts: "4 read as 9 (12)".
func mostConfused(r *Run, n int) string {
	m := r.Confusion
	type cell struct{ t, p, n int }
	var cells []cell
	for t, row := range m {
		for p, v := range row {
			if t != p && v > 0 {
				cells = append(cells, cell{t, p, v})
			}
		}
	}
	sort.SliceStable(cells, func(i, j int) bool { return cells[i].n > cells[j].n })
	var parts []string
	for i := 0; i < len(cells) && i < n; i++ {
		parts = append(parts, fmt.Sprintf("%s read as %s (%s)", r.ClassName(cells[i].t), r.ClassName(cells[i].p), plural(cells[i].n, "image")))
	}
	return strings.Join(parts, ", ")
}

// outcome classifies how a run ended.
type outcome int

const (
	learned   outcome = iota
	noResult          // no epoch finished
	diverged          // the loss became NaN or infinite
	noLearn           // training and test accuracy near chance
	bnWarmup          // learned, but inference-mode BatchNorm statistics are still mostly their initial values
	noGeneral         // learned the training batches, not the test set
)

// nearChance is how far above chance (1/classes) an accuracy must be to
// count as learning.
const nearChance = 0.10

func (r *Run) outcome() outcome {
	if len(r.History) == 0 {
		return noResult
	}
	if r.Err != nil {
		return diverged
	}
	fin := r.Final()
	chance := 1 / float64(r.Classes())
	if fin.TestAccuracy >= chance+nearChance {
		return learned
	}
	if fin.Accuracy < chance+nearChance {
		return noLearn
	}
	if r.NonTrainable > 0 && r.BNMomentum > 0 && math.Pow(r.BNMomentum, float64(r.Steps)) > 0.05 {
		return bnWarmup
	}
	return noGeneral
}

// Reading returns a few paragraphs that read the result: which models
// failed and why, which learns faster, which ends higher, and at what cost.
func (c *Comparison) Reading() []string {
	var paras []string
	if c.Interrupted {
		paras = append(paras, "**The comparison was interrupted**: the figures cover only the epochs that finished.")
	}
	runs := c.models()
	var ok []*Run
	for i := range runs {
		r := &runs[i]
		fin := r.Final()
		chance := 100 / float64(r.Classes())
		switch r.outcome() {
		case learned:
			ok = append(ok, r)
		case noResult:
			paras = append(paras, fmt.Sprintf("**%s has no results**: it did not finish an epoch.", r.Model))
		case diverged:
			paras = append(paras, fmt.Sprintf("**%s diverged**: %v. The figures shown are those of the epochs before.", r.Model, r.Err))
		case noLearn:
			p := fmt.Sprintf("**%s did not learn.** After %s its training accuracy is %.2f%% and its test accuracy %.2f%%, "+
				"chance level for %d classes (%.0f%%); its test loss, %.3f, is close to ln %d = %.3f, the loss of a uniform guess.",
				r.Model, plural(len(r.History), "epoch"), 100*fin.Accuracy, 100*fin.TestAccuracy, r.Classes(), chance,
				fin.TestLoss, r.Classes(), math.Log(float64(r.Classes())))
			if class, share := dominantPrediction(r.Confusion); share > 0.5 {
				p += fmt.Sprintf(" It predicts %s for %.0f%% of the test images.", r.ClassName(class), 100*share)
			}
			p += " A plain stack of sixteen weight layers, without BatchNorm or shortcut connections, is hard to start training: " +
				"Simonyan and Zisserman initialised their deeper networks from a trained shallower one. " +
				"BatchNorm after each convolution (vgg16-bn) or a lower --lr are the usual remedies."
			paras = append(paras, p)
		case bnWarmup:
			left := math.Pow(r.BNMomentum, float64(r.Steps))
			paras = append(paras, fmt.Sprintf("**%s learned, but its test figures do not show it yet.** Its training accuracy reached %.2f%%, "+
				"yet its test accuracy is %.2f%%, near chance (%.0f%%). The test pass runs in inference mode, which normalises with "+
				"BatchNorm's moving statistics, and after only %s with momentum %g those still hold %.0f%% of their initial values "+
				"(mean 0, variance 1). A longer run fixes this, as does a lower momentum (--bn-momentum 0.9) for short runs.",
				r.Model, 100*fin.Accuracy, 100*fin.TestAccuracy, chance, plural(int(r.Steps), "step"), r.BNMomentum, 100*left))
		case noGeneral:
			paras = append(paras, fmt.Sprintf("**%s did not generalise.** Its training accuracy reached %.2f%% but its test accuracy is %.2f%%, near chance (%.0f%%).",
				r.Model, 100*fin.Accuracy, 100*fin.TestAccuracy, chance))
		}
	}

	// Which learns faster: the test accuracy after the first epoch, and
	// when each model first reached a common level.
	var withHistory []*Run
	for i := range runs {
		if len(runs[i].History) > 0 {
			withHistory = append(withHistory, &runs[i])
		}
	}
	if len(withHistory) >= 2 {
		sorted := append([]*Run(nil), withHistory...)
		sort.SliceStable(sorted, func(i, j int) bool {
			return sorted[i].History[0].TestAccuracy > sorted[j].History[0].TestAccuracy
		})
		byTrain := append([]*Run(nil), withHistory...)
		sort.SliceStable(byTrain, func(i, j int) bool {
			return byTrain[i].History[0].Accuracy > byTrain[j].History[0].Accuracy
		})
		var parts, trainParts []string
		for i, r := range sorted {
			parts = append(parts, fmt.Sprintf("%.2f%% for %s", 100*r.History[0].TestAccuracy, r.Model))
			trainParts = append(trainParts, fmt.Sprintf("%.2f%% for %s", 100*byTrain[i].History[0].Accuracy, byTrain[i].Model))
		}
		p := fmt.Sprintf("After the first epoch the test accuracy was %s, and the accuracy on the training batches %s.", join(parts), join(trainParts))
		switch lead, trainLead := sorted[0], byTrain[0]; {
		case lead == trainLead && lead.spread != nil && !apart(lead, sorted[1], 0, 3, true):
			p += fmt.Sprintf(" %s is ahead on average, but not on every seed: its first-epoch test accuracy ranged over %s, %s's over %s.",
				lead.Model, epochRangeText(lead, 0), sorted[1].Model, epochRangeText(sorted[1], 0))
		case lead == trainLead:
			p += fmt.Sprintf(" %s learns fastest.", lead.Model)
		case trainLead.outcome() == bnWarmup:
			p += fmt.Sprintf(" %s is ahead on the test set, but %s learned more in that epoch: its test figure waits on BatchNorm's moving statistics (above).", lead.Model, trainLead.Model)
		default:
			p += fmt.Sprintf(" %s is ahead on the test set, %s on its training batches (measured as it learned, with dropout on where the model has it).", lead.Model, trainLead.Model)
		}
		if s := c.reachSentence(ok); s != "" {
			p += " " + s
		}
		paras = append(paras, p)
	}

	// Which ends higher, and whether the gap means anything.
	if len(ok) > 0 {
		sorted := append([]*Run(nil), ok...)
		sort.SliceStable(sorted, func(i, j int) bool {
			return sorted[i].Final().TestAccuracy > sorted[j].Final().TestAccuracy
		})
		top := sorted[0]
		fin, best := top.Final(), top.Best()
		p := fmt.Sprintf("After %s %s ends highest, at %.2f%% test accuracy", plural(len(top.History), "epoch"), top.Model, 100*fin.TestAccuracy)
		if top.spread != nil && top.spread.many() {
			p = fmt.Sprintf("After %s %s has the highest mean test accuracy, %.2f%%", plural(len(top.History), "epoch"), top.Model, 100*fin.TestAccuracy)
		}
		if len(ok) == 1 {
			p = fmt.Sprintf("After %s %s ends at %.2f%% test accuracy", plural(len(top.History), "epoch"), top.Model, 100*fin.TestAccuracy)
		}
		if best.Epoch != fin.Epoch {
			p += fmt.Sprintf(" (its best was %.2f%%, at epoch %d)", 100*best.TestAccuracy, best.Epoch)
		}
		p += fmt.Sprintf(", with a test loss of %.4f", fin.TestLoss)
		if len(sorted) > 1 {
			var parts []string
			for _, r := range sorted[1:] {
				parts = append(parts, fmt.Sprintf("%s %.2f%%", r.Model, 100*r.Final().TestAccuracy))
			}
			p += "; then " + join(parts)
		}
		p += "."
		if len(sorted) > 1 && top.spread != nil && top.spread.many() {
			second := sorted[1]
			gap := fin.TestAccuracy - second.Final().TestAccuracy
			e := min(len(top.History), len(second.History)) - 1
			if len(top.History) == len(second.History) && apart(top, second, e, 3, true) {
				p += fmt.Sprintf(" %s is ahead of %s by %.2f points on average and on every seed: its final test accuracy ranged over %s, %s's over %s.",
					top.Model, second.Model, 100*gap, finalRangeText(top), second.Model, finalRangeText(second))
			} else {
				p += fmt.Sprintf(" The %.2f-point gap to %s is within the seeds' spread (%s ranged over %s, %s over %s): "+
					"these seeds do not tell the two apart.", 100*gap, second.Model, top.Model, finalRangeText(top), second.Model, finalRangeText(second))
			}
		} else if len(sorted) > 1 && c.TestImages > 0 {
			second := sorted[1].Final().TestAccuracy
			gap := fin.TestAccuracy - second
			images := int(math.Round(gap * float64(c.TestImages)))
			p += fmt.Sprintf(" The gap to %s is %.2f points, %s of the %s test images", sorted[1].Model, 100*gap,
				plural(images, "image"), models.Commas(int64(c.TestImages)))
			// Two standard errors of the difference between two accuracies
			// measured on the same number of images.
			noise := 2 * math.Sqrt(2*second*(1-second)/float64(c.TestImages))
			if gap < noise {
				p += fmt.Sprintf(", within the noise of one test set and one seed (about ±%.2f points)", 100*noise)
			}
			p += "."
		}
		paras = append(paras, p)

		// At what cost.
		if len(withHistory) > 1 {
			fastest := withHistory[0]
			for _, r := range withHistory {
				if r.SecondsPerEpoch() < fastest.SecondsPerEpoch() {
					fastest = r
				}
			}
			p := fmt.Sprintf("The cost: %s trains at %s images/s, %s per epoch.", top.Model,
				commas(int(math.Round(top.ImagesPerSec(c.TrainImages)))), fmtSeconds(top.SecondsPerEpoch()))
			for _, r := range withHistory {
				if r == top {
					continue
				}
				p += fmt.Sprintf(" Against %s (%s per epoch) it takes %s the time", r.Model, fmtSeconds(r.SecondsPerEpoch()),
					ratio(top.SecondsPerEpoch(), r.SecondsPerEpoch()))
				if n := r.Trainable + r.NonTrainable; n > 0 && r.MACs > 0 {
					p += fmt.Sprintf(", with %s the parameters and %s the multiply-adds per image",
						ratio(float64(top.Trainable+top.NonTrainable), float64(n)), ratio(float64(top.MACs), float64(r.MACs)))
				}
				p += "."
			}
			if fastest != top {
				p += fmt.Sprintf(" The fastest to train is %s, at %s images/s.", fastest.Model, commas(int(math.Round(fastest.ImagesPerSec(c.TrainImages)))))
			}
			paras = append(paras, p)
		}
	}

	// Overfitting: a test loss that climbs from its minimum while the
	// training loss keeps falling.
	for _, r := range ok {
		if len(r.History) < 3 {
			continue
		}
		lo := r.History[0]
		for _, e := range r.History {
			if e.TestLoss < lo.TestLoss {
				lo = e
			}
		}
		fin := r.Final()
		if fin.Epoch > lo.Epoch && fin.TestLoss > 1.25*lo.TestLoss && fin.Loss < lo.Loss {
			paras = append(paras, fmt.Sprintf("%s has begun to overfit: its test loss was lowest at epoch %d (%.4f) and rose to %.4f by epoch %d "+
				"while its training loss kept falling (%.4f to %.4f); its test accuracy went from %.2f%% to %.2f%%.",
				r.Model, lo.Epoch, lo.TestLoss, fin.TestLoss, fin.Epoch, lo.Loss, fin.Loss, 100*lo.TestAccuracy, 100*fin.TestAccuracy))
		}
	}
	return paras
}

// reachSentence says when each learning model first reached the highest
// common test accuracy level that all of them reached.
func (c *Comparison) reachSentence(ok []*Run) string {
	if len(ok) < 2 {
		return ""
	}
	levels := []float64{0.995, 0.99, 0.985, 0.98, 0.97, 0.95, 0.9}
	first := func(r *Run, level float64) (int, float64) {
		secs := 0.0
		for _, e := range r.History {
			secs += e.Seconds
			if e.TestAccuracy >= level {
				return e.Epoch, secs
			}
		}
		return 0, 0
	}
	for _, level := range levels {
		all := true
		for _, r := range ok {
			if e, _ := first(r, level); e == 0 {
				all = false
			}
		}
		if !all {
			continue
		}
		type reach struct {
			r     *Run
			epoch int
			secs  float64
		}
		var rs []reach
		for _, r := range ok {
			e, s := first(r, level)
			rs = append(rs, reach{r, e, s})
		}
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].secs < rs[j].secs })
		var parts []string
		for _, x := range rs {
			parts = append(parts, fmt.Sprintf("%s needed %s (%s of training)", x.r.Model, plural(x.epoch, "epoch"), fmtSeconds(x.secs)))
		}
		return fmt.Sprintf("To reach %s test accuracy, %s.", pct(level), join(parts))
	}
	return ""
}

func pct(v float64) string {
	s := fmt.Sprintf("%.1f", 100*v)
	return strings.TrimSuffix(s, ".0") + "%"
}

// ratio formats a/b with two significant digits: "2.4×".
func ratio(a, b float64) string {
	if b == 0 {
		return "∞×"
	}
	return fmt.Sprintf("%.2g×", a/b)
}

// fmtSeconds formats a duration in seconds for a sentence: "45.2 s",
// "12.5 min", "3.2 h".
func fmtSeconds(s float64) string {
	switch {
	case s < 120:
		return fmt.Sprintf("%.1f s", s)
	case s < 7200:
		return fmt.Sprintf("%.1f min", s/60)
	}
	return fmt.Sprintf("%.1f h", s/3600)
}

// dominantPrediction returns the class predicted most often and its share
// of all predictions.
func dominantPrediction(m [][]int) (class int, share float64) {
	if len(m) == 0 {
		return 0, 0
	}
	cols := make([]int, len(m))
	total := 0
	for _, row := range m {
		for p, v := range row {
			cols[p] += v
			total += v
		}
	}
	for p, v := range cols {
		if v > cols[class] {
			class = p
		}
	}
	if total == 0 {
		return 0, 0
	}
	return class, float64(cols[class]) / float64(total)
}

// plural returns "1 epoch", "2 epochs", with thousands separators.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return models.Commas(int64(n)) + " " + noun + "s"
}

// join joins with commas and a final "and".
func join(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
