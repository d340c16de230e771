package onnx_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"resgo/autograd"
	"resgo/models"
	"resgo/onnx"
	"resgo/tensor"
)

// BenchmarkInference runs the tutorial's ResNet in inference at batch 32
// and 256 three ways: built in Go, as PyTorch exported it (testdata), and
// as resgo exported it, both imported. An imported network should run as
// fast as the one built in Go. Time it under flock -x /tmp/bench.lock;
// scripts/onnx-speed.sh sets it beside onnxruntime.
func BenchmarkInference(b *testing.B) {
	goNet, err := models.New("resnet", models.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	own := filepath.Join(b.TempDir(), "resgo.onnx")
	if err := onnx.ExportFile(own, goNet, onnx.ExportOptions{}); err != nil {
		b.Fatal(err)
	}
	torch, err := onnx.Load("testdata/torch-resnet.onnx")
	if err != nil {
		b.Fatal(err)
	}
	mine, err := onnx.Load(own)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		m    models.Model
	}{{"go", goNet}, {"torch-onnx", torch}, {"resgo-onnx", mine}} {
		for _, batch := range []int{32, 256} {
			b.Run(fmt.Sprintf("%s/b=%d", c.name, batch), func(b *testing.B) {
				x := tensor.New(batch, 28, 28, 1)
				for i := range x.Data {
					x.Data[i] = float32(i%255) / 255
				}
				tp := autograd.NewTape(nil, 0)
				tp.NoGrad = true
				c.m.Forward(tp, tp.Constant(x), false) // warm the arena
				for b.Loop() {
					tp.Reset()
					c.m.Forward(tp, tp.Constant(x), false)
				}
				b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}
