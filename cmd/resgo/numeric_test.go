package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"resgo/checkpoint"
	"resgo/internal/testmodels"
)

// TestDivergedRunStops checks that a run whose loss explodes stops at
// once with one line naming the epoch and step, exit status 1, and saves
// nothing: --lr 1000 passes the default --max-loss of 10,000 at once,
// and --lr 1e6 with --max-loss 0 (no limit) overflows to NaN.
func TestDivergedRunStops(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--lr", "1000"}, `the loss is \S+, over the limit of 10000, at epoch 1, step \d+`},
		{[]string{"--lr", "1e6", "--max-loss", "0"}, `the loss is (NaN|\+Inf|-Inf) at epoch \d, step \d+|parameter \S+ holds \S+ after epoch \d`},
	} {
		dir := filepath.Join(t.TempDir(), "run")
		args := append([]string{"train", "--train-limit", "96", "--test-limit", "32", "--batch", "16", "--epochs", "3",
			"--checkpoint-dir", dir}, c.args...)
		code, stdout, stderr := ckRun(args...)
		if code != exitFailed {
			t.Errorf("%v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", c.args, code, exitFailed, stdout, stderr)
		}
		checkOneLineError(t, strings.Join(c.args, " "), stderr, "training diverged: ", "(try a lower --lr); no checkpoint was saved")
		if !regexp.MustCompile(c.want).MatchString(stderr) {
			t.Errorf("%v: stderr %q does not match %q", c.args, stderr, c.want)
		}
		if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
			t.Errorf("%v: the checkpoint folder holds %v (%v), want nothing", c.args, ents, err)
		}
	}
}

// forge rewrites the checkpoint at path through edit, as a damaged or
// hand-edited file would be.
func forge(t *testing.T, path string, edit func(f *checkpoint.File)) {
	t.Helper()
	f, err := checkpoint.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(f)
	if err := checkpoint.WriteFile(path, f.Tensors, f.Metadata); err != nil {
		t.Fatal(err)
	}
}

// readAll returns the contents of the named files in dir.
func readAll(t *testing.T, dir string, names ...string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		m[n] = b
	}
	return m
}

// checkUntouched fails unless dir holds exactly the files in before, with
// the same bytes (no temporary file left either), and each loads.
func checkUntouched(t *testing.T, dir string, before map[string][]byte) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(ents) != len(before) {
		t.Errorf("%s holds %v, want only %d files", dir, names, len(before))
	}
	for n, b := range before {
		path := filepath.Join(dir, n)
		now, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(now, b) {
			t.Errorf("%s changed (%v)", path, err)
			continue
		}
		if _, err := checkpoint.Load(path); err != nil {
			t.Errorf("%s no longer loads: %v", path, err)
		}
	}
}

// TestDivergenceKeepsLastGoodCheckpoint trains one sound epoch with
// checkpoints, then lets epoch 2 diverge, and checks that last.safetensors
// and best.safetensors are still those of epoch 1, byte for byte, that
// they load and evaluate, and that the message says so. Two ways to
// diverge in epoch 2: the checkpoint's learning rate raised to 1000 (a
// training step's loss explodes), and a model whose test pass gives NaN
// while its training steps are sound (an epoch with a NaN test loss must
// not be saved either).
func TestDivergenceKeepsLastGoodCheckpoint(t *testing.T) {
	for _, c := range []struct {
		name  string
		model string
		edit  func(f *checkpoint.File)
		want  string
	}{
		{"training loss", "resnet", func(f *checkpoint.File) {
			var o checkpoint.OptimizerState
			if err := json.Unmarshal([]byte(f.Metadata["optimizer"]), &o); err != nil {
				t.Fatal(err)
			}
			o.LR = 1000
			b, _ := json.Marshal(o)
			f.Metadata["optimizer"] = string(b)
		}, `training diverged: the loss is \S+, over the limit of 10000, at epoch 2, step \d+ \(try a lower --lr\)`},
		{"test loss", testmodels.NaNInference, func(*checkpoint.File) { testmodels.PoisonInference.Store(true) },
			`training diverged: the test loss is NaN after epoch 2 \(try a lower --lr\)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer testmodels.PoisonInference.Store(false)
			dir := filepath.Join(t.TempDir(), "run")
			code, _, stderr := ckRun("train", "--model", c.model, "--train-limit", "96", "--test-limit", "32", "--batch", "16",
				"--epochs", "1", "--checkpoint-dir", dir)
			if code != exitOK {
				t.Fatalf("first epoch: exit %d: %s", code, stderr)
			}
			last := filepath.Join(dir, lastFile)
			forge(t, last, c.edit)
			before := readAll(t, dir, lastFile, bestFile)
			code, stdout, stderr := ckRun("train", "--resume", dir, "--epochs", "3")
			if code != exitFailed {
				t.Fatalf("resumed: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout, stderr)
			}
			checkOneLineError(t, "resumed", stderr, "; nothing was saved after epoch 1: "+last+" is intact")
			if !regexp.MustCompile(c.want).MatchString(stderr) {
				t.Errorf("stderr %q does not match %q", stderr, c.want)
			}
			if strings.Contains(stdout, "Epoch 2,") || strings.Contains(stdout, "Saved") {
				t.Errorf("the diverged epoch was reported or saved:\n%s", stdout)
			}
			testmodels.PoisonInference.Store(false)
			checkUntouched(t, dir, before)
			if code, _, stderr := ckRun("eval", "--checkpoint", filepath.Join(dir, bestFile), "--test-limit", "32"); code != exitOK {
				t.Errorf("eval of best.safetensors: exit %d: %s", code, stderr)
			}
		})
	}
}

// TestNonFiniteCheckpointRefused checks that a checkpoint holding an
// infinity is refused by eval, predict and --resume with one line naming
// the file and the tensor.
func TestNonFiniteCheckpointRefused(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(ckTestModel)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, lastFile)
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	forge(t, path, func(f *checkpoint.File) {
		x := f.Tensor("dense2.bias")
		x.Data[3] = float32(math.Inf(1))
	})
	for _, args := range [][]string{
		{"eval", "--checkpoint", path},
		{"predict", "--checkpoint", path, "x.png"},
		{"train", "--resume", dir},
	} {
		code, _, stderr := ckRun(args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
		checkOneLineError(t, args[0], stderr, path, `tensor "dense2.bias" holds +Inf at index 3: the run that saved it had diverged`)
	}
}
