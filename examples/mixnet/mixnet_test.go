package mixnet_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"resgo"
	"resgo/checkpoint"
	"resgo/data"
	"resgo/train"

	"mixnet"
)

// TestTrainSaveLoadPredict is what a user of resgo's packages does with a
// network of their own: train it by name on MNIST (300 steps of 32 images),
// save a checkpoint, load it back through the root package and predict.
// The reloaded model must give the trained one's probabilities and classify
// held-out digits well above chance.
func TestTrainSaveLoadPredict(t *testing.T) {
	tr, te, err := data.LoadMNIST()
	if err != nil {
		t.Fatal(err)
	}
	if tr, err = tr.Limit(9600); err != nil {
		t.Fatal(err)
	}
	if te, err = te.Limit(500); err != nil {
		t.Fatal(err)
	}
	s, err := train.NewSession(train.Config{
		Model:  mixnet.Name,
		Epochs: 1, Batch: 32, LR: 3e-3, Seed: 1, Train: tr, Test: te,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := s.History[0]
	t.Logf("after %d steps: %s", s.Trainer.Steps(), r.Line())
	if r.TestAccuracy < 0.90 {
		t.Errorf("test accuracy %.2f%% after one epoch of 9,600 digits, want at least 90%%", 100*r.TestAccuracy)
	}

	path := filepath.Join(t.TempDir(), "mixnet.safetensors")
	if err := checkpoint.Save(path, s.Checkpoint()); err != nil {
		t.Fatal(err)
	}
	m, err := resgo.Load(path)
	if err != nil {
		t.Fatal(err)
	}

	// The trained model's probabilities for the first 100 test digits, in
	// inference, against the reloaded model's.
	const n = 100
	pixels := make([]float32, n*28*28)
	for i, p := range te.Images[:n*28*28] {
		pixels[i] = float32(p) / 255
	}
	preds, err := m.PredictPixels(pixels)
	if err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i, p := range preds {
		if p.Class == int(te.Labels[i]) {
			correct++
		}
	}
	if correct < 85 {
		t.Errorf("the reloaded model classifies %d of %d test digits, want at least 85", correct, n)
	}
	first, err := te.Limit(n)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	train.Predict(s.Model, nil, first, 50, func(logits []float32, labels []int32, k int, _ float64) {
		for b := range labels {
			row := logits[b*k : (b+1)*k]
			top := row[0]
			for _, v := range row {
				top = max(top, v)
			}
			var sum float64
			for _, v := range row {
				sum += math.Exp(float64(v - top))
			}
			for c, v := range row {
				want := math.Exp(float64(v-top)) / sum
				if got := float64(preds[i].Probabilities[c]); math.Abs(got-want) > 1e-5 {
					t.Fatalf("digit %d: the reloaded model gives class %d probability %v, the trained one %v", i, c, got, want)
				}
			}
			i++
		}
	})
	if i != n {
		t.Fatalf("compared %d digits, want %d", i, n)
	}
}
