package onnx

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"google.golang.org/protobuf/proto"

	"resgo/autograd"
	"resgo/internal/oserr"
	"resgo/models"
	"resgo/onnx/internal/onnxpb"
	"resgo/tensor"
)

// The versions resgo writes (see docs/onnx.md): ONNX IR version 8 (ONNX
// 1.12) and the default domain's opset 13, which every current runtime
// reads.
const (
	IRVersion = 8
	Opset     = 13
)

// ExportOptions describe what Export writes besides the network.
type ExportOptions struct {
	// Channels, Height and Width are the input image's; 0 means MNIST's
	// 1, 28, 28.
	Channels, Height, Width int
	// Classes names the outputs, in order (empty: "0", "1", ...); they go
	// into metadata_props as a JSON list under "classes".
	Classes []string
	// Metadata is written into metadata_props as is (model name, epoch,
	// accuracy, ...).
	Metadata map[string]string
	// Name is the graph's name (empty: "resgo").
	Name string
}

// Export writes m as an ONNX model in inference mode: one input "input"
// [N, C, H, W] float32 with a free batch dimension N, and two outputs,
// "logits" [N, classes] and "probabilities" (their softmax).
//
// The network is read from the autograd trace of one inference pass, so
// any model built from the ops that Export knows (Conv2D, Dense,
// BatchNorm, ReLU, Add, MaxPool2D, AvgPool2D, GlobalAvgPool, Concat,
// Flatten, Pad2D) exports without code of its own. Weights are converted from resgo's layouts (HWIO kernels over
// NHWC activations) to ONNX's (OIHW over NCHW) once, here; a Dense layer
// after a Flatten gets its rows permuted from (h, w, c) to (c, h, w) order
// so that the file needs no transposes at run time.
func Export(w io.Writer, m models.Model, o ExportOptions) error {
	mp, err := build(m, o)
	if err != nil {
		return err
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		return fmt.Errorf("onnx: encoding the model: %v", err)
	}
	_, err = w.Write(b)
	return err
}

// ExportFile writes m as Export does into path (mode 0644), through a
// temporary file synced and renamed into place, so that a failed write
// leaves no half-written file.
func ExportFile(path string, m models.Model, o ExportOptions) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("onnx: writing %s: %v", path, oserr.Cause(err))
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = Export(f, m, o); err != nil {
		return fmt.Errorf("onnx: writing %s: %v", path, oserr.Cause(err))
	}
	// CreateTemp's 0600 would leave a file meant for sharing readable by
	// its owner alone: 0644, as checkpoints get. Synced before the rename,
	// so that a crash leaves the old file or the whole new one.
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("onnx: writing %s: %v", path, oserr.Cause(err))
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("onnx: writing %s: %v", path, oserr.Cause(err))
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("onnx: writing %s: %v", path, oserr.Cause(err))
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("onnx: writing %s: %v", path, oserr.Cause(err))
	}
	return nil
}

// exporter builds a graph from a trace.
type exporter struct {
	g      *onnxpb.GraphProto
	names  map[*tensor.Tensor]string // a traced value's name in the graph
	params map[*tensor.Tensor]*autograd.Param
	uses   map[*tensor.Tensor][]int  // the ops (trace indices) reading a value
	chw    map[*tensor.Tensor][3]int // flattened values in (c, h, w) order: their [H, W, C]
	done   map[string]bool           // initializers written
	n      int
}

