package onnx_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"resgo/checkpoint"
	"resgo/models"
	"resgo/onnx"
)

// TestExportMatchesOnnxruntime exports every registered model, seeded, and
// the trained ResNet of testdata, and runs each file in onnxruntime on
// 1,000 MNIST test images: the logits agree with resgo's within 1e-4
// relative and every argmax is equal. The files pass onnx's checker too.
func TestExportMatchesOnnxruntime(t *testing.T) {
	const n = 1000
	x := testImages(t, n)
	type tc struct {
		name string
		m    models.Model
	}
	var cases []tc
	for _, name := range models.Names() {
		m, err := models.New(name, models.Options{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tc{name + " seeded", m})
	}
	st, err := checkpoint.Load("../testdata/mnist-resnet.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, tc{"resnet trained", st.Net})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "model.onnx")
			if err := onnx.ExportFile(path, c.m, onnx.ExportOptions{Metadata: map[string]string{"model": c.name}}); err != nil {
				t.Fatal(err)
			}
			checkONNX(t, path)
			want := resgoLogits(c.m, x, n)
			out := runORT(t, path, x, n)
			compareLogits(t, "onnxruntime logits", out["logits"], want, n, 1e-4)
			p := out["probabilities"]
			if len(p) != len(want) {
				t.Fatalf("probabilities: %d values, want %d", len(p), len(want))
			}
			k := len(want) / n
			for i := range n {
				if argmax(p[i*k:(i+1)*k]) != argmax(want[i*k:(i+1)*k]) {
					t.Errorf("image %d: the most probable class is not the largest logit", i)
				}
			}
		})
	}
}

// TestExportDeterministic: the same model exports to the same bytes.
func TestExportDeterministic(t *testing.T) {
	m, err := models.New("resnet", models.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	o := onnx.ExportOptions{Metadata: map[string]string{"b": "2", "a": "1"}}
	if err := onnx.Export(&a, m, o); err != nil {
		t.Fatal(err)
	}
	if err := onnx.Export(&b, m, o); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two exports of one model differ")
	}
}
