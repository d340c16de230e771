package resgo

import (
	"errors"
	"image"
	"math"
	"strings"
	"sync"
	"testing"

	"resgo/data"
	"resgo/imageprep"
)

// TestPredictBatchMatchesPixels classifies MNIST test digits as images and
// as tensors: the images come back from preparation as they were, so the
// probabilities agree, and batching does not change them.
func TestPredictBatchMatchesPixels(t *testing.T) {
	m, err := Load(testModel)
	if err != nil {
		t.Fatal(err)
	}
	_, te, err := data.LoadMNIST()
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
	_, te, err := data.LoadMNIST()
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
