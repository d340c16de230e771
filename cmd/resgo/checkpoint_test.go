package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"resgo/checkpoint"
)

// sameTensors fails unless the checkpoints at a and b hold the same
// tensors, bit for bit, and the same metrics history (timings aside).
func sameTensors(t *testing.T, a, b string) {
	t.Helper()
	fa, err := checkpoint.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := checkpoint.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(fa.Tensors) != len(fb.Tensors) {
		t.Fatalf("%d tensors in %s, %d in %s", len(fa.Tensors), a, len(fb.Tensors), b)
	}
	for i, x := range fa.Tensors {
		y := fb.Tensors[i]
		if x.Name != y.Name || len(x.Data) != len(y.Data) {
			t.Fatalf("tensor %d: %s vs %s", i, x.Name, y.Name)
		}
		for j := range x.Data {
			if math.Float32bits(x.Data[j]) != math.Float32bits(y.Data[j]) {
				t.Fatalf("%s[%d]: %v in %s, %v in %s", x.Name, j, x.Data[j], a, y.Data[j], b)
			}
		}
	}
	sa, err := checkpoint.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := checkpoint.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	if sa.Epoch != sb.Epoch || sa.Step != sb.Step || len(sa.History) != len(sb.History) {
		t.Fatalf("epoch/step %d/%d vs %d/%d", sa.Epoch, sa.Step, sb.Epoch, sb.Step)
	}
	for i, x := range sa.History {
		y := sb.History[i]
		if x.Epoch != y.Epoch || x.Loss != y.Loss || x.Accuracy != y.Accuracy || x.TestLoss != y.TestLoss || x.TestAccuracy != y.TestAccuracy {
			t.Fatalf("history differs:\n%+v\n%+v", x, y)
		}
	}
}

var testAccRE = regexp.MustCompile(`(?m)^Epoch (\d+), .*Test Accuracy: ([0-9.]+) \(`)

