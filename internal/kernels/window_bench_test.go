package kernels

import (
	"math/rand/v2"
	"testing"

	"resgo/compute"
)

// The pooling and concatenation shapes of a DenseNet on MNIST at batch
// 32: 28×28 transitions of 16 and 48 channels, and a 14×14 unit's join.
func benchWindow(b *testing.B, C int, run func(p *Pool, s PoolShape, x, y, dy, dx []float32)) {
	p := compute.NewPool(2)
	defer p.Close()
	s, _ := NewPoolShape(32, 28, 28, C, 2, 2, 2, 2, false)
	r := rand.New(rand.NewPCG(1, 1))
	x, dx := ctRand(r, 32*28*28*C), make([]float32, 32*28*28*C)
	y, dy := make([]float32, 32*14*14*C), ctRand(r, 32*14*14*C)
	b.SetBytes(int64(4 * len(x)))
	b.ResetTimer()
	for range b.N {
		run(p, s, x, y, dy, dx)
	}
}

func BenchmarkMaxPool2x2C16(b *testing.B) {
	arg := make([]float32, 32*14*14*16)
	benchWindow(b, 16, func(p *Pool, s PoolShape, x, y, dy, dx []float32) { MaxPool2x2(p, x, s.N, s.H, s.W, s.C, y, arg) })
}
func BenchmarkMaxPoolC16(b *testing.B) {
	benchWindow(b, 16, func(p *Pool, s PoolShape, x, y, dy, dx []float32) { MaxPool(p, s, x, y) })
}
func BenchmarkAvgPoolC16(b *testing.B) {
	benchWindow(b, 16, func(p *Pool, s PoolShape, x, y, dy, dx []float32) { AvgPool(p, s, x, y) })
}
func BenchmarkAvgPoolBackC16(b *testing.B) {
	benchWindow(b, 16, func(p *Pool, s PoolShape, x, y, dy, dx []float32) { AvgPoolBackward(p, s, dy, dx) })
}
func BenchmarkAvgPoolC48(b *testing.B) {
	benchWindow(b, 48, func(p *Pool, s PoolShape, x, y, dy, dx []float32) { AvgPool(p, s, x, y) })
}
func BenchmarkAvgPoolBackC48(b *testing.B) {
	benchWindow(b, 48, func(p *Pool, s PoolShape, x, y, dy, dx []float32) { AvgPoolBackward(p, s, dy, dx) })
}

func BenchmarkConcat14x14(b *testing.B) {
	p := compute.NewPool(2)
	defer p.Close()
	r := rand.New(rand.NewPCG(1, 1))
	M := 32 * 14 * 14
	xs := [][]float32{ctRand(r, M*32), ctRand(r, M*8)}
	widths := []int{32, 8}
	y := make([]float32, M*40)
	b.SetBytes(int64(4 * len(y)))
	for range b.N {
		Concat(p, xs, widths, M, y)
	}
}

func BenchmarkConcatBackward14x14(b *testing.B) {
	p := compute.NewPool(2)
	defer p.Close()
	r := rand.New(rand.NewPCG(1, 1))
	M := 32 * 14 * 14
	dxs := [][]float32{make([]float32, M*96), make([]float32, M*12)}
	widths := []int{96, 12}
	dy := ctRand(r, M*108)
	b.SetBytes(int64(4 * len(dy)))
	for range b.N {
		ConcatBackward(p, dy, widths, M, dxs)
	}
}
