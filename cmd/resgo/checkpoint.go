package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"resgo/checkpoint"
	"resgo/internal/oserr"
	"resgo/optim"
	"resgo/train"
)

// The files a checkpoint folder holds.
const (
	lastFile = "last.safetensors" // after every epoch, and on Ctrl-C
	bestFile = "best.safetensors" // when the test accuracy improves
)

// ckFlags are train's checkpoint flags and what it needs to save.
type ckFlags struct {
	dir       string // --checkpoint-dir
	resumeDir string // --resume
	f         *trainFlags
	data      string  // --data as an absolute path
	best      float64 // best test accuracy so far
	log       string  // --log as an absolute path, kept for a resumed run
	saved     string  // the last checkpoint saved or resumed from, if any
	savedAt   int     // and the epochs it holds
	overwrite bool    // --overwrite
	lock      *checkpoint.Lock
}

func (c *ckFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.dir, "checkpoint-dir", "", "save `DIR`/"+lastFile+" after every epoch and DIR/"+bestFile+" when the test accuracy improves")
	fs.BoolVar(&c.overwrite, "overwrite", false, "start a new run in --checkpoint-dir even though it holds another run's checkpoints, deleting them")
	fs.StringVar(&c.resumeDir, "resume", "", "continue the run saved in `DIR`/"+lastFile+" with its model, settings, seed and thread count\n(--epochs may extend it, except past the end of a cosine or onecycle schedule; checkpoints go on being saved in DIR unless --checkpoint-dir says otherwise)")
}

// notice prints a checkpoint's notice (checkpoint.State.Notice), if any,
// as one line on stderr.
func notice(stderr io.Writer, msg string) {
	if msg != "" {
		fmt.Fprintf(stderr, "resgo: note: %s\n", msg)
	}
}

// resumption is a run being continued.
type resumption struct {
	st     *checkpoint.State
	path   string
	recipe train.Recipe // st's
}