func build(m models.Model, o ExportOptions) (mp *onnxpb.ModelProto, err error) {
	C, H, W := o.Channels, o.Height, o.Width
	if C == 0 && H == 0 && W == 0 {
		C, H, W = 1, 28, 28
	}
	if C <= 0 || H <= 0 || W <= 0 {
		return nil, fmt.Errorf("onnx: export: input %d×%d×%d is not an image shape", C, H, W)
	}
	// One inference pass on a batch of one, recorded.
	tp := autograd.NewTape(nil, 0)
	x := tensor.New(1, H, W, C)
	var logits *autograd.Var
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("onnx: export: the model does not run on a %d×%d×%d input: %v", C, H, W, r)
			}
		}()
		logits = m.Forward(tp, tp.TraceInput(x), false)
	}()
	if err != nil {
		return nil, err
	}
	if s := logits.Value.Shape; len(s) != 2 || s[0] != 1 {
		return nil, fmt.Errorf("onnx: export: the model's output %v is not logits [N, classes]", s)
	}
	ops := tp.Trace()
	e := &exporter{
		g:      &onnxpb.GraphProto{Name: proto.String(cmp(o.Name, "resgo"))},
		names:  map[*tensor.Tensor]string{x: "input"},
		params: map[*tensor.Tensor]*autograd.Param{},
		uses:   map[*tensor.Tensor][]int{},
		chw:    map[*tensor.Tensor][3]int{},
		done:   map[string]bool{},
	}
	for _, p := range m.Params() {
		e.params[p.Value] = p
	}
	for i, op := range ops {
		for _, in := range op.Inputs {
			e.uses[in] = append(e.uses[in], i)
		}
	}
	e.uses[logits.Value] = append(e.uses[logits.Value], -1)
	for i, op := range ops {
		if err := e.op(ops, i, op); err != nil {
			return nil, fmt.Errorf("onnx: export: op %d (%s): %v", i+1, op.Op, err)
		}
	}
	out, ok := e.names[logits.Value]
	if !ok || out == "input" {
		return nil, fmt.Errorf("onnx: export: the model's output is not computed by a traced op")
	}
	if _, flat := e.chw[logits.Value]; flat {
		return nil, fmt.Errorf("onnx: export: the model ends in a Flatten")
	}
	// Name the last value "logits" where it is produced.
	for _, n := range e.g.Node {
		for j, s := range n.Output {
			if s == out {
				n.Output[j] = "logits"
			}
		}
		for j, s := range n.Input {
			if s == out {
				n.Input[j] = "logits"
			}
		}
	}
	classes := logits.Value.Shape[1]
	e.node("Softmax", []string{"logits"}, []string{"probabilities"}, intAttr("axis", 1))
	e.g.Input = []*onnxpb.ValueInfoProto{valueInfo("input", -1, C, H, W)}
	e.g.Output = []*onnxpb.ValueInfoProto{valueInfo("logits", -1, classes), valueInfo("probabilities", -1, classes)}

	names := o.Classes
	if len(names) == 0 {
		for i := range classes {
			names = append(names, strconv.Itoa(i))
		}
	}
	if len(names) != classes {
		return nil, fmt.Errorf("onnx: export: %d class names for a model of %d classes", len(names), classes)
	}
	cj, _ := json.Marshal(names)
	meta := map[string]string{"classes": string(cj)}
	for k, v := range o.Metadata {
		meta[k] = v
	}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mp = &onnxpb.ModelProto{
		IrVersion:       proto.Int64(IRVersion),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		ProducerName:    proto.String("resgo"),
		ProducerVersion: proto.String("1"),
		Graph:           e.g,
	}
	for _, k := range keys {
		mp.MetadataProps = append(mp.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(meta[k])})
	}
	return mp, nil
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// op adds the nodes of trace op i.
func (e *exporter) op(ops []autograd.OpInfo, i int, op autograd.OpInfo) error {
	in := func(j int) (string, error) {
		if j >= len(op.Inputs) {
			return "", fmt.Errorf("has no input %d", j)
		}
		s, ok := e.names[op.Inputs[j]]
		if !ok {
			return "", fmt.Errorf("reads a value that no earlier op computed")
		}
		if _, flat := e.chw[op.Inputs[j]]; flat && op.Op != "Dense" {
			return "", fmt.Errorf("reads a flattened value; only Dense may")
		}
		return s, nil
	}
	out := e.value(op.Output, op.Op)
	x, err := in(0)
	if err != nil {
		return err
	}
	switch op.Op {
	case "Conv2D":
		k := op.Inputs[1]
		ks := k.Shape // HWIO
		wname, err := e.param(k, func(p *autograd.Param) *onnxpb.TensorProto {
			return floatTensor(p.Name, hwioToOIHW(k), int64(ks[3]), int64(ks[2]), int64(ks[0]), int64(ks[1]))
		})
		if err != nil {
			return err
		}
		inputs := []string{x, wname}
		if len(op.Inputs) > 2 {
			b, err := e.vector(op.Inputs[2])
			if err != nil {
				return err
			}
			inputs = append(inputs, b)
		}
		pads := op.Pads
		// A zero-padding read only by this convolution becomes its pads.
		if src, p, ok := e.foldablePad(ops, op.Inputs[0]); ok {
			inputs[0] = src
			for j := range pads {
				pads[j] += p[j]
			}
		}
		e.node("Conv", inputs, []string{out},
			intsAttr("kernel_shape", ks[0], ks[1]), intsAttr("strides", op.Stride, op.Stride),
			intsAttr("pads", pads[0], pads[1], pads[2], pads[3]), intsAttr("dilations", 1, 1), intAttr("group", 1))
	case "Dense":
		k := op.Inputs[1]
		ks := k.Shape // [In, Out]
		var name string
		if hwc, ok := e.chw[op.Inputs[0]]; ok {
			name, err = e.param(k, func(p *autograd.Param) *onnxpb.TensorProto {
				return floatTensor(p.Name, rowsToCHW(k, hwc), int64(ks[0]), int64(ks[1]))
			})
		} else {
			name, err = e.param(k, func(p *autograd.Param) *onnxpb.TensorProto {
				return floatTensor(p.Name, k.Data, int64(ks[0]), int64(ks[1]))
			})
		}
		if err != nil {
			return err
		}
		inputs := []string{x, name}
		if len(op.Inputs) > 2 {
			b, err := e.vector(op.Inputs[2])
			if err != nil {
				return err
			}
			inputs = append(inputs, b)
		}
		e.node("Gemm", inputs, []string{out})
	case "BatchNorm":
		if len(op.Inputs) != 3 || op.MovingMean == nil || op.MovingVar == nil {
			return fmt.Errorf("the trace lacks its parameters or moving statistics")
		}
		inputs := []string{x}
		for _, t := range []*tensor.Tensor{op.Inputs[1], op.Inputs[2], op.MovingMean, op.MovingVar} {
			s, err := e.vector(t)
			if err != nil {
				return err
			}
			inputs = append(inputs, s)
		}
		bnOut := out
		if op.FusedReLU {
			bnOut = e.fresh(out + ".bn")
		}
		e.node("BatchNormalization", inputs, []string{bnOut}, floatAttr("epsilon", op.Epsilon))
		if op.FusedReLU {
			e.node("Relu", []string{bnOut}, []string{out})
		}
	case "ReLU":
		e.node("Relu", []string{x}, []string{out})
	case "Add":
		y, err := in(1)
		if err != nil {
			return err
		}
		e.node("Add", []string{x, y}, []string{out})
	case "MaxPool2D", "AvgPool2D":
		// The positions a 'same' window overhangs count for nothing, as
		// ONNX's pads in a MaxPool and in an AveragePool without
		// count_include_pad.
		k, st, p := op.Window, op.Strides, op.Pads
		if k == [2]int{} {
			k, st = [2]int{2, 2}, [2]int{2, 2}
		}
		name := map[string]string{"MaxPool2D": "MaxPool", "AvgPool2D": "AveragePool"}[op.Op]
		e.node(name, []string{x}, []string{out}, intsAttr("kernel_shape", k[0], k[1]), intsAttr("strides", st[0], st[1]),
			intsAttr("pads", p[0], p[1], p[2], p[3]))
	case "GlobalAvgPool":
		g := e.fresh(out + ".nchw11")
		e.node("GlobalAveragePool", []string{x}, []string{g})
		e.node("Flatten", []string{g}, []string{out}, intAttr("axis", 1))
	case "Concat":
		r := len(op.Output.Shape)
		if r != 4 && r != 2 {
			return fmt.Errorf("concatenates rank-%d values; resgo exports channels of images or columns of matrices", r)
		}
		var ins []string
		for j := range op.Inputs {
			s, err := in(j)
			if err != nil {
				return err
			}
			ins = append(ins, s)
		}
		e.node("Concat", ins, []string{out}, intAttr("axis", 1)) // NHWC's last axis is NCHW's 1
	case "Flatten":
		s := op.Inputs[0].Shape
		if len(s) != 4 {
			e.node("Flatten", []string{x}, []string{out}, intAttr("axis", 1))
			break
		}
		// Flattened in (c, h, w) order as ONNX does; every Dense reading it
		// has its rows permuted to match. Another reader gets the NHWC
		// order through a transpose.
		allDense := true
		for _, u := range e.uses[op.Output] {
			if u < 0 || ops[u].Op != "Dense" || ops[u].Inputs[0] != op.Output {
				allDense = false
			}
		}
		if allDense {
			e.node("Flatten", []string{x}, []string{out}, intAttr("axis", 1))
			e.chw[op.Output] = [3]int{s[1], s[2], s[3]}
			break
		}
		t := e.fresh(out + ".nhwc")
		e.node("Transpose", []string{x}, []string{t}, intsAttr("perm", 0, 2, 3, 1))
		e.node("Flatten", []string{t}, []string{out}, intAttr("axis", 1))
	case "Reshape":
		is, os := op.Inputs[0].Shape, op.Output.Shape
		if len(is) == 4 || len(os) == 4 {
			return fmt.Errorf("reshaping %v to %v depends on the layout; only Flatten exports", is, os)
		}
		shape := []int64{0}
		for _, d := range os[1:] {
			shape = append(shape, int64(d))
		}
		c := e.fresh(out + ".shape")
		e.g.Initializer = append(e.g.Initializer, int64Tensor(c, shape))
		e.node("Reshape", []string{x, c}, []string{out})
	case "Pad2D":
		if _, _, ok := e.foldablePad(ops, op.Output); ok {
			break // into the convolution that reads it
		}
		p := op.Pads
		c := e.fresh(out + ".pads")
		e.g.Initializer = append(e.g.Initializer, int64Tensor(c, []int64{0, 0, int64(p[0]), int64(p[1]), 0, 0, int64(p[2]), int64(p[3])}))
		e.node("Pad", []string{x, c}, []string{out}, stringAttr("mode", "constant"))
	default:
		return fmt.Errorf("has no ONNX form in resgo's exporter (see docs/onnx.md)")
	}
	return nil
}

