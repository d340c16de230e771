package onnx

import (
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"resgo/autograd"
	"resgo/onnx/internal/onnxpb"
	"resgo/tensor"
)

// TestLoadErrors: files that are not ONNX, are cut short, hold ops or
// attributes resgo does not run, or shapes that do not fit get an error
// naming the file, and the node, its op and the opset where there is one.
func TestLoadErrors(t *testing.T) {
	fixture, err := os.ReadFile("testdata/torch-resnet.onnx")
	if err != nil {
		t.Fatal(err)
	}
	safetensors, err := os.ReadFile("../testdata/mnist-resnet.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	// edit returns the ops graph changed by f.
	edit := func(f func(m *onnxpb.ModelProto)) []byte {
		var m onnxpb.ModelProto
		if err := proto.Unmarshal(opsGraph(), &m); err != nil {
			t.Fatal(err)
		}
		f(&m)
		b, err := proto.Marshal(&m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	node := func(m *onnxpb.ModelProto, op string) *onnxpb.NodeProto {
		for _, n := range m.Graph.Node {
			if n.GetOpType() == op {
				return n
			}
		}
		t.Fatalf("no %s node", op)
		return nil
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"text", []byte("hello, world\n"), "onnx f.onnx: not an ONNX model"},
		{"empty", nil, "not an ONNX model"},
		{"truncated", fixture[:len(fixture)/2], "not an ONNX model, or truncated"},
		{"safetensors", safetensors, "not an ONNX model"},
		{"unsupported op", edit(func(m *onnxpb.ModelProto) { node(m, "Sigmoid").OpType = proto.String("Tanh") }),
			`node "Sigmoid`},
		{"unsupported op names op and opset", edit(func(m *onnxpb.ModelProto) { node(m, "Sigmoid").OpType = proto.String("Tanh") }),
			`(Tanh, opset 13): unsupported op`},
		{"group", edit(func(m *onnxpb.ModelProto) {
			node(m, "Conv").Attribute = append(node(m, "Conv").Attribute, intAttr("group", 2))
		}), "(Conv, opset 13): group 2: resgo runs group 1 and depthwise"},
		{"dilation", edit(func(m *onnxpb.ModelProto) {
			node(m, "Conv").Attribute = append(node(m, "Conv").Attribute, intsAttr("dilations", 2, 2))
		}), "dilation [2 2]"},
		{"weights do not fit", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer[1] = floatTensor(m.Graph.Initializer[1].GetName(), make([]float32, 6*2*9), 6, 2, 3, 3)
		}), "expect 2 input channels, the input [-1 1 31 29] has 1"},
		{"short tensor", edit(func(m *onnxpb.ModelProto) { m.Graph.Initializer[1].RawData = m.Graph.Initializer[1].RawData[:8] }),
			"holds 8 bytes, want 216"},
		{"other domain", edit(func(m *onnxpb.ModelProto) { node(m, "Relu").Domain = proto.String("com.microsoft") }),
			`domain "com.microsoft"`},
		{"old opset", edit(func(m *onnxpb.ModelProto) { m.OpsetImport[0].Version = proto.Int64(1) }), "opset 1 is outside"},
		{"dangling input", edit(func(m *onnxpb.ModelProto) { node(m, "Relu").Input[0] = "nowhere" }), `input "nowhere" is computed by no earlier node`},
		{"rank-2 input", edit(func(m *onnxpb.ModelProto) { m.Graph.Input[0] = valueInfo("x", -1, 784) }), "has rank 2"},
		{"free height", edit(func(m *onnxpb.ModelProto) { m.Graph.Input[0] = valueInfo("x", -1, 1, -1, 28) }), "no fixed size for dimension 2"},
		{"huge pads", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, int64Tensor("big", []int64{0, 0, 60000, 60000, 0, 0, 0, 0}))
			node(m, "Pad").Input[1] = "big"
		}), "larger than resgo runs"},
	} {
		_, err := Decode("f.onnx", c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if _, err := Load("testdata/none.onnx"); err == nil || !strings.Contains(err.Error(), "onnx testdata/none.onnx: cannot read: no such file") {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzDecode: no input makes Decode panic, and a model that loads runs.
func FuzzDecode(f *testing.F) {
	f.Add(opsGraph())
	if b, err := os.ReadFile("testdata/torch-resnet.onnx"); err == nil {
		f.Add(b[:4096])
	}
	f.Add([]byte{0x08, 0x08})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode("fuzz.onnx", b)
		if err != nil {
			return
		}
		total := 0
		for _, s := range m.steps {
			total += s.size
		}
		in := m.Input[0] * m.Input[1] * m.Input[2]
		if total+in > 1<<22 {
			return // too large to run here
		}
		tp := autograd.NewTape(nil, 0)
		tp.NoGrad = true
		out := m.Forward(tp, tp.Constant(tensor.New(2, m.Input[0], m.Input[1], m.Input[2])), false)
		if s := out.Value.Shape; len(s) != 2 || s[0] != 2 {
			t.Fatalf("output shape %v for 2 images", s)
		}
	})
}
