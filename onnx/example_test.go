package onnx_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"resgo/autograd"
	"resgo/models"
	"resgo/onnx"
	"resgo/tensor"
)

// Export writes a model for onnxruntime and other runtimes; Load reads it
// (or a file another framework wrote) back and runs it on resgo's kernels.
func Example() {
	m, err := models.New("resnet", models.Options{Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	dir, _ := os.MkdirTemp("", "resgo-onnx")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "resnet.onnx")
	if err := onnx.ExportFile(path, m, onnx.ExportOptions{Metadata: map[string]string{"resgo.model": "resnet"}}); err != nil {
		log.Fatal(err)
	}

	back, err := onnx.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	tp := autograd.NewTape(nil, 0)
	tp.NoGrad = true
	x := tensor.New(2, 28, 28, 1) // two images, NHWC as resgo computes
	logits := back.Forward(tp, tp.Constant(x), false)
	fmt.Println("input (H, W, C):", back.Input)
	fmt.Println("opset:", back.Opset, "classes:", back.Classes)
	fmt.Println("logits:", logits.Shape())
	// Output:
	// input (H, W, C): [28 28 1]
	// opset: 13 classes: [0 1 2 3 4 5 6 7 8 9]
	// logits: [2 10]
}
