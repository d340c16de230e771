package serve

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
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

// otherNetwork is a valid checkpoint of the named architecture, untrained,
// taking images of the options' shape.
func otherNetwork(t *testing.T, model string, opts models.Options) []byte {
	t.Helper()
	return networkFile(t, model, opts, checkpoint.RunInfo{})
}

// networkFile is otherNetwork with the run's settings as given.
func networkFile(t *testing.T, model string, opts models.Options, run checkpoint.RunInfo) []byte {
	t.Helper()
	net, err := models.New(model, opts)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other.safetensors")
	if err := checkpoint.Save(path, &checkpoint.State{Model: model, Options: opts, Net: net,
		Optimizer: checkpoint.OptimizerState{Name: "adam", LR: 0.001}, Loader: checkpoint.LoaderState{Batch: 32, NextEpoch: 1}, Run: run}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseTensor(t *testing.T) {
	conv, _ := pixelsOf("UINT8")
	for _, c := range []struct {
		in, shape, data, err string
	}{
		{"255", "[]", "[1]", ""},
		{"[0, 51, 255]", "[3]", "[0 0.2 1]", ""},
		{" [ [0,1e2] ,\n[ 2.55e2 , -0 ] ] ", "[2 2]", "[0 0.39215687 1 0]", ""},
		{"[[[1]],[[2]]]", "[2 1 1]", "[0.003921569 0.007843138]", ""},
		{"[1, [2]]", "", "", "ragged"},
		{"[[1], 2]", "", "", "ragged"},
		{"[[1, 2], [3]]", "", "", "ragged arrays: lengths 2 and 1 at depth 2"},
		{"[]", "", "", "an empty array"},
		{"[[], []]", "", "", "an empty array"},
		{"[[[[[[[[[1]]]]]]]]]", "", "", "nested too deep"},
		{`["1"]`, "", "", "expected numbers"},
		{`[true]`, "", "", "expected numbers"},
		{`[null]`, "", "", "expected numbers"},
		{`{"a": 1}`, "", "", "expected numbers"},
		{"[1, 2, 3, 4, 5]", "", "", "more than 4 values"},
		{"[256]", "", "", "value 0 is 256: UINT8 pixels are integers 0 to 255"},
		{"[0, 1.5]", "", "", "value 1 is 1.5"},
	} {
		got, err := parseTensor([]byte(c.in), 4, conv)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want an error with %q", c.in, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.in, err)
		case fmt.Sprint(got.shape) != c.shape || fmt.Sprint(got.data) != c.data:
			t.Errorf("%s: shape %v data %v, want %s %s", c.in, got.shape, got.data, c.shape, c.data)
		}
	}
}
