package kernels

// ConvShape describes a 2-D convolution over NHWC input with an HWIO kernel
// (KH×KW×C×Cout, as Keras stores it). Output positions (oy, ox) read input
// rows oy*Stride-PadT+kh and columns ox*Stride-PadL+kw; reads outside the
// input are zeros.
type ConvShape struct {
	N, H, W, C   int // input
	KH, KW, Cout int // kernel
	Stride       int
	PadT, PadL   int // zero padding before the first row / column
	OH, OW       int // output height and width
}

// K returns the GEMM depth KH·KW·C (the length of one patch).
func (s ConvShape) K() int { return s.KH * s.KW * s.C }

// Rows returns the GEMM height N·OH·OW (the number of output positions).
func (s ConvShape) Rows() int { return s.N * s.OH * s.OW }

// pointwise reports whether the convolution is a plain 1×1 stride-1
// unpadded one, whose patches are the input rows themselves.
func (s ConvShape) pointwise() bool {
	return s.KH == 1 && s.KW == 1 && s.Stride == 1 && s.PadT == 0 && s.PadL == 0 && s.OH == s.H && s.OW == s.W
}

// Im2colRows writes the patches of output positions [r0, r1) (in N·OH·OW
// order) into cols, one row of K() values per position, ordered (kh, kw, c)
// to match the HWIO kernel viewed as a [K, Cout] matrix.
func Im2colRows(s ConvShape, x []float32, r0, r1 int, cols []float32) {
	K := s.K()
	C := s.C
	for r := r0; r < r1; r++ {
		n := r / (s.OH * s.OW)
		rem := r - n*s.OH*s.OW
		oy, ox := rem/s.OW, rem%s.OW
		row := cols[(r-r0)*K : (r-r0+1)*K]
		img := x[n*s.H*s.W*C : (n+1)*s.H*s.W*C]
		i := 0
		for kh := 0; kh < s.KH; kh++ {
			iy := oy*s.Stride - s.PadT + kh
			if iy < 0 || iy >= s.H {
				clear(row[i : i+s.KW*C])
				i += s.KW * C
				continue
			}
			ix0 := ox*s.Stride - s.PadL
			if s.Stride == 1 && ix0 >= 0 && ix0+s.KW <= s.W {
				// The whole kernel row is inside: one contiguous copy.
				src := img[(iy*s.W+ix0)*C : (iy*s.W+ix0+s.KW)*C]
				copy(row[i:], src)
				i += s.KW * C
				continue
			}
			for kw := 0; kw < s.KW; kw++ {
				ix := ix0 + kw
				if ix < 0 || ix >= s.W {
					clear(row[i : i+C])
				} else {
					copy(row[i:i+C], img[(iy*s.W+ix)*C:(iy*s.W+ix+1)*C])
				}
				i += C
			}
		}
	}
}

// col2imRows adds patch rows [r0, r1) back into dx: the transpose of
// Im2colRows, used for the input gradient of strided convolutions.
func col2imRows(s ConvShape, dx []float32, r0, r1 int, cols []float32) {
	K := s.K()
	C := s.C
	for r := r0; r < r1; r++ {
		n := r / (s.OH * s.OW)
		rem := r - n*s.OH*s.OW
		oy, ox := rem/s.OW, rem%s.OW
		row := cols[(r-r0)*K : (r-r0+1)*K]
		img := dx[n*s.H*s.W*C : (n+1)*s.H*s.W*C]
		i := 0
		for kh := 0; kh < s.KH; kh++ {
			iy := oy*s.Stride - s.PadT + kh
			for kw := 0; kw < s.KW; kw++ {
				ix := ox*s.Stride - s.PadL + kw
				if iy >= 0 && iy < s.H && ix >= 0 && ix < s.W {
					d := img[(iy*s.W+ix)*C : (iy*s.W+ix+1)*C]
					for c, v := range row[i : i+C] {
						d[c] += v
					}
				}
				i += C
			}
		}
	}
}

// chunkRows picks how many patch rows to pack at a time so that the
// packed panel (rows × K floats) stays within about 64 KiB of cache.
func chunkRows(K int) int {
	r := 16384 / max(K, 1)
	r = max(16, min(r, 512))
	return r
}

// ConvForward computes y = conv(x, w) + bias, or adds conv(x, w) (+ bias)
// to y when acc is true.
//
//	x    [N, H, W, C]          input, NHWC
//	w    [KH, KW, C, Cout]     kernel, HWIO
//	bias [Cout] or nil
//	y    [N, OH, OW, Cout]     output
//
// It is an implicit GEMM: [N·OH·OW, K]·[K, Cout] with the patches of a few
// hundred rows at a time packed into per-worker scratch, never the whole
// im2col matrix. Rows are split across the pool's workers.
func ConvForward(p *Pool, s ConvShape, x, w, bias, y []float32, acc bool) {
	convForwardRows(convTask{op: convFwd, p: p, s: s, x: x, w: w, bias: bias, y: y, acc: acc})
}

