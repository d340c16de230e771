package main

// Tests of the command line's smaller promises: internal errors, the
// environment, help text, plurals, notes and the memory check.

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"resgo/autograd"
	"resgo/checkpoint"
	"resgo/compute"
	"resgo/models"
	"resgo/tensor"
)

func init() {
	// A command with a bug, for TestInternalErrorSavesStack.
	register(&command{name: "panic-for-test", summary: "panics (tests only)", run: func([]string, io.Writer, io.Writer) error {
		var m map[string]int
		m["x"] = 1 // assignment to entry in nil map
		return nil
	}})
}

// TestInternalErrorSavesStack checks that a panic ends in one line that
// names a file in the temporary folder holding the stack trace.
func TestInternalErrorSavesStack(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	code, stdout, stderr := ckRun("panic-for-test", "--flag")
	if code != exitFailed || stdout != "" || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	m := regexp.MustCompile(`^resgo: internal error: assignment to entry in nil map \(a bug: please report it with the stack trace saved in (\S+)\)\n$`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("stderr %q", stderr)
	}
	if filepath.Dir(m[1]) != tmp {
		t.Errorf("stack saved in %s, not in the temporary folder %s", m[1], tmp)
	}
	b, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"resgo " + version, "resgo panic-for-test --flag", "panic: assignment to entry in nil map", "goroutine ", "cli_test.go"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the saved stack lacks %q:\n%s", want, b)
		}
	}
}

// TestKernelsEnv checks that a value of RESGO_KERNELS other than generic
// is an error, not silently ignored.
func TestKernelsEnv(t *testing.T) {
	was := compute.Kernels()
	t.Cleanup(func() { compute.SetKernels(was) })
	t.Setenv("RESGO_KERNELS", "bogus")
	code, stdout, stderr := ckRun("version")
	if code != exitUsage || stdout != "" {
		t.Errorf("RESGO_KERNELS=bogus: exit %d, stdout %q", code, stdout)
	}
	checkOneLineError(t, "RESGO_KERNELS=bogus", stderr, `RESGO_KERNELS="bogus"`, "generic")
	for _, v := range []string{"generic", ""} {
		t.Setenv("RESGO_KERNELS", v)
		if code, _, stderr := ckRun("version"); code != exitOK {
			t.Errorf("RESGO_KERNELS=%q: exit %d, %s", v, code, stderr)
		}
	}
}

// TestFlagMessages checks what the smaller flag errors say.
func TestFlagMessages(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--lr", "1e30"}, "--lr must be more than 0 and at most 1e+06"},
		{[]string{"train", "--epochs", "0"}, "--epochs must be at least 1, got 0"},
		{[]string{"compare", "--epochs", "0"}, "--epochs must be at least 1, got 0"},
		{[]string{"summary", "--width", "0.5"}, "--width: resnet has no width multiplier (the models that have one: vgg16"},
		{[]string{"bench", "--width", "0.5"}, "--width: resnet has no width multiplier"},
		{[]string{"train", "--width", "0.5", "--epochs", "1"}, "--width: resnet has no width multiplier"},
	} {
		code, stdout, stderr := ckRun(c.args...)
		what := strings.Join(c.args, " ")
		if code != exitUsage || stdout != "" {
			t.Errorf("%s: exit %d, stdout %q", what, code, stdout)
		}
		checkOneLineError(t, what, stderr, c.want)
	}
	if code, _, stderr := ckRun("summary", "--model", "vgg16", "--width", "0.5"); code != exitOK {
		t.Errorf("summary of vgg16 at width 0.5: exit %d, %s", code, stderr)
	}
}

