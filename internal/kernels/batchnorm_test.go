package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"resgo/compute"
	"testing"
)

// The BatchNorm kernels against float64 references written from the
// formulas, for channel counts that the vector row kernels tile (1, 2, 4,
// 8, 16, 32, 48) and that they do not (3, 5, 17, 24), position counts
// that leave tails and that split across workers, and inputs whose channels
// have different means and scales.

var ctBNChannels = []int{1, 2, 3, 4, 5, 8, 16, 17, 24, 32, 48}
var ctBNPositions = []int{1, 7, 33, 300, 701}

// ctBNInput returns x [M, C] whose channel c has mean about off[c] and
// standard deviation about sd[c].
func ctBNInput(r *rand.Rand, M, C int) []float32 {
	off, sd := make([]float64, C), make([]float64, C)
	for c := range off {
		off[c] = 4 * (r.Float64()*2 - 1)
		sd[c] = 0.1 + 3*r.Float64()
	}
	x := make([]float32, M*C)
	for i := range x {
		c := i % C
		x[i] = float32(off[c] + sd[c]*r.NormFloat64())
	}
	return x
}

// ctBNStats64 returns the per-channel mean and biased variance in float64,
// and the mean of |x| (the scale of the mean's rounding error).
func ctBNStats64(x []float32, M, C int) (mean, variance, meanAbs []float64) {
	mean, variance, meanAbs = make([]float64, C), make([]float64, C), make([]float64, C)
	for i, v := range x {
		mean[i%C] += float64(v)
		meanAbs[i%C] += math.Abs(float64(v))
	}
	for c := range mean {
		mean[c] /= float64(M)
		meanAbs[c] /= float64(M)
	}
	for i, v := range x {
		d := float64(v) - mean[i%C]
		variance[i%C] += d * d
	}
	for c := range variance {
		variance[c] /= float64(M)
	}
	return mean, variance, meanAbs
}

func TestBNStats(t *testing.T) {
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		r := rand.New(rand.NewPCG(4, 4))
		for _, C := range ctBNChannels {
			for _, M := range ctBNPositions {
				x := ctBNInput(r, M, C)
				mean, variance := ctOut(r, C), ctOut(r, C)
				BNStats(p, x, M, C, mean, variance)
				ctCheckGuard(t, "BNStats mean", mean)
				ctCheckGuard(t, "BNStats variance", variance)
				m64, v64, abs := ctBNStats64(x, M, C)
				for c := 0; c < C; c++ {
					// The sums are float64: only the results' rounding to
					// float32 remains.
					if d := math.Abs(float64(mean[c]) - m64[c]); d > 1e-7*abs[c] {
						t.Fatalf("M=%d C=%d: mean[%d] = %v, want %v", M, C, c, mean[c], m64[c])
					}
					if d := math.Abs(float64(variance[c]) - v64[c]); d > 1e-7*v64[c]+1e-12 {
						t.Fatalf("M=%d C=%d: variance[%d] = %v, want %v", M, C, c, variance[c], v64[c])
					}
				}
			}
		}
	})
}

func TestBNStatsHand(t *testing.T) {
	// x [4, 2]: channel 0 = 1, 3, 2, 6 (mean 3, biased variance 14/4 = 3.5);
	// channel 1 = 0, 2, −2, 4 (mean 1, variance 20/4 = 5).
	p := compute.NewPool(1)
	defer p.Close()
	x := []float32{1, 0, 3, 2, 2, -2, 6, 4}
	mean, variance := make([]float32, 2), make([]float32, 2)
	BNStats(p, x, 4, 2, mean, variance)
	if mean[0] != 3 || mean[1] != 1 || variance[0] != 3.5 || variance[1] != 5 {
		t.Fatalf("BNStats = mean %v variance %v, want [3 1] and [3.5 5] (biased)", mean, variance)
	}
	invstd := make([]float32, 2)
	InvStd(variance, 1e-3, invstd)
	for c, v := range []float64{3.5, 5} {
		want := 1 / math.Sqrt(v+1e-3)
		if math.Abs(float64(invstd[c])-want) > 1e-7*want {
			t.Fatalf("InvStd[%d] = %v, want %v", c, invstd[c], want)
		}
	}
}

func TestBNApply(t *testing.T) {
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		r := rand.New(rand.NewPCG(5, 5))
		for _, C := range ctBNChannels {
			for _, M := range ctBNPositions {
				x := ctBNInput(r, M, C)
				mean, variance := make([]float32, C), make([]float32, C)
				BNStats(p, x, M, C, mean, variance)
				invstd := make([]float32, C)
				InvStd(variance, 1e-3, invstd)
				gamma, beta := ctRand(r, C), ctRand(r, C)
				for _, relu := range []bool{false, true} {
					y := ctOut(r, M*C)
					BNApply(p, x, M, C, mean, invstd, gamma, beta, y, relu, make([]float32, BNScratch(C)))
					ctCheckGuard(t, "BNApply", y)
					want, mag := make([]float64, M*C), make([]float64, M*C)
					for i, v := range x {
						c := i % C
						s := float64(invstd[c]) * float64(gamma[c])
						o := (float64(v)-float64(mean[c]))*s + float64(beta[c])
						if relu {
							o = max(o, 0)
						}
						want[i] = o
						mag[i] = math.Abs(float64(v)*s) + math.Abs(float64(mean[c])*s) + math.Abs(float64(beta[c]))
					}
					ctClose(t, fmt.Sprintf("BNApply M=%d C=%d relu=%v", M, C, relu), y, want, mag, 1e-5)
				}
			}
		}
	})
}

