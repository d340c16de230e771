package train

import (
	"context"
	"errors"
	"math"
	"runtime"
	"testing"

	"resgo/data"
	"resgo/internal/testmnist"
	"resgo/internal/testmodels"
)

// subsets returns the first nTrain training and nTest test images of MNIST.
func subsets(t testing.TB, nTrain, nTest int) (tr, te *data.Dataset) {
	t.Helper()
	tr, te, err := testmnist.Load()
	if err != nil {
		t.Fatal(err)
	}
	if tr, err = tr.Limit(nTrain); err != nil {
		t.Fatal(err)
	}
	if te, err = te.Limit(nTest); err != nil {
		t.Fatal(err)
	}
	return tr, te
}

// TestRunStopsWhenDiverged checks every way Run detects divergence, and
// that the diverged epoch is neither added to History nor passed to
// OnEpoch (which is where checkpoints are saved).
func TestRunStopsWhenDiverged(t *testing.T) {
	tr, te := subsets(t, 96, 32)
	for _, c := range []struct {
		name    string
		model   string
		lr      float64
		maxLoss float64
		poison  func(s *Session, p Progress) // called after each step
		check   func(e *NonFiniteError) bool
	}{
		{"loss over the limit", "resnet", 1000, 0, nil,
			func(e *NonFiniteError) bool {
				return e.Epoch == 1 && e.Step > 0 && e.Limit == DefaultMaxLoss && e.Loss > DefaultMaxLoss
			}},
		{"loss over a lower limit", "resnet", 0.1, 50, nil,
			func(e *NonFiniteError) bool { return e.Epoch == 1 && e.Step > 0 && e.Limit == 50 && e.Loss > 50 }},
		{"NaN loss, no limit", "resnet", 1e6, math.Inf(1), nil,
			func(e *NonFiniteError) bool {
				return e.Limit == 0 && (e.Step > 0 && !finite(e.Loss) || e.Param != "" && !finite(e.Loss))
			}},
		{"NaN weight after the last step", "resnet", 1e-3, 0,
			func(s *Session, p Progress) {
				if p.Epoch == 2 && p.Step == p.Steps {
					s.Model.Params()[len(s.Model.Params())-2].Value.Data[5] = float32(math.NaN())
				}
			},
			func(e *NonFiniteError) bool { return e.Epoch == 2 && e.Param == "dense2.kernel" && math.IsNaN(e.Loss) }},
		{"NaN test loss", testmodels.NaNInference, 1e-3, 0,
			func(s *Session, p Progress) { testmodels.PoisonInference.Store(p.Epoch == 2) },
			func(e *NonFiniteError) bool { return e.Epoch == 2 && e.Test && math.IsNaN(e.Loss) && e.Step == 0 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer testmodels.PoisonInference.Store(false)
			var epochs []int
			var s *Session
			cfg := Config{Model: c.model, Epochs: 3, Batch: 16, LR: c.lr, Seed: 1, Train: tr, Test: te, MaxLoss: c.maxLoss,
				OnEpoch: func(_ *Session, r EpochResult) error {
					epochs = append(epochs, r.Epoch)
					return nil
				}}
			if c.poison != nil {
				cfg.OnProgress = func(p Progress) { c.poison(s, p) }
			}
			s, err := NewSession(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Run(context.Background())
			var nf *NonFiniteError
			if !errors.As(err, &nf) {
				t.Fatalf("Run = %v, want a *NonFiniteError", err)
			}
			t.Log(err)
			if !c.check(nf) {
				t.Errorf("%+v", *nf)
			}
			if len(s.History) != nf.Epoch-1 || len(epochs) != nf.Epoch-1 {
				t.Errorf("diverged in epoch %d, but History has %d epochs and OnEpoch saw %v", nf.Epoch, len(s.History), epochs)
			}
		})
	}
}

// TestBatchLargerThanData checks that a batch size beyond the training set
// is one batch of all of it, with buffers for that and no more, and that a
// test batch beyond the test set is one batch too.
func TestBatchLargerThanData(t *testing.T) {
	tr, te := subsets(t, 40, 20)
	train := func(batch, evalBatch int) *Session {
		s, err := NewSession(Config{Model: "resnet", Epochs: 1, Batch: batch, EvalBatch: evalBatch, LR: 1e-3, Seed: 1, Train: tr, Test: te})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	huge := train(1<<40, 1<<40)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<30 {
		t.Errorf("batch 2^40 allocated %d MiB", got>>20)
	}
	exact := train(40, 20)
	h, e := huge.History[0], exact.History[0]
	if huge.Trainer.Steps() != 1 || h.Loss != e.Loss || h.Accuracy != e.Accuracy || h.TestLoss != e.TestLoss || h.TestAccuracy != e.TestAccuracy {
		t.Errorf("batch 2^40: %d steps, %s\nbatch 40: %s", huge.Trainer.Steps(), huge.History[0].Line(), exact.History[0].Line())
	}
}

// TestMemoryFlat trains 2,100 steps (21 epochs of 100 batches of 4, each
// with its test pass) and checks that the live heap after a GC at step
// 2,100 is no larger than at step 200, beyond a small slack, and that no
// goroutine is left behind: nothing accumulates per step or per epoch.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 2,100 steps")
	}
	tr, te := subsets(t, 400, 16)
	const first, last = 200, 2100
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // a second cycle frees what the first one's finalizers released
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var step int
	var samples = map[int]uint64{}
	var goroutines = map[int]int{}
	cfg := Config{Model: "resnet", Epochs: last / 100, Batch: 4, LR: 1e-3, Seed: 1, Train: tr, Test: te,
		OnProgress: func(p Progress) {
			step++
			if step == first || step == 1000 || step == last {
				samples[step] = heap()
				goroutines[step] = runtime.NumGoroutine()
			}
		}}
	s, err := NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if step != last {
		t.Fatalf("%d steps, want %d", step, last)
	}
	t.Logf("live heap: %d KiB at step %d, %d KiB at 1000, %d KiB at %d; goroutines %v",
		samples[first]>>10, first, samples[1000]>>10, samples[last]>>10, last, goroutines)
	// The slack covers the history (21 small records) and the runtime's
	// own bookkeeping (measured: 8 KiB); a leak of 100 bytes a step would
	// exceed it.
	const slack = 128 << 10
	if samples[last] > samples[first]+slack {
		t.Errorf("the live heap grew from %d KiB at step %d to %d KiB at step %d",
			samples[first]>>10, first, samples[last]>>10, last)
	}
	if goroutines[last] > goroutines[first] {
		t.Errorf("goroutines grew from %d to %d", goroutines[first], goroutines[last])
	}
}
