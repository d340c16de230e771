package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"resgo/train"
)

// progressBar draws one updating line of a training run's progress on a
// terminal, and nothing when the output is not one. The line is never as
// wide as the terminal (its width is read at start and again on every
// SIGWINCH, when the line is redrawn): it drops the bar, then the least
// useful figures, to fit. After drawing, the cursor goes back to the
// line's first column, and every redraw erases from there to the end of
// the screen: a terminal that re-wraps the line when it narrows leaves no
// stale row below it.
type progressBar struct {
	w      io.Writer
	fd     int // the terminal whose width counts
	on     bool
	epochs int // the run's last epoch, for its ETA

	mu       sync.Mutex
	width    int // columns
	drawn    bool
	p        train.Progress // the last progress reported
	lastDraw time.Duration  // p.Elapsed when last drawn
	window   []progressSample
	// Between epochs: the wall time when the last epoch's training pass
	// ended, and how long the test pass and saving took (for the run's ETA).
	passEnd  time.Time
	overhead time.Duration
	stop     chan struct{}
}

// progressSample is where an epoch stood at one moment.
type progressSample struct {
	at           time.Duration // since the epoch began
	step, images int
}

// Throttling and smoothing of the bar.
const (
	progressEvery  = 100 * time.Millisecond // at most one redraw per interval
	progressWindow = 5 * time.Second        // images/s and ETAs over this recent span
)

// newProgressBar returns a bar for a run of the given number of epochs
// that draws on w if w is a terminal. Close stops it.
func newProgressBar(w io.Writer, epochs int) *progressBar {
	b := &progressBar{w: w, epochs: epochs, width: 80, fd: -1}
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return b
	}
	b.fd, b.on = int(f.Fd()), true
	b.readWidth()
	if len(resizeSignals) > 0 {
		stop := make(chan struct{})
		b.stop = stop
		resized := make(chan os.Signal, 1)
		signal.Notify(resized, resizeSignals...)
		go func() {
			defer signal.Stop(resized)
			for {
				select {
				case <-resized:
					b.resize()
				case <-stop:
					return
				}
			}
		}()
	}
	return b
}

// readWidth reads the terminal's width (80 if it cannot be read).
func (b *progressBar) readWidth() {
	if w, _, err := term.GetSize(b.fd); err == nil && w > 0 {
		b.width = w
	} else {
		b.width = 80
	}
}

// resize re-reads the terminal's width and redraws the line at it.
func (b *progressBar) resize() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.readWidth()
	if b.on && b.drawn {
		b.draw()
	}
}

// update takes the progress after a training step and redraws the line
// at most every progressEvery, and at an epoch's first and last steps.
func (b *progressBar) update(p train.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.on {
		return
	}
	newEpoch := p.Epoch != b.p.Epoch
	if newEpoch {
		if !b.passEnd.IsZero() {
			// The test pass and the save, from the end of the last training
			// pass to the start of this one's first step.
			b.overhead = max(time.Since(b.passEnd)-p.Elapsed, 0)
		}
		b.window = b.window[:0]
		b.lastDraw = 0
	}
	b.p = p
	if n := len(b.window); n == 0 || p.Elapsed-b.window[n-1].at >= progressEvery/2 {
		b.window = append(b.window, progressSample{p.Elapsed, p.Step, p.Images})
	}
	for len(b.window) > 2 && p.Elapsed-b.window[1].at >= progressWindow {
		b.window = b.window[1:]
	}
	if p.Step == p.Steps {
		b.passEnd = time.Now()
	}
	if newEpoch || p.Step == p.Steps || p.Elapsed-b.lastDraw >= progressEvery {
		b.lastDraw = p.Elapsed
		b.draw()
	}
}

// rates returns the images and steps per second over the recent window
// (since the epoch began while the window holds a single sample).
func (b *progressBar) rates() (images, steps float64) {
	p := b.p
	first := progressSample{}
	if n := len(b.window); n > 1 && p.Elapsed-b.window[0].at > 0 {
		first = b.window[0]
	}
	dt := (p.Elapsed - first.at).Seconds()
	if dt <= 0 {
		return 0, 0
	}
	return float64(p.Images-first.images) / dt, float64(p.Step-first.step) / dt
}

// line formats the progress to fit in width columns.
func (b *progressBar) line(width int) string {
	p := b.p
	imgRate, stepRate := b.rates()
	epoch := fmt.Sprintf("Epoch %d/%d", p.Epoch, max(b.epochs, p.Epoch))
	steps := fmt.Sprintf("%d/%d", p.Step, p.Steps)
	var rate, eta, runETA string
	if stepRate > 0 {
		rate = fmt.Sprintf("%.0f img/s", imgRate)
		left := time.Duration(float64(p.Steps-p.Step) / stepRate * float64(time.Second))
		eta = "eta " + clock(left)
		if b.epochs > p.Epoch {
			perEpoch := time.Duration(float64(p.Steps)/stepRate*float64(time.Second)) + b.overhead
			runETA = "run " + clock(left+b.overhead+time.Duration(b.epochs-p.Epoch)*perEpoch)
		}
	}
	loss := fmt.Sprintf("loss %.4f", p.Loss)
	acc := fmt.Sprintf("acc %.2f", 100*p.Accuracy)
	// The figures in the order shown, and the order in which they give
	// way when the line is too long (the last first).
	fields := []string{epoch, steps, rate, loss, acc, eta, runETA}
	dropOrder := []int{3, 4, 2, 6, 5, 1}
	keep := make([]bool, len(fields))
	for i, f := range fields {
		keep[i] = f != ""
	}
	text := func(bar string) string {
		var parts []string
		for i, f := range fields {
			if !keep[i] {
				continue
			}
			parts = append(parts, f)
			if i == 0 && bar != "" {
				parts = append(parts, bar)
			}
		}
		return strings.Join(parts, "  ")
	}
	limit := width - 1 // the last column would leave the cursor past the end
	const minBar, maxBar = 10, 30
	if n := limit - len(text("[]")) - 2; n >= minBar {
		inner := min(n, maxBar)
		done := inner * p.Step / max(p.Steps, 1)
		return text("[" + strings.Repeat("=", done) + strings.Repeat(" ", inner-done) + "]")
	}
	for _, i := range dropOrder {
		if len(text("")) <= limit {
			break
		}
		keep[i] = false
	}
	s := text("")
	if len(s) > limit {
		s = s[:max(limit, 0)]
	}
	return s
}

// draw writes the line: erase from the line's start to the end of the
// screen, the line, then back to its start. b.mu is held.
func (b *progressBar) draw() {
	fmt.Fprint(b.w, "\r\x1b[J"+b.line(b.width)+"\r")
	b.drawn = true
}

// clear erases the line, leaving the cursor where it began.
func (b *progressBar) clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.erase()
}

// erase erases the line if it is drawn. b.mu is held.
func (b *progressBar) erase() {
	if b.on && b.drawn {
		fmt.Fprint(b.w, "\r\x1b[J")
		b.drawn = false
	}
}

// close erases the line for good: the bar draws nothing more and stops
// watching the terminal's size. Ctrl-C's message takes the line's place.
func (b *progressBar) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.erase()
	b.on = false
	if b.stop != nil {
		close(b.stop)
		b.stop = nil
	}
}

// clock formats d as h:mm:ss, or m:ss under an hour.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
