package onnx

import (
	"testing"

	"math/rand/v2"

	"google.golang.org/protobuf/proto"

	"resgo/onnx/internal/onnxpb"
)

// OpsGraph is opsGraph for the tests of package onnx_test.
var OpsGraph = opsGraph

// graphBuilder writes small ONNX graphs for tests.
type graphBuilder struct {
	g   *onnxpb.GraphProto
	rng *rand.Rand
	n   int
}

func newGraph(c, h, w int) *graphBuilder {
	return &graphBuilder{
		g:   &onnxpb.GraphProto{Name: proto.String("test"), Input: []*onnxpb.ValueInfoProto{valueInfo("x", -1, c, h, w)}},
		rng: rand.New(rand.NewPCG(1, 2)),
	}
}

// weights adds a random float initializer of the given shape, centred
// on mean, and returns its name.
func (b *graphBuilder) weights(mean, spread float32, dims ...int64) string {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = mean + spread*(2*b.rng.Float32()-1)
	}
	b.n++
	name := "w" + itoa(b.n)
	b.g.Initializer = append(b.g.Initializer, floatTensor(name, v, dims...))
	return name
}

func (b *graphBuilder) ints(v ...int64) string {
	b.n++
	name := "i" + itoa(b.n)
	b.g.Initializer = append(b.g.Initializer, int64Tensor(name, v))
	return name
}

// op adds a node and returns its (first) output's name.
func (b *graphBuilder) op(op string, in []string, attrs ...*onnxpb.AttributeProto) string {
	b.n++
	out := op + itoa(b.n)
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{Name: proto.String(out), OpType: proto.String(op), Input: in, Output: []string{out}, Attribute: attrs})
	return out
}

// model finishes the graph with output out of k classes.
func (b *graphBuilder) model(out string, k int) []byte {
	b.g.Node[len(b.g.Node)-1].Output[0] = "logits"
	for _, n := range b.g.Node {
		for i, s := range n.Input {
			if s == out {
				n.Input[i] = "logits"
			}
		}
	}
	b.g.Output = []*onnxpb.ValueInfoProto{valueInfo("logits", -1, k)}
	m := &onnxpb.ModelProto{IrVersion: proto.Int64(IRVersion), Graph: b.g,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}}}
	bs, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return bs
}

func itoa(i int) string {
	s := ""
	for {
		s = string(rune('0'+i%10)) + s
		i /= 10
		if i == 0 {
			return s
		}
	}
}

