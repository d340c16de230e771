package kernels

import "math"

// BatchNorm kernels work on x viewed as [M, C]: M = N·H·W positions of C
// channels (NHWC), normalising each channel over the M positions.

// BNStats computes the per-channel batch mean and the biased variance
// (divided by M, as tf.nn.moments does) of x [M, C], in two passes for
// accuracy. Positions are split across workers and the partial sums added
// in worker order.
func BNStats(p *Pool, x []float32, M, C int, mean, variance []float32) {
	moments(p, x, M, C, nil, mean)
	inv := 1 / float32(M)
	for c := range mean {
		mean[c] *= inv
	}
	moments(p, x, M, C, mean, variance)
	for c := range variance {
		variance[c] *= inv
	}
}

// moments writes Σ (x−center)² per channel into out, or Σ x when center is
// nil, with positions split across workers and the partials added in worker
// order.
func moments(p *Pool, x []float32, M, C int, center, out []float32) {
	L := max(tileLen(C), C)
	part := p.Partials(3 * L) // per worker: s1, s2, tiled center
	parallel(p, &bnTasks, M, 256, bnTask{op: bnMoments, x: x, C: C, L: L, a: center, part: part})
	clear(out)
	for w := 0; w < p.n; w++ {
		if center == nil {
			fold(out, part[w*3*L:w*3*L+L])
		} else {
			fold(out, part[w*3*L+L:w*3*L+2*L])
		}
	}
}

// InvStd writes 1/sqrt(variance+eps) per channel.
func InvStd(variance []float32, eps float32, invstd []float32) {
	for c, v := range variance {
		invstd[c] = float32(1 / math.Sqrt(float64(v+eps)))
	}
}

// BNApply computes y = (x-mean)·invstd·gamma + beta for x, y [M, C], and
// then y = max(y, 0) when relu is set (the fused BatchNorm+ReLU). scratch
// must hold BNScratch(C) floats; it receives the per-channel scale and shift.
func BNApply(p *Pool, x []float32, M, C int, mean, invstd, gamma, beta []float32, y []float32, relu bool, scratch []float32) {
	L := max(tileLen(C), C)
	scale, shift := scratch[:L], scratch[L:2*L]
	for c := 0; c < C; c++ {
		scale[c] = invstd[c] * gamma[c]
		shift[c] = beta[c] - mean[c]*scale[c]
	}
	tile(scale, scale[:C])
	tile(shift, shift[:C])
	parallel(p, &bnTasks, M, 256, bnTask{op: bnScaleShift, x: x, y: y, C: C, L: L, a: scale, b: shift, relu: relu})
}

// BNScratch returns how many scratch floats BNApply and BNBackward need
// for C channels.
func BNScratch(C int) int { return 5 * max(tileLen(C), C) }

// ScaleShiftRows computes y = x·scale + shift over rows of len(scale)
// channels, then max(y, 0) if relu.
func ScaleShiftRows(x, y, scale, shift []float32, relu bool) {
	C := len(scale)
	shift = shift[:C]
	for i := 0; i+C <= len(x); i += C {
		xr := x[i : i+C]
		yr := y[i : i+C]
		if relu {
			for c, v := range xr {
				yr[c] = max(v*scale[c]+shift[c], 0)
			}
		} else {
			for c, v := range xr {
				yr[c] = v*scale[c] + shift[c]
			}
		}
	}
}

// BNBackward computes the gradients of y = BN(x) in training mode (batch
// statistics), for x, dy, dx [M, C]:
//
//	xhat   = (x - mean)·invstd            (recomputed from the saved x)
//	dgamma = Σ dy·xhat,  dbeta = Σ dy      (accumulated into dgamma, dbeta)
//	dx    += gamma·invstd/M · (M·dy - dbeta - xhat·dgamma)
//
// mean and invstd are the values the forward pass used. If y is not nil, the
// forward output was passed through ReLU (fused) and y is that output: dy is
// taken as zero where y <= 0. dx may be nil when only dgamma and dbeta are
// wanted. scratch must hold BNScratch(C) floats.
//
// The first pass sums g and g·x per channel (Σ g·xhat = invstd·(Σ g·x −
// mean·Σ g)); the second writes dx = a·g + b·x + d with per-channel a, b, d.
func BNBackward(p *Pool, x, dy, y []float32, M, C int, mean, invstd, gamma []float32, dx, dgamma, dbeta []float32, scratch []float32) {
	L := max(tileLen(C), C)
	sg, sb := scratch[:C], scratch[C:2*C]
	part := p.Partials(2 * L)
	parallel(p, &bnTasks, M, 256, bnTask{op: bnGradSums, x: x, y: y, dy: dy, C: C, L: L, part: part})
	clear(sg)
	clear(sb)
	for w := 0; w < p.n; w++ {
		fold(sb, part[w*2*L:w*2*L+L])
		fold(sg, part[w*2*L+L:(w+1)*2*L])
	}
	// sb = Σ g, sg = Σ g·x so far; turn sg into Σ g·xhat.
	for c := 0; c < C; c++ {
		sg[c] = invstd[c] * (sg[c] - mean[c]*sb[c])
		dgamma[c] += sg[c]
		dbeta[c] += sb[c]
	}
	if dx == nil {
		return
	}
	a, b, d := scratch[2*L:3*L], scratch[3*L:4*L], scratch[4*L:5*L]
	invM := 1 / float32(M)
	for c := 0; c < C; c++ {
		a[c] = gamma[c] * invstd[c]
		b[c] = -a[c] * invstd[c] * sg[c] * invM
		d[c] = -a[c]*sb[c]*invM - b[c]*mean[c]
	}
	tile(a, a[:C])
	tile(b, b[:C])
	tile(d, d[:C])
	parallel(p, &bnTasks, M, 256, bnTask{op: bnGrad, x: x, y: y, dy: dy, dx: dx, C: C, L: L, a: a, b: b, d: d})
}

