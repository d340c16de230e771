package compute

import (
	"testing"
	"time"
)

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

// BenchmarkPoolRunAfterIdle is BenchmarkPoolRun with the workers asleep:
// each loop follows a pause longer than spinTime, so it pays the wake-up
// of a sleeping goroutine that the spinning avoids between a step's ops.
func BenchmarkPoolRunAfterIdle(b *testing.B) {
	p := NewPool(2)
	defer p.Close()
	var t nopTask
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		time.Sleep(2 * spinTime)
		b.StartTimer()
		p.Run(2, 1, t)
	}
}