// resume loads the checkpoint of --resume, if given, and takes the run's
// settings from it. A flag given explicitly must agree with the checkpoint,
// except --epochs, --threads and --data. If the run is already complete it
// says so and returns an exitError with status 0.
func (c *ckFlags) resume(fs *flag.FlagSet, f *trainFlags, stdout, stderr io.Writer) (*resumption, error) {
	if c.resumeDir == "" {
		return nil, nil
	}
	path := filepath.Join(c.resumeDir, lastFile)
	st, err := checkpoint.Load(path)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	notice(stderr, st.Notice)
	recipe, err := train.RecipeOf(st)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if st.Slots == nil && st.Step > 0 {
		return nil, &exitError{code: 2, err: fmt.Errorf("checkpoint %s: holds only weights, no optimizer state: it cannot resume training", path)}
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var conflict error
	keep := func(name string, flagVal, saved any, assign func()) {
		if conflict == nil && set[name] && fmt.Sprint(flagVal) != fmt.Sprint(saved) {
			conflict = badFlag("train", "--%s %v differs from the %v that %s was trained with (a resumed run keeps its settings)",
				name, flagVal, saved, path)
		}
		assign()
	}
	keep("model", f.model, st.Model, func() { f.model = st.Model })
	keep("batch", f.batch, st.Loader.Batch, func() { f.batch = st.Loader.Batch })
	keep("lr", f.lr, st.Optimizer.LR, func() { f.lr = st.Optimizer.LR })
	keep("seed", f.seed, st.Seed, func() { f.seed = st.Seed })
	keep("width", f.width, st.Options.WidthMultiplier, func() { f.width = st.Options.WidthMultiplier })
	keep("bn-momentum", float32(f.bnMomentum), st.Options.Momentum(), func() { f.bnMomentum = float64(st.Options.Momentum()) })
	keep("shuffle-buffer", f.shuffle, st.Loader.Shuffle, func() { f.shuffle = st.Loader.Shuffle })
	keep("train-limit", f.trainLimit, st.Run.TrainLimit, func() { f.trainLimit = st.Run.TrainLimit })
	keep("test-limit", f.testLimit, st.Run.TestLimit, func() { f.testLimit = st.Run.TestLimit })
	if conflict != nil {
		return nil, conflict
	}
	if !set["data"] {
		f.dataDir = st.Run.Data
	}
	f.fromCheckpoint(fs, st)
	if !set["threads"] && st.Run.Threads > 0 {
		f.threads = st.Run.Threads
	}
	if !set["epochs"] {
		f.epochs = st.Run.Epochs
	}
	if f.epochs <= st.Epoch {
		fmt.Fprintf(stdout, "%s has trained %s already; nothing to do (give --epochs N to train further)\n", path, plural(st.Epoch, "epoch"))
		return nil, &exitError{code: 0, err: errors.New("")}
	}
	if c.dir == "" {
		c.dir = c.resumeDir
	}
	return &resumption{st: st, path: path, recipe: recipe}, nil
}

// extends refuses to extend, to epochs, a run whose cosine or one-cycle
// schedule ends earlier: such a schedule ends its run with the learning
// rate at (or near) 0 and stays there, so epochs beyond it would barely
// move the weights.
func (r *resumption) extends(epochs int) error {
	if n, s := r.recipe.ScheduleEpochs, r.recipe.Schedule; (s == optim.Cosine || s == optim.OneCycle) && n > 0 && epochs > n {
		return badFlag("train", "--epochs %d extends %s past the %d epochs its %s learning-rate schedule spans, after which the rate stays near 0 and training barely moves the weights; train a new run with --epochs %d instead",
			epochs, r.path, n, s, epochs)
	}
	return nil
}

// configure sets what the flags do not cover from the checkpoint.
func (r *resumption) configure(cfg *train.Config) {
	cfg.ModelOptions = r.st.Options
	cfg.Optimizer = r.st.Optimizer.Name
	cfg.Shuffle = r.st.Loader.Shuffle
	cfg.EvalBatch = r.st.Run.EvalBatch
}

// describe says where the resumed run starts.
func (r *resumption) describe(epochs int) string {
	st := r.st
	s := fmt.Sprintf("Resuming from %s: %d of %s done, %s", r.path, st.Epoch, plural(epochs, "epoch"), plural(int(st.Step), "step"))
	if p := st.Position; p != nil {
		s += fmt.Sprintf("; epoch %d was interrupted after %d batches", p.Epoch, p.Batches)
	}
	return s
}

// start prepares the checkpoint folder and, when resuming, restores the
// session from the checkpoint.
func (c *ckFlags) start(s *train.Session, r *resumption, f *trainFlags) error {
	c.f = f
	c.best = -1
	if f.dataDir != "" {
		abs, err := filepath.Abs(f.dataDir)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		c.data = abs
	}
	if c.dir != "" {
		if err := checkWritable(c.dir); err != nil {
			return &exitError{code: 2, err: err}
		}
		if err := c.claim(r); err != nil {
			return err
		}
	}
	if r == nil {
		return nil
	}
	c.saved, c.savedAt = r.path, r.st.Epoch
	if tr, te := s.Config.Train.N, s.Config.Test.N; tr != r.st.Run.TrainImages || te != r.st.Run.TestImages {
		return &exitError{code: 2, err: fmt.Errorf("%s was trained on %d images and tested on %d, but the data now has %d and %d",
			r.path, r.st.Run.TrainImages, r.st.Run.TestImages, tr, te)}
	}
	if err := s.Restore(r.st); err != nil {
		return &exitError{code: 2, err: err}
	}
	for _, h := range s.History {
		c.best = max(c.best, h.TestAccuracy)
	}
	return nil
}

// claim locks the checkpoint folder for the run, removes the temporary
// files of an interrupted save and makes sure that the run replaces no
// other run's checkpoints: a folder holding one is refused unless this
// run resumes it or --overwrite is given, which deletes them.
func (c *ckFlags) claim(r *resumption) error {
	l, err := checkpoint.LockDir(c.dir)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	c.lock = l
	if _, err := checkpoint.RemoveStale(c.dir); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("cannot remove an interrupted save's temporary file in %s: %v", c.dir, oserr.Cause(err))}
	}
	if r != nil && sameFolder(c.dir, c.resumeDir) {
		return nil
	}
	held := heldRun(c.dir)
	switch {
	case held == "":
		return nil
	case !c.overwrite && r != nil:
		return &exitError{code: 2, err: fmt.Errorf("train: %s holds another run (%s): resuming %s there would replace its checkpoints; choose another --checkpoint-dir, or give --overwrite to delete them",
			c.dir, held, r.path)}
	case !c.overwrite:
		return &exitError{code: 2, err: fmt.Errorf("train: %s already holds a run (%s): continue it with '%s train --resume %s', or start a new one there with --overwrite, which deletes it",
			c.dir, held, progName(), shellQuote(c.dir))}
	}
	for _, n := range []string{lastFile, bestFile} {
		if err := os.Remove(filepath.Join(c.dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return &exitError{code: 2, err: fmt.Errorf("--overwrite: cannot delete %s: %v", filepath.Join(c.dir, n), oserr.Cause(err))}
		}
	}
	return nil
}

