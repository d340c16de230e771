package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"resgo/checkpoint"
	"resgo/train"
)

// TestTrainRecipeResume trains two epochs with every recipe flag on, and
// the same run interrupted (SIGINT) in its second epoch and resumed with
// only --resume: the checkpoints are identical to the bit and the resumed
// run's log goes on where the first stopped. It also checks what --recipe
// best expands to, the epoch line's learning rate, and that a resumed run
// refuses a different recipe.
func TestTrainRecipeResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds resgo and trains the ResNet four epochs")
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	logA, logB := filepath.Join(dir, "a.csv"), filepath.Join(dir, "logs", "b.csv")
	common := []string{"train", "--train-limit", "320", "--test-limit", "50", "--seed", "3", "--recipe", "best", "--epochs", "2",
		"--warmup-epochs", "0.5", "--augment", "shift=2,rotate=10,crop=2,scale=0.1", "--patience", "5", "--monitor", "accuracy"}
	code, out, stderr := ckRun(append(common, "--checkpoint-dir", a, "--log", logA)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "), LR: ") {
		t.Errorf("the epoch lines give no learning rate:\n%s", out)
	}
	cmd := exec.Command(resgoBinary(t), append(common, "--checkpoint-dir", b, "--log", logB)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "Epoch 1,") {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); cmd.ProcessState.ExitCode() != 130 {
		t.Fatalf("the interrupted run: %v, want status 130", err)
	}
	// Resumed without its flags: the checkpoint keeps the recipe and the log.
	if code, _, stderr := ckRun("train", "--resume", b); code != 0 {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	sameTensors(t, filepath.Join(a, "last.safetensors"), filepath.Join(b, "last.safetensors"))
	st, err := checkpoint.Load(filepath.Join(b, "last.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	want := train.Recipe{Schedule: "cosine", WarmupEpochs: 0.5, ScheduleEpochs: 2, WeightDecay: 1e-4, LabelSmoothing: 0.1,
		Augment: "shift=2,rotate=10,crop=2,scale=0.1", Patience: 5, Monitor: "accuracy"}
	if got, err := train.RecipeOf(st); st.Optimizer.Name != "adamw" || got != want || err != nil {
		t.Fatalf("checkpoint: optimizer %s, recipe %+v (%v); want adamw, %+v", st.Optimizer.Name, got, err, want)
	}
	la, err := os.ReadFile(logA)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := os.ReadFile(logB)
	if err != nil {
		t.Fatal(err)
	}
	// The logs agree but for the timings.
	strip := func(b []byte) (rows []string) {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Split(l, ",")
			rows = append(rows, strings.Join(f[:6], ","))
		}
		return rows
	}
	ra, rb := strip(la), strip(lb)
	if len(ra) != 3 || strings.Join(ra, "\n") != strings.Join(rb, "\n") || !strings.HasPrefix(ra[0], "epoch,lr,") {
		t.Fatalf("logs differ:\n%s\n\n%s", la, lb)
	}
	// A resumed run keeps its recipe.
	if code, _, stderr := ckRun("train", "--resume", b, "--epochs", "3", "--label-smoothing", "0.2"); code != 2 ||
		!strings.Contains(stderr, "--label-smoothing 0.2 differs from the 0.1 that") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, _, stderr := ckRun("train", "--resume", b, "--epochs", "3", "--recipe", "tutorial", "--optimizer", "adam"); code != 2 ||
		!strings.Contains(stderr, "--optimizer adam differs from the adamw that") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// Nor does it go on past the end of its cosine schedule.
	code, _, stderr = ckRun("train", "--resume", b, "--epochs", "3")
	checkOneLineError(t, "extended past the schedule", stderr, "--epochs 3 extends "+filepath.Join(b, "last.safetensors")+
		" past the 2 epochs its cosine learning-rate schedule spans", "train a new run with --epochs 3 instead")
	if code != exitUsage {
		t.Errorf("extended past the schedule: exit %d", code)
	}
}

// TestTrainRecipeFlagErrors checks that bad recipe flags exit with status
// 2 and say what is wrong.
func TestTrainRecipeFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--recipe", "fast"}, `unknown --recipe "fast"`},
		{[]string{"--optimizer", "rmsprop"}, "--optimizer must be adam, adamw or sgd"},
		{[]string{"--lr-schedule", "linear"}, "--lr-schedule must be one of constant, step, cosine, onecycle"},
		{[]string{"--weight-decay", "1e-4"}, "--weight-decay needs --optimizer adamw or sgd"},
		{[]string{"--nesterov"}, "--nesterov needs --optimizer sgd"},
		{[]string{"--label-smoothing", "1"}, "--label-smoothing must be from 0 to below 1"},
		{[]string{"--augment", "shift=2,zoom=3"}, `unknown augmentation "zoom=3"`},
		{[]string{"--patience", "-1"}, "--patience must be 0 or more"},
		{[]string{"--monitor", "f1"}, "--monitor must be loss or accuracy"},
		{[]string{"--lr-schedule", "cosine", "--warmup-epochs", "3", "--epochs", "3"}, "3 warmup epochs leave nothing of the 3 epochs to the cosine schedule"},
	} {
		code, _, stderr := ckRun(append([]string{"train", "--train-limit", "32", "--test-limit", "10"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}
