package train

import (
	"fmt"
	"runtime/debug"
	"time"

	"resgo/autograd"
	"resgo/compute"
	"resgo/data"
	"resgo/internal/kernels"
	"resgo/models"
	"resgo/optim"
	"resgo/tensor"
)

// BenchConfig says what Bench measures.
type BenchConfig struct {
	Model        string
	Options      models.Options
	Batch        int   // training batch
	Steps        int   // timed training steps
	Warmup       int   // untimed steps first
	InferBatches []int // inference batch sizes
	Pool         *compute.Pool
	Data         *data.Dataset // images to use (MNIST's training set if nil)
}

// BenchResult is what Bench measured. Times per op kind are per training
// step, forward and backward together.
type BenchResult struct {
	Model          string  `json:"model"`
	Kernels        string  `json:"kernels"`
	Threads        int     `json:"threads"`
	Batch          int     `json:"batch"`
	Steps          int     `json:"steps"`
	TrainImagesSec float64 `json:"train_images_per_s"`
	StepMillis     float64 `json:"step_ms"`
	// DataWaitMillis is the time a step waited for its batch from the
	// loader's prefetching workers, and DataWaitShare its share of the step.
	DataWaitMillis float64            `json:"data_wait_ms"`
	DataWaitShare  float64            `json:"data_wait_share"`
	InferImagesSec map[string]float64 `json:"infer_images_per_s"` // by batch size
	StepGFLOP      float64            `json:"step_gflop"`         // conv + dense FLOPs per step
	GFLOPS         float64            `json:"gflops"`             // achieved over whole steps
	PeakGFLOPS     float64            `json:"peak_gflops"`        // measured by a large GEMM
	PeakShare      float64            `json:"peak_share"`         // GFLOPS / PeakGFLOPS
	OpMillis       map[string]float64 `json:"op_ms_per_step"`
	PeakRSSMiB     float64            `json:"peak_rss_mib"`       // after training, before inference
	InferRSSMiB    float64            `json:"peak_rss_infer_mib"` // after inference too
}

// Bench measures training and inference speed of a model on real images.
// Training steps are timed in one stretch after the warm-up; a second,
// shorter stretch with per-op timing gives the time per kind of op (it is
// kept apart so that the clock reads do not slow the main measurement).
func Bench(cfg BenchConfig) (*BenchResult, error) {
	if cfg.Batch < 1 || cfg.Steps < 1 {
		return nil, fmt.Errorf("bench: batch %d and steps %d must be at least 1", cfg.Batch, cfg.Steps)
	}
	if cfg.Pool == nil {
		cfg.Pool = compute.Default()
	}
	d := cfg.Data
	if d == nil {
		tr, _, err := data.LoadMNIST()
		if err != nil {
			return nil, err
		}
		d = tr
	}
	o, err := DataOptions(cfg.Options, d)
	if err != nil {
		return nil, err
	}
	m, err := models.New(cfg.Model, o)
	if err != nil {
		return nil, err
	}
	res := &BenchResult{Model: cfg.Model, Kernels: compute.Kernels(), Threads: cfg.Pool.Workers(),
		Batch: cfg.Batch, Steps: cfg.Steps, InferImagesSec: map[string]float64{}, OpMillis: map[string]float64{}}

	tt := NewTrainer(m, optim.NewAdam(1e-3), cfg.Pool, cfg.Batch, d.H, d.W, d.Channels(), 1)
	loader := data.NewLoader(d, cfg.Batch, 10000, 1)
	loader.SetWorkers(data.DefaultWorkers())
	defer loader.Close()
	x := tensor.New(cfg.Batch, d.H, d.W, d.Channels())
	y := make([]int32, cfg.Batch)
	next := func() {
		if n, ok := loader.Next(x.Data, y); !ok || n < cfg.Batch {
			loader.Start(0)
			loader.Next(x.Data, y)
		}
	}
	for i := 0; i < max(cfg.Warmup, 1); i++ {
		next()
		tt.TrainStep(x, y)
	}
	res.StepGFLOP = tt.tape.FLOPs() / 1e9
	start := time.Now()
	var wait time.Duration
	for i := 0; i < cfg.Steps; i++ {
		t0 := time.Now()
		next()
		wait += time.Since(t0)
		tt.TrainStep(x, y)
	}
	el := time.Since(start).Seconds()
	res.DataWaitMillis = 1e3 * wait.Seconds() / float64(cfg.Steps)
	res.DataWaitShare = wait.Seconds() / el
	res.TrainImagesSec = float64(cfg.Steps*cfg.Batch) / el
	res.StepMillis = 1e3 * el / float64(cfg.Steps)
	res.GFLOPS = res.StepGFLOP * float64(cfg.Steps) / el

	// Per-op times over a shorter stretch.
	var prof autograd.Profile
	tt.Profile = &prof
	tt.tape.SetProfile(&prof)
	profSteps := max(cfg.Steps/4, 5)
	for i := 0; i < profSteps; i++ {
		next()
		tt.TrainStep(x, y)
	}
	tt.Profile = nil
	tt.tape.SetProfile(nil)
	for k := autograd.OpKind(0); k < autograd.NumOpKinds; k++ {
		if prof.Time[k] > 0 {
			res.OpMillis[k.String()] = 1e3 * prof.Time[k].Seconds() / float64(profSteps)
		}
	}

	res.PeakRSSMiB = float64(PeakRSS()) / (1 << 20)

	// Inference. The training step's tape, gradients and optimizer state
	// are garbage from here on; collecting them and handing their pages
	// back to the system first makes the peak RSS after inference what
	// inference needs, as a process that only infers would hold it.
	for _, b := range cfg.InferBatches {
		debug.FreeOSMemory()
		ips := benchInfer(m, cfg.Pool, d, b, max(2048, 4*b))
		res.InferImagesSec[fmt.Sprint(b)] = ips
	}

	res.PeakGFLOPS = kernels.MeasurePeak(cfg.Pool, 300*time.Millisecond)
	if res.PeakGFLOPS > 0 {
		res.PeakShare = res.GFLOPS / res.PeakGFLOPS
	}
	res.InferRSSMiB = float64(PeakRSS()) / (1 << 20)
	return res, nil
}

// benchInfer times inference at batch b over about n images, after one
// untimed batch.
func benchInfer(m models.Model, pool *compute.Pool, d *data.Dataset, b, n int) float64 {
	tp := autograd.NewTape(pool, 0)
	tp.NoGrad = true
	loader := data.NewLoader(d, b, 0, 0)
	x := tensor.New(b, d.H, d.W, d.Channels())
	y := make([]int32, b)
	run := func() {
		if k, ok := loader.Next(x.Data, y); !ok || k < b {
			loader.Start(0)
			loader.Next(x.Data, y)
		}
		tp.Reset()
		m.Forward(tp, tp.Constant(x), false)
	}
	run()
	steps := max(n/b, 2)
	start := time.Now()
	for i := 0; i < steps; i++ {
		run()
	}
	return float64(steps*b) / time.Since(start).Seconds()
}
