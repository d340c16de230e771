package resgo

import (
	"fmt"
	"testing"
)

// BenchmarkPredictPixels times PredictPixels of the test ResNet on MNIST
// test digits at several batch sizes and thread counts, in images/s: what
// a server gains from batching requests (docs/serve-load.md).
func BenchmarkPredictPixels(b *testing.B) {
	pixels := testPixels(b, 64)
	for _, threads := range []int{1, 2} {
		m, err := Load(testModel)
		if err != nil {
			b.Fatal(err)
		}
		m = m.WithThreads(threads)
		for _, n := range []int{1, 2, 4, 8, 16, 32, 64} {
			b.Run(fmt.Sprintf("threads=%d/batch=%d", threads, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := m.PredictPixels(pixels[:n*784]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}
