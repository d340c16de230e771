package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"resgo/internal/testmnist"
)

// chromium returns the path of a Chromium or Chrome, or "".
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestServePageInBrowser drives headless Chromium against a live "resgo
// serve": it draws a 1 and a 7 on the page's canvas with pointer strokes
// and checks the page shows them as the top class, uploads an MNIST digit
// as a file, checks the page fits a phone's width, and saves screenshots
// in the test's artifact directory (go test -artifacts keeps them).
func TestServePageInBrowser(t *testing.T) {
	browser := chromium()
	if browser == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI: no Chromium on PATH (.ci/run installs it: apt-get install -y chromium)")
		}
		t.Skip("no Chromium on PATH: install it (Debian: apt-get update && apt-get install -y chromium) to run the browser test")
	}
	if testing.Short() {
		t.Skip("runs a browser")
	}
	s := startServe(t, "--checkpoint", ckTestModel, "--quiet")

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox, // as root in containers
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTime := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTime()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.url),
		chromedp.Poll[chromedp.Void](`document.body.dataset.ready === "1"`, chromedp.WithPollingTimeout(30*time.Second)),
	); err != nil {
		t.Fatalf("the page did not load: %v", err)
	}
	info, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("info").textContent`))
	if err != nil || info != "resnet · epoch 2 · test accuracy 98.82%" {
		t.Errorf("the model's line: %q, %v", info, err)
	}

	type rect struct{ X, Y, W, H float64 }
	box, err := chromedp.Run(ctx, chromedp.Evaluate[rect](
		`(() => { const r = document.getElementById("canvas").getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width, H: r.height}; })()`))
	if err != nil || box.W < 100 {
		t.Fatalf("the canvas: %+v, %v", box, err)
	}
	// draw makes one pointer stroke through the points, given in the
	// canvas's unit square, as a mouse dragged in small steps.
	held := func(p *input.DispatchMouseEventParams) { p.Button, p.Buttons = input.MouseButtonLeft, 1 }
	draw := func(pts ...[2]float64) []chromedp.Action[chromedp.Void] {
		at := func(p [2]float64) (float64, float64) { return box.X + p[0]*box.W, box.Y + p[1]*box.H }
		x, y := at(pts[0])
		acts := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(chromedp.MousePressed, x, y, held, chromedp.ClickCount(1))}
		for i := 1; i < len(pts); i++ {
			for k := 1; k <= 12; k++ {
				f := float64(k) / 12
				x, y = at([2]float64{pts[i-1][0] + f*(pts[i][0]-pts[i-1][0]), pts[i-1][1] + f*(pts[i][1]-pts[i-1][1])})
				acts = append(acts, chromedp.MouseEvent(chromedp.MouseMoved, x, y, held))
			}
		}
		return append(acts, chromedp.MouseEvent(chromedp.MouseReleased, x, y, held, chromedp.ClickCount(1)))
	}
	// shows waits until the page's top class is want, answered to the
	// latest request.
	shows := func(what, want string) {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(
			`document.getElementById("result").dataset.class === %q && !document.getElementById("status").classList.contains("error")`, want),
			chromedp.WithPollingTimeout(30*time.Second)))
		if err != nil {
			got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](
				`document.getElementById("result").dataset.class + " / " + document.getElementById("status").textContent`))
			t.Errorf("%s: the page does not show %s as the top class: %v (it shows %s)", what, want, err, got)
		}
	}
	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		path := filepath.Join(t.ArtifactDir(), name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Error(err)
		}
		t.Logf("screenshot: %s", path)
	}

	// A 1: one stroke down the middle, slightly slanted.
	if err := chromedp.Do(ctx, draw([2]float64{0.52, 0.15}, [2]float64{0.47, 0.85})...); err != nil {
		t.Fatal(err)
	}
	shows("a drawn 1", "1")
	screenshot("drawn-1.png")

	// A 7: a bar, then down to the left, in one stroke.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("clear"))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, draw([2]float64{0.25, 0.2}, [2]float64{0.75, 0.2}, [2]float64{0.45, 0.85})...); err != nil {
		t.Fatal(err)
	}
	shows("a drawn 7", "7")
	top, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#top .row")].map(r => r.querySelector(".label").textContent + " " + r.querySelector(".pct").textContent)`))
	if err != nil || len(top) != 3 || top[0][:1] != "7" {
		t.Errorf("the top 3 bars: %q, %v", top, err)
	}
	screenshot("drawn-7.png")

	// An MNIST test digit as a file.
	_, test, err := testmnist.Load()
	if err != nil {
		t.Fatal(err)
	}
	const i = 1
	digit := filepath.Join(t.TempDir(), "mnist-test-1.png")
	writeDigitPNG(t, digit, test, i, 1, 1, 28, 28, false)
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{digit})); err != nil {
		t.Fatal(err)
	}
	shows("an uploaded MNIST digit", strconv.Itoa(int(test.Labels[i])))
	screenshot("uploaded.png")

	// At a phone's width nothing is wider than the screen.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2))); err != nil {
		t.Fatal(err)
	}
	width, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`))
	if err != nil || width > 390 {
		t.Errorf("at 390 px the page is %v px wide (%v)", width, err)
	}
	screenshot("phone.png")
}
