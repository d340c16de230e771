package onnx

import (
	"slices"
)

// fold computes a node whose inputs are all constants, at load: the small
// shape computations exporters leave in graphs (PyTorch's F.pad writes
// ConstantOfShape, Concat, Reshape, Slice, Transpose and Cast on int64
// pads), and transposes of weights.
func (l *loader) fold(op string, ins []*val) (*val, error) {
	x := ins[0]
	in := func(i int) *val {
		if i < len(ins) {
			return ins[i]
		}
		return nil
	}
	switch op {
	case "Cast":
		to := l.attrInt("to", 0)
		switch to {
		case 1: // FLOAT
			if x.f != nil {
				return x, nil
			}
			f := make([]float32, len(x.i))
			for i, v := range x.i {
				f[i] = float32(v)
			}
			return &val{id: -1, shape: x.shape, f: f}, nil
		case 6, 7: // INT32, INT64
			if x.i != nil {
				return x, nil
			}
			iv := make([]int64, len(x.f))
			for i, v := range x.f {
				iv[i] = int64(v)
			}
			return &val{id: -1, shape: x.shape, i: iv}, nil
		}
		return nil, l.fail("cast to data type %d: resgo folds casts to float32, int32 and int64 only", to)
	case "Reshape":
		out, err := l.target(x.shape, in(1))
		if err != nil {
			return nil, err
		}
		return &val{id: -1, shape: out, f: x.f, i: x.i}, nil
	case "Flatten":
		a := int(l.attrInt("axis", 1))
		if a < 0 {
			a += len(x.shape)
		}
		if a < 0 || a > len(x.shape) {
			return nil, l.fail("axis %d of a rank-%d value", l.attrInt("axis", 1), len(x.shape))
		}
		lo, hi := 1, 1
		for i, d := range x.shape {
			if i < a {
				lo *= d
			} else {
				hi *= d
			}
		}
		return &val{id: -1, shape: []int{lo, hi}, f: x.f, i: x.i}, nil
	case "Unsqueeze", "Squeeze":
		var axes []int64
		if l.opset >= 13 {
			if a := in(1); a != nil {
				axes = a.i
			}
		} else {
			axes = l.attrInts("axes")
		}
		shape := slices.Clone(x.shape)
		if op == "Unsqueeze" {
			r := len(shape) + len(axes)
			norm := make([]int, len(axes))
			for i, a := range axes {
				if a < 0 {
					a += int64(r)
				}
				if a < 0 || a >= int64(r) {
					return nil, l.fail("axis %d out of range", axes[i])
				}
				norm[i] = int(a)
			}
			slices.Sort(norm)
			for _, a := range norm {
				shape = slices.Insert(shape, a, 1)
			}
		} else {
			var out []int
			for i, d := range shape {
				drop := len(axes) == 0 && d == 1
				for _, a := range axes {
					if a == int64(i) || a+int64(len(shape)) == int64(i) {
						drop = true
					}
				}
				if !drop {
					out = append(out, d)
				}
			}
			shape = out
		}
		return &val{id: -1, shape: shape, f: x.f, i: x.i}, nil
	case "ConstantOfShape":
		if x.i == nil || len(x.shape) != 1 {
			return nil, l.fail("its input must be a 1-D int64 shape")
		}
		n := 1
		shape := make([]int, len(x.i))
		for i, d := range x.i {
			if d < 0 || d > maxFolded || n*int(max(d, 1)) > maxFolded {
				return nil, l.fail("shape %v is out of range", x.i)
			}
			shape[i] = int(d)
			n *= int(d)
		}
		v := &val{id: -1, shape: shape}
		fill := &val{f: []float32{0}}
		if a := l.attr("value"); a != nil && a.T != nil {
			t, err := l.tensor(a.T)
			if err != nil {
				return nil, err
			}
			fill = t
		}
		if fill.i != nil {
			v.i = make([]int64, n)
			for i := range v.i {
				v.i[i] = fill.i[0]
			}
		} else {
			v.f = make([]float32, n)
			for i := range v.f {
				v.f[i] = fill.f[0]
			}
		}
		return v, nil
	case "Concat":
		axis := int(l.attrInt("axis", 0))
		if len(x.shape) != 1 || (axis != 0 && axis != -1) {
			return nil, l.fail("resgo folds Concat of 1-D constants only")
		}
		v := &val{id: -1, shape: []int{0}}
		for _, c := range ins {
			if c == nil || len(c.shape) != 1 || (c.f == nil) != (x.f == nil) {
				return nil, l.fail("resgo folds Concat of 1-D constants of one type only")
			}
			v.f = append(v.f, c.f...)
			v.i = append(v.i, c.i...)
			v.shape[0] += c.shape[0]
		}
		return v, nil
	case "Transpose":
		r := len(x.shape)
		perm := make([]int, r)
		if p := l.attrInts("perm"); p != nil {
			if len(p) != r {
				return nil, l.fail("perm %v for a rank-%d value", p, r)
			}
			for i, a := range p {
				perm[i] = int(a)
			}
		} else {
			for i := range perm {
				perm[i] = r - 1 - i
			}
		}
		if !isPerm(perm) {
			return nil, l.fail("perm %v is not a permutation", perm)
		}
		out := make([]int, r)
		for i, a := range perm {
			out[i] = x.shape[a]
		}
		v := &val{id: -1, shape: out}
		if r == 0 {
			return x, nil
		}
		if x.f != nil {
			v.f = make([]float32, len(x.f))
			transpose(x.f, x.shape, perm, v.f)
		} else {
			// Through float64 bits would lose nothing, but int64 pads are
			// small: transpose their indices instead.
			idx := make([]float32, len(x.i))
			for i := range idx {
				idx[i] = float32(i)
			}
			t := make([]float32, len(idx))
			transpose(idx, x.shape, perm, t)
			v.i = make([]int64, len(x.i))
			for i, j := range t {
				v.i[i] = x.i[int(j)]
			}
		}
		return v, nil
	case "Slice":
		var starts, ends, steps, axes []int64
		if l.opset >= 10 {
			for i, p := range []*[]int64{&starts, &ends} {
				c := in(i + 1)
				if c == nil || c.i == nil {
					return nil, l.fail("its starts and ends must be int64 constants")
				}
				*p = c.i
			}
			if a := in(3); a != nil {
				axes = a.i
			}
			if s := in(4); s != nil {
				steps = s.i
			}
		} else {
			starts, ends, axes = l.attrInts("starts"), l.attrInts("ends"), l.attrInts("axes")
		}
		if len(starts) != 1 || len(ends) != 1 || (steps != nil && len(steps) != 1) || (axes != nil && len(axes) != 1) || len(x.shape) == 0 {
			return nil, l.fail("resgo folds Slice along one axis only")
		}
		axis, step := int64(0), int64(1)
		if axes != nil {
			axis = axes[0]
		}
		if axis < 0 {
			axis += int64(len(x.shape))
		}
		if axis < 0 || axis >= int64(len(x.shape)) {
			return nil, l.fail("axis %d of a rank-%d value", axes[0], len(x.shape))
		}
		if steps != nil {
			step = steps[0]
		}
		if step == 0 {
			return nil, l.fail("step 0")
		}
		n := int64(x.shape[axis])
		// A step longer than the axis takes one element at most either
		// way; bounding it keeps i += step from overflowing.
		step = min(max(step, -n-1), n+1)
		clamp := func(v, lo, hi int64) int64 {
			if v < 0 {
				v += n
			}
			return min(max(v, lo), hi)
		}
		var idx []int
		if step > 0 {
			for i := clamp(starts[0], 0, n); i < clamp(ends[0], 0, n); i += step {
				idx = append(idx, int(i))
			}
		} else {
			for i := clamp(starts[0], 0, n-1); i > clamp(ends[0], -1, n-1); i += step {
				idx = append(idx, int(i))
			}
		}
		outer, inner := 1, 1
		for i, d := range x.shape {
			if i < int(axis) {
				outer *= d
			} else if i > int(axis) {
				inner *= d
			}
		}
		shape := slices.Clone(x.shape)
		shape[axis] = len(idx)
		v := &val{id: -1, shape: shape}
		for o := range outer {
			for _, i := range idx {
				at := (o*int(n) + i) * inner
				if x.f != nil {
					v.f = append(v.f, x.f[at:at+inner]...)
				} else {
					v.i = append(v.i, x.i[at:at+inner]...)
				}
			}
		}
		return v, nil
	}
	return nil, l.fail("unsupported op on constants (resgo folds Cast, Reshape, Flatten, Unsqueeze, Squeeze, ConstantOfShape, Concat, Transpose and Slice)")
}
