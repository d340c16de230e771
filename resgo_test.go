package resgo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"resgo/checkpoint"
	"resgo/imageprep"
	"resgo/internal/testmnist"
)

// TestPredictBatchMatchesPixels classifies MNIST test digits as images and
// as tensors: the images come back from preparation as they were, so the
// probabilities agree, and batching does not change them.
func TestPredictBatchMatchesPixels(t *testing.T) {
	m, err := Load(testModel)
	if err != nil {
		t.Fatal(err)
	}
	_, te, err := testmnist.Load()
	if err != nil {
		t.Fatal(err)
	}
	const n = 70 // more than one batch
	pixels := make([]float32, n*784)
	imgs := make([]image.Image, n)
	for i := range n {
		g := image.NewGray(image.Rect(0, 0, 28, 28))
		copy(g.Pix, te.Image(i))
		imgs[i] = g
		for j, p := range te.Image(i) {
			pixels[i*784+j] = float32(p) / 255
		}
	}
	want, err := m.PredictPixels(pixels)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.PredictBatch(imgs)
	if err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i := range n {
		if got[i].Class != want[i].Class {
			t.Errorf("image %d: class %d, tensor %d", i, got[i].Class, want[i].Class)
		}
		var sum float64
		for c, p := range got[i].Probabilities {
			sum += float64(p)
			if math.Abs(float64(p-want[i].Probabilities[c])) > 1e-3 {
				t.Errorf("image %d class %d: %v vs %v", i, c, p, want[i].Probabilities[c])
			}
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("image %d: probabilities sum to %v", i, sum)
		}
		if got[i].Class == int(te.Labels[i]) {
			correct++
		}
		one, err := m.Predict(imgs[i])
		if err != nil {
			t.Fatal(err)
		}
		for c, p := range one.Probabilities {
			if math.Float32bits(p) != math.Float32bits(got[i].Probabilities[c]) {
				t.Fatalf("image %d: Predict and PredictBatch differ", i)
			}
		}
	}
	if correct < 66 {
		t.Errorf("%d of %d correct", correct, n)
	}
	if top := got[0].Top(3); len(top) != 3 || top[0] != got[0].Class ||
		got[0].Probabilities[top[1]] < got[0].Probabilities[top[2]] {
		t.Errorf("Top(3) = %v for %v", top, got[0].Probabilities)
	}
}

func TestPredictErrors(t *testing.T) {
	m, err := Load(testModel)
	if err != nil {
		t.Fatal(err)
	}
	blank := image.NewGray(image.Rect(0, 0, 10, 10))
	if _, err := m.PredictBatch([]image.Image{image.NewGray(image.Rect(0, 0, 1, 1)), blank}); !errors.Is(err, imageprep.ErrBlank) || !strings.Contains(err.Error(), "image 0") {
		t.Errorf("err = %v", err)
	}
	if _, err := m.Predict(nil); err == nil {
		t.Error("Predict(nil) succeeded")
	}
	if _, err := m.PredictPixels(make([]float32, 100)); err == nil {
		t.Error("PredictPixels of 100 values succeeded")
	}
	if ps, err := m.PredictBatch(nil); err != nil || len(ps) != 0 {
		t.Errorf("PredictBatch(nil) = %v, %v", ps, err)
	}
	if _, err := Load("testdata/nope.safetensors"); err == nil || !strings.Contains(err.Error(), "testdata/nope.safetensors") {
		t.Errorf("Load err = %v", err)
	}
}

