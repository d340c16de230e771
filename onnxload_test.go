package resgo

import (
	"errors"
	"strings"
	"testing"

	"resgo/imageprep"
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
	ck, err := Load("testdata/mnist-resnet.safetensors")
	if err != nil {
		t.Fatalf("a checkpoint no longer loads: %v", err)
	}
	// The checkpoint exported predicts as the checkpoint does, and says
	// what it was.
	path := t.TempDir() + "/m.onnx"
	names := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
	if err := onnx.ExportFile(path, ck.run.(*engine).net, onnx.ExportOptions{Classes: names, Metadata: map[string]string{
		"resgo.model": "resnet", "resgo.epoch": "2", "resgo.test_accuracy": "0.9882"}}); err != nil {
		t.Fatal(err)
	}
	ex, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if i := ex.Info(); i.Model != "resnet" || i.Epoch != 2 || i.TestAccuracy != 0.9882 || len(i.ClassNames) != 10 || i.ClassNames[7] != "seven" {
		t.Errorf("Info of the export: %+v", i)
	}
	img, err := imageprep.DecodeFile("testdata/digits/seven.png")
	if err != nil {
		t.Fatal(err)
	}
	a, err1 := ck.Predict(img)
	b, err2 := ex.Predict(img)
	if err1 != nil || err2 != nil || a.Class != 7 || b.Class != 7 {
		t.Errorf("the seven: checkpoint %v %v, ONNX %v %v", a, err1, b, err2)
	}
	for c := range a.Probabilities {
		if d := a.Probabilities[c] - b.Probabilities[c]; d > 1e-5 || d < -1e-5 {
			t.Errorf("class %d: probability %v from the checkpoint, %v from its ONNX export", c, a.Probabilities[c], b.Probabilities[c])
		}
	}
	_, err = Load("README.md")
	var oe *onnx.Error
	if err == nil || errors.As(err, &oe) || !strings.Contains(err.Error(), "README.md") {
		t.Errorf("a text file: %v (want the checkpoint loader's error)", err)
	}
}
