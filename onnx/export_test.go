package onnx_test

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"resgo/autograd"
	"resgo/checkpoint"
	"resgo/models"
	"resgo/nn"
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

// poolNet uses the ops the registered models may not: pooling windows with
// 'same' overhang, average pooling, a strided convolution, Concat and
// GlobalAvgPool.
type poolNet struct {
	conv, conv2 *nn.Conv2D
	dense       *nn.Dense
}

func newPoolNet() *poolNet {
	rng := rand.New(rand.NewPCG(7, 7))
	c2 := nn.NewConv2D(rng, "conv2", 8, 3, autograd.Valid, nn.ReLU)
	c2.Stride = 2
	return &poolNet{
		conv:  nn.NewConv2D(rng, "conv", 6, 3, autograd.Same, nn.ReLU),
		conv2: c2,
		dense: nn.NewDense(rng, "dense", 10, nn.Linear),
	}
}

func (p *poolNet) Forward(t *autograd.Tape, x *autograd.Var, training bool) *autograd.Var {
	x = p.conv.Forward(t, x, training)                                                                    // 28×28×6
	a := t.MaxPool(x, autograd.Window{Size: [2]int{3, 3}, Strides: [2]int{2, 2}, Padding: autograd.Same}) // 14×14×6
	b := t.AvgPool(x, autograd.Pool2x2)                                                                   // 14×14×6
	x = t.Concat(a, b)                                                                                    // 14×14×12
	g := t.GlobalAvgPool(t.AvgPool(x, autograd.Window{Size: [2]int{3, 3}, Strides: [2]int{2, 2}, Padding: autograd.Same}))
	h := t.GlobalAvgPool(p.conv2.Forward(t, x, training)) // 6×6×8 → 8
	return p.dense.Forward(t, t.Concat(h, g), training)
}

func (p *poolNet) Params() []*autograd.Param {
	return append(append(p.conv.Params(), p.conv2.Params()...), p.dense.Params()...)
}

// TestExportPoolsMatchOnnxruntime: pooling windows, Concat and
// GlobalAvgPool export to what onnxruntime computes as resgo does.
func TestExportPoolsMatchOnnxruntime(t *testing.T) {
	const n = 300
	x := testImages(t, n)
	m := newPoolNet()
	path := filepath.Join(t.TempDir(), "pools.onnx")
	if err := onnx.ExportFile(path, m, onnx.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	checkONNX(t, path)
	want := resgoLogits(m, x, n)
	compareLogits(t, "onnxruntime", runORT(t, path, x, n)["logits"], want, n, 1e-4)
	back, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	compareLogits(t, "resgo on its own export", resgoLogits(back, x, n), want, n, 1e-4)
}