// TestHelpDefaults checks that no flag's help gives its default twice, as
// in "(default: all cores) (default 2)".
func TestHelpDefaults(t *testing.T) {
	for name := range commands {
		if name == "panic-for-test" {
			continue
		}
		_, stdout, _ := ckRun(name, "--help")
		for _, line := range strings.Split(stdout, "\n") {
			if strings.Count(line, "(default") > 1 {
				t.Errorf("%s --help: %q", name, line)
			}
		}
		if name == "train" && !strings.Contains(stdout, "batch size (default 32)") {
			t.Errorf("train --help lost the plain defaults:\n%s", stdout)
		}
	}
}

// TestPlural checks "1 epoch", not "1 epochs".
func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 epochs", 1: "1 epoch", 2: "2 epochs"} {
		if got := plural(n, "epoch"); got != want {
			t.Errorf("plural(%d) = %q", n, got)
		}
	}
	r := &resumption{st: &checkpoint.State{Epoch: 1, Step: 1}, path: "runs/last.safetensors"}
	if got, want := r.describe(2), "Resuming from runs/last.safetensors: 1 of 2 epochs done, 1 step"; got != want {
		t.Errorf("describe: %q, want %q", got, want)
	}
}

// TestShortRunNote checks the note on runs too short for their BatchNorm
// momentum: said once for such a run, never for a long one.
func TestShortRunNote(t *testing.T) {
	for _, c := range []struct {
		momentum float64
		steps    int
		want     string
	}{
		{0.99, 2, "this run of 2 steps is too short for BatchNorm momentum 0.99: the moving statistics the test pass uses will still be 98% their initial values"},
		{0.99, 100, "--bn-momentum 0.9 suits it"},
		{0.9, 10, "train for more steps"},
		{0.99, 1875, ""},
		{0.9, 100, ""},
	} {
		got := shortRunNote(c.momentum, c.steps)
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("momentum %v, %d steps: %q", c.momentum, c.steps, got)
		}
	}
	code, stdout, stderr := ckRun("train", "--train-limit", "64", "--test-limit", "16", "--epochs", "1")
	if code != exitOK || strings.Count(stdout, "Note: this run of 2 steps is too short") != 1 {
		t.Errorf("a 2-step run: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
}

// TestMemoryEstimates checks the estimates against the arena of a real
// training step and of an inference pass at batch 24 (the estimates come
// from batches 2 and 4).
func TestMemoryEstimates(t *testing.T) {
	pool := compute.Default()
	for _, name := range []string{"resnet", "vgg16-reduced"} {
		o := models.Options{Seed: 1}
		e, err := trainMemory(name, o, 24, pool)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := models.New(name, o)
		tp := autograd.NewTape(pool, 1)
		logits := m.Forward(tp, tp.Constant(tensor.New(24, 28, 28, 1)), true)
		if err := tp.Backward(tp.SoftmaxCrossEntropy(logits, make([]int32, 24), nil)); err != nil {
			t.Fatal(err)
		}
		got := int64(tp.ArenaBytes())
		if d := e.tape - got; d < -got/50 || d > got/50 {
			t.Errorf("%s: estimated %d bytes of tape at batch 24, measured %d", name, e.tape, got)
		}
		tc, nc := models.CountParams(m)
		if want := int64(16*tc + 4*nc); e.params != want {
			t.Errorf("%s: parameters %d bytes, want %d", name, e.params, want)
		}

		// And an inference pass, as eval runs it.
		e, err = passMemory(name, m, []int{28, 28, 1}, 24, false, pool)
		if err != nil {
			t.Fatal(err)
		}
		tp = autograd.NewTape(pool, 1)
		tp.NoGrad = true
		tp.SoftmaxCrossEntropy(m.Forward(tp, tp.Constant(tensor.New(24, 28, 28, 1)), false), make([]int32, 24), nil)
		got = int64(tp.ArenaBytes())
		if d := e.tape - got; d < -got/50 || d > got/50 {
			t.Errorf("%s: estimated %d bytes of inference tape at batch 24, measured %d", name, e.tape, got)
		}
		if want := int64(4 * (tc + nc)); e.params != want {
			t.Errorf("%s: inference parameters %d bytes, want %d", name, e.params, want)
		}
	}
}

// TestBatchTooLarge runs resgo train with a batch of all 60,000 images,
// and resgo eval with one of all 10,000 test images, under address-space
// limits: each must refuse at once with one line giving the estimate, not
// die with the runtime's trace, and the batch it suggests must then run
// under the same limit.
func TestBatchTooLarge(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("no prlimit")
	}
	suggested := func(what, stderr string) string {
		_, after, ok := strings.Cut(stderr, "try --batch ")
		n, _, _ := strings.Cut(after, " ")
		if _, err := strconv.Atoi(n); !ok || err != nil {
			t.Fatalf("%s: no batch suggested: %s", what, stderr)
		}
		return n
	}
	limit := []string{prlimit, "--as=3000000000"}
	r := runBinary(t, limit, "train", "--batch", "60000", "--epochs", "1")
	if r.code != exitUsage || r.stdout != "" {
		t.Errorf("exit %d, stdout %q", r.code, r.stdout)
	}
	checkOneLineError(t, "train --batch 60000 under ulimit -v", r.stderr, "--batch 60000 of resnet needs about ", "GiB of memory", "ulimit -v", "try --batch ")
	if testing.Short() {
		return // the runs at the suggested batches take a while
	}
	n := suggested("train", r.stderr)
	dir := t.TempDir()
	if r := runBinary(t, limit, "train", "--batch", n, "--train-limit", n, "--test-limit", "64", "--epochs", "1", "--checkpoint-dir", dir); r.code != exitOK {
		t.Errorf("train --batch %s, as suggested, under the same limit: exit %d: %s", n, r.code, r.stderr)
	}

	ck := filepath.Join(dir, lastFile)
	limit = []string{prlimit, "--as=2500000000"}
	r = runBinary(t, limit, "eval", "--checkpoint", ck, "--batch", "10000")
	if r.code != exitUsage || r.stdout != "" {
		t.Errorf("eval: exit %d, stdout %q", r.code, r.stdout)
	}
	checkOneLineError(t, "eval --batch 10000 under ulimit -v", r.stderr, "--batch 10000 of resnet needs about ", "GiB of memory", "of activations", "ulimit -v", "try --batch ")
	n = suggested("eval", r.stderr)
	if r := runBinary(t, limit, "eval", "--checkpoint", ck, "--batch", n, "--test-limit", n); r.code != exitOK {
		t.Errorf("eval --batch %s, as suggested, under the same limit: exit %d: %s", n, r.code, r.stderr)
	}
}

