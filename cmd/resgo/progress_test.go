package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"resgo/train"
)

// screen is a terminal as far as the progress bar's output needs one: a
// grid w columns wide with auto-wrap (xterm's deferred wrap at the last
// column), carriage return, line feed, erase in line (ESC[K), erase to the
// end of the screen (ESC[J) and cursor up (ESC[nA). It also checks the
// output as it goes: a line that is written and then returned to with a
// carriage return (a line the bar will redraw) must be narrower than the
// screen, and no escape sequence may be one it does not know.
type screen struct {
	w       int
	rows    [][]rune
	wrapped []bool // row i continues on row i+1 (auto-wrap)
	r, c    int
	pending bool // the cursor is past the last column: the next rune wraps
	seg     int  // runes written since the last CR or LF
	crSeg   int  // after a CR, the runes written before it; else -1
	crW     int  // and the width then
	errs    []string
}

func newScreen(w int) *screen {
	return &screen{w: w, rows: [][]rune{nil}, wrapped: []bool{false}, crSeg: -1}
}

func (s *screen) errorf(format string, args ...any) {
	if len(s.errs) < 5 {
		s.errs = append(s.errs, fmt.Sprintf(format, args...))
	}
}

func (s *screen) row(r int) {
	for len(s.rows) <= r {
		s.rows = append(s.rows, nil)
		s.wrapped = append(s.wrapped, false)
	}
}

// write interprets b (which must not split an escape sequence or a rune).
func (s *screen) write(b []byte) {
	text := []rune(string(b))
	for i := 0; i < len(text); i++ {
		ch := text[i]
		if s.crSeg >= 0 && ch != '\r' {
			// A line ended by CR and not LF is one to be drawn over.
			if ch != '\n' && s.crSeg >= s.crW {
				s.errorf("a %d-column line, redrawn, on a %d-column screen", s.crSeg, s.crW)
			}
			s.crSeg = -1
		}
		switch ch {
		case '\r':
			if s.seg > 0 {
				s.crSeg, s.crW = s.seg, s.w
			}
			s.c, s.pending, s.seg = 0, false, 0
		case '\n':
			s.r++
			s.row(s.r)
			s.pending, s.seg = false, 0
		case '\x1b':
			j := i + 1
			if j >= len(text) || text[j] != '[' {
				s.errorf("a lone ESC")
				continue
			}
			j++
			n := 0
			for j < len(text) && text[j] >= '0' && text[j] <= '9' {
				n = n*10 + int(text[j]-'0')
				j++
			}
			if j >= len(text) {
				s.errorf("an unfinished escape sequence")
				return
			}
			switch text[j] {
			case 'K':
				if s.c < len(s.rows[s.r]) {
					s.rows[s.r] = s.rows[s.r][:s.c]
				}
			case 'J':
				if s.c < len(s.rows[s.r]) {
					s.rows[s.r] = s.rows[s.r][:s.c]
				}
				s.rows, s.wrapped = s.rows[:s.r+1], s.wrapped[:s.r+1]
				s.wrapped[s.r] = false
			case 'A':
				s.r = max(s.r-max(n, 1), 0)
			default:
				s.errorf("unknown escape sequence ESC[%d%c", n, text[j])
			}
			s.pending = false
			i = j
		default:
			if s.pending {
				s.wrapped[s.r] = true
				s.r, s.c, s.pending = s.r+1, 0, false
				s.row(s.r)
			}
			for len(s.rows[s.r]) <= s.c {
				s.rows[s.r] = append(s.rows[s.r], ' ')
			}
			s.rows[s.r][s.c] = ch
			s.seg++
			if s.c == s.w-1 {
				s.pending = true
			} else {
				s.c++
			}
		}
	}
}