// opsGraph is a network on [N, 1, 28, 28] that uses every op and attribute
// Load supports, each fusion included, ending in 10 logits.
func opsGraph() []byte {
	b := newGraph(1, 28, 28)
	x := b.op("Pad", []string{"x", b.ints(0, 0, 1, 1, 0, 0, 2, 0)}, stringAttr("mode", "constant")) // 1×31×29
	// Conv 3×3 stride 2 with uneven pads and no bias, BatchNorm folded in, ReLU6.
	x = b.op("Conv", []string{x, b.weights(0, 0.5, 6, 1, 3, 3)}, intsAttr("strides", 2, 2), intsAttr("pads", 1, 0, 0, 1)) // 6×16×15
	x = b.op("BatchNormalization", []string{x, b.weights(1, 0.3, 6), b.weights(0, 0.3, 6), b.weights(0, 0.3, 6), b.weights(1, 0.5, 6)}, floatAttr("epsilon", 1e-3))
	x = b.op("Clip", []string{x, b.scalar(0), b.scalar(6)})
	// Two branches, concatenated: 1×1 Conv+ReLU (fused) and a 3×3 max pool.
	y := b.op("Relu", []string{b.op("Conv", []string{x, b.weights(0, 0.5, 4, 6, 1, 1), b.weights(0, 0.1, 4)})})
	z := b.op("MaxPool", []string{x}, intsAttr("kernel_shape", 3, 3), intsAttr("pads", 1, 1, 1, 1))
	x = b.op("Concat", []string{y, z}, intAttr("axis", 1)) // 10×16×15
	// A depthwise 3×3 convolution, BatchNorm folded into it, ReLU fused.
	x = b.op("Conv", []string{x, b.weights(0, 0.5, 10, 1, 3, 3), b.weights(0, 0.1, 10)}, intAttr("group", 10), intsAttr("pads", 1, 1, 1, 1))
	x = b.op("BatchNormalization", []string{x, b.weights(1, 0.3, 10), b.weights(0, 0.3, 10), b.weights(0, 0.3, 10), b.weights(1, 0.5, 10)})
	x = b.op("Relu", []string{x})
	// Constants per channel and scalar (not foldable after Concat), LeakyReLU.
	x = b.op("Mul", []string{x, b.weights(1, 0.5, 10, 1, 1)})
	x = b.op("Add", []string{b.weights(0, 0.5, 1), x})
	x = b.op("LeakyRelu", []string{x}, floatAttr("alpha", 0.1))
	// SAME_UPPER stride-2 Conv with a constant Add folded into its bias.
	x = b.op("Conv", []string{x, b.weights(0, 0.3, 8, 10, 3, 3), b.weights(0, 0.1, 8)}, intsAttr("strides", 2, 2), stringAttr("auto_pad", "SAME_UPPER")) // 8×8×8
	x = b.op("Sub", []string{x, b.weights(0, 0.2, 1, 8, 1, 1)})
	x = b.op("BatchNormalization", []string{x, b.weights(1, 0.3, 8), b.weights(0, 0.3, 8), b.weights(0, 0.3, 8), b.weights(1, 0.5, 8)})
	x = b.op("Relu", []string{x})
	x = b.op("Conv", []string{x, b.weights(0, 0.3, 8, 8, 3, 3)}, intsAttr("pads", 1, 1, 1, 1))
	x = b.op("Add", []string{x, b.op("Sigmoid", []string{x})})
	x = b.op("AveragePool", []string{x}, intsAttr("kernel_shape", 3, 3), intsAttr("strides", 2, 2), intsAttr("pads", 1, 1, 1, 1))       // 8×4×4
	x = b.op("MaxPool", []string{x}, intsAttr("kernel_shape", 2, 2), intsAttr("strides", 2, 2))                                         // 8×2×2
	x = b.op("AveragePool", []string{x}, intsAttr("kernel_shape", 2, 2), intsAttr("pads", 1, 1, 0, 0), intAttr("count_include_pad", 1)) // 8×2×2
	// Two heads: global average, and an NHWC flatten through MatMul.
	g := b.op("Flatten", []string{b.op("GlobalAveragePool", []string{x})})
	f := b.op("Reshape", []string{b.op("Transpose", []string{x}, intsAttr("perm", 0, 2, 3, 1)), b.ints(0, -1)})
	f = b.op("Add", []string{b.op("MatMul", []string{f, b.weights(0, 0.3, 32, 12)}), b.weights(0, 0.1, 12)})
	c := b.op("Flatten", []string{x}) // NCHW order, read by a Gemm
	c = b.op("Gemm", []string{c, b.weights(0, 0.3, 5, 32), b.weights(0, 0.1, 5)}, intAttr("transB", 1), floatAttr("alpha", 0.5), floatAttr("beta", 2))
	x = b.op("Concat", []string{g, f, c}, intAttr("axis", 1)) // 25
	x = b.op("Dropout", []string{b.op("Identity", []string{x})})
	x = b.op("Gemm", []string{x, b.weights(0, 0.3, 25, 10), b.weights(0, 0.1, 10)})
	return b.model(x, 10)
}

func (b *graphBuilder) scalar(v float32) string {
	b.n++
	name := "s" + itoa(b.n)
	t := floatTensor(name, []float32{v})
	b.g.Initializer = append(b.g.Initializer, t)
	return name
}

// TestFusions: loading the ops graph folds its Pad, BatchNorms and
// constant Add/Sub into the convolutions after and before them, fuses
// every ReLU, and runs
// its NHWC flatten and its NCHW flatten into a Gemm without a transpose.
func TestFusions(t *testing.T) {
	m, err := Decode("ops.onnx", opsGraph())
	if err != nil {
		t.Fatal(err)
	}
	count := map[stepKind]int{}
	relus := 0
	for _, s := range m.steps {
		count[s.kind]++
		if s.relu {
			relus++
		}
	}
	want := map[stepKind]int{stepDepthwise: 1, stepPad: 0, stepConv: 4, stepBatchNorm: 2, stepReLU: 0, stepTranspose: 0, stepDense: 3, stepMaxPool2: 1, stepPool: 3}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%d steps of kind %d, want %d (all: %v)", count[k], k, n, count)
		}
	}
	if relus != 3 {
		t.Errorf("%d fused ReLUs, want 3", relus)
	}
}
