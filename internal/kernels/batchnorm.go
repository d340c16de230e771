package kernels

import "math"

// BatchNorm kernels work on x viewed as [M, C]: M = N·H·W positions of C
// channels (NHWC), normalising each channel over the M positions.

// BNStats computes the per-channel batch mean and the biased variance
// (divided by M, as tf.nn.moments does) of x [M, C] in one pass over x: Σ x
// and Σ x² are accumulated in float64, as PyTorch's CPU kernels do, so that
// neither the sums of thousands of positions nor Σ x²/M − mean² lose the
// float32 precision of the result. Positions are split across workers and
// the partial sums added in worker order.
func BNStats(p *Pool, x []float32, M, C int, mean, variance []float32) {
	L := max(tileLen(C), C)
	part := p.Partials64(2 * L) // per worker: Σ x, Σ x², tiled
	parallel(p, &bnTasks, M, 256, bnTask{op: bnMoments, x: x, C: C, L: L, part: part})
	s1, s2 := reduce64(part, p.Workers(), L, C)
	for c := 0; c < C; c++ {
		mu := s1[c] / float64(M)
		mean[c] = float32(mu)
		variance[c] = float32(max(s2[c]/float64(M)-mu*mu, 0))
	}
}

// reduce64 sums the workers' rows of part (each two sums tiled to L floats)
// in worker order into row 0, folds the tiles, and returns the two
// per-channel sums, which live in part.
func reduce64(part []float64, workers, L, C int) (a, b []float64) {
	row := part[:2*L]
	for w := 1; w < workers; w++ {
		for i, v := range part[w*2*L : (w+1)*2*L] {
			row[i] += v
		}
	}
	a, b = row[:C], row[L:L+C]
	fold(a, row[C:L])
	fold(b, row[L+C:])
	return a, b
}

// InvStd writes 1/sqrt(variance+eps) per channel.
func InvStd(variance []float32, eps float32, invstd []float32) {
	for c, v := range variance {
		invstd[c] = float32(1 / math.Sqrt(float64(v+eps)))
	}
}

// BNApply computes y = (x-mean)·invstd·gamma + beta for x, y [M, C], and
// then y = max(y, 0) when relu is set (the fused BatchNorm+ReLU). x is
// centred before it is scaled, as the formula reads; the result is then as
// exact as the float32 mean allows. scratch must hold
// BNScratch(C) floats; it receives the per-channel centre, scale and shift.
func BNApply(p *Pool, x []float32, M, C int, mean, invstd, gamma, beta []float32, y []float32, relu bool, scratch []float32) {
	L := max(tileLen(C), C)
	center, scale, shift := scratch[:L], scratch[L:2*L], scratch[2*L:3*L]
	for c := 0; c < C; c++ {
		scale[c] = invstd[c] * gamma[c]
	}
	tile(center, mean[:C])
	tile(scale, scale[:C])
	tile(shift, beta[:C])
	parallel(p, &bnTasks, M, 256, bnTask{op: bnScaleShift, x: x, y: y, C: C, L: L, center: center, a: scale, b: shift, relu: relu})
}

// BNScratch returns how many scratch floats BNApply and BNBackward need
// for C channels.
func BNScratch(C int) int { return 8 * max(tileLen(C), C) }

// scaleShiftRows computes y = (x − center)·scale + shift over rows of
// len(scale) channels, then max(y, 0) if relu.
func scaleShiftRows(x, y, center, scale, shift []float32, relu bool) {
	C := len(scale)
	center, shift = center[:C], shift[:C]
	for i := 0; i+C <= len(x); i += C {
		xr := x[i : i+C]
		yr := y[i : i+C]
		if relu {
			for c, v := range xr {
				yr[c] = max((v-center[c])*scale[c]+shift[c], 0)
			}
		} else {
			for c, v := range xr {
				yr[c] = (v-center[c])*scale[c] + shift[c]
			}
		}
	}
}

