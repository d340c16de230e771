package train

import (
	"math"
	"testing"

	"resgo/compute"
	"resgo/data"
	"resgo/internal/testmnist"
	"resgo/internal/testutil"
	"resgo/models"
	"resgo/optim"
	"resgo/tensor"
)

// newStepper builds a ResNet trainer on pool and the first batch of MNIST.
func newStepper(t *testing.T, pool *compute.Pool, seed uint64) (*Trainer, *tensor.Tensor, []int32, *data.Loader) {
	t.Helper()
	tr, _, err := testmnist.Load()
	if err != nil {
		t.Fatal(err)
	}
	tr, _ = tr.Limit(640)
	m, err := models.New("resnet", models.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	tt := NewTrainer(m, optim.NewAdam(1e-3), pool, 32, 28, 28, 1, seed)
	l := data.NewLoader(tr, 32, 10000, seed)
	x := tensor.New(32, 28, 28, 1)
	y := make([]int32, 32)
	l.Next(x.Data, y)
	return tt, x, y, l
}

// TestTrainStepAllocatesNothing checks that a warm training step (forward,
// backward, Adam) allocates nothing: activations and gradients come from
// the tape's arena, parallel loops from pooled tasks.
func TestTrainStepAllocatesNothing(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("the race detector allocates on synchronisation")
	}
	pool := compute.NewPool(2)
	defer pool.Close()
	tt, x, y, _ := newStepper(t, pool, 1)
	tt.TrainStep(x, y)
	tt.TrainStep(x, y)
	if a := testing.AllocsPerRun(5, func() { tt.TrainStep(x, y) }); a != 0 {
		t.Fatalf("a warm training step allocates %v times, want 0", a)
	}
}

// TestTrainingIsDeterministic trains two ResNets from the same seed with the
// same thread count for several steps on the same batches and requires
// bit-identical weights and moving statistics. Under -short (the race
// detector's run, where a step costs ten times as much) two steps: the
// second already starts from updated weights and moving statistics.
func TestTrainingIsDeterministic(t *testing.T) {
	steps := 4
	if testing.Short() {
		steps = 2
	}
	for _, threads := range []int{1, 2, 3} {
		run := func() []*tensor.Tensor {
			pool := compute.NewPool(threads)
			defer pool.Close()
			tt, x, y, l := newStepper(t, pool, 7)
			for range steps {
				tt.TrainStep(x, y)
				l.Next(x.Data, y)
			}
			var out []*tensor.Tensor
			for _, p := range tt.Params {
				out = append(out, p.Value.Clone())
			}
			return out
		}
		a, b := run(), run()
		for i := range a {
			for j := range a[i].Data {
				if math.Float32bits(a[i].Data[j]) != math.Float32bits(b[i].Data[j]) {
					t.Fatalf("%d threads: parameter %d element %d differs: %v vs %v", threads, i, j, a[i].Data[j], b[i].Data[j])
				}
			}
		}
	}
}

// TestTrainerGivesAdamItsPool checks that Adam's update runs on the pool
// the trainer's steps run on (optim.PoolUser), not on the default pool,
// which would start a second set of workers.
func TestTrainerGivesAdamItsPool(t *testing.T) {
	pool := compute.NewPool(1)
	defer pool.Close()
	m, err := models.New("vgg16-reduced", models.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	a := optim.NewAdam(1e-3)
	NewTrainer(m, a, pool, 4, 28, 28, 1, 1)
	if a.Pool != pool {
		t.Fatalf("Adam runs on pool %p, want the trainer's %p", a.Pool, pool)
	}
}