// TestTrainResumeEval trains two epochs straight and one plus a resumed
// one (identical to the bit), then evaluates best.safetensors and finds
// the test accuracy training printed for its epoch.
func TestTrainResumeEval(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the ResNet four epochs")
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	common := []string{"train", "--train-limit", "160", "--test-limit", "100", "--seed", "3"}
	code, out, stderr := ckRun(append(common, "--epochs", "2", "--checkpoint-dir", a)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, _, stderr := ckRun(append(common, "--epochs", "1", "--checkpoint-dir", b)...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, out2, stderr := ckRun("train", "--resume", b, "--epochs", "2")
	if code != 0 {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out2, "Resuming from "+filepath.Join(b, "last.safetensors")+": 1 of 2 epochs done, 5 steps") {
		t.Errorf("resume output:\n%s", out2)
	}
	sameTensors(t, filepath.Join(a, "last.safetensors"), filepath.Join(b, "last.safetensors"))

	// The best epoch: the first with the highest printed test accuracy.
	best, bestAcc := 0, -1.0
	printed := map[int]string{}
	for _, m := range testAccRE.FindAllStringSubmatch(out, -1) {
		var e int
		var acc float64
		fmt.Sscan(m[1], &e)
		fmt.Sscan(m[2], &acc)
		printed[e] = m[2]
		if acc > bestAcc {
			best, bestAcc = e, acc
		}
	}
	if len(printed) != 2 {
		t.Fatalf("training printed:\n%s", out)
	}
	code, js, stderr := ckRun("eval", "--checkpoint", filepath.Join(a, "best.safetensors"), "--test-limit", "100", "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	var r evalResult
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatal(err)
	}
	if r.Epoch != best || fmt.Sprintf("%.2f", 100*r.Accuracy) != printed[best] || r.Images != 100 {
		t.Fatalf("eval of best.safetensors: epoch %d, accuracy %.2f on %d images; training printed %s for epoch %d",
			r.Epoch, 100*r.Accuracy, r.Images, printed[best], best)
	}
	st, err := checkpoint.Load(filepath.Join(a, "best.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if h := st.History[best-1]; h.TestAccuracy != r.Accuracy || h.TestLoss != r.Loss {
		t.Fatalf("eval measured loss %v accuracy %v, training %v and %v", r.Loss, r.Accuracy, h.TestLoss, h.TestAccuracy)
	}
	total, diag := 0, 0
	for i, row := range r.Confusion {
		for j, n := range row {
			total += n
			if i == j {
				diag += n
			}
		}
	}
	if total != 100 || float64(diag)/100 != r.Accuracy || len(r.PerClass) != 10 {
		t.Fatalf("confusion matrix sums to %d with %d on the diagonal; accuracy %v", total, diag, r.Accuracy)
	}
	// The text report.
	code, text, _ := ckRun("eval", "--checkpoint", filepath.Join(a, "best.safetensors"), "--test-limit", "100")
	if code != 0 || !strings.Contains(text, "Test Accuracy: "+printed[best]) || !strings.Contains(text, "Confusion matrix") {
		t.Fatalf("eval printed:\n%s", text)
	}
	// Nothing left to do; settings that differ from the run's.
	if code, out, _ := ckRun("train", "--resume", b); code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if code, _, stderr := ckRun("train", "--resume", b, "--epochs", "3", "--batch", "64"); code != 2 ||
		!strings.Contains(stderr, "--batch 64 differs from the 32 that "+filepath.Join(b, "last.safetensors")+" was trained with") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, _, stderr := ckRun("train", "--resume", b, "--epochs", "3", "--shuffle-buffer", "100"); code != 2 ||
		!strings.Contains(stderr, "--shuffle-buffer 100 differs from the 10000 that") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, _, stderr := ckRun("train", "--resume", b, "--epochs", "3", "--bn-momentum", "0.9"); code != 2 ||
		!strings.Contains(stderr, "--bn-momentum 0.9 differs from the 0.99 that") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The momentum the run was trained with, given again, is no conflict
	// (nothing to do: it has trained its epochs).
	if code, out, stderr := ckRun("train", "--resume", b, "--bn-momentum", "0.99"); code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("exit %d: %s%s", code, out, stderr)
	}
}

// TestBadCheckpointsCLI checks that damaged or missing checkpoints and
// conflicting flags exit with status 2 and one line naming the file.
func TestBadCheckpointsCLI(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(ckTestModel)
	if err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(dir, "trunc", "last.safetensors")
	os.MkdirAll(filepath.Dir(trunc), 0o755)
	os.WriteFile(trunc, good[:len(good)-100], 0o644)
	weights := filepath.Join(dir, "weights")
	os.MkdirAll(weights, 0o755)
	os.WriteFile(filepath.Join(weights, "last.safetensors"), good, 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--checkpoint", trunc}, trunc + ": "},
		{[]string{"eval", "--checkpoint", filepath.Join(dir, "nope")}, "nope: cannot read: no such file"},
		{[]string{"train", "--resume", filepath.Dir(trunc)}, trunc + ": "},
		{[]string{"train", "--resume", filepath.Join(dir, "none")}, filepath.Join(dir, "none", "last.safetensors") + ": cannot read"},
		{[]string{"train", "--resume", weights}, "holds only weights"},
		{[]string{"train", "--resume", weights, "--epochs", "9"}, "holds only weights"},
		{[]string{"eval"}, "--checkpoint FILE is required"},
	} {
		code, _, stderr := ckRun(c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", c.args, code, stderr, c.want)
		}
	}
}

// TestInterruptSavesAndResumes builds resgo, sends it SIGINT once it has
// printed its first epoch, and checks that it saves a checkpoint, prints
// the command that resumes, exits with status 130, and that the command
// finishes the run with the weights of an uninterrupted one.
func TestInterruptSavesAndResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds resgo and trains")
	}
	dir := t.TempDir()
	bin := resgoBinary(t)
	ck := filepath.Join(dir, "run")
	args := []string{"train", "--epochs", "3", "--train-limit", "320", "--test-limit", "50", "--seed", "5", "--checkpoint-dir", ck}
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	lines := bufio.NewScanner(stdout)
	signalled := false
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		if !signalled && strings.HasPrefix(lines.Text(), "Epoch 1,") {
			time.Sleep(200 * time.Millisecond) // into epoch 2
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			signalled = true
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v, want status 130\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "Interrupted: finishing the current step") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	last := filepath.Join(ck, "last.safetensors")
	m := regexp.MustCompile(`(?m)^Interrupted (.*); saved (.*)\nResume with: (.*) train --resume (.*)$`).FindStringSubmatch(out.String())
	if m == nil || m[2] != last || m[3] != "resgo" && m[3] != bin || m[4] != ck {
		t.Fatalf("stdout:\n%s", out.String())
	}
	t.Logf("interrupted %s", m[1])
	st, err := checkpoint.Load(last)
	if err != nil {
		t.Fatal(err)
	}
	if st.Position == nil || st.Position.Epoch != st.Epoch+1 {
		t.Fatalf("the checkpoint is not marked interrupted: epoch %d, position %+v", st.Epoch, st.Position)
	}
	// Resume with the printed command, and compare with a straight run.
	res := exec.Command(bin, "train", "--resume", m[4])
	resOut, err := res.CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, resOut)
	}
	if !strings.Contains(string(resOut), "Epoch 3,") {
		t.Fatalf("resume printed:\n%s", resOut)
	}
	straight := filepath.Join(dir, "straight")
	args[len(args)-1] = straight
	if code, _, stderr := ckRun(args...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	sameTensors(t, filepath.Join(straight, "last.safetensors"), last)
}

// TestTrainBNMomentumAndShuffle checks that train's --bn-momentum and
// --shuffle-buffer reach the run: the checkpoint records both, and one step
// moves each moving variance from its initial 1 halfway to the batch's
// variance (which is small for conv1's output), not the 1% that Keras's
// 0.99 would move it.
func TestTrainBNMomentumAndShuffle(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := ckRun("train", "--train-limit", "32", "--test-limit", "32", "--epochs", "1",
		"--bn-momentum", "0.5", "--shuffle-buffer", "7", "--checkpoint-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	st, err := checkpoint.Load(filepath.Join(dir, "last.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Options.BNMomentum != 0.5 {
		t.Fatalf("the checkpoint's BatchNorm momentum is %v, want 0.5", st.Options.BNMomentum)
	}
	if st.Loader.Shuffle != 7 {
		t.Fatalf("the checkpoint's shuffle buffer is %d, want 7", st.Loader.Shuffle)
	}
	found := false
	for _, p := range st.Net.Params() {
		if p.Name != "res1.0.bn1.moving_variance" {
			continue
		}
		found = true
		for c, v := range p.Value.Data {
			if !(v >= 0.5 && v < 0.6) {
				t.Errorf("res1.0.bn1.moving_variance[%d] = %v after one step with momentum 0.5, want (1 + batch variance)/2", c, v)
			}
		}
	}
	if !found {
		t.Fatal("the model has no res1.0.bn1.moving_variance")
	}
}
