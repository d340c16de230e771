package kernels

import (
	"fmt"
	"math/rand/v2"
	"resgo/compute"
	"testing"
)

// The ResNet's 3×3 convolutions at batch 32: (H, C, Cout).
var resnetConvs = []struct{ h, c, co int }{
	{28, 8, 16}, {28, 16, 16}, {14, 16, 32}, {14, 32, 32}, {7, 32, 64}, {7, 64, 64},
}

func benchConv(b *testing.B, workers int, run func(p *Pool, s ConvShape, bufs [][]float32)) {
	for _, c := range resnetConvs {
		s := stride1Shape(32, c.h, c.h, c.c, 3, 3, c.co, true)
		b.Run(fmt.Sprintf("%dx%dx%d-%d", c.h, c.h, c.c, c.co), func(b *testing.B) {
			p := compute.NewPool(workers)
			defer p.Close()
			r := rand.New(rand.NewPCG(1, 1))
			x := randVec(r, s.N*s.H*s.W*s.C)
			xp := make([]float32, PaddedLen(s))
			PadInput(p, s, x, xp)
			bufs := [][]float32{x, xp, randVec(r, s.K()*s.Cout), make([]float32, s.Rows()*s.Cout),
				randVec(r, s.Rows()*s.Cout), make([]float32, len(x)), make([]float32, s.K()*s.Cout),
				make([]float32, PaddedLen(BackwardInputShape(s))), make([]float32, s.K()*s.Cout)}
			run(p, s, bufs)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				run(p, s, bufs)
			}
			flops := 2 * float64(s.Rows()) * float64(s.K()) * float64(s.Cout)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkConvForward times the implicit-GEMM forward pass of the
// ResNet's convolutions on one worker, in GFLOP/s.
func BenchmarkConvForward(b *testing.B) {
	benchConv(b, 1, func(p *Pool, s ConvShape, v [][]float32) {
		PadInput(p, s, v[0], v[1])
		ConvForwardPadded(p, s, v[1], v[2], nil, v[3], false)
	})
}

// BenchmarkConvForwardIm2col is the same with explicit patch packing.
func BenchmarkConvForwardIm2col(b *testing.B) {
	benchConv(b, 1, func(p *Pool, s ConvShape, v [][]float32) {
		ConvForward(p, s, v[0], v[2], nil, v[3], false)
	})
}

// BenchmarkConvBackwardInput times dX on one worker.
func BenchmarkConvBackwardInput(b *testing.B) {
	benchConv(b, 1, func(p *Pool, s ConvShape, v [][]float32) {
		ConvBackwardInputPadded(p, s, v[4], v[2], v[6], v[7], v[5], true)
	})
}

// BenchmarkConvBackwardWeight times dW on one worker.
func BenchmarkConvBackwardWeight(b *testing.B) {
	benchConv(b, 1, func(p *Pool, s ConvShape, v [][]float32) {
		ConvBackwardWeightPadded(p, s, v[1], v[4], v[8], nil)
	})
}

// BenchmarkConvForward2 is BenchmarkConvForward on two workers; its GFLOP/s
// against the one-worker figure shows how well the split scales.
func BenchmarkConvForward2(b *testing.B) {
	benchConv(b, 2, func(p *Pool, s ConvShape, v [][]float32) {
		PadInput(p, s, v[0], v[1])
		ConvForwardPadded(p, s, v[1], v[2], nil, v[3], false)
	})
}

// BenchmarkConvBackwardWeight2 times dW (unpadded input, as training runs
// it) on two workers.
func BenchmarkConvBackwardWeight2(b *testing.B) {
	benchConv(b, 2, func(p *Pool, s ConvShape, v [][]float32) {
		trainBackwardWeight(p, s, v[0], v[4], v[8])
	})
}

// trainBackwardWeight runs dW the way training does for s.
func trainBackwardWeight(p *Pool, s ConvShape, x, dy, dw []float32) {
	if PreferImplicitWeight(s) {
		ConvBackwardWeightImplicit(p, s, x, dy, dw, nil)
	} else {
		ConvBackwardWeight(p, s, x, dy, dw, nil)
	}
}

// BenchmarkConvBackwardWeight1 is BenchmarkConvBackwardWeight2 on one
// worker.
func BenchmarkConvBackwardWeight1(b *testing.B) {
	benchConv(b, 1, func(p *Pool, s ConvShape, v [][]float32) {
		trainBackwardWeight(p, s, v[0], v[4], v[8])
	})
}