// ctBNBackward64 is the training-mode BatchNorm gradient in float64, for
// the mean and invstd the forward used: with g = dy (zeroed where y <= 0 if
// y is given) and xhat = (x−mean)·invstd,
//
//	dgamma = Σ g·xhat, dbeta = Σ g,
//	dx = gamma·invstd·(g − dbeta/M − xhat·dgamma/M).
//
// It also returns error scales for float32 evaluation of the same sums.
func ctBNBackward64(x, dy, y []float32, M, C int, mean, invstd, gamma []float32) (dx, dg, db, magX, magG, magB []float64) {
	dx, magX = make([]float64, M*C), make([]float64, M*C)
	dg, db, magG, magB = make([]float64, C), make([]float64, C), make([]float64, C), make([]float64, C)
	g := make([]float64, M*C)
	for i, v := range dy {
		if y == nil || y[i] > 0 {
			g[i] = float64(v)
		}
	}
	for i, v := range x {
		c := i % C
		xhat := (float64(v) - float64(mean[c])) * float64(invstd[c])
		dg[c] += g[i] * xhat
		db[c] += g[i]
		magG[c] += math.Abs(g[i] * xhat)
		magB[c] += math.Abs(g[i])
	}
	for i, v := range x {
		c := i % C
		a := float64(gamma[c]) * float64(invstd[c])
		xhat := (float64(v) - float64(mean[c])) * float64(invstd[c])
		dx[i] = a * (g[i] - db[c]/float64(M) - xhat*dg[c]/float64(M))
		magX[i] = math.Abs(a) * (math.Abs(g[i]) + magB[c]/float64(M) + math.Abs(xhat)*magG[c]/float64(M))
	}
	return dx, dg, db, magX, magG, magB
}

// ctBNBatch returns a batch x [M, C] (ctBNInput) and the mean and
// 1/sqrt(variance+1e-3) that BatchNorm's training forward pass finds in it.
func ctBNBatch(p *Pool, r *rand.Rand, M, C int) (x, mean, invstd []float32) {
	x = ctBNInput(r, M, C)
	mean, variance, invstd := make([]float32, C), make([]float32, C), make([]float32, C)
	BNStats(p, x, M, C, mean, variance)
	InvStd(variance, 1e-3, invstd)
	return x, mean, invstd
}

func TestBNBackward(t *testing.T) {
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		r := rand.New(rand.NewPCG(6, 6))
		for _, C := range ctBNChannels {
			for _, M := range ctBNPositions {
				x, mean, invstd := ctBNBatch(p, r, M, C)
				gamma, beta, dy := ctRand(r, C), ctRand(r, C), ctRand(r, M*C)
				// The fused ReLU's output, whose zeros mask dy.
				y := make([]float32, M*C)
				BNApply(p, x, M, C, mean, invstd, gamma, beta, y, true, make([]float32, BNScratch(C)))
				for _, relu := range []bool{false, true} {
					name := fmt.Sprintf("BNBackward M=%d C=%d relu=%v", M, C, relu)
					mask := y
					if !relu {
						mask = nil
					}
					dx, dg, db := ctOut(r, M*C), ctOut(r, C), ctOut(r, C)
					wx, wg, wb, mx, mg, mb := ctBNBackward64(x, dy, mask, M, C, mean, invstd, gamma)
					ctAddInit(wx, mx, dx)
					ctAddInit(wg, mg, dg)
					ctAddInit(wb, mb, db)
					BNBackward(p, x, dy, mask, M, C, mean, invstd, gamma, beta, dx, dg, db, make([]float32, BNScratch(C)), true)
					ctCheckGuard(t, name+" dx", dx)
					ctCheckGuard(t, name+" dgamma", dg)
					ctCheckGuard(t, name+" dbeta", db)
					ctClose(t, name+" dgamma", dg, wg, mg, 1e-6)
					ctClose(t, name+" dbeta", db, wb, mb, 1e-6)
					ctClose(t, name+" dx", dx, wx, mx, 2e-5)
				}
			}
		}
	})
}