// TestREADMESynopsis checks that the README's synopsis of the commands
// lists every flag each command has, and no command is missing.
func TestREADMESynopsis(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "## Commands\n\n")
	if !ok {
		t.Fatal("README has no ## Commands section")
	}
	block, _, _ = strings.Cut(block, "\n\n")
	synopsis := map[string]string{}
	cmd := ""
	for _, line := range strings.Split(block, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "resgo" && !strings.HasPrefix(f[1], "-") {
			cmd = f[1]
		}
		synopsis[cmd] += line + "\n"
	}
	flagLine := regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`)
	for name := range commands {
		if name == "panic-for-test" {
			continue
		}
		if _, ok := synopsis[name]; !ok {
			t.Errorf("the README's synopsis lacks resgo %s", name)
			continue
		}
		_, stdout, _ := ckRun(name, "--help")
		_, flags, _ := strings.Cut(stdout, "\nFlags:\n")
		for _, m := range flagLine.FindAllStringSubmatch(flags, -1) {
			if !regexp.MustCompile(`[\s\[|]--?` + regexp.QuoteMeta(m[1]) + `[\s\]=]`).MatchString(synopsis[name]) {
				t.Errorf("the README's synopsis of resgo %s lacks --%s", name, m[1])
			}
		}
	}
}
