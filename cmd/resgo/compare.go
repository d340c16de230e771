package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"resgo/checkpoint"
	"resgo/compute"
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
Usage: resgo compare [--models resnet,vgg16,vgg16-reduced] [--epochs 10] [--seeds 1,2,3] [--out DIR] [flags]

Trains each model in turn on the same data, in the same shuffled order, from
the same seed, printing the tutorial's line after every epoch and a table at
the end. With --seeds, every model is trained once per seed (all models under
the first seed, then under the next), and the report
gives each figure's mean over the seeds and its range (lowest to highest),
calling a difference between models only where their ranges do not overlap.
It writes into DIR:

  report.md                 the settings, the table, and the result read in plain sentences
  history.csv               epoch, model, seed, train_loss, train_accuracy, test_loss, test_accuracy, seconds
  summary.csv               per model and epoch: the number of seeds, each figure's mean, min and max
  accuracy.png, .svg        every model's train and test accuracy per epoch
  loss.png, .svg            every model's train and test loss per epoch
  confusion-MODEL.png       each model's confusion matrix on the test set

DIR defaults to ./compare-YYYYMMDD-HHMMSS. DIR is locked while the
comparison runs, and a DIR that holds another comparison's report is
refused unless --overwrite. Interrupting (Ctrl-C) stops after
the current step and still writes what was measured.`

// compareFlags are compare's flags beyond the training ones.
type compareFlags struct {
	trainFlags
	models    string
	seeds     string
	out       string
	overwrite bool
}

func runCompare(args []string, stdout, stderr io.Writer) error {
	var f compareFlags
	fs := newFlags("compare", compareSynopsis, stdout)
	f.register(fs, false)
	fs.StringVar(&f.models, "models", "resnet,vgg16,vgg16-reduced", "comma-separated `list` of models to compare: "+strings.Join(models.Names(), ", "))
	fs.StringVar(&f.seeds, "seeds", "", "comma-separated `list` of seeds: every model is trained once per seed (default: --seed alone)")
	fs.StringVar(&f.out, "out", "", "write the report into `DIR` (default ./compare-YYYYMMDD-HHMMSS)")
	fs.BoolVar(&f.overwrite, "overwrite", false, "write the report into --out even though it holds another comparison's report, deleting that")
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
	seedSet := false
	fs.Visit(func(fl *flag.Flag) { seedSet = seedSet || fl.Name == "seed" })
	seeds, err := f.seedList(seedSet)
	if err != nil {
		return err
	}
	f.splitSeed = seeds[0] // a single class tree is split once, for every seed
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
	lock, err := claimReport(dir, f.overwrite)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	dataName := "MNIST"
	if f.dataDir != "" {
		dataName = f.src.Describe(tr)
	}
	cmp := &report.Comparison{
		Command: commandLine("compare", args), Machine: machine(pool.Workers()), Data: dataName,
		TrainImages: tr.N, TestImages: te.N, Epochs: f.epochs, Batch: f.batch, LR: f.lr, Seed: seeds[0], Started: started,
	}
	seedText := fmt.Sprintf("seed %d", seeds[0])
	if len(seeds) > 1 {
		cmp.Seeds = seeds
		seedText = "seeds " + joinUints(seeds)
	}
	epochs := plural(f.epochs, "epoch")
	f.announce(stdout, tr)
	fmt.Fprintf(stdout, "Comparing %s: %s on %d training images, testing on %d; batch %d, %s, %d threads, %s kernels\n",
		strings.Join(names, ", "), epochs, tr.N, te.N, f.batch, seedText, pool.Workers(), compute.Kernels())
	if note := shortRunNote(f.bnMomentum, f.epochs*((tr.N+f.batch-1)/f.batch)); withBN && note != "" {
		fmt.Fprintln(stdout, note)
	}

	// Seed by seed, every model under one seed before the next, so that an
	// interrupted comparison still compares every model on the seeds that
	// finished.
	var interrupted bool
train:
	for _, seed := range seeds {
		for _, name := range names {
			label := name
			if len(seeds) > 1 {
				label = fmt.Sprintf("%s/%d", name, seed)
			}
			run, err := f.trainOne(ctx, name, label, seed, tr, te, pool, stdout)
			if run != nil {
				cmp.Runs = append(cmp.Runs, *run)
			}
			if errors.Is(err, context.Canceled) {
				interrupted = true
				break train
			}
			if err != nil {
				return err
			}
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

// claimReport locks the report folder dir for the comparison, as train
// locks its checkpoint folder, so that two runs never write into it at
// once, and makes sure that the comparison replaces no other's report: a
// folder holding one (report.md) is refused unless overwrite, which
// deletes that report's files.
func claimReport(dir string, overwrite bool) (*checkpoint.Lock, error) {
	l, err := checkpoint.LockDir(dir)
	var busy *checkpoint.BusyError
	switch {
	case errors.As(err, &busy):
		who := "another process"
		if busy.PID > 0 {
			who = "process " + strconv.Itoa(busy.PID)
		}
		return nil, &exitError{code: 2, err: fmt.Errorf("compare: report folder %s is in use by another resgo run (%s, which holds %s): wait for it to end, or choose another --out",
			dir, who, filepath.Join(dir, checkpoint.LockFile))}
	case err != nil:
		return nil, &exitError{code: 2, err: fmt.Errorf("compare: %v", err)}
	}
	files := reportFiles(dir)
	switch {
	case len(files) == 0:
		return l, nil
	case !overwrite:
		l.Unlock()
		return nil, &exitError{code: 2, err: fmt.Errorf("compare: %s already holds a comparison's report (%s): choose another --out, or give --overwrite, which deletes it",
			dir, baseNames(files))}
	}
	for _, path := range files {
		if err := os.Remove(path); err != nil {
			l.Unlock()
			return nil, &exitError{code: 2, err: fmt.Errorf("compare: --overwrite: cannot delete %s: %v", path, oserr.Cause(err))}
		}
	}
	return l, nil
}

// reportFiles returns the files of a comparison's report in dir, if it
// holds one (report.md, report.Files[0]), else nothing.
func reportFiles(dir string) []string {
	if _, err := os.Lstat(filepath.Join(dir, report.Files[0])); err != nil {
		return nil
	}
	var files []string
	for _, n := range report.Files {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			files = append(files, filepath.Join(dir, n))
		}
	}
	confusion, _ := filepath.Glob(filepath.Join(dir, report.ConfusionFile("*")))
	return append(files, confusion...)
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

// seedList parses --seeds: the seeds to train every model from, or --seed
// alone. Naming both is an error, as is a seed given twice.
func (f *compareFlags) seedList(seedSet bool) ([]uint64, error) {
	if f.seeds == "" {
		return []uint64{f.seed}, nil
	}
	if seedSet {
		return nil, badFlag("compare", "--seed and --seeds both given: use --seeds alone")
	}
	var seeds []uint64
	for _, part := range strings.Split(f.seeds, ",") {
		s, err := strconv.ParseUint(strings.TrimSpace(part), 10, 64)
		if err != nil {
			return nil, badFlag("compare", "--seeds %q: %q is not a seed (a whole number ≥ 0)", f.seeds, part)
		}
		if slices.Contains(seeds, s) {
			return nil, badFlag("compare", "--seeds names %d twice", s)
		}
		seeds = append(seeds, s)
	}
	return seeds, nil
}

// joinUints formats seeds as --seeds takes them: "1,2,3".
func joinUints(v []uint64) string {
	parts := make([]string, len(v))
	for i, s := range v {
		parts[i] = strconv.FormatUint(s, 10)
	}
	return strings.Join(parts, ",")
}

// trainOne trains one model from seed and measures it, printing its
// lines under label. It returns the run so far even when training stops
// early: diverged (recorded in Run.Err, error nil) or interrupted
// (context.Canceled).
func (f *compareFlags) trainOne(ctx context.Context, name, label string, seed uint64, tr, te *data.Dataset, pool *compute.Pool, stdout io.Writer) (*report.Run, error) {
	bar := newProgressBar(stdout, f.epochs)
	defer bar.close()
	cfg := train.Config{
		Model: name, ModelOptions: models.Options{WidthMultiplier: f.width, Seed: seed, BNMomentum: float32(f.bnMomentum)},
		Epochs: f.epochs, Batch: f.batch, LR: f.lr, Seed: seed, Shuffle: f.shuffle,
		Train: tr, Test: te, Pool: pool, MaxLoss: f.maxLossLimit(),
		OnProgress: bar.update,
		OnEpoch: func(s *train.Session, r train.EpochResult) error {
			bar.clear()
			fmt.Fprintf(stdout, "%-16s %s\n", label, epochLine(r))
			return nil
		},
	}
	s, err := train.NewSession(cfg)
	if err != nil {
		return nil, err
	}
	sum, err := models.Summarize(name, s.Model, s.Config.ModelOptions.InputShape())
	if err != nil {
		return nil, err
	}
	run := &report.Run{Model: name, Seed: seed, Doc: models.Doc(name), Trainable: sum.Trainable, NonTrainable: sum.NonTrainable, MACs: sum.MACs,
		ClassNames: tr.Classes}
	if sum.NonTrainable > 0 {
		run.BNMomentum = f.bnMomentum
	}
	fmt.Fprintf(stdout, "\n%s: %s parameters, %s multiply-adds per image\n", label, models.Commas(int64(sum.Params())), models.MACsString(sum.MACs))
	start := time.Now()
	err = s.Run(ctx)
	bar.clear()
	run.History = s.History
	run.Steps = s.Trainer.Steps()
	var nf *train.NonFiniteError
	switch {
	case errors.As(err, &nf):
		fmt.Fprintf(stdout, "%-16s %v\n", label, err)
		run.Err = err
	case err != nil:
		run.Wall = time.Since(start)
		return run, err
	}
	if len(run.History) > 0 {
		run.Confusion = report.ConfusionMatrix(s.Model, pool, te, 256)
	}
	run.Wall = time.Since(start)
	fmt.Fprintf(stdout, "%-16s trained and tested in %s\n", label, run.Wall.Round(100*time.Millisecond))
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