// convForwardRows runs a forward convolution task over its output rows,
// split across the pool's workers in chunks sized for its patches.
func convForwardRows(t convTask) {
	M := t.s.Rows()
	if t.s.pointwise() {
		parallel(t.p, &convTasks, M, 64, t)
		return
	}
	parallel(t.p, &convTasks, M, chunkRows(t.s.K()), t)
}

type convOp int

const (
	convFwd convOp = iota
	convBwdInput
	convBwdWeight
	convPad
	convFwdPadded
	convBwdWeightPadded
)

// convTask is the parallel body of the convolution kernels.
type convTask struct {
	op          convOp
	p           *Pool
	s           ConvShape
	x, w, bias  []float32
	y, dy, part []float32
	acc, db     bool
	fuse        *Fusion // the prologue (pad) and epilogue (forward), or nil
	local       bool    // convFwdPadded: x is unpadded; each unit pads the rows it reads
}

var convTasks taskPool[convTask]

func (t *convTask) Run(wk, lo, hi int) {
	switch t.op {
	case convFwd:
		t.forward(wk, lo, hi)
	case convBwdInput:
		t.backwardInput(wk, lo, hi)
	case convBwdWeight:
		t.backwardWeight(wk, lo, hi)
	case convPad:
		t.pad(lo, hi)
	case convFwdPadded:
		t.forwardPadded(wk, lo, hi)
	case convBwdWeightPadded:
		t.backwardWeightPadded(wk, lo, hi)
	}
}

// forward computes output rows [lo, hi) of ConvForward.
func (t *convTask) forward(wk, lo, hi int) {
	s, x, w, y, bias, acc := t.s, t.x, t.w, t.y, t.bias, t.acc
	K, Co := s.K(), s.Cout
	if s.pointwise() {
		Sgemm(hi-lo, Co, K, x[lo*K:], K, w, Co, y[lo*Co:], Co, acc)
		addBiasRows(y[lo*Co:hi*Co], bias, Co)
		t.fuse.epilogue(y[lo*Co:hi*Co], lo*Co)
		return
	}
	R := chunkRows(K)
	cols := t.p.Scratch(wk, R*K)
	for r0 := lo; r0 < hi; r0 += R {
		r1 := min(r0+R, hi)
		Im2colRows(s, x, r0, r1, cols)
		Sgemm(r1-r0, Co, K, cols, K, w, Co, y[r0*Co:], Co, acc)
		finishRows(y[r0*Co:r1*Co], bias, Co, t.fuse, r0*Co)
	}
}

// addBiasRows adds bias [c] to every row of y [M, c].
func addBiasRows(y, bias []float32, c int) {
	if bias != nil {
		copyAddBias(y, y, bias, c)
	}
}

// ones and zeros are blocks of 1s and 0s for the vector scale-and-shift
// kernel.
var (
	ones = func() (o [64]float32) {
		for i := range o {
			o[i] = 1
		}
		return
	}()
	zeros [64]float32
)

// copyAddBias writes dst = src + bias, row by row (rows of c values; dst
// and src may be the same slice). With a nil bias it copies.
func copyAddBias(dst, src, bias []float32, c int) {
	if bias == nil {
		copy(dst, src)
		return
	}
	done := 0
	if blocks, L, n := vecSplit(len(src), c); blocks > 0 && L <= len(ones) {
		var tiled [64]float32
		tile(tiled[:L], bias)
		scaleShiftAVX512(ptr(src), &zeros[0], ptr(dst), &ones[0], &tiled[0], blocks, L/16, false)
		done = n
	}
	for i := done; i+c <= len(src); i += c {
		s, d := src[i:i+c], dst[i:i+c]
		for j, b := range bias[:len(s)] {
			d[j] = s[j] + b
		}
	}
}

// addRows adds src into dst elementwise.
func addRows(dst, src []float32) {
	done := 0
	if rowsFast {
		done = len(src) &^ 15
		addAVX512(ptr(src), ptr(dst), ptr(dst), done)
	}
	for i := done; i < len(src); i++ {
		dst[i] += src[i]
	}
}

// FlipKernel writes wf[kh][kw][co][ci] = w[KH-1-kh][KW-1-kw][ci][co]: the
// kernel of the convolution that maps dY back to dX for stride 1.
func FlipKernel(s ConvShape, w, wf []float32) {
	C, Co := s.C, s.Cout
	for kh := 0; kh < s.KH; kh++ {
		for kw := 0; kw < s.KW; kw++ {
			src := w[((s.KH-1-kh)*s.KW+(s.KW-1-kw))*C*Co:]
			dst := wf[(kh*s.KW+kw)*Co*C:]
			for ci := 0; ci < C; ci++ {
				for co := 0; co < Co; co++ {
					dst[co*C+ci] = src[ci*Co+co]
				}
			}
		}
	}
}

