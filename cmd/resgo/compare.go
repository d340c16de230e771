package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"resgo/compute"
	"runtime"
	"strings"
	"time"

	"resgo/data"
	"resgo/internal/oserr"
	"resgo/models"
	"resgo/report"
	"resgo/train"
)

func init() {
	register(&command{name: "compare", summary: "train several models on the same data and write a report with charts", run: runCompare})
}

const compareSynopsis = `
Usage: resgo compare [--models resnet,vgg16,vgg16-reduced] [--epochs 10] [--out DIR] [flags]

Trains each model in turn on the same data, in the same shuffled order, from
the same seed, printing the tutorial's line after every epoch and a table at
the end, then writes into DIR:

  report.md                 the settings, the table, and the result read in plain sentences
  history.csv               epoch, model, train_loss, train_accuracy, test_loss, test_accuracy, seconds
  accuracy.png, .svg        every model's train and test accuracy per epoch
  loss.png, .svg            every model's train and test loss per epoch
  confusion-MODEL.png       each model's confusion matrix on the test set

DIR defaults to ./compare-YYYYMMDD-HHMMSS. Interrupting (Ctrl-C) stops after
the current step and still writes what was measured.`

// compareFlags are compare's flags beyond the training ones.
type compareFlags struct {
	trainFlags
	models string
	out    string
}

func runCompare(args []string, stdout, stderr io.Writer) error {
	var f compareFlags
	fs := newFlags("compare", compareSynopsis, stdout)
	f.register(fs, false)
	fs.StringVar(&f.models, "models", "resnet,vgg16,vgg16-reduced", "comma-separated `list` of models to compare: "+strings.Join(models.Names(), ", "))
	fs.StringVar(&f.out, "out", "", "write the report into `DIR` (default ./compare-YYYYMMDD-HHMMSS)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.check("compare"); err != nil {
		return err
	}
	names, err := f.modelList()
	if err != nil {
		return err
	}
	tr, te, err := f.loadData("compare")
	if err != nil {
		return err
	}
	compute.SetThreads(f.threads)
	pool := compute.Default()
	withBN := false
	for _, name := range names {
		o := models.Options{WidthMultiplier: f.width, Seed: f.seed, BNMomentum: float32(f.bnMomentum)}
		if err := checkBatchMemory("compare", name, o, min(f.batch, tr.N), pool); err != nil {
			return err
		}
		if m, err := models.New(name, o); err == nil {
			_, nc := models.CountParams(m)
			withBN = withBN || nc > 0
		}
	}
	setMemoryLimit()
	started := time.Now()
	dir := f.out
	if dir == "" {
		dir = "compare-" + started.Format("20060102-150405")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("compare: cannot create the report folder %s: %v", dir, oserr.Cause(err))}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	dataName := "MNIST"
	if f.dataDir != "" {
		dataName = "the IDX files in " + f.dataDir
	}
	cmp := &report.Comparison{
		Command: commandLine("compare", args), Machine: machine(pool.Workers()), Data: dataName,
		TrainImages: tr.N, TestImages: te.N, Epochs: f.epochs, Batch: f.batch, LR: f.lr, Seed: f.seed, Started: started,
	}
	epochs := plural(f.epochs, "epoch")
	fmt.Fprintf(stdout, "Comparing %s: %s on %d training images, testing on %d; batch %d, seed %d, %d threads, %s kernels\n",
		strings.Join(names, ", "), epochs, tr.N, te.N, f.batch, f.seed, pool.Workers(), compute.Kernels())
	if note := shortRunNote(f.bnMomentum, f.epochs*((tr.N+f.batch-1)/f.batch)); withBN && note != "" {
		fmt.Fprintln(stdout, note)
	}

	var interrupted bool
	for _, name := range names {
		run, err := f.trainOne(ctx, name, tr, te, pool, stdout)
		if run != nil {
			cmp.Runs = append(cmp.Runs, *run)
		}
		if errors.Is(err, context.Canceled) {
			interrupted = true
			break
		}
		if err != nil {
			return err
		}
	}
	cmp.Elapsed = time.Since(started)
	cmp.Interrupted = interrupted

	fmt.Fprintln(stdout)
	if err := cmp.WriteTable(stdout); err != nil {
		return err
	}
	written, err := cmp.WriteAll(dir)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	fmt.Fprintf(stdout, "\nWrote %d files to %s: %s\n", len(written), dir, baseNames(written))
	fmt.Fprintf(stdout, "The comparison took %s.\n", cmp.Elapsed.Round(time.Second))
	if interrupted {
		return &exitError{code: 130, err: errors.New("compare: interrupted; the report covers what finished")}
	}
	return nil
}