// foldablePad reports whether v is the output of a Pad2D that a single
// Conv2D reads (as its input), giving the padded value's source and pads.
func (e *exporter) foldablePad(ops []autograd.OpInfo, v *tensor.Tensor) (string, [4]int, bool) {
	us := e.uses[v]
	if len(us) != 1 || us[0] < 0 || ops[us[0]].Op != "Conv2D" || ops[us[0]].Inputs[0] != v {
		return "", [4]int{}, false
	}
	for _, op := range ops {
		if op.Output == v && op.Op == "Pad2D" {
			src, ok := e.names[op.Inputs[0]]
			return src, op.Pads, ok
		}
	}
	return "", [4]int{}, false
}

// value names a traced op's output.
func (e *exporter) value(t *tensor.Tensor, op string) string {
	e.n++
	s := fmt.Sprintf("%s_%d", op, e.n)
	e.names[t] = s
	return s
}

// fresh returns a name no value has.
func (e *exporter) fresh(prefix string) string {
	e.n++
	return fmt.Sprintf("%s_%d", prefix, e.n)
}

// param adds a parameter's initializer once, built by mk, and returns its
// name.
func (e *exporter) param(t *tensor.Tensor, mk func(*autograd.Param) *onnxpb.TensorProto) (string, error) {
	p, ok := e.params[t]
	if !ok {
		return "", fmt.Errorf("a weight of shape %v is not among the model's parameters", t.Shape)
	}
	if !e.done[p.Name] {
		e.g.Initializer = append(e.g.Initializer, mk(p))
		e.done[p.Name] = true
	}
	return p.Name, nil
}

