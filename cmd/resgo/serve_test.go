package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestServeFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve"}, 2, "--checkpoint FILE is required"},
		{[]string{"serve", "--checkpoint", ckTestModel, "--max-batch", "0"}, 2, "--max-batch must be at least 1"},
		{[]string{"serve", "--checkpoint", ckTestModel, "--max-queue", "0"}, 2, "--max-queue must be at least 1"},
		{[]string{"serve", "--checkpoint", ckTestModel, "--timeout", "0s"}, 2, "--timeout must be more than 0"},
		{[]string{"serve", "--checkpoint", ckTestModel, "--batch-delay", "-1ms"}, 2, "--batch-delay must be 0 or more"},
		{[]string{"serve", "--checkpoint", ckTestModel, "--threads", "0"}, 2, "--threads must be 1 to"},
		{[]string{"serve", "--checkpoint", ckTestModel, "--threads", "2", "--pass-threads", "3"}, 2, "--pass-threads must be 1 to --threads (2), got 3"},
		{[]string{"serve", "--checkpoint", "m=" + ckTestModel + ".missing"}, 2, ckTestModel + ".missing"},
		{[]string{"serve", "--checkpoint", ckTestModel, "--checkpoint", ckTestModel}, 2, `two models named "resnet"`},
		{[]string{"serve", "--checkpoint", ckTestModel, "--addr", "127.0.0.1:99999"}, 1, "invalid port"},
		{[]string{"serve", "--checkpoint", ckTestModel, "extra"}, 2, `unexpected argument "extra"`},
	} {
		code, _, stderr := ckRun(c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d with %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

// served is a "resgo serve" process under test.
type served struct {
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	logs strings.Builder
	done chan error
}

func (s *served) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// waitLog waits until the log holds want.
func (s *served) waitLog(t *testing.T, want string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(s.log(), want) {
			return
		}
	}
	t.Fatalf("the server did not log %q:\n%s", want, s.log())
}

// startServe runs the built resgo serve on a free loopback port and waits
// until it listens.
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	s := &served{done: make(chan error, 1)}
	s.cmd = exec.Command(resgoBinary(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`msg=serving url=(\S+)`)
		for sc.Scan() {
			s.mu.Lock()
			s.logs.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
		s.done <- s.cmd.Wait()
	}()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
		}
	})
	select {
	case s.url = <-urlc:
	case err := <-s.done:
		t.Fatalf("resgo serve exited: %v\n%s", err, s.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("resgo serve did not start:\n%s", s.log())
	}
	return s
}

func classifyFile(t *testing.T, url, file string) (int, map[string]any) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resp, err := http.Post(url, "image/png", f)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, v
}

// TestServeLifecycle runs the real process: it serves, SIGHUP reloads
// (refusing a damaged file while the old model keeps serving), and SIGTERM
// finishes a request under way, then exits 0.
func TestServeLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the resgo binary")
	}
	ck := filepath.Join(t.TempDir(), "best.safetensors")
	good, err := os.ReadFile(ckTestModel)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ck, good, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "--checkpoint", "digits="+ck, "--threads", "1", "--shutdown-timeout", "20s")
	classify := s.url + "v1/models/digits:classify"
	seven := "../../testdata/digits/seven.png"
	if code, v := classifyFile(t, classify, seven); code != 200 || v["class"] != 7.0 {
		t.Fatalf("classify: %d %v", code, v)
	}
	s.waitLog(t, "path=/v1/models/digits:classify route=classify status=200")

	// SIGHUP with a damaged file: refused, logged, the old model serves.
	if err := os.WriteFile(ck, good[:len(good)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(t, "reload refused; the old model keeps serving")
	if code, v := classifyFile(t, classify, seven); code != 200 || v["class"] != 7.0 {
		t.Fatalf("classify after a refused reload: %d %v", code, v)
	}
	if err := os.WriteFile(ck, good, 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(t, "SIGHUP: reloaded every checkpoint")

	// SIGTERM while a request's body is half sent: the request is under
	// way, so it is finished before the process exits 0.
	img, err := os.ReadFile(seven)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	answer := make(chan int, 1)
	go func() {
		resp, err := http.Post(classify, "image/png", pr)
		if err != nil {
			t.Error(err)
			answer <- 0
			return
		}
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if v["class"] != 7.0 {
			t.Errorf("the request under way during SIGTERM: %v", v)
		}
		answer <- resp.StatusCode
	}()
	pw.Write(img[:len(img)/2])
	time.Sleep(200 * time.Millisecond) // the server has the headers
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.waitLog(t, "shutting down")
	if _, err := http.Get(s.url + "v2/health/live"); err == nil {
		t.Error("a new connection was accepted after SIGTERM")
	}
	pw.Write(img[len(img)/2:])
	pw.Close()
	if code := <-answer; code != 200 {
		t.Errorf("the request under way during SIGTERM: %d, want 200", code)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("resgo serve after SIGTERM: %v, want exit 0\n%s", err, s.log())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("resgo serve did not exit after SIGTERM:\n%s", s.log())
	}
	if !strings.Contains(s.log(), "msg=stopped") {
		t.Errorf("no 'stopped' in the log:\n%s", s.log())
	}
}