// modelList parses and checks --models.
func (f *compareFlags) modelList() ([]string, error) {
	var names []string
	seen := map[string]bool{}
	for _, n := range strings.Split(f.models, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if seen[n] {
			return nil, badFlag("compare", "--models names %s twice", n)
		}
		seen[n] = true
		if _, err := models.New(n, models.Options{WidthMultiplier: f.width}); err != nil {
			return nil, badFlag("compare", "--models: %v", err)
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return nil, badFlag("compare", "--models needs at least one model")
	}
	return names, nil
}

// trainOne trains one model and measures it. It returns the run so far
// even when training stops early: diverged (recorded in Run.Err, error
// nil) or interrupted (context.Canceled).
func (f *compareFlags) trainOne(ctx context.Context, name string, tr, te *data.Dataset, pool *compute.Pool, stdout io.Writer) (*report.Run, error) {
	bar := newProgressBar(stdout, f.epochs)
	defer bar.close()
	cfg := train.Config{
		Model: name, ModelOptions: models.Options{WidthMultiplier: f.width, Seed: f.seed, BNMomentum: float32(f.bnMomentum)},
		Epochs: f.epochs, Batch: f.batch, LR: f.lr, Seed: f.seed, Shuffle: f.shuffle,
		Train: tr, Test: te, Pool: pool, MaxLoss: f.maxLossLimit(),
		OnProgress: bar.update,
		OnEpoch: func(s *train.Session, r train.EpochResult) error {
			bar.clear()
			fmt.Fprintf(stdout, "%-14s %s\n", name, epochLine(r))
			return nil
		},
	}
	s, err := train.NewSession(cfg)
	if err != nil {
		return nil, err
	}
	sum, err := models.Summarize(name, s.Model, []int{tr.H, tr.W, 1})
	if err != nil {
		return nil, err
	}
	run := &report.Run{Model: name, Doc: models.Doc(name), Trainable: sum.Trainable, NonTrainable: sum.NonTrainable, MACs: sum.MACs}
	if sum.NonTrainable > 0 {
		run.BNMomentum = f.bnMomentum
	}
	fmt.Fprintf(stdout, "\n%s: %s parameters, %s multiply-adds per image\n", name, models.Commas(int64(sum.Params())), models.MACsString(sum.MACs))
	start := time.Now()
	err = s.Run(ctx)
	bar.clear()
	run.History = s.History
	run.Steps = s.Trainer.Steps()
	var nf *train.NonFiniteError
	switch {
	case errors.As(err, &nf):
		fmt.Fprintf(stdout, "%-14s %v\n", name, err)
		run.Err = err
	case err != nil:
		run.Wall = time.Since(start)
		return run, err
	}
	if len(run.History) > 0 {
		run.Confusion = report.ConfusionMatrix(s.Model, pool, te, 256)
	}
	run.Wall = time.Since(start)
	fmt.Fprintf(stdout, "%-14s trained and tested in %s\n", name, run.Wall.Round(100*time.Millisecond))
	return run, nil
}

// commandLine rebuilds the command as typed, quoting arguments with spaces.
func commandLine(cmd string, args []string) string {
	parts := []string{"resgo", cmd}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// machine describes the computer for the report: CPU model, cores used,
// kernels and Go version.
func machine(threads int) string {
	cpu := runtime.GOARCH
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%s (%d of %d cores, %s kernels, %s %s/%s)", cpu, threads, runtime.NumCPU(), compute.Kernels(),
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// baseNames lists the files' base names.
func baseNames(paths []string) string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return strings.Join(names, ", ")
}
