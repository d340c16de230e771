package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// gemmSegBenchShapes are the products one work unit of the implicit
// convolution runs for the ResNet's 3×3 convolutions (batch 32): M = rows·Wp
// positions, N = Cout, 3 segments of KW·C, lda = C, segStride = Wp·C; and
// the same at M = 256.
var gemmSegBenchShapes = []struct {
	name                         string
	m, n, segs, segLen, lda, wpc int
}{
	{"28x28x8-16", 240, 16, 3, 24, 8, 30 * 8},
	{"28x28x16-16", 240, 16, 3, 48, 16, 30 * 16},
	{"14x14x16-32", 224, 32, 3, 48, 16, 16 * 16},
	{"14x14x32-32", 224, 32, 3, 96, 32, 16 * 32},
	{"7x7x32-64", 63, 64, 3, 96, 32, 9 * 32},
	{"7x7x64-64", 63, 64, 3, 192, 64, 9 * 64},
	{"dx28x28x16-8", 240, 8, 3, 48, 16, 30 * 16},
	{"M256_16x48", 256, 16, 3, 48, 16, 30 * 16},
	{"M256_32x96", 256, 32, 3, 96, 32, 16 * 32},
	{"M256_64x192", 256, 64, 3, 192, 64, 9 * 64},
	{"M256_16x24", 256, 16, 3, 24, 8, 30 * 8},
}

type gemmSegBenchImpl struct {
	name string
	seg  gemmSegFunc
	gemm gemmFunc
	ok   func() bool
}

// gemmSegBenchImpls lists the implementations to benchmark; the amd64 file
// adds the assembly ones.
var gemmSegBenchImpls = []gemmSegBenchImpl{
	{"generic", SgemmSegGeneric, SgemmGeneric, func() bool { return true }},
}

// BenchmarkSgemmSeg times, per shape, the segmented product in one call
// ("seg"), the same as one GEMM per segment accumulating into C ("split",
// what the convolution did before), and a plain GEMM of the same depth with
// contiguous A rows ("flat", the speed to aim at).
func BenchmarkSgemmSeg(b *testing.B) {
	for _, impl := range gemmSegBenchImpls {
		for _, s := range gemmSegBenchShapes {
			for _, mode := range []string{"seg", "split", "flat"} {
				b.Run(fmt.Sprintf("%s/%s_%dx%dx%dx%d/%s", impl.name, s.name, s.m, s.n, s.segs, s.segLen, mode), func(b *testing.B) {
					if !impl.ok() {
						b.Skip("CPU lacks the instructions")
					}
					benchGemmSeg(b, impl, mode, s.m, s.n, s.segs, s.segLen, s.lda, s.wpc)
				})
			}
		}
	}
}

func benchGemmSeg(b *testing.B, impl gemmSegBenchImpl, mode string, m, n, segs, segLen, lda, segStride int) {
	rng := rand.New(rand.NewPCG(5, 6))
	k := segs * segLen
	var a []float32
	if mode == "flat" {
		a = randVec(rng, m*k)
	} else {
		a = randVec(rng, (segs-1)*segStride+(m-1)*lda+segLen)
	}
	w := randVec(rng, k*n)
	c := make([]float32, m*n)
	run := func() {
		switch mode {
		case "seg":
			impl.seg(m, n, segs, segLen, a, lda, segStride, w, n, c, n, false)
		case "split":
			for s := 0; s < segs; s++ {
				impl.gemm(m, n, segLen, a[s*segStride:], lda, w[s*segLen*n:], n, c, n, s > 0)
			}
		default:
			impl.gemm(m, n, k, a, k, w, n, c, n, false)
		}
	}
	run()
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