// ConvBackwardInput adds the input gradient dX of a convolution to dx.
//
//	dy [N, OH, OW, Cout]   gradient of the output
//	w  [KH, KW, C, Cout]   kernel
//	wf scratch of len(w)   receives the flipped kernel (stride 1 only)
//	dx [N, H, W, C]        accumulated into, or overwritten when acc is false
//
// For stride 1 it is itself a convolution: dY convolved with the flipped,
// transposed kernel, padded by KH-1-PadT, so no scatter is needed. Strided
// convolutions multiply dY by Wᵀ one image at a time and scatter the
// patches back (col2im), with images split across workers.
func ConvBackwardInput(p *Pool, s ConvShape, dy, w, wf, dx []float32, acc bool) {
	if s.Stride == 1 {
		FlipKernel(s, w, wf)
		t := ConvShape{N: s.N, H: s.OH, W: s.OW, C: s.Cout, KH: s.KH, KW: s.KW, Cout: s.C,
			Stride: 1, PadT: s.KH - 1 - s.PadT, PadL: s.KW - 1 - s.PadL, OH: s.H, OW: s.W}
		ConvForward(p, t, dy, wf, nil, dx, acc)
		return
	}
	parallel(p, &convTasks, s.N, 1, convTask{op: convBwdInput, p: p, s: s, dy: dy, w: w, x: dx, acc: acc})
}

// backwardInput scatters the input gradient of images [lo, hi) (x is dx).
func (t *convTask) backwardInput(wk, lo, hi int) {
	s, dy, w, dx := t.s, t.dy, t.w, t.x
	K, Co := s.K(), s.Cout
	per := s.OH * s.OW
	if !t.acc { // the scatter adds: start the images' dx at zero
		img := s.H * s.W * s.C
		clear(dx[lo*img : hi*img])
	}
	R := chunkRows(K)
	cols := t.p.Scratch(wk, R*K)
	for r0 := lo * per; r0 < hi*per; r0 += R {
		r1 := min(r0+R, hi*per)
		SgemmTB(r1-r0, K, Co, dy[r0*Co:], Co, w, Co, cols, K, false)
		col2imRows(s, dx, r0, r1, cols)
	}
}

// ConvBackwardWeight adds the kernel gradient dW = patchesᵀ·dY to dw and,
// if db is not nil, the bias gradient (dY summed over positions) to db.
//
//	x  [N, H, W, C]        input saved by the forward pass
//	dy [N, OH, OW, Cout]   gradient of the output
//	dw [KH, KW, C, Cout]   accumulated into
//	db [Cout] or nil       accumulated into
//
// The N·OH·OW positions are split across workers; each sums into its own
// partial gradient and the partials are added in worker order, so the result
// is the same for the same thread count.
func ConvBackwardWeight(p *Pool, s ConvShape, x, dy, dw, db []float32) {
	M, K, Co := s.Rows(), s.K(), s.Cout
	R := chunkRows(K)
	stride := K*Co + Co
	part := p.Partials(stride)
	parallel(p, &convTasks, M, R, convTask{op: convBwdWeight, p: p, s: s, x: x, dy: dy, part: part, db: db != nil})
	addWeightPartials(part, p.Workers(), K*Co, Co, dw, db)
}

// backwardWeight sums the weight (and bias) gradient of positions [lo, hi)
// into worker wk's partials.
func (t *convTask) backwardWeight(wk, lo, hi int) {
	s, x, dy := t.s, t.x, t.dy
	K, Co := s.K(), s.Cout
	R := chunkRows(K)
	stride := K*Co + Co
	pd := t.part[wk*stride : wk*stride+K*Co]
	pb := t.part[wk*stride+K*Co : (wk+1)*stride]
	pw := s.pointwise()
	var cols []float32
	if !pw {
		cols = t.p.Scratch(wk, R*K)
	}
	for r0 := lo; r0 < hi; r0 += R {
		r1 := min(r0+R, hi)
		var a []float32
		if pw {
			a = x[r0*K:]
		} else {
			Im2colRows(s, x, r0, r1, cols)
			a = cols
		}
		SgemmTA(K, Co, r1-r0, a, K, dy[r0*Co:], Co, pd, Co, true)
		if t.db {
			SumRows(dy[r0*Co:r1*Co], r1-r0, Co, pb)
		}
	}
}

// addWeightPartials adds the per-worker partial gradients in part (rows of
// K·Cout kernel values then Cout bias values, one row per worker) into dw
// and, if db is not nil, db, in worker order so the sum is deterministic.
func addWeightPartials(part []float32, workers, kco, co int, dw, db []float32) {
	stride := kco + co
	for wk := 0; wk < workers; wk++ {
		row := part[wk*stride : (wk+1)*stride]
		addRows(dw[:kco], row[:kco])
		if db != nil {
			addRows(db[:co], row[kco:])
		}
	}
}
