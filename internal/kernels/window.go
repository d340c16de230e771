package kernels

import (
	"fmt"
	"math"
)

// PoolShape is the geometry of a pooling window over x [N, H, W, C]: a
// KH×KW window moved SH rows and SW columns at a time, starting PadT rows
// above and PadL columns left of the input, gives y [N, OH, OW, C].
// Window positions outside the input belong to no window: a max is taken
// and an average divided over the positions inside only, as Keras and
// TensorFlow do with 'same' padding.
type PoolShape struct {
	N, H, W, C int
	KH, KW     int
	SH, SW     int
	PadT, PadL int
	OH, OW     int
}

// NewPoolShape returns the geometry of a KH×KW window moved SH rows and SW
// columns at a time over x [N, H, W, C], with Keras's padding: 'valid'
// (same false) keeps the windows inside the input, OH = (H−KH)/SH + 1;
// 'same' gives OH = ceil(H/SH) and pads max((OH−1)·SH+KH−H, 0) rows, the
// odd one below (and likewise for columns), as TensorFlow does.
func NewPoolShape(N, H, W, C, KH, KW, SH, SW int, same bool) (PoolShape, error) {
	s := PoolShape{N: N, H: H, W: W, C: C, KH: KH, KW: KW, SH: SH, SW: SW}
	switch {
	case KH < 1 || KW < 1:
		return s, fmt.Errorf("pool window %dx%d: want at least 1x1", KH, KW)
	case SH < 1 || SW < 1:
		return s, fmt.Errorf("pool strides %dx%d: want at least 1", SH, SW)
	case N < 0 || H < 1 || W < 1 || C < 1:
		return s, fmt.Errorf("pool input [%d, %d, %d, %d]: want a non-empty image", N, H, W, C)
	}
	if same {
		s.OH, s.OW = (H+SH-1)/SH, (W+SW-1)/SW
		s.PadT = max((s.OH-1)*SH+KH-H, 0) / 2
		s.PadL = max((s.OW-1)*SW+KW-W, 0) / 2
		return s, nil
	}
	if H < KH || W < KW {
		return s, fmt.Errorf("pool window %dx%d larger than the %dx%d input with valid padding", KH, KW, H, W)
	}
	s.OH, s.OW = (H-KH)/SH+1, (W-KW)/SW+1
	return s, nil
}

// span returns the part of a window that lies inside the input along one
// axis: positions k in [lo, hi) of the window, starting at input index
// start = o·stride − pad.
func span(o, stride, pad, k, size int) (start, lo, hi int) {
	start = o*stride - pad
	return start, max(0, -start), min(k, size-start)
}

// overlapping reports whether windows share input positions, in which
// case a backward pass cannot split output rows between workers.
func (s PoolShape) overlapping() bool { return s.SH < s.KH || s.SW < s.KW }

// MaxPool writes the maximum of each window of x into y; ties and NaNs go
// to the first position in row-major window order (a NaN first in its
// window is kept).
func MaxPool(p *Pool, s PoolShape, x, y []float32) {
	parallel(p, &maxPoolTasks, s.N*s.OH, 4, maxPoolTask{windowTask{s: s, x: x, y: y}})
}

// windowTask carries a pooling kernel's arguments.
type windowTask struct {
	s            PoolShape
	x, y, dy, dx []float32
	perImage     bool // the loop runs over images, not output rows
}

type maxPoolTask struct{ windowTask }

var maxPoolTasks taskPool[maxPoolTask]

func (t *maxPoolTask) Run(_, lo, hi int) {
	s, x, y := t.s, t.x, t.y
	C := s.C
	for r := lo; r < hi; r++ {
		n, oy := r/s.OH, r%s.OH
		y0, ky0, ky1 := span(oy, s.SH, s.PadT, s.KH, s.H)
		for ox := 0; ox < s.OW; ox++ {
			x0, kx0, kx1 := span(ox, s.SW, s.PadL, s.KW, s.W)
			yo := y[((n*s.OH+oy)*s.OW+ox)*C:][:C]
			first := true
			for ky := ky0; ky < ky1; ky++ {
				for kx := kx0; kx < kx1; kx++ {
					xi := x[((n*s.H+y0+ky)*s.W+x0+kx)*C:][:C]
					if first {
						copy(yo, xi)
						first = false
						continue
					}
					for c, v := range xi {
						if v > yo[c] {
							yo[c] = v
						}
					}
				}
			}
			if first { // an empty window: padding larger than the window
				for c := range yo {
					yo[c] = float32(math.Inf(-1))
				}
			}
		}
	}
}

