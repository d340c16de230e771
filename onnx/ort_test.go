package onnx_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"resgo/autograd"
	"resgo/data"
	"resgo/models"
	"resgo/tensor"
)

// This file checks resgo's ONNX files with the tools others wrote:
// onnxruntime (from npm, run by node) and onnx's own checker (Debian's
// python3-onnx). Outside CI a test skips, saying why, when a tool is
// missing; with CI set it fails instead.

// need skips t (or fails it under CI) for a missing tool.
func need(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set but %s (.ci/run installs it)", msg)
	}
	t.Skip(msg + "; skipping")
}

var (
	ortOnce sync.Once
	ortPath string // NODE_PATH holding onnxruntime-node
	ortErr  error
)

// onnxruntime returns a NODE_PATH under which node finds onnxruntime-node
// 1.30.0, installing it once as ../shared/bench/onnxruntime/run.sh does:
// into $ORT_DIR, default the user cache's resgo-ort, with --ignore-scripts
// (the CPU binaries ship in the package; the post-install step would fetch
// GPU files).
func onnxruntime(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		need(t, "node is not installed")
	}
	ortOnce.Do(func() {
		dir := os.Getenv("ORT_DIR")
		if dir == "" {
			cache, err := os.UserCacheDir()
			if err != nil {
				ortErr = err
				return
			}
			dir = filepath.Join(cache, "resgo-ort")
		}
		ortPath = filepath.Join(dir, "node_modules")
		if _, err := os.Stat(filepath.Join(ortPath, "onnxruntime-node")); err == nil {
			return
		}
		if _, err := exec.LookPath("npm"); err != nil {
			ortErr = fmt.Errorf("npm is not installed")
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			ortErr = err
			return
		}
		cmd := exec.Command("npm", "install", "--silent", "--ignore-scripts", "--no-audit", "--no-fund", "onnxruntime-node@1.30.0")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			ortErr = fmt.Errorf("npm install onnxruntime-node: %v\n%s", err, out)
		}
	})
	if ortErr != nil {
		need(t, "onnxruntime-node cannot be installed: %v", ortErr)
	}
	return ortPath
}

// runORT runs model on n inputs x (float32, the model's input layout) in
// onnxruntime and returns its outputs by name.
func runORT(t *testing.T, model string, x []float32, n int) map[string][]float32 {
	t.Helper()
	np := onnxruntime(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "input.f32")
	if err := os.WriteFile(in, f32bytes(x), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("testdata/ort_run.js")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script, model, in, fmt.Sprint(n), filepath.Join(dir, "out-"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+np)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("onnxruntime on %s: %v\n%s", model, err, out)
	}
	outs := map[string][]float32{}
	for _, name := range []string{"logits", "probabilities"} {
		b, err := os.ReadFile(filepath.Join(dir, "out-"+name+".f32"))
		if err != nil {
			continue
		}
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		outs[name] = v
	}
	return outs
}

func f32bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// checkONNX runs onnx.checker (full check, with shape inference) on path.
func checkONNX(t *testing.T, path string) {
	t.Helper()
	py := "/usr/bin/python3" // Debian's, where python3-onnx installs
	if err := exec.Command(py, "-c", "import onnx").Run(); err != nil {
		need(t, "python3-onnx is not installed")
	}
	cmd := exec.Command(py, "-c", "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("onnx.checker on %s: %v\n%s", path, err, out)
	}
}

var (
	mnistOnce sync.Once
	mnistTest *data.Dataset
	mnistErr  error
)

// testImages returns the first n MNIST test images as n×28×28 values in
// [0, 1] (NHWC with one channel, which is also NCHW) and their labels.
func testImages(t *testing.T, n int) []float32 {
	t.Helper()
	mnistOnce.Do(func() { _, mnistTest, mnistErr = data.LoadMNIST() })
	if mnistErr != nil {
		t.Fatal(mnistErr)
	}
	x := make([]float32, 0, n*28*28)
	for i := range n {
		for _, p := range mnistTest.Image(i) {
			x = append(x, float32(p)/255)
		}
	}
	return x
}

// resgoLogits runs m in inference on n images [n, 28, 28, 1].
func resgoLogits(m models.Model, x []float32, n int) []float32 {
	tp := autograd.NewTape(nil, 0)
	tp.NoGrad = true
	var out []float32
	const b = 100
	for i := 0; i < n; i += b {
		k := min(b, n-i)
		tp.Reset()
		xt := &tensor.Tensor{Shape: []int{k, 28, 28, 1}, Data: x[i*784 : (i+k)*784]}
		out = append(out, m.Forward(tp, tp.Constant(xt), false).Value.Data...)
	}
	return out
}

// compareLogits checks got against want, [n, k] each: every value within
// tol of want relative to the row's largest magnitude, and the same argmax
// in every row.
func compareLogits(t *testing.T, what string, got, want []float32, n int, tol float64) {
	t.Helper()
	if len(got) != len(want) || len(want)%n != 0 {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	k := len(want) / n
	worst, bad := 0.0, 0
	for i := range n {
		g, w := got[i*k:(i+1)*k], want[i*k:(i+1)*k]
		scale := 0.0
		for _, v := range w {
			scale = max(scale, math.Abs(float64(v)))
		}
		for j := range k {
			d := math.Abs(float64(g[j]-w[j])) / max(scale, 1e-6)
			if !(d <= tol) && bad < 5 {
				t.Errorf("%s: image %d logit %d: %v, want %v (relative error %.2g)", what, i, j, g[j], w[j], d)
				bad++
			}
			worst = max(worst, d)
		}
		if a, b := argmax(g), argmax(w); a != b {
			t.Errorf("%s: image %d: argmax %d, want %d", what, i, a, b)
		}
	}
	t.Logf("%s: %d images, worst relative error %.2g", what, n, worst)
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
