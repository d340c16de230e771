package report

import (
	"bytes"
	"encoding/csv"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"resgo/internal/testutil"
	"resgo/train"
)

// synthetic returns a comparison of three made-up runs: two that learn
// (one overfitting) and one stuck at chance.
func synthetic(epochs int) *Comparison {
	c := &Comparison{Command: "resgo compare", Machine: "a test", Data: "MNIST", TrainImages: 60000, TestImages: 10000,
		Epochs: epochs, Batch: 32, LR: 0.001, Seed: 1, Started: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Elapsed: time.Hour}
	mk := func(name string, trainable, non int, macs int64, secs float64, acc func(e int) float64) Run {
		r := Run{Model: name, Doc: "a model", Trainable: trainable, NonTrainable: non, MACs: macs, Steps: int64(epochs * 1875)}
		if non > 0 {
			r.BNMomentum = 0.99
		}
		for e := 1; e <= epochs; e++ {
			a := acc(e)
			r.History = append(r.History, train.EpochResult{Epoch: e, Loss: -math.Log(a) * 1.2, Accuracy: a - 0.003,
				TestLoss: -math.Log(a), TestAccuracy: a, Seconds: secs, ImagesPerSec: 60000 / secs})
		}
		fin := r.Final().TestAccuracy
		r.Confusion = make([][]int, 10)
		for t := range r.Confusion {
			r.Confusion[t] = make([]int, 10)
			r.Confusion[t][t] = int(1000 * fin)
			r.Confusion[t][(t+3)%10] = 1000 - int(1000*fin)
		}
		return r
	}
	c.Runs = []Run{
		mk("resnet", 576282, 784, 19726720, 60, func(e int) float64 { return 0.995 - 0.02/float64(e) }),
		mk("vgg16", 2112442, 0, 20801536, 70, func(int) float64 { return 0.1135 }),
		mk("vgg16-reduced", 474618, 0, 7740928, 25, func(e int) float64 { return 0.99 - 0.03/float64(e) }),
	}
	return c
}

func TestWriteAll(t *testing.T) {
	c := synthetic(10)
	dir := t.TempDir()
	if d := os.Getenv("RESGO_REPORT_DIR"); d != "" {
		dir = d // keep the files to look at
	}
	written, err := c.WriteAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(Files) + len(c.Runs); len(written) != want {
		t.Fatalf("wrote %d files, want %d: %v", len(written), want, written)
	}
	CheckFiles(t, dir, c)
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{"**vgg16 did not learn.**", "resnet ends highest", "| resnet |", "confusion-vgg16-reduced.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

// CheckFiles checks that dir holds every file of comparison c and that
// each parses: the CSV's header and row count, each PNG's size, each
// SVG's XML.
func CheckFiles(t *testing.T, dir string, c *Comparison) {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
		return b
	}
	read("report.md")
	rows, err := csv.NewReader(bytes.NewReader(read("history.csv"))).ReadAll()
	if err != nil {
		t.Fatalf("history.csv: %v", err)
	}
	want := 1
	for _, r := range c.Runs {
		want += len(r.History)
	}
	if len(rows) != want {
		t.Errorf("history.csv has %d rows, want %d", len(rows), want)
	}
	if got := strings.Join(rows[0], ","); got != strings.Join(CSVHeader, ",") {
		t.Errorf("history.csv header %q", got)
	}
	pngs := map[string][2]int{"accuracy.png": {CurvesSize.X, CurvesSize.Y}, "loss.png": {CurvesSize.X, CurvesSize.Y}}
	for _, r := range c.Runs {
		pngs[ConfusionFile(r.Model)] = [2]int{ConfusionSize.X, ConfusionSize.Y}
	}
	for name, size := range pngs {
		testutil.CheckPNG(t, name, read(name), size[0], size[1])
	}
	for _, name := range []string{"accuracy.svg", "loss.svg"} {
		testutil.CheckSVG(t, name, read(name), 10)
	}
}

func TestReading(t *testing.T) {
	c := synthetic(10)
	// resnet after 63 steps: learned on its batches, near chance on the
	// test set because of BatchNorm's moving statistics.
	c.Runs[0].Steps = 63
	c.Runs[0].History = c.Runs[0].History[:1]
	c.Runs[0].History[0].Accuracy, c.Runs[0].History[0].TestAccuracy = 0.97, 0.13
	// vgg16-reduced overfits: its test loss climbs after epoch 4.
	for i := range c.Runs[2].History {
		e := &c.Runs[2].History[i]
		if e.Epoch > 4 {
			e.TestLoss = 0.03 + 0.01*float64(e.Epoch-4)
		}
	}
	// vgg16 predicts 7 for everything.
	for t := range c.Runs[1].Confusion {
		clear(c.Runs[1].Confusion[t])
		c.Runs[1].Confusion[t][7] = 100
	}
	c.Runs = append(c.Runs, Run{Model: "diverging", History: c.Runs[2].History[:2], Err: errors.New("training diverged")})
	c.Interrupted = true
	text := strings.Join(c.Reading(), "\n")
	for _, want := range []string{
		"**The comparison was interrupted**",
		"**resnet learned, but its test figures do not show it yet.**",
		"after only 63 steps with momentum 0.99 those still hold 53%",
		"**vgg16 did not learn.**",
		"It predicts 7 for 100% of the test images.",
		"Against vgg16 (70.0 s per epoch) it takes 0.36× the time, with 0.22× the parameters",
		"**diverging diverged**",
		"but resnet learned more in that epoch",
		"vgg16-reduced has begun to overfit",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the reading lacks %q:\n%s", want, text)
		}
	}
}

