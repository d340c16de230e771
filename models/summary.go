package models

import (
	"fmt"
	"io"
	"strings"

	"resgo/autograd"
	"resgo/compute"
	"resgo/tensor"
)

// LayerSummary is one row of a model summary: an op of the forward pass
// together with the parameters it uses.
type LayerSummary struct {
	// Name is the layer's name, taken from its parameters' names
	// ("res1.0.conv1" for "res1.0.conv1.kernel"), or for a layer without
	// parameters made Keras-style from its type ("max_pool2d_1").
	Name string
	// Type is the op, with a ReLU that follows it directly folded in:
	// "Conv2D+ReLU", "BatchNorm+ReLU", "Dense", "MaxPool2D", ...
	Type string
	// Output is the shape of the output for one image (no batch axis).
	Output []int
	// Trainable and NonTrainable count the parameter values the layer
	// holds.
	Trainable, NonTrainable int
	// MACs is the multiply-adds per image (convolutions and dense layers
	// only).
	MACs int64
}

// Summary describes a model as Keras's model.summary() does: its layers in
// the order the forward pass runs them, and the totals.
type Summary struct {
	Model  string
	Input  []int // one image's shape, [H, W, C]
	Layers []LayerSummary
	// Trainable and NonTrainable count every parameter value of the model
	// (as CountParams); MACs sums the layers' multiply-adds per image.
	Trainable, NonTrainable int
	MACs                    int64
}

// Summarize traces one forward pass of a single zero image of shape input
// ([H, W, C]) through m in training mode (so that dropout shows) and
// describes every op in it. m's parameters are left as they were: the
// BatchNorm moving statistics that the pass moves are put back. name is
// the model's name for the title.
func Summarize(name string, m Model, input []int) (s *Summary, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("summary of %s: %v", name, r)
		}
	}()
	params := m.Params()
	byValue := make(map[*tensor.Tensor]int, len(params))
	var saved [][]float32
	for i, p := range params {
		byValue[p.Value] = i
		if !p.Trainable {
			saved = append(saved, append([]float32(nil), p.Value.Data...))
		}
	}
	defer func() {
		j := 0
		for _, p := range params {
			if !p.Trainable {
				copy(p.Value.Data, saved[j])
				j++
			}
		}
	}()

	pool := compute.NewPool(1)
	defer pool.Close()
	t := autograd.NewTape(pool, 1)
	x := tensor.New(append([]int{1}, input...)...)
	m.Forward(t, t.TraceInput(x), true)

	s = &Summary{Model: name, Input: append([]int(nil), input...)}
	s.Layers = append(s.Layers, LayerSummary{Name: "input", Type: "InputLayer", Output: s.Input})
	used := make([]bool, len(params))
	counts := map[string]int{}
	var prev *autograd.OpInfo
	ops := t.Trace()
	for i := range ops {
		op := &ops[i]
		// A ReLU applied straight to the previous op's output is that
		// layer's activation, as in Keras's Conv2D(activation='relu').
		if op.Op == "ReLU" && prev != nil && op.Inputs[0] == prev.Output && len(s.Layers) > 1 &&
			(prev.Op == "Conv2D" || prev.Op == "Dense" || prev.Op == "BatchNorm") {
			s.Layers[len(s.Layers)-1].Type += "+ReLU"
			prev = op
			continue
		}
		l := LayerSummary{Type: op.Op, Output: append([]int(nil), op.Output.Shape[1:]...), MACs: op.MACs}
		if op.FusedReLU {
			l.Type += "+ReLU"
		}
		for _, in := range op.Inputs {
			j, ok := byValue[in]
			if !ok || used[j] {
				continue
			}
			used[j] = true
			p := params[j]
			if l.Name == "" {
				l.Name = p.Name
				if k := strings.LastIndexByte(p.Name, '.'); k > 0 {
					l.Name = p.Name[:k]
				}
			}
			l.count(p.Trainable, p.Value.Len())
		}
		if l.Name == "" {
			base := kerasName(op.Op)
			l.Name = base
			if c := counts[base]; c > 0 {
				l.Name = fmt.Sprintf("%s_%d", base, c)
			}
			counts[base]++
		}
		s.Layers = append(s.Layers, l)
		prev = op
	}
	// Parameters no op read directly (BatchNorm's moving statistics)
	// belong to the layer whose name prefixes theirs.
	for j, p := range params {
		if used[j] {
			continue
		}
		for k := range s.Layers {
			if strings.HasPrefix(p.Name, s.Layers[k].Name+".") {
				s.Layers[k].count(p.Trainable, p.Value.Len())
				used[j] = true
				break
			}
		}
	}
	for _, l := range s.Layers {
		s.MACs += l.MACs
	}
	s.Trainable, s.NonTrainable = CountParams(m)
	return s, nil
}