// BNBackward computes the gradients of y = BN(x) in training mode (batch
// statistics), for x, dy, dx [M, C]:
//
//	xhat   = (x - mean)·invstd            (recomputed from the saved x)
//	dgamma = Σ dy·xhat,  dbeta = Σ dy      (accumulated into dgamma, dbeta)
//	dx    += gamma·invstd/M · (M·dy - dbeta - xhat·dgamma)   (= when acc is false)
//
// mean, invstd, gamma and beta are the values the forward pass (BNApply)
// used. If y is not nil, the forward output was passed through ReLU (fused)
// and y is that output: dy is taken as zero where y <= 0. The AVX-512
// kernels find that mask again from x, with the same instructions as
// BNApply's and so the same signs, rather than read y back (one stream of
// memory fewer); the portable ones read y, which is cheaper for scalar
// code. dx may be nil when only dgamma and dbeta are wanted. scratch must
// hold BNScratch(C) floats. The positions split across p's workers as they
// did in BNApply (the same M), so each is recomputed by the kernel that
// computed it.
//
// The first pass sums g and g·(x − mean) per channel (Σ g·xhat is invstd
// times the second); the second pass writes dx = a·g + b·(x − mean) + d
// with per-channel a, b, d. Both centre x before multiplying: expanding
// Σ g·(x − mean) into Σ g·x − mean·Σ g would cancel catastrophically in
// float32 for a channel whose mean is large beside its spread.
func BNBackward(p *Pool, x, dy, y []float32, M, C int, mean, invstd, gamma, beta []float32, dx, dgamma, dbeta []float32, scratch []float32, acc bool) {
	L := max(tileLen(C), C)
	sg, sb := scratch[:C], scratch[C:2*C]
	center := scratch[5*L : 6*L]
	tile(center, mean[:C])
	var scale, shift []float32 // the forward's, for the vector kernels' ReLU mask
	if y != nil && rowsFast {
		scale, shift = scratch[6*L:7*L], scratch[7*L:8*L]
		for c := 0; c < C; c++ {
			scale[c] = invstd[c] * gamma[c]
		}
		tile(scale, scale[:C])
		tile(shift, beta[:C])
	}
	part := p.Partials64(2 * L) // per worker: Σ g, Σ g·(x − mean), tiled
	parallel(p, &bnTasks, M, 256, bnTask{op: bnGradSums, x: x, y: y, dy: dy, C: C, L: L, center: center, scale: scale, shift: shift, part: part})
	sumG, sumGX := reduce64(part, p.Workers(), L, C)
	for c := 0; c < C; c++ {
		sb[c] = float32(sumG[c])
		sg[c] = float32(sumGX[c] * float64(invstd[c])) // Σ g·xhat
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
		d[c] = -a[c] * sb[c] * invM
	}
	tile(a, a[:C])
	tile(b, b[:C])
	tile(d, d[:C])
	parallel(p, &bnTasks, M, 256, bnTask{op: bnGrad, x: x, y: y, dy: dy, dx: dx, C: C, L: L, center: center, scale: scale, shift: shift, a: a, b: b, d: d, write: !acc})
}

// reluMask returns g where the ReLU's output y is positive and +0
// elsewhere, without a branch (a conditional move): where a layer's
// inputs straddle zero the mask is as good as random, and a mispredicted
// branch per element cost the portable BatchNorm backward most of its time.
func reluMask(g, y float32) float32 {
	var keep uint32
	if y > 0 {
		keep = ^uint32(0)
	}
	return math.Float32frombits(math.Float32bits(g) & keep)
}

func ysub(y []float32, lo, hi int) []float32 {
	if y == nil || lo >= hi {
		return nil
	}
	return y[lo:hi]
}

// bnSums adds Σ g and Σ g·(x − center) per channel over rows, in float64,
// where g = dy masked by y > 0 when y is not nil.
func bnSums(x, center, dy, y []float32, sumG, sumGX []float64) {
	C := len(sumG)
	center, sumGX = center[:C], sumGX[:C]
	for i := 0; i+C <= len(x); i += C {
		xr := x[i : i+C]
		dr := dy[i : i+C]
		if y != nil {
			yr := y[i : i+C]
			for c, g := range dr {
				g = reluMask(g, yr[c])
				sumG[c] += float64(g)
				sumGX[c] += float64(g) * float64(xr[c]-center[c])
			}
			continue
		}
		for c, g := range dr {
			sumG[c] += float64(g)
			sumGX[c] += float64(g) * float64(xr[c]-center[c])
		}
	}
}