func ysub(y []float32, lo, hi int) []float32 {
	if y == nil || lo >= hi {
		return nil
	}
	return y[lo:hi]
}

// bnSums adds Σ g and Σ g·x per channel over rows, where g = dy masked by
// y > 0 when y is not nil.
func bnSums(x, dy, y, sumG, sumGX []float32) {
	C := len(sumG)
	sumGX = sumGX[:C]
	for i := 0; i+C <= len(x); i += C {
		xr := x[i : i+C]
		dr := dy[i : i+C]
		if y != nil {
			yr := y[i : i+C]
			for c, g := range dr {
				if yr[c] > 0 {
					sumG[c] += g
					sumGX[c] += g * xr[c]
				}
			}
			continue
		}
		for c, g := range dr {
			sumG[c] += g
			sumGX[c] += g * xr[c]
		}
	}
}

// bnGradRows adds a·g + b·x + d to dx per channel, g = dy masked by y > 0
// when y is not nil.
func bnGradRows(x, dy, y, dx, a, b, d []float32) {
	C := len(a)
	b, d = b[:C], d[:C]
	for i := 0; i+C <= len(x); i += C {
		xr := x[i : i+C]
		dr := dy[i : i+C]
		out := dx[i : i+C]
		if y != nil {
			yr := y[i : i+C]
			for c, g := range dr {
				if yr[c] <= 0 {
					g = 0
				}
				out[c] += a[c]*g + b[c]*xr[c] + d[c]
			}
			continue
		}
		for c, g := range dr {
			out[c] += a[c]*g + b[c]*xr[c] + d[c]
		}
	}
}

// BNBackwardInference is the gradient of y = BN(x) with fixed (moving)
// statistics: dx += dy·gamma·invstd (unless dx is nil), dgamma += Σ dy·xhat,
// dbeta += Σ dy.
func BNBackwardInference(x, dy []float32, M, C int, mean, invstd, gamma []float32, dx, dgamma, dbeta []float32) {
	for r := 0; r < M; r++ {
		for c := 0; c < C; c++ {
			g := dy[r*C+c]
			if dx != nil {
				dx[r*C+c] += g * gamma[c] * invstd[c]
			}
			dgamma[c] += g * (x[r*C+c] - mean[c]) * invstd[c]
			dbeta[c] += g
		}
	}
}

type bnOp int

const (
	bnMoments bnOp = iota
	bnScaleShift
	bnGradSums
	bnGrad
)

// bnTask is the parallel body of the BatchNorm kernels, over positions.
type bnTask struct {
	op           bnOp
	x, y, dy, dx []float32
	a, b, d      []float32 // per-channel coefficients, tiled to L
	part         []float32 // per-worker partial sums
	C, L         int
	relu         bool
}

var bnTasks taskPool[bnTask]

func (t *bnTask) Run(w, lo, hi int) {
	C, L := t.C, t.L
	xs := t.x[lo*C : hi*C]
	blocks, bl, done := vecSplit(len(xs), C)
	switch t.op {
	case bnMoments: // a: center or nil; part: s1, s2, tiled center per worker
		s1 := t.part[w*3*L : w*3*L+L]
		s2 := t.part[w*3*L+L : w*3*L+2*L]
		ct := t.part[w*3*L+2*L : (w+1)*3*L]
		if t.a != nil {
			tile(ct, t.a)
		}
		if blocks > 0 {
			momentsAVX512(ptr(xs), ptr(ct), ptr(s1), ptr(s2), blocks, bl/16)
		}
		for i := done; i+C <= len(xs); i += C {
			for c, v := range xs[i : i+C] {
				d := v - ct[c]
				s1[c] += d
				s2[c] += d * d
			}
		}
	case bnScaleShift: // a: scale, b: shift
		ys := t.y[lo*C : hi*C]
		if blocks > 0 {
			scaleShiftAVX512(ptr(xs), ptr(ys), ptr(t.a), ptr(t.b), blocks, bl/16, t.relu)
		}
		ScaleShiftRows(xs[done:], ys[done:], t.a[:C], t.b[:C], t.relu)
	case bnGradSums: // part: Σg, Σg·x per worker
		ds, ys := t.dy[lo*C:hi*C], ysub(t.y, lo*C, hi*C)
		pg, pgx := t.part[w*2*L:w*2*L+L], t.part[w*2*L+L:(w+1)*2*L]
		if blocks > 0 {
			bnSumsAVX512(ptr(xs), ptr(ds), ptr(ys), ptr(pg), ptr(pgx), blocks, bl/16)
		}
		bnSums(xs[done:], ds[done:], ysub(ys, done, len(xs)), pg[:C], pgx[:C])
	case bnGrad: // dx += a·g + b·x + d
		ds, ys, dxs := t.dy[lo*C:hi*C], ysub(t.y, lo*C, hi*C), t.dx[lo*C:hi*C]
		if blocks > 0 {
			bnGradAVX512(ptr(xs), ptr(ds), ptr(ys), ptr(dxs), ptr(t.a), ptr(t.b), ptr(t.d), blocks, bl/16)
		}
		bnGradRows(xs[done:], ds[done:], ysub(ys, done, len(xs)), dxs[done:], t.a[:C], t.b[:C], t.d[:C])
	}
}