// resize changes the width as a terminal that re-wraps its lines does
// (reflow, as VTE, kitty or tmux) or, if !reflow, as xterm, which cuts
// rows short. The cursor keeps its place in the text.
func (s *screen) resize(w int, reflow bool) {
	if !reflow {
		for i, r := range s.rows {
			if len(r) > w {
				s.rows[i] = r[:w]
			}
			s.wrapped[i] = false
		}
		s.w, s.c, s.pending = w, min(s.c, w-1), false
		return
	}
	var rows [][]rune
	var wrapped []bool
	cr, cc := 0, 0
	for i := 0; i < len(s.rows); {
		var line []rune
		off := -1
		for ; ; i++ {
			if i == s.r {
				off = len(line) + s.c
			}
			line = append(line, s.rows[i]...)
			if !s.wrapped[i] || i+1 == len(s.rows) {
				i++
				break
			}
		}
		start := len(rows)
		for len(line) > w {
			rows, wrapped = append(rows, line[:w]), append(wrapped, true)
			line = line[w:]
		}
		rows, wrapped = append(rows, line), append(wrapped, false)
		if off >= 0 {
			cr, cc = start+min(off/w, len(rows)-1-start), off%w
		}
	}
	s.rows, s.wrapped, s.w, s.r, s.c, s.pending = rows, wrapped, w, cr, cc, false
}

// lines returns the screen's lines, wrapped rows joined, trailing spaces
// and empty last lines removed.
func (s *screen) lines() []string {
	var out []string
	var cur []rune
	for i, r := range s.rows {
		cur = append(cur, r...)
		if !s.wrapped[i] {
			out = append(out, strings.TrimRight(string(cur), " "))
			cur = nil
		}
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// sameLines fails unless the screen shows exactly want: no stale line of
// the bar, nothing missing.
func sameLines(t *testing.T, what string, s *screen, want []string) {
	t.Helper()
	for _, e := range s.errs {
		t.Errorf("%s: %s", what, e)
	}
	if got := s.lines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: the screen shows\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestScreenModel checks the model on the old bar's failure: a line wider
// than the screen, wrapped, then erased with CR ESC[K, leaves its first
// row behind.
func TestScreenModel(t *testing.T) {
	s := newScreen(10)
	s.write([]byte("head\n\r\x1b[K0123456789abc\r\x1b[K0123456789abc\r\x1b[K"))
	if len(s.errs) == 0 {
		t.Error("a 13-column line redrawn on 10 columns was not flagged")
	}
	// Row 2 is stale and, as far as the screen knows, continues row 1.
	if got := strings.Join(s.lines(), "|"); got != "head|01234567890123456789" {
		t.Errorf("screen %q", got)
	}
	s = newScreen(10)
	s.write([]byte("x\r\n012345678\r"))
	s.resize(4, true)
	s.write([]byte("\x1b[Jok\n"))
	if got := strings.Join(s.lines(), "|"); got != "x|ok" || len(s.errs) != 0 {
		t.Errorf("after reflow: screen %q, errors %v", got, s.errs)
	}
}

// barOnPty returns a progress bar that reads its width from a
// pseudo-terminal of cols columns and writes into a buffer, and the pty's
// master (to resize it).
func barOnPty(t *testing.T, cols, epochs int) (*progressBar, *lockedBuffer, *os.File) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: uint16(cols)}); err != nil {
		t.Fatal(err)
	}
	b := newProgressBar(tty, epochs)
	t.Cleanup(b.close)
	if !b.on || b.width != cols {
		t.Fatalf("on a %d-column pty: bar on %v, width %d", cols, b.on, b.width)
	}
	buf := &lockedBuffer{b: b}
	b.mu.Lock() // the resize goroutine reads b.w
	b.w = buf
	b.mu.Unlock()
	return b, buf, ptmx
}

// lockedBuffer is what the bar writes, readable while its resize
// goroutine may write.
type lockedBuffer struct {
	b   *progressBar
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) { return l.buf.Write(p) } // under b.mu

func (l *lockedBuffer) take() []byte {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	out := bytes.Clone(l.buf.Bytes())
	l.buf.Reset()
	return out
}

// feed reports an epoch of steps to b, 40 ms a step, and prints the
// epoch's line as train does; it returns that line.
func feed(b *progressBar, epoch, steps int, stepTime time.Duration, loss float64) string {
	for s := 1; s <= steps; s++ {
		b.update(train.Progress{Epoch: epoch, Step: s, Steps: steps, Images: 32 * s, Loss: loss, Accuracy: 0.9876,
			Elapsed: time.Duration(s) * stepTime})
	}
	b.clear()
	line := epochLine(train.EpochResult{Epoch: epoch, Loss: loss, Accuracy: 0.9876, TestLoss: 0.05, TestAccuracy: 0.99,
		Seconds: float64(steps) * stepTime.Seconds(), ImagesPerSec: 32 / stepTime.Seconds()})
	b.mu.Lock()
	fmt.Fprintln(b.w, line)
	b.mu.Unlock()
	return line
}

