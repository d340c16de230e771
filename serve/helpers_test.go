package serve

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"resgo/checkpoint"
	"resgo/models"
)

// pngOf is a blank white w×h PNG.
func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	img.Set(0, 0, color.Gray{Y: 254})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// otherNetwork is a valid checkpoint of another architecture.
func otherNetwork(t *testing.T) []byte {
	t.Helper()
	net, err := models.New("vgg16-reduced", models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vgg.safetensors")
	if err := checkpoint.Save(path, &checkpoint.State{Model: "vgg16-reduced", Net: net,
		Optimizer: checkpoint.OptimizerState{Name: "adam", LR: 0.001}, Loader: checkpoint.LoaderState{Batch: 32, NextEpoch: 1}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