// TestBNBackwardReLUMask checks that BNBackward, which the vector kernels
// run with the fused ReLU's mask found again from x, masks exactly where
// BNApply's output was zero: given that output it gives the bits of the
// unmasked gradient of dy zeroed there, with each kernel set and worker
// count. Inputs near a channel's zero crossing (shift = −mean·scale) make
// the sign a close call.
func TestBNBackwardReLUMask(t *testing.T) {
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		r := rand.New(rand.NewPCG(26, 26))
		for _, C := range ctBNChannels {
			for _, M := range ctBNPositions {
				x, mean, invstd := ctBNBatch(p, r, M, C)
				for i := 0; i < len(x); i += 3 {
					x[i] = mean[i%C] * (1 + float32(r.NormFloat64())*1e-7)
				}
				gamma, beta, dy := ctRand(r, C), make([]float32, C), ctRand(r, M*C)
				for c := range beta {
					if c%2 == 0 {
						beta[c] = float32(r.NormFloat64())
					}
				}
				y := make([]float32, M*C)
				BNApply(p, x, M, C, mean, invstd, gamma, beta, y, true, make([]float32, BNScratch(C)))
				masked := make([]float32, len(dy))
				for i, v := range dy {
					if y[i] > 0 {
						masked[i] = v
					}
				}
				name := fmt.Sprintf("M=%d C=%d", M, C)
				dx, dg, db := make([]float32, M*C), make([]float32, C), make([]float32, C)
				BNBackward(p, x, dy, y, M, C, mean, invstd, gamma, beta, dx, dg, db, make([]float32, BNScratch(C)), false)
				wx, wg, wb := make([]float32, M*C), make([]float32, C), make([]float32, C)
				BNBackward(p, x, masked, nil, M, C, mean, invstd, gamma, beta, wx, wg, wb, make([]float32, BNScratch(C)), false)
				ctSameBits(t, name+" dx", dx, wx)
				ctSameBits(t, name+" dgamma", dg, wg)
				ctSameBits(t, name+" dbeta", db, wb)
			}
		}
	})
}

func TestBNBackwardInference(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, C := range []int{1, 3, 16} {
		M := 37
		x, dy := ctBNInput(r, M, C), ctRand(r, M*C)
		mean, gamma := ctRand(r, C), ctRand(r, C)
		invstd := make([]float32, C)
		for c := range invstd {
			invstd[c] = 0.5 + r.Float32()
		}
		dx, dg, db := ctOut(r, M*C), ctOut(r, C), ctOut(r, C)
		wx, mx := make([]float64, M*C), make([]float64, M*C)
		wg, mg, wb, mb := make([]float64, C), make([]float64, C), make([]float64, C), make([]float64, C)
		for i, v := range x {
			c := i % C
			g := float64(dy[i])
			wx[i] = g * float64(gamma[c]) * float64(invstd[c])
			mx[i] = math.Abs(wx[i])
			xhat := (float64(v) - float64(mean[c])) * float64(invstd[c])
			wg[c] += g * xhat
			mg[c] += math.Abs(g) * (math.Abs(float64(v)) + math.Abs(float64(mean[c]))) * float64(invstd[c])
			wb[c] += g
			mb[c] += math.Abs(g)
		}
		ctAddInit(wx, mx, dx)
		ctAddInit(wg, mg, dg)
		ctAddInit(wb, mb, db)
		BNBackwardInference(x, dy, M, C, mean, invstd, gamma, dx, dg, db)
		ctClose(t, "inference dx", dx, wx, mx, 1e-5)
		ctClose(t, "inference dgamma", dg, wg, mg, 1e-5)
		ctClose(t, "inference dbeta", db, wb, mb, 1e-5)
	}
}

// The ResNet's BatchNorm inputs at batch 32: (positions, channels).
var resnetBNs = []struct{ m, c int }{{32 * 28 * 28, 8}, {32 * 28 * 28, 16}, {32 * 14 * 14, 32}, {32 * 7 * 7, 64}}

// benchBN times run over the ResNet's BatchNorm shapes on one worker, in
// GB/s of x read.
func benchBN(b *testing.B, run func(p *Pool, M, C int, x, dy, y, dx []float32)) {
	for _, s := range resnetBNs {
		b.Run(fmt.Sprintf("%dx%d", s.m, s.c), func(b *testing.B) {
			p := compute.NewPool(1)
			defer p.Close()
			r := rand.New(rand.NewPCG(1, 1))
			x, dy, y := ctBNInput(r, s.m, s.c), ctRand(r, s.m*s.c), ctRand(r, s.m*s.c)
			dx := make([]float32, len(x))
			run(p, s.m, s.c, x, dy, y, dx)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				run(p, s.m, s.c, x, dy, y, dx)
			}
			b.ReportMetric(float64(4*len(x))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

// BenchmarkBNStats times the forward pass's sums.
func BenchmarkBNStats(b *testing.B) {
	benchBN(b, func(p *Pool, M, C int, x, dy, y, dx []float32) {
		var mean, variance [64]float32
		BNStats(p, x, M, C, mean[:C], variance[:C])
	})
}

// BenchmarkBNBackward times BatchNorm+ReLU's backward pass (sums and dx).
func BenchmarkBNBackward(b *testing.B) {
	var mean, invstd, gamma, beta, dg, db [64]float32
	for c := range invstd {
		invstd[c], gamma[c] = 1, 1
	}
	scratch := make([]float32, BNScratch(64))
	benchBN(b, func(p *Pool, M, C int, x, dy, y, dx []float32) {
		BNBackward(p, x, dy, y, M, C, mean[:C], invstd[:C], gamma[:C], beta[:C], dx, dg[:C], db[:C], scratch, false)
	})
}