// release unlocks the checkpoint folder.
func (c *ckFlags) release() { c.lock.Unlock() }

// heldRun describes the run whose checkpoints dir holds, or returns "" if
// it holds none.
func heldRun(dir string) string {
	var files []string
	for _, n := range []string{lastFile, bestFile} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			files = append(files, n)
		}
	}
	if len(files) == 0 {
		return ""
	}
	desc := strings.Join(files, " and ")
	if st, err := checkpoint.Load(filepath.Join(dir, files[0])); err == nil {
		desc += fmt.Sprintf(": %s, %d of %d epochs", st.Model, st.Epoch, st.Run.Epochs)
		best := -1.0
		for _, h := range st.History {
			best = max(best, h.TestAccuracy)
		}
		if best >= 0 {
			desc += fmt.Sprintf(", best test accuracy %.2f%%", 100*best)
		}
	}
	return desc
}

// sameFolder says whether a and b name the same folder.
func sameFolder(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA != nil || errB != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return os.SameFile(fa, fb)
}

// save writes the session's state to dir/name.
func (c *ckFlags) save(s *train.Session, dir, name string) (string, error) {
	st := s.Checkpoint()
	st.Run.TrainLimit, st.Run.TestLimit, st.Run.Data, st.Run.Log = c.f.trainLimit, c.f.testLimit, c.data, c.log
	if src := c.f.src; src != nil {
		st.Run.Format, st.Run.SkipBad = src.Format, c.f.skipBad
		st.Run.Prepare = checkpoint.PreparePixels
		if src.Digits {
			st.Run.Prepare = checkpoint.PrepareDigits
		}
		if sp := src.Split; sp != nil {
			st.Run.ValSplit, st.Run.SplitSeed, st.Run.SplitTest = sp.Fraction, sp.Seed, sp.Test
		}
	}
	path := filepath.Join(dir, name)
	return path, checkpoint.Save(path, st)
}

// epochDone saves last.safetensors, and best.safetensors if the test
// accuracy improved.
func (c *ckFlags) epochDone(s *train.Session, r train.EpochResult, stdout io.Writer) error {
	if c.dir == "" {
		return nil
	}
	last, err := c.save(s, c.dir, lastFile)
	if err != nil {
		msg := fmt.Sprintf("%v; training stopped after epoch %d", err, r.Epoch)
		if c.saved != "" {
			msg += fmt.Sprintf(": once the disk is fixed, resume from epoch %d with: %s train --resume %s", c.savedAt, progName(), shellQuote(filepath.Dir(c.saved)))
		}
		return &exitError{code: 1, err: errors.New(msg)}
	}
	c.saved, c.savedAt = last, r.Epoch
	if r.TestAccuracy > c.best {
		c.best = r.TestAccuracy
		best, err := c.save(s, c.dir, bestFile)
		if err != nil {
			return &exitError{code: 1, err: fmt.Errorf("%v; training stopped after epoch %d (%s is saved)", err, r.Epoch, last)}
		}
		fmt.Fprintf(stdout, "Saved %s and %s (the best test accuracy so far)\n", last, best)
		return nil
	}
	fmt.Fprintf(stdout, "Saved %s\n", last)
	return nil
}