// TestConcurrentPredict runs predictions from several goroutines.
func TestConcurrentPredict(t *testing.T) {
	m, err := Load(testModel)
	if err != nil {
		t.Fatal(err)
	}
	_, te, err := testmnist.Load()
	if err != nil {
		t.Fatal(err)
	}
	g := image.NewGray(image.Rect(0, 0, 28, 28))
	copy(g.Pix, te.Image(0))
	want, err := m.Predict(g)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				p, err := m.Predict(g)
				if err != nil || p.Class != want.Class || p.Probabilities[p.Class] != want.Probabilities[want.Class] {
					t.Errorf("concurrent Predict = %v, %v", p, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestWithThreads runs copies of a model, each on a pool of its own, at
// the same time as the model itself: all give the model's answers (to
// float32 rounding, as the thread counts differ), and the copies share its
// weights rather than copying them.
func TestWithThreads(t *testing.T) {
	m, err := Load(testModel)
	if err != nil {
		t.Fatal(err)
	}
	pixels := testPixels(t, 3)
	want, err := m.PredictPixels(pixels)
	if err != nil {
		t.Fatal(err)
	}
	models := []*Model{m, m.WithThreads(1), m.WithThreads(1), m.WithThreads(2)}
	if models[1].Info().Path != m.Info().Path || models[1].Info().Classes != m.Info().Classes {
		t.Errorf("copy's info %+v, want %+v", models[1].Info(), m.Info())
	}
	if models[1].run.(*engine).net != m.run.(*engine).net {
		t.Error("the copy does not share the model's network")
	}
	var wg sync.WaitGroup
	for _, c := range models {
		wg.Go(func() {
			for range 5 {
				got, err := c.PredictPixels(pixels)
				if err != nil {
					t.Error(err)
					return
				}
				for i := range want {
					for k, p := range got[i].Probabilities {
						if d := math.Abs(float64(p - want[i].Probabilities[k])); d > 1e-6 || got[i].Class != want[i].Class {
							t.Errorf("image %d class %d: %v (class %d), want %v (class %d)", i, k, p, got[i].Class, want[i].Probabilities[k], want[i].Class)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
}

// testPixels returns the first n MNIST test digits as PredictPixels takes
// them.
func testPixels(tb testing.TB, n int) []float32 {
	_, te, err := testmnist.Load()
	if err != nil {
		tb.Fatal(err)
	}
	pixels := make([]float32, n*784)
	for i := range n {
		for j, p := range te.Image(i) {
			pixels[i*784+j] = float32(p) / 255
		}
	}
	return pixels
}

// TestTopAnyK checks Top for every k, none of which panics: k ≤ 0 gives
// no class, k beyond the number of classes gives them all.
func TestTopAnyK(t *testing.T) {
	p := Prediction{Class: 2, Probabilities: []float32{0.1, 0.2, 0.6, 0.1}}
	for k, want := range map[int]string{-1: "[]", 0: "[]", 1: "[2]", 3: "[2 1 0]", 4: "[2 1 0 3]", 99: "[2 1 0 3]"} {
		if got := fmt.Sprint(p.Top(k)); got != want {
			t.Errorf("Top(%d) = %s, want %s", k, got, want)
		}
	}
}

// damagedModel saves the test model with edit applied to its weights and
// returns the file's path.
func damagedModel(t *testing.T, edit func(params map[string][]float32)) string {
	t.Helper()
	st, err := checkpoint.Load(testModel)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string][]float32{}
	for _, p := range st.Net.Params() {
		params[p.Name] = p.Value.Data
	}
	edit(params)
	path := filepath.Join(t.TempDir(), "damaged.safetensors")
	if err := checkpoint.Save(path, st); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestNoNaNAnswers checks that no prediction is ever NaN: NaN pixels are
// refused, and weights that overflow are an error naming the checkpoint,
// at Load if a blank image shows them, else at Predict.
func TestNoNaNAnswers(t *testing.T) {
	m, err := Load(testModel)
	if err != nil {
		t.Fatal(err)
	}
	_, te, err := testmnist.Load()
	if err != nil {
		t.Fatal(err)
	}
	digit := make([]float32, 784)
	for i, p := range te.Image(0) {
		digit[i] = float32(p) / 255
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		px := append(make([]float32, 784), digit...)
		px[784+300] = bad
		if _, err := m.PredictPixels(px); err == nil || !strings.Contains(err.Error(), "image 1: pixel 300") {
			t.Errorf("pixel %v: err = %v", bad, err)
		}
	}

	// Huge weights everywhere: even a blank image overflows; Load refuses.
	path := damagedModel(t, func(p map[string][]float32) {
		for i := range p["dense2.kernel"] {
			p["dense2.kernel"][i] = 3e38
		}
	})
	if _, err := Load(path); !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), path) {
		t.Errorf("Load of overflowing weights: err = %v", err)
	}
	// One huge weight of the first conv: blank images give finite
	// answers, a digit overflows.
	path = damagedModel(t, func(p map[string][]float32) { p["conv1.kernel"][4] = 3e38 })
	m, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := m.PredictPixels(digit)
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), path) {
		t.Fatalf("PredictPixels = %v, %v; want an error naming %s", ps, err, path)
	}
	g := image.NewGray(image.Rect(0, 0, 28, 28))
	copy(g.Pix, te.Image(0))
	if p, err := m.Predict(g); !errors.Is(err, ErrNonFinite) {
		t.Fatalf("Predict = %v, %v", p, err)
	}
}

// TestInferenceImportsNoTraining checks that the packages that use a
// trained model (this one, checkpoint, serve and onnx where they exist)
// depend on none of training's (train, optim, and data, whose Loader feeds
// training): a program that only predicts does not carry the trainer.
func TestInferenceImportsNoTraining(t *testing.T) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	all, err := exec.Command(gobin, "list", "resgo/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var inference []string
	for _, p := range strings.Fields(string(all)) {
		if p == "resgo" || p == "resgo/checkpoint" || p == "resgo/serve" || p == "resgo/onnx" {
			inference = append(inference, p)
		}
	}
	forbidden := []string{"resgo/train", "resgo/optim", "resgo/data"}
	for _, p := range inference {
		out, err := exec.Command(gobin, "list", "-deps", "-test=false", "-f", "{{.ImportPath}}", p).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", p, err)
		}
		deps := strings.Fields(string(out))
		for _, f := range forbidden {
			if slices.Contains(deps, f) {
				t.Errorf("%s depends on %s (run 'go list -deps %s' to see through what); inference must not import training", p, f, p)
			}
		}
	}
	if len(inference) < 2 {
		t.Fatalf("found only %v", inference)
	}
}

// TestCorruptionSweep damages the test model in many ways and checks that
// no damage gives a silent wrong answer. Bytes chosen by a seeded
// generator, in the header's length, the header and the data, are flipped
// or replaced: every such file must be refused by Load, naming it (the
// checksum covers every byte). Then special values (-1, NaN, ±Inf, ±3e38)
// are written, with a valid checksum, into each kind of tensor (conv and
// dense kernels and biases, BatchNorm's γ, β, moving mean and moving
// variance): NaN, infinities and negative variances must be refused at
// Load; values a model can hold (finite, if absurd) must give either
// finite probabilities that sum to 1 or an error matching ErrNonFinite,
// never a NaN.
func TestCorruptionSweep(t *testing.T) {
	good, err := os.ReadFile(testModel)
	if err != nil {
		t.Fatal(err)
	}
	hn := int(binary.LittleEndian.Uint64(good))
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(10, 1))
	variants, refused := 0, 0

	// Bytes: 6 in the length, 40 in the header, 40 in the data (a quarter
	// of that with -short, which the race detector's run uses).
	nLen, nHdr, nData := 6, 40, 40
	if testing.Short() {
		nLen, nHdr, nData = 2, 10, 10
	}
	var at []int
	for range nLen {
		at = append(at, rng.IntN(8))
	}
	for range nHdr {
		at = append(at, 8+rng.IntN(hn))
	}
	for range nData {
		at = append(at, 8+hn+rng.IntN(len(good)-8-hn))
	}
	for i, pos := range at {
		b := bytes.Clone(good)
		if i%2 == 0 {
			b[pos] ^= 1 << rng.IntN(8) // one bit
		} else {
			b[pos] ^= byte(1 + rng.IntN(255)) // a different byte
		}
		path := filepath.Join(dir, fmt.Sprintf("byte%d.safetensors", i))
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		variants++
		m, err := Load(path)
		if err == nil {
			t.Errorf("byte %d changed (%#x to %#x): Load accepted it (%+v)", pos, good[pos], b[pos], m.Info())
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("byte %d: the error does not name the file: %v", pos, err)
		}
		refused++
	}

	// Special values in each kind of tensor.
	_, te, err := testmnist.Load()
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	pixels := make([]float32, (n+1)*784) // n test digits and a blank image
	for i, p := range te.Images[:n*784] {
		pixels[i] = float32(p) / 255
	}
	f, err := checkpoint.ReadFile(testModel)
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{"res1.0.conv1.kernel", "conv1.bias", "res1.0.bn1.gamma", "res2.0.bn2.beta",
		"res2.0.bn2.moving_mean", "res3.1.bn1.moving_variance", "dense1.kernel", "dense2.bias"}
	specials := []float32{-1, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 3e38}
	places := []string{"one", "all"}
	if testing.Short() {
		specials, places = []float32{-1, float32(math.NaN()), 3e38}, []string{"one"}
	}
	loadErr, predictErr, finite := 0, 0, 0
	for _, name := range kinds {
		x := f.Tensor(name)
		if x == nil {
			t.Fatalf("no tensor %s", name)
		}
		for _, v := range specials {
			for _, where := range places {
				saved := slices.Clone(x.Data)
				if where == "one" {
					x.Data[rng.IntN(len(x.Data))] = v
				} else {
					for i := range x.Data {
						x.Data[i] = v
					}
				}
				path := filepath.Join(dir, fmt.Sprintf("%s-%v-%s.safetensors", name, v, where))
				err := checkpoint.WriteFile(path, f.Tensors, f.Metadata)
				copy(x.Data, saved)
				if err != nil {
					t.Fatal(err)
				}
				variants++
				what := fmt.Sprintf("%s: %v in %s value(s)", name, v, where)
				mustRefuse := math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) ||
					v < 0 && strings.HasSuffix(name, ".moving_variance")
				m, err := Load(path)
				if err != nil {
					if !strings.Contains(err.Error(), path) {
						t.Errorf("%s: the error does not name the file: %v", what, err)
					}
					if !mustRefuse && !errors.Is(err, ErrNonFinite) {
						t.Errorf("%s: refused for another reason than overflow: %v", what, err)
					}
					refused++
					loadErr++
					continue
				}
				if mustRefuse {
					t.Errorf("%s: Load accepted it", what)
					continue
				}
				ps, err := m.PredictPixels(pixels)
				if err != nil {
					if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), path) {
						t.Errorf("%s: PredictPixels: %v", what, err)
					}
					predictErr++
					continue
				}
				for i, p := range ps {
					var sum float64
					for _, q := range p.Probabilities {
						if math.IsNaN(float64(q)) || math.IsInf(float64(q), 0) || q < 0 {
							t.Fatalf("%s: image %d: probabilities %v", what, i, p.Probabilities)
						}
						sum += float64(q)
					}
					if math.Abs(sum-1) > 1e-3 {
						t.Errorf("%s: image %d: probabilities sum to %v", what, i, sum)
					}
				}
				finite++
			}
		}
	}
	t.Logf("%d damaged files: %d refused at Load (%d of the byte changes, %d of the special values), "+
		"%d failed at Predict with ErrNonFinite, %d gave finite probabilities", variants, refused, len(at), loadErr, predictErr, finite)
}
