package onnx

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"google.golang.org/protobuf/proto"

	"resgo/autograd"
	"resgo/internal/oserr"
	"resgo/onnx/internal/onnxpb"
)

// Limits on what Load accepts, so that a forged file cannot ask for more
// memory than a CNN needs.
const (
	// MaxFileSize is the largest file Load reads: 2 GiB, protobuf's limit.
	MaxFileSize = 2 << 30
	// maxElems bounds any one tensor's element count.
	maxElems = 1 << 28
	// maxFolded bounds a constant computed at load (ConstantOfShape): the
	// shape arithmetic folding is for is small.
	maxFolded = 1 << 20
	// maxActivation bounds a computed value's elements per image (64 MB
	// of float32), so that a forged graph cannot make a run take more.
	maxActivation = 1 << 24
)

// Error is what Load returns for a file it cannot run: the file, and the
// node (its name, op and the opset) where the problem is, if any.
type Error struct {
	File    string
	Node    string // empty when the problem is not one node's
	Op      string
	Opset   int64
	Problem string
}

// Error returns "onnx FILE: node NAME (OP, opset N): PROBLEM", or
// "onnx FILE: PROBLEM" for a problem of the whole file.
func (e *Error) Error() string {
	if e.Node == "" && e.Op == "" {
		return "onnx " + e.File + ": " + e.Problem
	}
	return fmt.Sprintf("onnx %s: node %q (%s, opset %d): %s", e.File, e.Node, e.Op, e.Opset, e.Problem)
}

// IsONNX reports whether b, a file's first bytes, starts as an ONNX model
// does: a protobuf whose first field is ir_version (field 1, a small
// varint), which is how every ONNX writer begins. A safetensors file (a
// resgo checkpoint) starts with an 8-byte header length and then '{'.
func IsONNX(b []byte) bool {
	if len(b) > 8 && b[8] == '{' {
		return false
	}
	return len(b) >= 2 && b[0] == 0x08 && b[1] >= 1 && b[1] <= 30
}

// Sniff reports whether the file at path is an ONNX model, by its content
// (IsONNX), whatever its name. A file that cannot be read is not.
func Sniff(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 16)
	n, _ := io.ReadFull(f, b)
	return IsONNX(b[:n])
}

// Load reads an ONNX model file and lays it out for resgo's kernels. Every
// node is checked here, so a file that loads runs: an op outside the
// supported set (docs/onnx.md), an attribute resgo does not implement or
// shapes that do not fit give an *Error naming the node, its op and the
// opset.
func Load(path string) (*Model, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, &Error{File: path, Problem: "cannot read: " + oserr.Cause(err).Error()}
	}
	if fi.Size() > MaxFileSize {
		return nil, &Error{File: path, Problem: fmt.Sprintf("%d bytes is larger than an ONNX file can be (2 GiB)", fi.Size())}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Problem: "cannot read: " + oserr.Cause(err).Error()}
	}
	return Decode(path, b)
}

// Decode is Load for a file's contents; name is used in errors.
func Decode(name string, b []byte) (m *Model, err error) {
	var mp onnxpb.ModelProto
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &mp); err != nil {
		return nil, &Error{File: name, Problem: fmt.Sprintf("not an ONNX model, or truncated: %v", err)}
	}
	if mp.GetIrVersion() < 3 || mp.Graph == nil {
		return nil, &Error{File: name, Problem: "not an ONNX model (no IR version 3 or newer, or no graph)"}
	}
	l := &loader{file: name, vals: map[string]*val{}, uses: map[string]int{}, m: &Model{Path: name, Metadata: map[string]string{}}}
	for _, o := range mp.OpsetImport {
		switch o.GetDomain() {
		case "", "ai.onnx":
			l.opset = o.GetVersion()
		}
	}
	if l.opset == 0 {
		return nil, &Error{File: name, Problem: "the model imports no version of the default ONNX domain"}
	}
	if l.opset < minOpset || l.opset > maxOpset {
		return nil, &Error{File: name, Problem: fmt.Sprintf("opset %d is outside the %d to %d resgo reads", l.opset, minOpset, maxOpset)}
	}
	l.m.Opset = l.opset
	l.m.Producer = mp.GetProducerName()
	if v := mp.GetProducerVersion(); v != "" {
		l.m.Producer += " " + v
	}
	for _, p := range mp.MetadataProps {
		l.m.Metadata[p.GetKey()] = p.GetValue()
	}
	if c, ok := l.m.Metadata["classes"]; ok {
		if err := json.Unmarshal([]byte(c), &l.m.Classes); err != nil {
			return nil, &Error{File: name, Problem: fmt.Sprintf("metadata_props classes is not a JSON list of names: %v", err)}
		}
	}
	if err := l.graph(mp.Graph); err != nil {
		return nil, err
	}
	return l.m, nil
}

// The opsets whose ops' semantics resgo implements for its supported ops.
const (
	minOpset = 7
	maxOpset = 22
)

