package kernels

import "math"

// BatchNorm kernels work on x viewed as [M, C]: M = N·H·W positions of C
// channels (NHWC), normalising each channel over the M positions.

// BNStats computes the per-channel batch mean and the biased variance
// (divided by M, as tf.nn.moments does) of x [M, C], in two passes for
// accuracy. Positions are split across workers and the partial sums added
// in worker order.
func BNStats(p *Pool, x []float32, M, C int, mean, variance []float32) {
	part := p.Partials(C)
	p.For(M, 256, func(w, lo, hi int) {
		acc := part[w*C : (w+1)*C]
		for r := lo; r < hi; r++ {
			for c, v := range x[r*C : (r+1)*C] {
				acc[c] += v
			}
		}
	})
	sumRows(part, p.n, C, mean)
	inv := 1 / float32(M)
	for c := range mean {
		mean[c] *= inv
	}
	part = p.Partials(C)
	p.For(M, 256, func(w, lo, hi int) {
		acc := part[w*C : (w+1)*C]
		for r := lo; r < hi; r++ {
			for c, v := range x[r*C : (r+1)*C] {
				d := v - mean[c]
				acc[c] += d * d
			}
		}
	})
	sumRows(part, p.n, C, variance)
	for c := range variance {
		variance[c] *= inv
	}
}

// sumRows adds the rows of part [rows, C] into out, in order.
func sumRows(part []float32, rows, C int, out []float32) {
	clear(out)
	for w := 0; w < rows; w++ {
		for c, v := range part[w*C : (w+1)*C] {
			out[c] += v
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
// then y = max(y, 0) when relu is set (the fused BatchNorm+ReLU).
func BNApply(p *Pool, x []float32, M, C int, mean, invstd, gamma, beta []float32, y []float32, relu bool) {
	p.For(M, 256, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*C : (r+1)*C]
			yr := y[r*C : (r+1)*C]
			for c, v := range xr {
				o := (v-mean[c])*invstd[c]*gamma[c] + beta[c]
				if relu && o < 0 {
					o = 0
				}
				yr[c] = o
			}
		}
	})
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
// taken as zero where y == 0. scratch must hold 2·C floats.
func BNBackward(p *Pool, x, dy, y []float32, M, C int, mean, invstd, gamma []float32, dx, dgamma, dbeta []float32, scratch []float32) {
	sg, sb := scratch[:C], scratch[C:2*C]
	part := p.Partials(2 * C)
	p.For(M, 256, func(w, lo, hi int) {
		ag := part[w*2*C : w*2*C+C]
		ab := part[w*2*C+C : (w+1)*2*C]
		for r := lo; r < hi; r++ {
			xr := x[r*C : (r+1)*C]
			dr := dy[r*C : (r+1)*C]
			if y != nil {
				yr := y[r*C : (r+1)*C]
				for c, g := range dr {
					if yr[c] <= 0 {
						continue
					}
					ag[c] += g * (xr[c] - mean[c]) * invstd[c]
					ab[c] += g
				}
				continue
			}
			for c, g := range dr {
				ag[c] += g * (xr[c] - mean[c]) * invstd[c]
				ab[c] += g
			}
		}
	})
	clear(sg)
	clear(sb)
	for w := 0; w < p.n; w++ {
		for c := 0; c < C; c++ {
			sg[c] += part[w*2*C+c]
			sb[c] += part[w*2*C+C+c]
		}
	}
	for c := 0; c < C; c++ {
		dgamma[c] += sg[c]
		dbeta[c] += sb[c]
	}
	invM := 1 / float32(M)
	p.For(M, 256, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*C : (r+1)*C]
			dr := dy[r*C : (r+1)*C]
			out := dx[r*C : (r+1)*C]
			for c, g := range dr {
				if y != nil && y[r*C+c] <= 0 {
					g = 0
				}
				xhat := (xr[c] - mean[c]) * invstd[c]
				out[c] += gamma[c] * invstd[c] * (g - (sb[c]+xhat*sg[c])*invM)
			}
		}
	})
}

// BNBackwardInference is the gradient of y = BN(x) with fixed (moving)
// statistics: dx += dy·gamma·invstd, dgamma += Σ dy·xhat, dbeta += Σ dy.
func BNBackwardInference(x, dy []float32, M, C int, mean, invstd, gamma []float32, dx, dgamma, dbeta []float32) {
	for r := 0; r < M; r++ {
		for c := 0; c < C; c++ {
			g := dy[r*C+c]
			dx[r*C+c] += g * gamma[c] * invstd[c]
			dgamma[c] += g * (x[r*C+c] - mean[c]) * invstd[c]
			dbeta[c] += g
		}
	}
}
