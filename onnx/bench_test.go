package onnx_test

import (
	"path/filepath"
	"testing"

	"resgo/autograd"
	"resgo/models"
	"resgo/onnx"
	"resgo/tensor"
)

// BenchmarkInference runs the tutorial's ResNet in inference at batch 256
// three ways: built in Go, as PyTorch exported it (testdata), and as resgo
// exported it, both imported. An imported network should run as fast as
// the one built in Go. Time it under flock -x /tmp/bench.lock.
func BenchmarkInference(b *testing.B) {
	const batch = 256
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
	x := tensor.New(batch, 28, 28, 1)
	for i := range x.Data {
		x.Data[i] = float32(i%255) / 255
	}
	for _, c := range []struct {
		name string
		m    models.Model
	}{{"go", goNet}, {"torch-onnx", torch}, {"resgo-onnx", mine}} {
		b.Run(c.name, func(b *testing.B) {
			tp := autograd.NewTape(nil, 0)
			tp.NoGrad = true
			for b.Loop() {
				tp.Reset()
				c.m.Forward(tp, tp.Constant(x), false)
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