// vector adds a 1-D parameter (a bias, BatchNorm's scale, shift and
// statistics) as is.
func (e *exporter) vector(t *tensor.Tensor) (string, error) {
	return e.param(t, func(p *autograd.Param) *onnxpb.TensorProto {
		return floatTensor(p.Name, t.Data, int64(t.Len()))
	})
}

func (e *exporter) node(op string, in, out []string, attrs ...*onnxpb.AttributeProto) {
	e.g.Node = append(e.g.Node, &onnxpb.NodeProto{
		Name: proto.String(fmt.Sprintf("%s_%d", op, len(e.g.Node))), OpType: proto.String(op),
		Input: in, Output: out, Attribute: attrs,
	})
}

// hwioToOIHW returns a kernel [KH, KW, C, Cout] in ONNX's [Cout, C, KH, KW].
func hwioToOIHW(k *tensor.Tensor) []float32 {
	KH, KW, C, O := k.Shape[0], k.Shape[1], k.Shape[2], k.Shape[3]
	w := make([]float32, len(k.Data))
	for h := range KH {
		for x := range KW {
			for c := range C {
				for o := range O {
					w[((o*C+c)*KH+h)*KW+x] = k.Data[((h*KW+x)*C+c)*O+o]
				}
			}
		}
	}
	return w
}

// rowsToCHW returns a Dense kernel [H·W·C, Out] whose rows follow an NHWC
// flatten with its rows in the (c, h, w) order of an NCHW flatten.
func rowsToCHW(k *tensor.Tensor, hwc [3]int) []float32 {
	H, W, C := hwc[0], hwc[1], hwc[2]
	O := k.Shape[1]
	w := make([]float32, len(k.Data))
	for h := range H {
		for x := range W {
			for c := range C {
				copy(w[((c*H+h)*W+x)*O:][:O], k.Data[((h*W+x)*C+c)*O:][:O])
			}
		}
	}
	return w
}

func floatTensor(name string, data []float32, dims ...int64) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: dims,
		DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: raw}
}

func int64Tensor(name string, v []int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: []int64{int64(len(v))},
		DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Int64Data: v}
}

// valueInfo describes a float tensor; a negative dimension is the free
// batch dimension "N".
func valueInfo(name string, dims ...int) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		if d < 0 {
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}})
		} else {
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		}
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape}}}}
}

func intAttr(name string, v int) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(v))}
}

func intsAttr(name string, v ...int) *onnxpb.AttributeProto {
	a := &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum()}
	for _, x := range v {
		a.Ints = append(a.Ints, int64(x))
	}
	return a
}

func floatAttr(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func stringAttr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}
