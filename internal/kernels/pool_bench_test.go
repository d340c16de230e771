package kernels

import "testing"

type nopTask struct{}

func (nopTask) Run(_, _, _ int) {}

// BenchmarkPoolRun measures the hand-off cost of one parallel loop with an
// empty body on two workers: what every op pays to use both cores.
func BenchmarkPoolRun(b *testing.B) {
	p := NewPool(2)
	defer p.Close()
	var t nopTask
	for i := 0; i < b.N; i++ {
		p.Run(2, 1, t)
	}
}
