package resgo

import (
	"context"
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"resgo/checkpoint"
	"resgo/data"
	"resgo/models"
	"resgo/train"
)

var update = flag.Bool("update", false, "retrain testdata/mnist-resnet.safetensors (one epoch of MNIST, a few minutes) and rewrite the sample digits")

// testModel is the tutorial's ResNet trained for one epoch on the 60,000
// MNIST training images (seed 1, batch 32, Adam 1e-3), saved without its
// optimiser state. Regenerate with: go test -run TestTestdataModel -update
const testModel = "testdata/mnist-resnet.safetensors"

// TestTestdataModel checks the committed model, or with -update retrains
// it and rewrites the sample images in testdata/digits.
func TestTestdataModel(t *testing.T) {
	tr, te, err := data.LoadMNIST()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		s, err := train.NewSession(train.Config{Model: "resnet", Epochs: 1, Batch: 32, LR: 0.001, Seed: 1,
			Train: tr, Test: te, OnEpoch: func(_ *train.Session, r train.EpochResult) error {
				t.Log(r.Line())
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := checkpoint.FromSession(s)
		st.Slots = nil // weights only: small, and enough to predict
		if err := checkpoint.Save(testModel, st); err != nil {
			t.Fatal(err)
		}
		writeDigits(t, te)
	}
	m, err := Load(testModel)
	if err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	if info.Model != "resnet" || info.Epoch != 1 || info.Classes != 10 || info.TestAccuracy < 0.97 {
		t.Fatalf("info %+v", info)
	}
	// The weights are those of the ResNet: 576,282 trainable values.
	if tc, nc := models.CountParams(m.net); tc != 576282 || nc != 784 {
		t.Fatalf("%d + %d parameters", tc, nc)
	}
}

// writeDigits writes the first test digits in several styles: dark on
// light and enlarged, as a scan would be.
func writeDigits(t *testing.T, te *data.Dataset) {
	dir := filepath.Join("testdata", "digits")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"seven.png", "two.png", "one.png"} {
		pix := te.Image(i)
		const k = 3
		img := image.NewGray(image.Rect(0, 0, 28*k, 28*k))
		for y := range 28 * k {
			for x := range 28 * k {
				img.SetGray(x, y, color.Gray{255 - pix[(y/k)*28+x/k]})
			}
		}
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
