package resgo

import (
	"errors"
	"strings"
	"testing"

	"resgo/onnx"
)

// TestLoadONNX: Load takes an ONNX file, by content, and predicts with it;
// a broken one gets the loader's error.
func TestLoadONNX(t *testing.T) {
	m, err := Load("onnx/testdata/torch-resnet.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if i := m.Info(); i.Model != "onnx" || i.Classes != 10 {
		t.Errorf("Info %+v", i)
	}
	ps, err := m.PredictPixels(make([]float32, 2*28*28))
	if err != nil || len(ps) != 2 || len(ps[0].Probabilities) != 10 {
		t.Fatalf("PredictPixels: %v %v", ps, err)
	}
	var sum float32
	for _, p := range ps[0].Probabilities {
		sum += p
	}
	if sum < 0.999 || sum > 1.001 {
		t.Errorf("probabilities sum to %v", sum)
	}
	if _, err := Load("testdata/mnist-resnet.safetensors"); err != nil {
		t.Errorf("a checkpoint no longer loads: %v", err)
	}
	_, err = Load("README.md")
	var oe *onnx.Error
	if err == nil || errors.As(err, &oe) || !strings.Contains(err.Error(), "README.md") {
		t.Errorf("a text file: %v (want the checkpoint loader's error)", err)
	}
}