// val is a value of the graph while it loads: a constant (initializer,
// Constant node or what folds from them) or a value computed at run time.
type val struct {
	shape []int // ONNX's (logical) shape; a computed value's shape[0] is the batch, -1
	// A constant: floats or ints, in logical order.
	f []float32
	i []int64
	// A computed value: its index in Forward's values, how it is stored
	// (nhwc: a rank-4 value stored [N, H, W, C] for its logical [N, C, H,
	// W]; else stored in logical order), and the step computing it.
	id   int
	nhwc bool
	prod *step
	// flat: a [N, C·H·W] Flatten of an nhwc value, stored in (h, w, c)
	// order; hwc is its [H, W, C]. A Gemm or MatMul reading it permutes
	// its weights; anything else gets it transposed (plain).
	flat  bool
	hwc   [3]int
	plain *val
	// padOf is the value a Pad step padded into this one, for folding
	// the padding into a Conv that alone reads it.
	padOf *val
}

func (v *val) konst() bool { return v.id < 0 }

type loader struct {
	file  string
	opset int64
	vals  map[string]*val
	uses  map[string]int    // how many node inputs and graph outputs read each value (by its root name)
	alias map[string]string // a name given by Identity or Dropout -> the name it copies
	m     *Model
	node  *onnxpb.NodeProto
	nid   int
	// tooLarge is set by emit for an output of more than maxActivation
	// values per image.
	tooLarge error
}

// root returns the name that name copies through Identity and Dropout.
func (l *loader) root(name string) string {
	for i := 0; i < 1000; i++ {
		r, ok := l.alias[name]
		if !ok {
			break
		}
		name = r
	}
	return name
}

// used returns how many readers the value named name has.
func (l *loader) used(name string) int { return l.uses[l.root(name)] }

// fail returns an *Error about the current node.
func (l *loader) fail(format string, args ...any) error {
	e := &Error{File: l.file, Problem: fmt.Sprintf(format, args...)}
	if l.node != nil {
		e.Node, e.Op, e.Opset = l.node.GetName(), l.node.GetOpType(), l.opset
		if e.Node == "" {
			e.Node = fmt.Sprintf("#%d", l.nid)
		}
	}
	return e
}

func (l *loader) graph(g *onnxpb.GraphProto) error {
	for _, t := range g.Initializer {
		v, err := l.tensor(t)
		if err != nil {
			return err
		}
		l.vals[t.GetName()] = v
	}
	// The image input: the one graph input that no initializer gives.
	var input *onnxpb.ValueInfoProto
	for _, in := range g.Input {
		if _, ok := l.vals[in.GetName()]; ok {
			continue
		}
		if input != nil {
			return l.fail("the graph has several inputs (%q and %q); resgo runs one image input", input.GetName(), in.GetName())
		}
		input = in
	}
	if input == nil {
		return l.fail("the graph has no input")
	}
	tt := input.GetType().GetTensorType()
	if tt == nil || tt.GetElemType() != int32(onnxpb.TensorProto_FLOAT) {
		return l.fail("input %q is not a float32 tensor", input.GetName())
	}
	dims := tt.GetShape().GetDim()
	if len(dims) != 4 {
		return l.fail("input %q has rank %d; resgo runs images [N, C, H, W]", input.GetName(), len(dims))
	}
	var chw [3]int
	for i, d := range dims[1:] {
		chw[i] = int(d.GetDimValue())
		if chw[i] < 1 || chw[i] > 1<<16 {
			return l.fail("input %q has no fixed size for dimension %d (%v); resgo needs C, H and W", input.GetName(), i+1, d)
		}
	}
	if chw[0]*chw[1]*chw[2] > maxActivation {
		return l.fail("input %q of %d×%d×%d values per image is larger than resgo runs", input.GetName(), chw[0], chw[1], chw[2])
	}
	l.m.Input = []int{chw[1], chw[2], chw[0]}
	l.vals[input.GetName()] = &val{shape: []int{-1, chw[0], chw[1], chw[2]}, id: 0, nhwc: true}
	l.m.nvals = 1
	// Uses of each value, counted through the names Identity and Dropout
	// give it, for the fusions (a layer is fused only into its one reader).
	l.alias = map[string]string{}
	for _, n := range g.Node {
		if (n.GetOpType() == "Identity" || n.GetOpType() == "Dropout") && len(n.Input) > 0 && len(n.Output) > 0 {
			l.alias[n.Output[0]] = l.root(n.Input[0])
			continue
		}
		for _, s := range n.Input {
			l.uses[l.root(s)]++
		}
	}
	if len(g.Output) == 0 {
		return l.fail("the graph has no output")
	}
	for _, o := range g.Output {
		l.uses[l.root(o.GetName())]++
	}
	for i, n := range g.Node {
		l.node, l.nid = n, i
		if err := l.lower(n); err != nil {
			return err
		}
		if l.tooLarge != nil {
			return l.fail("%v", l.tooLarge)
		}
	}
	l.node = nil
	out := g.Output[0].GetName()
	v, ok := l.vals[out]
	if !ok {
		return l.fail("no node computes the output %q", out)
	}
	// resgo's models return logits: a final Softmax is left to the caller.
	if v.prod != nil && v.prod.kind == stepSoftmax && len(l.m.steps) > 0 && l.m.steps[len(l.m.steps)-1] == v.prod {
		l.m.steps = l.m.steps[:len(l.m.steps)-1]
		v = &val{shape: v.shape, id: v.prod.in[0]}
	}
	if v.konst() {
		return l.fail("the output %q is a constant", out)
	}
	v = l.unflat(v)
	if len(v.shape) != 2 {
		return l.fail("the output %q has shape %v; resgo wants logits [N, classes]", out, v.shape)
	}
	l.m.output = v.id
	// Liveness: after a step whose output is the only value still to be
	// read, the tape may drop everything else.
	made := map[int]int{0: -1} // value -> the step computing it
	last := map[int]int{}      // value -> the last step reading it
	for i, s := range l.m.steps {
		made[s.out] = i
		for _, in := range s.in {
			last[in] = i
		}
	}
	last[l.m.output] = len(l.m.steps)
	for i, s := range l.m.steps {
		s.release = true
		for id, j := range last {
			if j > i && made[id] <= i && id != s.out {
				s.release = false
				break
			}
		}
	}
	seen := map[*autograd.Param]bool{}
	for _, s := range l.m.steps {
		for _, p := range []*autograd.Param{s.w, s.b, s.mean, s.variance} {
			if p != nil && !seen[p] {
				seen[p] = true
				l.m.params = append(l.m.params, p)
			}
		}
	}
	return nil
}

