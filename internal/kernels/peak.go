package kernels

import "time"

// MeasurePeak estimates the machine's practical peak in GFLOP/s: every
// worker of p multiplies cache-resident matrices (256×576 by 576×64, the
// shape of the ResNet's widest convolution) for about d, and the total
// FLOPs are divided by the time taken.
func MeasurePeak(p *Pool, d time.Duration) float64 {
	const m, n, k = 256, 64, 576
	w := p.Workers()
	a := make([][]float32, w)
	b := make([]float32, k*n)
	c := make([][]float32, w)
	for i := range a {
		a[i] = make([]float32, m*k)
		c[i] = make([]float32, m*n)
		for j := range a[i] {
			a[i][j] = float32(j%7) * 0.01
		}
	}
	for j := range b {
		b[j] = float32(j%5) * 0.01
	}
	reps := 1
	for {
		start := time.Now()
		p.For(w, 1, func(wk, lo, hi int) {
			for i := 0; i < reps; i++ {
				Sgemm(m, n, k, a[wk], k, b, n, c[wk], n, false)
			}
		})
		el := time.Since(start)
		if el >= d {
			return 2 * m * n * k * float64(reps*w) / el.Seconds() / 1e9
		}
		reps *= 2
	}
}