// MaxPoolBackward adds each dy to dx at the first position of its window
// (row-major) that holds the maximum y that MaxPool computed from x.
func MaxPoolBackward(p *Pool, s PoolShape, x, y, dy, dx []float32) {
	t := windowTask{s: s, x: x, y: y, dy: dy, dx: dx}
	if s.overlapping() {
		t.perImage = true
		parallel(p, &maxPoolBackTasks, s.N, 1, maxPoolBackTask{t})
		return
	}
	parallel(p, &maxPoolBackTasks, s.N*s.OH, 4, maxPoolBackTask{t})
}

type maxPoolBackTask struct{ windowTask }

var maxPoolBackTasks taskPool[maxPoolBackTask]

func (t *maxPoolBackTask) Run(_, lo, hi int) {
	s := t.s
	if t.perImage {
		lo, hi = lo*s.OH, hi*s.OH
	}
	C := s.C
	for r := lo; r < hi; r++ {
		n, oy := r/s.OH, r%s.OH
		y0, ky0, ky1 := span(oy, s.SH, s.PadT, s.KH, s.H)
		for ox := 0; ox < s.OW; ox++ {
			x0, kx0, kx1 := span(ox, s.SW, s.PadL, s.KW, s.W)
			o := ((n*s.OH+oy)*s.OW + ox) * C
			yo, dyo := t.y[o:][:C], t.dy[o:][:C]
			for c := range C {
				m := yo[c]
			find:
				for ky := ky0; ky < ky1; ky++ {
					for kx := kx0; kx < kx1; kx++ {
						i := ((n*s.H+y0+ky)*s.W+x0+kx)*C + c
						if t.x[i] == m {
							t.dx[i] += dyo[c]
							break find
						}
					}
				}
			}
		}
	}
}

// AvgPool writes the mean of each window of x into y, over the window's
// positions inside the input.
func AvgPool(p *Pool, s PoolShape, x, y []float32) {
	parallel(p, &avgPoolTasks, s.N*s.OH, 4, avgPoolTask{windowTask{s: s, x: x, y: y}})
}

type avgPoolTask struct{ windowTask }

var avgPoolTasks taskPool[avgPoolTask]

func (t *avgPoolTask) Run(_, lo, hi int) {
	s, x, y := t.s, t.x, t.y
	C := s.C
	for r := lo; r < hi; r++ {
		n, oy := r/s.OH, r%s.OH
		y0, ky0, ky1 := span(oy, s.SH, s.PadT, s.KH, s.H)
		for ox := 0; ox < s.OW; ox++ {
			x0, kx0, kx1 := span(ox, s.SW, s.PadL, s.KW, s.W)
			yo := y[((n*s.OH+oy)*s.OW+ox)*C:][:C]
			clear(yo)
			for ky := ky0; ky < ky1; ky++ {
				for kx := kx0; kx < kx1; kx++ {
					xi := x[((n*s.H+y0+ky)*s.W+x0+kx)*C:][:C]
					for c, v := range xi {
						yo[c] += v
					}
				}
			}
			if cnt := max(ky1-ky0, 0) * max(kx1-kx0, 0); cnt > 0 {
				inv := 1 / float32(cnt)
				for c := range yo {
					yo[c] *= inv
				}
			}
		}
	}
}

// AvgPoolBackward adds dy/count to every input position of each window,
// count being the window's positions inside the input.
func AvgPoolBackward(p *Pool, s PoolShape, dy, dx []float32) {
	t := windowTask{s: s, dy: dy, dx: dx}
	if s.overlapping() {
		t.perImage = true
		parallel(p, &avgPoolBackTasks, s.N, 1, avgPoolBackTask{t})
		return
	}
	parallel(p, &avgPoolBackTasks, s.N*s.OH, 4, avgPoolBackTask{t})
}

type avgPoolBackTask struct{ windowTask }

var avgPoolBackTasks taskPool[avgPoolBackTask]