// tensor decodes an initializer or a Constant's value.
func (l *loader) tensor(t *onnxpb.TensorProto) (*val, error) {
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(t.ExternalData) > 0 {
		return nil, l.fail("tensor %q is stored outside the file (external data), which resgo does not read", t.GetName())
	}
	if t.Segment != nil {
		return nil, l.fail("tensor %q is segmented, which resgo does not read", t.GetName())
	}
	n := 1
	shape := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		if d < 0 || d > maxElems {
			return nil, l.fail("tensor %q has dimension %d", t.GetName(), d)
		}
		shape[i] = int(d)
		n *= int(d)
		if n > maxElems {
			return nil, l.fail("tensor %q of shape %v is too large", t.GetName(), t.Dims)
		}
	}
	v := &val{shape: shape, id: -1}
	raw := t.RawData
	switch dt := onnxpb.TensorProto_DataType(t.GetDataType()); dt {
	case onnxpb.TensorProto_FLOAT:
		if raw != nil {
			if len(raw) != 4*n {
				return nil, l.fail("tensor %q of shape %v holds %d bytes, want %d", t.GetName(), shape, len(raw), 4*n)
			}
			v.f = make([]float32, n)
			for i := range v.f {
				v.f[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		} else {
			if len(t.FloatData) != n {
				return nil, l.fail("tensor %q of shape %v holds %d values, want %d", t.GetName(), shape, len(t.FloatData), n)
			}
			v.f = slices.Clone(t.FloatData)
		}
	case onnxpb.TensorProto_INT64, onnxpb.TensorProto_INT32:
		size := 8
		if dt == onnxpb.TensorProto_INT32 {
			size = 4
		}
		switch {
		case raw != nil && len(raw) != size*n:
			return nil, l.fail("tensor %q of shape %v holds %d bytes, want %d", t.GetName(), shape, len(raw), size*n)
		case raw == nil && dt == onnxpb.TensorProto_INT64 && len(t.Int64Data) != n:
			return nil, l.fail("tensor %q of shape %v holds %d values, want %d", t.GetName(), shape, len(t.Int64Data), n)
		case raw == nil && dt == onnxpb.TensorProto_INT32 && len(t.Int32Data) != n:
			return nil, l.fail("tensor %q of shape %v holds %d values, want %d", t.GetName(), shape, len(t.Int32Data), n)
		}
		v.i = make([]int64, n)
		switch {
		case raw != nil:
			for i := range v.i {
				if size == 8 {
					v.i[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
				} else {
					v.i[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
				}
			}
		case dt == onnxpb.TensorProto_INT64:
			copy(v.i, t.Int64Data)
		default:
			for i, x := range t.Int32Data {
				v.i[i] = int64(x)
			}
		}
	default:
		return nil, l.fail("tensor %q has data type %v; resgo reads float32, int64 and int32", t.GetName(), dt)
	}
	for _, x := range v.f {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, l.fail("tensor %q holds a non-finite value", t.GetName())
		}
	}
	return v, nil
}

// attribute lookups on the current node.
func (l *loader) attr(name string) *onnxpb.AttributeProto {
	for _, a := range l.node.Attribute {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

func (l *loader) attrInt(name string, def int64) int64 {
	if a := l.attr(name); a != nil {
		return a.GetI()
	}
	return def
}

func (l *loader) attrFloat(name string, def float32) float32 {
	if a := l.attr(name); a != nil {
		return a.GetF()
	}
	return def
}

func (l *loader) attrInts(name string) []int64 {
	if a := l.attr(name); a != nil {
		return a.Ints
	}
	return nil
}

func (l *loader) attrString(name, def string) string {
	if a := l.attr(name); a != nil {
		return string(a.GetS())
	}
	return def
}