// bnGradRows adds a·g + b·(x − center) + d to dx per channel, g = dy
// masked by y > 0 when y is not nil.
func bnGradRows(x, center, dy, y, dx, a, b, d []float32) {
	C := len(a)
	center, b, d = center[:C], b[:C], d[:C]
	for i := 0; i+C <= len(x); i += C {
		xr := x[i : i+C]
		dr := dy[i : i+C]
		out := dx[i : i+C]
		if y != nil {
			yr := y[i : i+C]
			for c, g := range dr {
				out[c] += a[c]*reluMask(g, yr[c]) + b[c]*(xr[c]-center[c]) + d[c]
			}
			continue
		}
		for c, g := range dr {
			out[c] += a[c]*g + b[c]*(xr[c]-center[c]) + d[c]
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
	center       []float32 // per-channel centre (the mean), tiled to L
	scale, shift []float32 // the forward's, tiled to L, for the vector kernels' ReLU mask, or nil
	a, b, d      []float32 // per-channel coefficients, tiled to L
	part         []float64 // per-worker partial sums
	C, L         int
	relu         bool
	write        bool // bnGrad: dx is overwritten, not added to
}

var bnTasks taskPool[bnTask]

func (t *bnTask) Run(w, lo, hi int) {
	C, L := t.C, t.L
	xs := t.x[lo*C : hi*C]
	blocks, bl, done := bnSplit(len(xs), C)
	switch t.op {
	case bnMoments: // part: Σ x, Σ x² per worker, in float64
		s1, s2 := t.part[w*2*L:w*2*L+L], t.part[w*2*L+L:(w+1)*2*L]
		switch {
		case blocks > 0 && rowsFast:
			momentsAVX512(ptr(xs), &s1[0], &s2[0], blocks, bl/16)
		case blocks > 0:
			momentsAVX2(ptr(xs), &s1[0], &s2[0], blocks, bl/16)
		}
		for i := done; i+C <= len(xs); i += C {
			for c, v := range xs[i : i+C] {
				s1[c] += float64(v)
				s2[c] += float64(v) * float64(v)
			}
		}
	case bnScaleShift: // a: scale, b: shift
		ys := t.y[lo*C : hi*C]
		if blocks > 0 {
			scaleShiftBlocks(xs, t.center, ys, t.a, t.b, blocks, bl/16, t.relu)
		}
		scaleShiftRows(xs[done:], ys[done:], t.center[:C], t.a[:C], t.b[:C], t.relu)
	case bnGradSums: // part: Σ g, Σ g·(x − center) per worker, in float64
		ds, ys := t.dy[lo*C:hi*C], ysub(t.y, lo*C, hi*C)
		pg, pgx := t.part[w*2*L:w*2*L+L], t.part[w*2*L+L:(w+1)*2*L]
		switch {
		case blocks > 0 && rowsFast:
			bnSumsAVX512(ptr(xs), ptr(t.center), ptr(ds), ptr(t.scale), ptr(t.shift), &pg[0], &pgx[0], blocks, bl/16)
		case blocks > 0:
			bnSumsAVX2(ptr(xs), ptr(t.center), ptr(ds), ptr(ys), &pg[0], &pgx[0], blocks, bl/16)
		}
		bnSums(xs[done:], t.center[:C], ds[done:], ysub(ys, done, len(xs)), pg[:C], pgx[:C])
	case bnGrad: // dx += a·g + b·(x − center) + d
		ds, ys, dxs := t.dy[lo*C:hi*C], ysub(t.y, lo*C, hi*C), t.dx[lo*C:hi*C]
		switch {
		case blocks > 0 && rowsFast:
			bnGradAVX512(ptr(xs), ptr(t.center), ptr(ds), ptr(t.scale), ptr(t.shift), ptr(dxs), ptr(t.a), ptr(t.b), ptr(t.d), blocks, bl/16, !t.write)
		case blocks > 0:
			bnGradAVX2(ptr(xs), ptr(t.center), ptr(ds), ptr(ys), ptr(dxs), ptr(t.a), ptr(t.b), ptr(t.d), blocks, bl/16, !t.write)
		}
		if t.write { // the portable rows add: zero them first, in cache
			clear(dxs[done:])
		}
		bnGradRows(xs[done:], t.center[:C], ds[done:], ysub(ys, done, len(xs)), dxs[done:], t.a[:C], t.b[:C], t.d[:C])
	}
}