// lastGood says, after training failed, which checkpoint holds the last
// good state.
func (c *ckFlags) lastGood() string {
	switch {
	case c.saved != "":
		return fmt.Sprintf("nothing was saved after epoch %d: %s is intact", c.savedAt, c.saved)
	case c.dir != "":
		return "no checkpoint was saved"
	}
	return "no checkpoint was saved (--checkpoint-dir keeps one per epoch)"
}

// checkWritable creates dir if need be and checks that a file can be
// created in it and that nothing but a file holds the checkpoints' names,
// so that a checkpoint folder that cannot be written is found before
// training rather than after the first epoch.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create the checkpoint folder %s: %v", dir, oserr.Cause(err))
	}
	f, err := os.CreateTemp(dir, ".resgo-write-test-*")
	if err != nil {
		return fmt.Errorf("cannot write in the checkpoint folder %s: %v", dir, oserr.Cause(err))
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("cannot remove %s from the checkpoint folder: %v", name, oserr.Cause(err))
	}
	for _, n := range []string{lastFile, bestFile} {
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && !fi.Mode().IsRegular() {
			return fmt.Errorf("cannot save checkpoints in %s: %s is not a regular file", dir, filepath.Join(dir, n))
		}
	}
	return nil
}

// interrupted saves the state of a session stopped by a signal and says
// how to resume; it returns an exitError with status 130.
func (c *ckFlags) interrupted(s *train.Session, stdout io.Writer) error {
	dir := c.dir
	if dir == "" {
		d, l, err := interruptFolder()
		if err != nil {
			return &exitError{code: 1, err: fmt.Errorf("interrupted, and %v", err)}
		}
		dir, c.lock = d, l
	}
	path, err := c.save(s, dir, lastFile)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("interrupted, and the checkpoint could not be saved: %v", err)}
	}
	p := s.Trainer.Position()
	where := fmt.Sprintf("after epoch %d", len(s.History))
	if p.Epoch == len(s.History)+1 {
		where = fmt.Sprintf("in epoch %d after %d of %d batches", p.Epoch, p.Batches, s.Loader.Batches())
	}
	fmt.Fprintf(stdout, "Interrupted %s; saved %s\nResume with: %s train --resume %s\n", where, path, progName(), shellQuote(dir))
	return &exitError{code: 130, err: errors.New("")}
}

// interruptFolder returns the folder where an interrupted run without
// --checkpoint-dir saves, and its lock: interruptDir or, if that is in use
// or holds another run, the first of interruptDir-2, -3, … that is free.
func interruptFolder() (string, *checkpoint.Lock, error) {
	for i := 1; i <= 100; i++ {
		dir := interruptDir
		if i > 1 {
			dir = fmt.Sprintf("%s-%d", interruptDir, i)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("cannot create %s to save a checkpoint: %v", dir, oserr.Cause(err))
		}
		l, err := checkpoint.LockDir(dir)
		var busy *checkpoint.BusyError
		switch {
		case errors.As(err, &busy):
			continue
		case err != nil:
			return "", nil, err
		}
		if heldRun(dir) != "" {
			l.Unlock()
			continue
		}
		checkpoint.RemoveStale(dir)
		return dir, l, nil
	}
	return "", nil, fmt.Errorf("%s-2 to %s-100 all hold runs: cannot save a checkpoint", interruptDir, interruptDir)
}

// progName is how to call resgo in a printed command: as it was called if
// that was by a path to a binary named resgo, else "resgo".
func progName() string {
	if filepath.Base(os.Args[0]) == "resgo" {
		return shellQuote(os.Args[0])
	}
	return "resgo"
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=+,@%-]+$`)

// shellQuote quotes s for a POSIX shell if it needs quoting.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