func (t *avgPoolBackTask) Run(_, lo, hi int) {
	s := t.s
	if t.perImage {
		lo, hi = lo*s.OH, hi*s.OH
	}
	C := s.C
	for r := lo; r < hi; r++ {
		n, oy := r/s.OH, r%s.OH
		y0, ky0, ky1 := span(oy, s.SH, s.PadT, s.KH, s.H)
		for ox := 0; ox < s.OW; ox++ {
			x0, kx0, kx1 := span(ox, s.SW, s.PadL, s.KW, s.W)
			cnt := max(ky1-ky0, 0) * max(kx1-kx0, 0)
			if cnt == 0 {
				continue
			}
			inv := 1 / float32(cnt)
			dyo := t.dy[((n*s.OH+oy)*s.OW+ox)*C:][:C]
			for ky := ky0; ky < ky1; ky++ {
				for kx := kx0; kx < kx1; kx++ {
					dxi := t.dx[((n*s.H+y0+ky)*s.W+x0+kx)*C:][:C]
					for c, g := range dyo {
						dxi[c] += g * inv
					}
				}
			}
		}
	}
}

// GlobalAvgPool writes the mean over the HW positions of each image of
// x [N, HW, C] into y [N, C].
func GlobalAvgPool(p *Pool, x []float32, N, HW, C int, y []float32) {
	parallel(p, &globalAvgTasks, N, 1, globalAvgTask{x: x, y: y, HW: HW, C: C})
}

type globalAvgTask struct {
	x, y  []float32
	HW, C int
}

var globalAvgTasks taskPool[globalAvgTask]

func (t *globalAvgTask) Run(_, lo, hi int) {
	HW, C := t.HW, t.C
	inv := 1 / float32(HW)
	for n := lo; n < hi; n++ {
		yo := t.y[n*C:][:C]
		clear(yo)
		for i := range HW {
			for c, v := range t.x[(n*HW+i)*C:][:C] {
				yo[c] += v
			}
		}
		for c := range yo {
			yo[c] *= inv
		}
	}
}

// GlobalAvgPoolBackward adds dy[n, c]/HW to every position of image n of
// dx [N, HW, C].
func GlobalAvgPoolBackward(p *Pool, dy []float32, N, HW, C int, dx []float32) {
	parallel(p, &globalAvgBackTasks, N, 1, globalAvgBackTask{globalAvgTask{x: dx, y: dy, HW: HW, C: C}})
}

type globalAvgBackTask struct{ globalAvgTask }

var globalAvgBackTasks taskPool[globalAvgBackTask]

func (t *globalAvgBackTask) Run(_, lo, hi int) {
	HW, C := t.HW, t.C
	inv := 1 / float32(HW)
	for n := lo; n < hi; n++ {
		dyo := t.y[n*C:][:C]
		for i := range HW {
			dxi := t.x[(n*HW+i)*C:][:C]
			for c, g := range dyo {
				dxi[c] += g * inv
			}
		}
	}
}

// Concat writes the rows of each xs[i] [M, widths[i]] side by side into
// y [M, Σ widths]: the concatenation of NHWC tensors along channels, with
// M = N·H·W.
func Concat(p *Pool, xs [][]float32, widths []int, M int, y []float32) {
	parallel(p, &concatTasks, M, 64, concatTask{xs: xs, widths: widths, y: y})
}

type concatTask struct {
	xs     [][]float32
	widths []int
	y      []float32
	back   bool // split dy into xs (accumulating) instead
}

var concatTasks taskPool[concatTask]

func (t *concatTask) Run(_, lo, hi int) {
	total := 0
	for _, w := range t.widths {
		total += w
	}
	off := 0
	for i, w := range t.widths {
		x := t.xs[i]
		if x != nil {
			for r := lo; r < hi; r++ {
				yr, xr := t.y[r*total+off:][:w], x[r*w:][:w]
				if t.back {
					addRows(xr, yr)
				} else {
					copy(yr, xr)
				}
			}
		}
		off += w
	}
}

// ConcatBackward adds each part of dy [M, Σ widths] to its input's
// gradient dxs[i] [M, widths[i]]; a nil dxs[i] is skipped.
func ConcatBackward(p *Pool, dy []float32, widths []int, M int, dxs [][]float32) {
	parallel(p, &concatTasks, M, 64, concatTask{xs: dxs, widths: widths, y: dy, back: true})
}