// TestProgressBarFits draws the bar on pseudo-terminals of 60, 80 and 200
// columns and on absurdly narrow ones: no line it redraws is as wide as
// the terminal, and once an epoch ends only the epoch lines remain.
func TestProgressBarFits(t *testing.T) {
	for _, cols := range []int{60, 80, 200, 30, 12, 2} {
		t.Run(strconv.Itoa(cols), func(t *testing.T) {
			b, buf, _ := barOnPty(t, cols, 12)
			s := newScreen(cols)
			want := []string{"Training"}
			s.write([]byte("Training\n"))
			for e := 1; e <= 3; e++ {
				// A slow epoch of many steps, a loss in the thousands: the
				// widest figures.
				want = append(want, feed(b, e, 1875*e, time.Duration(e*e)*time.Second, 1234.5678*float64(e)))
				s.write(buf.take())
			}
			sameLines(t, fmt.Sprintf("%d columns", cols), s, want)
		})
	}
}

// TestProgressBarContent checks the figures: images/s over the recent
// window, not since the epoch began, the epoch's ETA and the run's.
func TestProgressBarContent(t *testing.T) {
	b := &progressBar{epochs: 3, on: true, width: 200, w: io.Discard}
	// 100 steps at 1 s a step, then 100 at 0.1 s: the recent rate is 320
	// images/s; the epoch's average would be 58.
	for s := 1; s <= 200; s++ {
		el := time.Duration(min(s, 100))*time.Second + time.Duration(max(s-100, 0))*100*time.Millisecond
		b.update(train.Progress{Epoch: 1, Step: s, Steps: 300, Images: 32 * s, Elapsed: el})
	}
	line := b.line(200)
	for _, want := range []string{"Epoch 1/3", "200/300", "320 img/s", "eta 0:10", "run 1:10"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	// Narrower, the bar goes first, then the loss and accuracy; the epoch,
	// the step and the ETA stay longest.
	if l := b.line(60); strings.Contains(l, "[") || !strings.Contains(l, "eta 0:10") || len(l) > 59 {
		t.Errorf("at 60 columns: %q", l)
	}
	if l := b.line(24); l != "Epoch 1/3  200/300" {
		t.Errorf("at 24 columns: %q", l)
	}
	// The last epoch has no run ETA beyond its own.
	b.update(train.Progress{Epoch: 3, Step: 1, Steps: 300, Images: 32, Elapsed: 100 * time.Millisecond})
	if l := b.line(200); strings.Contains(l, "run") {
		t.Errorf("last epoch: %q", l)
	}
	if got := clock(3*time.Hour + 4*time.Minute + 5*time.Second); got != "3:04:05" {
		t.Errorf("clock: %q", got)
	}
}

// TestProgressBarResize narrows the terminal while the bar is drawn and
// sends SIGWINCH: the bar redraws at the new width, and neither a
// terminal that re-wraps lines nor one that cuts them is left with a
// stale line.
func TestProgressBarResize(t *testing.T) {
	if len(resizeSignals) == 0 {
		t.Skip("no SIGWINCH here")
	}
	for _, reflow := range []bool{true, false} {
		b, buf, ptmx := barOnPty(t, 200, 2)
		s := newScreen(200)
		s.write([]byte("Training\n"))
		for st := 1; st <= 10; st++ {
			b.update(train.Progress{Epoch: 1, Step: st, Steps: 20, Images: 32 * st, Loss: 0.5, Elapsed: time.Duration(st) * time.Second})
		}
		s.write(buf.take())
		if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 60}); err != nil {
			t.Fatal(err)
		}
		s.resize(60, reflow)
		if p, err := os.FindProcess(os.Getpid()); err != nil || p.Signal(resizeSignals[0]) != nil {
			t.Fatal("cannot send SIGWINCH to the test itself")
		}
		var redraw []byte
		for deadline := time.Now().Add(5 * time.Second); len(redraw) == 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			redraw = buf.take()
		}
		if len(redraw) == 0 {
			t.Fatal("no redraw after SIGWINCH")
		}
		s.write(redraw)
		if l := s.lines(); len(l) != 2 || len(l[1]) >= 60 || !strings.HasPrefix(l[1], "Epoch 1/2") {
			t.Errorf("reflow %v: after the resize the screen shows %q", reflow, l)
		}
		want := []string{"Training", feed(b, 1, 20, time.Second, 0.5)}
		s.write(buf.take())
		sameLines(t, fmt.Sprintf("reflow %v", reflow), s, want)
	}
}

