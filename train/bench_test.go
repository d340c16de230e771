package train

import (
	"testing"

	"resgo/compute"
	"resgo/data"
	"resgo/internal/testmnist"
	"resgo/models"
	"resgo/optim"
	"resgo/tensor"
)

// BenchmarkResNetTrainStep times one training step of the tutorial's ResNet
// on a batch of 32 MNIST digits with Adam, on the default pool.
func BenchmarkResNetTrainStep(b *testing.B) {
	benchTrainStep(b, "resnet", 32)
}

func benchTrainStep(b *testing.B, name string, batch int) {
	tr, _, err := testmnist.Load()
	if err != nil {
		b.Fatal(err)
	}
	m, err := models.New(name, models.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	tt := NewTrainer(m, optim.NewAdam(1e-3), compute.Default(), batch, 28, 28, 1, 1)
	l := data.NewLoader(tr, batch, 0, 1)
	x := tensor.New(batch, 28, 28, 1)
	y := make([]int32, batch)
	l.Next(x.Data, y)
	tt.TrainStep(x, y) // warm-up
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tt.TrainStep(x, y)
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkResNetInfer256 times inference of the ResNet at batch 256.
func BenchmarkResNetInfer256(b *testing.B) {
	tr, _, err := testmnist.Load()
	if err != nil {
		b.Fatal(err)
	}
	m, _ := models.New("resnet", models.Options{Seed: 1})
	b.ResetTimer()
	ips := benchInfer(m, compute.Default(), tr, 256, 256*b.N)
	b.ReportMetric(ips, "images/s")
}