// seeded returns a comparison of resnet and vgg16-reduced trained under
// seeds 1, 2 and 3, whose final test accuracies are resnet's base+offset
// and vgg16-reduced's base, each moved by ±width by the seed.
func seeded(offset, width float64) *Comparison {
	c := synthetic(4)
	base := c.Runs
	c.Runs, c.Seeds = nil, []uint64{1, 2, 3}
	for _, m := range []int{0, 2} {
		for k, seed := range c.Seeds {
			r := base[m]
			r.Seed = seed
			r.History = append([]train.EpochResult(nil), r.History...)
			d := width * float64(k-1) // −width, 0, +width
			for i := range r.History {
				r.History[i].TestAccuracy = 0.98 + d
				if m == 0 {
					r.History[i].TestAccuracy += offset
				}
				r.History[i].Seconds += float64(k)
			}
			c.Runs = append(c.Runs, r)
		}
	}
	return c
}

// TestSeedsFolded checks what a comparison of several seeds per model
// writes: the table's mean and range, history.csv's row per seed,
// summary.csv's mean, lowest and highest, a chart per metric with bands,
// and a reading that calls a difference only beyond the seeds' spread.
func TestSeedsFolded(t *testing.T) {
	c := seeded(0.01, 0.001) // 99.00 (98.90–99.10) against 98.00 (97.90–98.10)
	dir := t.TempDir()
	if _, err := c.WriteAll(dir); err != nil {
		t.Fatal(err)
	}
	CheckFiles(t, dir, c)
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{
		"# resnet vs vgg16-reduced on MNIST",
		"once per seed (1, 2 and 3)",
		"| 99.00% (98.90–99.10) |",
		"| 98.00% (97.90–98.10) |",
		"resnet has the highest mean test accuracy, 99.00%",
		"resnet is ahead of vgg16-reduced by 1.00 points on average and on every seed: its final test accuracy ranged over 98.90–99.10%, vgg16-reduced's over 97.90–98.10%",
		"shaded band",
		"summed over the seeds",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if strings.Count(string(md), "confusion-resnet.png") != 1 {
		t.Errorf("report.md should show one confusion matrix per model")
	}

	rows, err := csv.NewReader(bytes.NewReader(must(os.ReadFile(filepath.Join(dir, "summary.csv"))))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+2*4 || strings.Join(rows[0], ",") != strings.Join(SummaryHeader, ",") {
		t.Fatalf("summary.csv: %d rows, header %v", len(rows), rows[0])
	}
	col := func(name string) int {
		for i, h := range rows[0] {
			if h == name {
				return i
			}
		}
		t.Fatalf("summary.csv has no %s", name)
		return 0
	}
	last := rows[4] // resnet, epoch 4
	for name, want := range map[string]string{"model": "resnet", "seeds": "3", "test_accuracy_mean": "0.99",
		"test_accuracy_min": "0.989", "test_accuracy_max": "0.991", "seconds_mean": "61", "seconds_min": "60", "seconds_max": "62"} {
		if got := last[col(name)]; got != want {
			t.Errorf("summary.csv resnet epoch 4 %s = %s, want %s", name, got, want)
		}
	}

	// Overlapping ranges: no winner is called.
	c = seeded(0.001, 0.002) // 98.10 (97.90–98.30) against 98.00 (97.80–98.20)
	text := strings.Join(c.Reading(), "\n")
	if !strings.Contains(text, "within the seeds' spread (resnet ranged over 97.90–98.30%, vgg16-reduced over 97.80–98.20%)") ||
		strings.Contains(text, "resnet is ahead of") || !strings.Contains(text, "resnet is ahead on average, but not on every seed") {
		t.Errorf("overlapping seeds: the reading calls a difference:\n%s", text)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
