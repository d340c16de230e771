package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// gemmBenchShapes are the products the networks run (batch 32): conv
// forward [N·H·W × k·k·Cin]·[k·k·Cin × Cout], the same in row chunks as a
// worker sees them, and the dense layers.
var gemmBenchShapes = []struct {
	name    string
	m, n, k int
}{
	{"conv1_28x28x1to8", 25088, 8, 9},
	{"conv_28x28x8to16", 25088, 16, 72},
	{"conv_28x28x16to16", 25088, 16, 144},
	{"conv_14x14x16to32", 6272, 32, 144},
	{"conv_14x14x32to32", 6272, 32, 288},
	{"conv_7x7x32to64", 1568, 64, 288},
	{"conv_7x7x64to64", 1568, 64, 576},
	{"conv1x1_28x28x8to16", 25088, 16, 8},
	{"dgrad_28x28x16to8", 25088, 8, 144},
	{"chunk113_16x144", 113, 16, 144},
	{"chunk56_32x288", 56, 32, 288},
	{"chunk28_64x576", 28, 64, 576},
	{"chunk512_8x9", 512, 8, 9},
	{"chunk256_16x144", 256, 16, 144},
	{"chunk64_32x288", 64, 32, 288},
	{"chunk128_64x576", 128, 64, 576},
	{"dense_3136to128", 32, 128, 3136},
	{"dense_128to10", 32, 10, 128},
}

// gemmTABenchShapes are weight-gradient products patchesᵀ·dY:
// [k·k·Cin × N·H·W]·[N·H·W × Cout], here over half the batch (one worker).
var gemmTABenchShapes = []struct {
	name    string
	m, n, k int
}{
	{"wgrad_16x144", 144, 16, 12544},
	{"wgrad_32x288", 288, 32, 3136},
	{"wgrad_64x576", 576, 64, 784},
	{"wgrad_dense_3136x128", 3136, 128, 16},
	{"wgrad_chunk113_16x144", 144, 16, 113},
	{"wgrad_chunk56_32x288", 288, 32, 56},
	{"wgrad_chunk28_64x576", 576, 64, 28},
}

// gemmTBBenchShapes are products with a transposed B: the dense layers'
// input gradient dY·Wᵀ split over two workers, and a strided convolution's
// patch gradient dY·Wᵀ.
var gemmTBBenchShapes = []struct {
	name    string
	m, n, k int
}{
	{"dense_dx_3136x128", 32, 1568, 128},
	{"dense_dx_128x10", 32, 64, 10},
	{"conv_dcols_576x64", 256, 576, 64},
}

func benchGemm(b *testing.B, f gemmFunc, m, n, k int, transA, transB bool) {
	rng := rand.New(rand.NewPCG(5, 6))
	a := make([]float32, m*k)
	bm := make([]float32, k*n)
	c := make([]float32, m*n)
	for i := range a {
		a[i] = rng.Float32()
	}
	for i := range bm {
		bm[i] = rng.Float32()
	}
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	f(m, n, k, a, lda, bm, ldb, c, n, false)
	b.ResetTimer()
	for b.Loop() {
		f(m, n, k, a, lda, bm, ldb, c, n, false)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// gemmBenchImpls lists the implementations to benchmark; the amd64 file
// adds the assembly ones.
var gemmBenchImpls = []struct {
	name        string
	f, fTA, fTB gemmFunc
	ok          func() bool
}{
	{"generic", SgemmGeneric, SgemmTAGeneric, SgemmTBGeneric, func() bool { return true }},
}

func BenchmarkSgemm(b *testing.B) {
	for _, impl := range gemmBenchImpls {
		for _, s := range gemmBenchShapes {
			b.Run(fmt.Sprintf("%s/%s_%dx%dx%d", impl.name, s.name, s.m, s.n, s.k), func(b *testing.B) {
				if !impl.ok() {
					b.Skip("CPU lacks the instructions")
				}
				benchGemm(b, impl.f, s.m, s.n, s.k, false, false)
			})
		}
	}
}

func BenchmarkSgemmTA(b *testing.B) {
	for _, impl := range gemmBenchImpls {
		for _, s := range gemmTABenchShapes {
			b.Run(fmt.Sprintf("%s/%s_%dx%dx%d", impl.name, s.name, s.m, s.n, s.k), func(b *testing.B) {
				if !impl.ok() {
					b.Skip("CPU lacks the instructions")
				}
				benchGemm(b, impl.fTA, s.m, s.n, s.k, true, false)
			})
		}
	}
}

func BenchmarkSgemmTB(b *testing.B) {
	for _, impl := range gemmBenchImpls {
		for _, s := range gemmTBBenchShapes {
			b.Run(fmt.Sprintf("%s/%s_%dx%dx%d", impl.name, s.name, s.m, s.n, s.k), func(b *testing.B) {
				if !impl.ok() {
					b.Skip("CPU lacks the instructions")
				}
				benchGemm(b, impl.fTB, s.m, s.n, s.k, false, true)
			})
		}
	}
}
