package nn

import (
	"fmt"
	"strings"

	"resgo/autograd"
	"resgo/tensor"
)

// Build runs one inference pass of a batch of one zero input of shape
// input (such as [H, W, C]) through l, so that every layer that sizes
// itself on first use creates its parameters, and then checks l's Params:
// every parameter the pass used must be listed exactly once, and no two
// listed parameters may share a name (optimisers key their state by name,
// and checkpoints store parameters by name). A violation, or a layer that
// cannot take the input, is an error naming the parameter or saying what
// failed. Build leaves parameter values as they are: inference reads the
// moving statistics but does not move them.
func Build(l Layer, input []int) (err error) {
	for _, d := range input {
		if d < 1 {
			return fmt.Errorf("cannot build for an input of shape %v", input)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("a pass of a %s input fails: %v", shapeString(input), r)
		}
	}()
	t := autograd.NewTape(nil, 0)
	t.NoGrad = true
	t.TrackParams()
	l.Forward(t, t.Constant(tensor.New(append([]int{1}, input...)...)), false)
	return CheckParams(l.Params(), t.UsedParams())
}

// CheckParams checks a layer's parameter list against the parameters a
// pass used: every used parameter listed exactly once, and every listed
// name unique and not empty. The error names the first parameter wrong.
func CheckParams(listed, used []*autograd.Param) error {
	count := make(map[*autograd.Param]int, len(listed))
	byName := make(map[string]*autograd.Param, len(listed))
	for _, p := range listed {
		if p == nil {
			return fmt.Errorf("Params lists a nil parameter")
		}
		count[p]++
		if count[p] > 1 {
			return fmt.Errorf("parameter %q is listed %d times in Params", p.Name, count[p])
		}
		if p.Name == "" {
			return fmt.Errorf("a parameter of shape %v has no name", p.Value.Shape)
		}
		if q, ok := byName[p.Name]; ok && q != p {
			return fmt.Errorf("two parameters are named %q (shapes %v and %v): optimisers and checkpoints would mix them up", p.Name, q.Value.Shape, p.Value.Shape)
		}
		byName[p.Name] = p
	}
	for _, p := range used {
		if count[p] == 0 {
			return fmt.Errorf("parameter %q (shape %v) is used by the forward pass but missing from Params: it would never be trained or saved", p.Name, p.Value.Shape)
		}
	}
	return nil
}

// shapeString formats a shape as 28×28×1.
func shapeString(s []int) string {
	var b strings.Builder
	for i, d := range s {
		if i > 0 {
			b.WriteString("×")
		}
		fmt.Fprint(&b, d)
	}
	return b.String()
}
