package onnx_test

import (
	"os"
	"path/filepath"
	"testing"

	"resgo/models"
	"resgo/onnx"
)

// TestImportMatchesOnnxruntime loads ONNX files resgo did not write (the
// reference networks as PyTorch exports them: testdata/torch-*.onnx) and
// resgo's own exports, runs them in resgo and in onnxruntime on 1,000 MNIST
// test images: logits within 1e-4 relative, every argmax equal.
func TestImportMatchesOnnxruntime(t *testing.T) {
	const n = 1000
	x := testImages(t, n)
	files, _ := filepath.Glob("testdata/*.onnx")
	if extra := os.Getenv("RESGO_ONNX_FILES"); extra != "" {
		more, _ := filepath.Glob(extra)
		files = append(files, more...)
	}
	m, err := models.New("resnet", models.Options{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(t.TempDir(), "resgo-resnet.onnx")
	if err := onnx.ExportFile(own, m, onnx.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	files = append(files, own)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			m, err := onnx.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			got := resgoLogits(m, x, n)
			want := runORT(t, f, x, n)["logits"]
			compareLogits(t, "resgo on "+filepath.Base(f), got, want, n, 1e-4)
		})
	}
}

// TestOpsMatchOnnxruntime runs a graph of every supported op, attribute
// and fusion (onnx.OpsGraph) in resgo and in onnxruntime.
func TestOpsMatchOnnxruntime(t *testing.T) {
	const n = 300
	x := testImages(t, n)
	path := filepath.Join(t.TempDir(), "ops.onnx")
	if err := os.WriteFile(path, onnx.OpsGraph(), 0o644); err != nil {
		t.Fatal(err)
	}
	checkONNX(t, path)
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	compareLogits(t, "resgo on the ops graph", resgoLogits(m, x, n), runORT(t, path, x, n)["logits"], n, 1e-4)
}
