//go:build linux

package main

// Tests of the supervisor (supervise.go): a runtime crash of the built
// command ends in one line and a report file, and signals reach a run
// once, as they would without it.

import (
	"bufio"
	"bytes"
	"errors"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashFile returns the report file that a crash line names, checks that
// it is in dir, and returns its contents.
func crashFile(t *testing.T, dir, stderr string) string {
	t.Helper()
	m := regexp.MustCompile(`report is saved in (\S+?)\)?\n$`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("stderr names no report file: %q", stderr)
	}
	if filepath.Dir(m[1]) != dir {
		t.Errorf("report saved in %s, not in the temporary folder %s", m[1], dir)
	}
	b, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRuntimeOutOfMemory has predict decode a 7000×7000 RGBA picture
// (196 MB as pixels, within predict's limit of pixels) under an
// address-space limit of 2 GB, about 340 MB above what resgo starts with:
// the Go runtime dies of "fatal error: out of memory", which must reach
// the user as one line with a hint and status 1, its report in a file.
// (train and eval check their batch's memory first; a picture's is not.)
func TestRuntimeOutOfMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 49-megapixel picture")
	}
	resgoBinary(t) // built outside tmp
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	const side = 7000
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	for i := 0; i < 4*side; i += 4 {
		copy(img.Pix[i:], []byte{255, 255, 255, 254}) // white paper, not quite opaque: decoded as NRGBA
	}
	for y := 1; y < side; y++ {
		copy(img.Pix[y*img.Stride:], img.Pix[:img.Stride])
	}
	pic := filepath.Join(tmp, "scan.png")
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pic, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	limit := []string{"sh", "-c", `ulimit -v 2000000 && exec "$0" "$@"`}
	r := runBinary(t, limit, "predict", "--checkpoint", ckTestModel, pic)
	if r.code != exitFailed || r.stdout != "" {
		t.Errorf("exit %d, stdout %q; want %d and nothing", r.code, r.stdout, exitFailed)
	}
	checkOneLineError(t, "predict out of memory", r.stderr, "resgo: out of memory: the Go runtime could not allocate ",
		"; try smaller pictures, or free some memory", "the Go runtime's report is saved in ")
	report := crashFile(t, tmp, r.stderr)
	for _, want := range []string{"resgo " + version, "resgo predict --checkpoint " + ckTestModel, "fatal error: out of memory", "goroutine ", "main.runPredict"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
}

// TestCrashMessage checks the line for each kind of runtime report.
func TestCrashMessage(t *testing.T) {
	oom := "runtime: out of memory: cannot allocate 4194304-byte block (3758096384 in use)\nfatal error: out of memory\n\ngoroutine 1 [running]:\n"
	if got, want := crashMessage("predict", oom, "F", nil), "resgo: out of memory: the Go runtime could not allocate 4 MiB more, with 3.5 GiB in use; try smaller pictures, or free some memory (the Go runtime's report is saved in F)"; got != want {
		t.Errorf("predict out of memory:\n got %s\nwant %s", got, want)
	}
	for _, c := range []struct{ report, want string }{
		{oom,
			"resgo: out of memory: the Go runtime could not allocate 4 MiB more, with 3.5 GiB in use; try a smaller --batch or fewer --threads, or free some memory (the Go runtime's report is saved in F)"},
		{"fatal error: concurrent map writes\n\ngoroutine 7 [running]:\n",
			"resgo: internal error: fatal error: concurrent map writes (a bug: please report it with the Go runtime's report saved in F)"},
		{"panic: runtime error: index out of range [3] with length 2\n\ngoroutine 9 [running]:\n",
			"resgo: internal error: panic: runtime error: index out of range [3] with length 2 (a bug: please report it with the Go runtime's report saved in F)"},
		{"SIGQUIT: quit\nPC=0x4 m=0 sigcode=0\n\ngoroutine 0 gp=0x1 m=0 [idle]:\n", "resgo: quit (SIGQUIT); the Go runtime's report is saved in F"},
	} {
		if got := crashMessage("train", c.report, "F", nil); got != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.report, got, c.want)
		}
	}
	for line, want := range map[string]bool{"panic: x\n": true, "fatal error: y\n": true, "SIGSEGV: segmentation violation\n": true,
		"runtime: out of memory: cannot allocate\n": true, "gc 1 @0.0s 1%: ...\n": false, "resgo: note\n": false, "": false} {
		if crashStart(line) != want {
			t.Errorf("crashStart(%q) = %v", line, !want)
		}
	}
	var out strings.Builder
	if rep := relay(strings.NewReader("gc 1 @0.01s\npanic: boom\n\ngoroutine 1:\nmain.f()"), &out); out.String() != "gc 1 @0.01s\n" ||
		rep != "panic: boom\n\ngoroutine 1:\nmain.f()" {
		t.Errorf("relay passed on %q and kept %q", out.String(), rep)
	}
}