func (l *LayerSummary) count(trainable bool, n int) {
	if trainable {
		l.Trainable += n
	} else {
		l.NonTrainable += n
	}
}

// kerasName turns an op name into a Keras-style layer name: "MaxPool2D" →
// "max_pool2d".
func kerasName(op string) string {
	var b strings.Builder
	for i, r := range op {
		if r >= 'A' && r <= 'Z' {
			if i > 0 && !(op[i-1] >= 'A' && op[i-1] <= 'Z') && !(op[i-1] >= '0' && op[i-1] <= '9') {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Params returns the total number of parameter values.
func (s *Summary) Params() int { return s.Trainable + s.NonTrainable }

// WriteTable writes the summary as a table in the manner of Keras's
// model.summary(): a row per layer with its output shape, parameter count
// and multiply-adds per image, then the totals.
func (s *Summary) WriteTable(w io.Writer) error {
	const head1, head2, head3, head4 = "Layer (type)", "Output Shape", "Param #", "MACs"
	c1, c2, c3, c4 := len(head1), len(head2), len(head3), len(head4)
	rows := make([][4]string, len(s.Layers))
	for i, l := range s.Layers {
		rows[i] = [4]string{
			fmt.Sprintf("%s (%s)", l.Name, l.Type),
			shapeString(l.Output),
			Commas(int64(l.Trainable + l.NonTrainable)),
			Commas(l.MACs),
		}
		c1 = max(c1, len(rows[i][0]))
		c2 = max(c2, len(rows[i][1]))
		c3 = max(c3, len(rows[i][2]))
		c4 = max(c4, len(rows[i][3]))
	}
	width := 1 + c1 + 3 + c2 + 3 + c3 + 3 + c4
	thick := strings.Repeat("━", width)
	var b strings.Builder
	fmt.Fprintf(&b, "Model: %q\n%s\n", s.Model, thick)
	fmt.Fprintf(&b, " %-*s   %-*s   %*s   %*s\n%s\n", c1, head1, c2, head2, c3, head3, c4, head4, thick)
	for _, r := range rows {
		fmt.Fprintf(&b, " %-*s   %-*s   %*s   %*s\n", c1, r[0], c2, r[1], c3, r[2], c4, r[3])
	}
	b.WriteString(thick + "\n")
	fmt.Fprintf(&b, " Total params: %s (%s)\n", Commas(int64(s.Params())), bytesString(4*s.Params()))
	fmt.Fprintf(&b, " Trainable params: %s (%s)\n", Commas(int64(s.Trainable)), bytesString(4*s.Trainable))
	fmt.Fprintf(&b, " Non-trainable params: %s (%s)\n", Commas(int64(s.NonTrainable)), bytesString(4*s.NonTrainable))
	fmt.Fprintf(&b, " Multiply-adds per image: %s (%s)\n", Commas(s.MACs), MACsString(s.MACs))
	_, err := io.WriteString(w, b.String())
	return err
}

// shapeString formats a per-image shape as Keras does: (None, 28, 28, 8).
func shapeString(s []int) string {
	var b strings.Builder
	b.WriteString("(None")
	for _, d := range s {
		fmt.Fprintf(&b, ", %d", d)
	}
	b.WriteString(")")
	return b.String()
}

// bytesString formats a byte count as Keras's summary does: "2.20 MB".
func bytesString(n int) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// MACsString formats a count of multiply-adds briefly: "19.7 M", "1.28 G".
func MACsString(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.3g G", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.3g M", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.3g K", float64(n)/1e3)
	}
	return fmt.Sprintf("%d", n)
}

// Commas formats n with thousands separators: 576282 → "576,282".
func Commas(n int64) string {
	if n < 0 {
		return "-" + Commas(-n)
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