// TestTrainOnPty runs resgo train on pseudo-terminals of 60, 80 and 200
// columns: the bar never reaches the terminal's width and the screen ends
// with the header and one line per epoch, no stale line of the bar.
func TestTrainOnPty(t *testing.T) {
	if testing.Short() {
		t.Skip("three training runs of the built command (-short)")
	}
	bin := resgoBinary(t)
	for _, cols := range []int{60, 80, 200} {
		t.Run(strconv.Itoa(cols), func(t *testing.T) {
			cmd := exec.Command(bin, "train", "--model", "vgg16-reduced", "--train-limit", "320", "--test-limit", "64", "--epochs", "2")
			ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: uint16(cols)})
			if err != nil {
				t.Skipf("no pseudo-terminal: %v", err)
			}
			defer ptmx.Close()
			var out bytes.Buffer
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // EIO when the process has gone and the tty closed
				defer wg.Done()
				io.Copy(&out, ptmx)
			}()
			err = cmd.Wait()
			wg.Wait()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			if err != nil {
				t.Fatalf("exit %v:\n%s", err, out.String())
			}
			if !bytes.Contains(out.Bytes(), []byte("img/s")) {
				t.Errorf("no bar was drawn:\n%q", out.String())
			}
			s := newScreen(cols)
			s.write(out.Bytes())
			lines := s.lines()
			if len(lines) != 3 || !strings.HasPrefix(lines[0], "Training vgg16-reduced") ||
				!strings.HasPrefix(lines[1], "Epoch 1, Loss: ") || !strings.HasPrefix(lines[2], "Epoch 2, Loss: ") ||
				!strings.HasSuffix(lines[2], " images/s)") {
				t.Errorf("the screen shows %q", lines)
			}
			for _, e := range s.errs {
				t.Error(e)
			}
		})
	}
}

// TestInterruptOnPty interrupts resgo train with Ctrl-C on an 80-column
// terminal while the bar is drawn: the run saves and exits 130 (a
// doubled SIGINT would end it at once), and the message replaces the
// bar, which leaves no stale line.
func TestInterruptOnPty(t *testing.T) {
	if testing.Short() {
		t.Skip("a training run of the built command (-short)")
	}
	bin := resgoBinary(t)
	cmd := exec.Command(bin, "train", "--model", "vgg16-reduced", "--train-limit", "6400", "--test-limit", "64", "--epochs", "1",
		"--checkpoint-dir", t.TempDir())
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 80})
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	var mu sync.Mutex
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		drawn := bytes.Contains(out.Bytes(), []byte("img/s"))
		mu.Unlock()
		if drawn {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no bar after 60 s")
		}
	}
	start := time.Now()
	// Ctrl-C: the terminal sends SIGINT to its foreground process group,
	// resgo and the child that runs the command, once.
	if _, err := ptmx.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	<-done
	t.Logf("ended %v after the interrupt", time.Since(start))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v:\n%s", err, out.String())
	}
	s := newScreen(80)
	s.write(out.Bytes())
	for _, e := range s.errs {
		t.Error(e)
	}
	lines := s.lines()
	for i, l := range lines {
		if strings.Contains(l, "img/s") {
			t.Errorf("a stale bar on line %d: %q", i, l)
		}
	}
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "Interrupted: ") && !strings.HasPrefix(lines[2], "Interrupted: ") {
		t.Errorf("the screen shows %q", lines)
	}
}