// startTraining starts a run of the built command that lasts some
// seconds with its checkpoint folder dir, in a process group of its own,
// and returns once it has printed its first epoch, with the process ID
// that the folder's lock names. The run's stdout is complete once read
// is closed.
func startTraining(t *testing.T, dir string) (cmd *exec.Cmd, lockPID int, stdout, stderr *strings.Builder, read chan struct{}) {
	t.Helper()
	cmd = exec.Command(resgoBinary(t), "train", "--model", "vgg16-reduced", "--train-limit", "640", "--test-limit", "32",
		"--epochs", "30", "--checkpoint-dir", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr = new(strings.Builder), new(strings.Builder)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		stdout.WriteString(lines.Text() + "\n")
		if strings.HasPrefix(lines.Text(), "Epoch 1,") {
			break
		}
	}
	read = make(chan struct{})
	go func() {
		defer close(read)
		for lines.Scan() {
			stdout.WriteString(lines.Text() + "\n")
		}
	}()
	b, err := os.ReadFile(filepath.Join(dir, ".resgo.lock"))
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("no lock file after the first epoch: %v\n%s%s", err, stdout, stderr)
	}
	lockPID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	return cmd, lockPID, stdout, stderr, read
}

// exitOf waits for cmd and returns its exit status, or 128 plus the
// signal that ended it.
func exitOf(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// TestSupervisedSignals checks that SIGTERM reaches a supervised run
// once, whether sent to resgo or to its whole process group (as timeout,
// systemd and batch schedulers do): the run saves and exits 130. The lock
// names the process that runs the command, which takes signals as resgo
// always has: SIGQUIT's goroutine dump becomes one line and a report,
// and SIGKILL one line and status 137.
func TestSupervisedSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("trains with the built command (-short)")
	}
	resgoBinary(t) // built outside tmp
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, c := range []struct {
		name string
		send func(cmd *exec.Cmd, lockPID int) error
		code int
	}{
		{"SIGTERM to resgo", func(cmd *exec.Cmd, _ int) error { return cmd.Process.Signal(syscall.SIGTERM) }, exitInterrupted},
		{"SIGTERM to the group", func(cmd *exec.Cmd, _ int) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }, exitInterrupted},
		{"SIGTERM to the lock's PID", func(_ *exec.Cmd, pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }, exitInterrupted},
		{"SIGQUIT to the lock's PID", func(_ *exec.Cmd, pid int) error { return syscall.Kill(pid, syscall.SIGQUIT) }, exitFailed},
		{"SIGKILL to the lock's PID", func(_ *exec.Cmd, pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }, 137},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd, pid, stdout, stderr, read := startTraining(t, dir)
			// The lock's PID is the process running the command, resgo's child.
			stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); err != nil || len(f) < 2 || f[1] != strconv.Itoa(cmd.Process.Pid) {
				t.Errorf("the lock names process %d, not a child of resgo (%d): %v %q", pid, cmd.Process.Pid, err, stat)
			}
			start := time.Now()
			if err := c.send(cmd, pid); err != nil {
				t.Fatal(err)
			}
			<-read
			code := exitOf(t, cmd)
			t.Logf("exit %d after %v", code, time.Since(start))
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, stdout, stderr)
			}
			switch code {
			case exitInterrupted:
				if strings.Count(stderr.String(), "Interrupted: finishing the current step") != 1 || strings.Count(stderr.String(), "\n") != 1 {
					t.Errorf("stderr:\n%s", stderr)
				}
				if !strings.Contains(stdout.String(), "Resume with: ") {
					t.Errorf("stdout:\n%s", stdout)
				}
				if _, err := os.Stat(filepath.Join(dir, lastFile)); err != nil {
					t.Error(err)
				}
			case exitFailed:
				checkOneLineError(t, c.name, stderr.String(), "resgo: quit (SIGQUIT); the Go runtime's report is saved in ")
				if report := crashFile(t, tmp, stderr.String()); !strings.Contains(report, "SIGQUIT: quit") || !strings.Contains(report, "goroutine ") {
					t.Errorf("the report:\n%s", report)
				}
			default:
				checkOneLineError(t, c.name, stderr.String(), "resgo: killed by ")
			}
		})
	}
}
