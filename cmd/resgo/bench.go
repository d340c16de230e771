package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"

	"resgo/compute"
	"resgo/data"
	"resgo/models"
	"resgo/train"
)

func init() {
	register(&command{name: "bench", summary: "measure training and inference speed, GFLOP/s and memory", run: runBench})
}

const benchSynopsis = `
Usage: resgo bench [flags]

Measures, on MNIST images or those of --data, a model's training speed
(images/s over --steps steps of --batch after a warm-up), the time a step
waits for its batch from the loader's prefetching workers, its inference speed at batch 32 and 256,
the GFLOP/s its convolutions and dense layers achieve over whole training
steps and their share of the machine's peak (measured in the same run by a
large cache-resident matrix multiply on every thread), the time per step of
each kind of op, and the peak resident memory.

Compare engines as a ratio in one run, alternating them, and quote medians:
the machines are shared and noisy.`

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", benchSynopsis, stdout)
	model := fs.String("model", "resnet", "model: "+strings.Join(models.Names(), ", "))
	batch := fs.Int("batch", 32, "training batch size")
	threads := fs.Int("threads", runtime.NumCPU(), "worker threads (default: all cores)")
	steps := fs.Int("steps", 200, "timed training steps")
	warmup := fs.Int("warmup", 20, "untimed training steps first")
	width := fs.Float64("width", 0, "width multiplier for VGG models (0: default)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	var df dataFlags
	df.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *batch < 1:
		return badFlag("bench", "--batch must be at least 1, got %d", *batch)
	case *threads < 1 || *threads > maxThreads:
		return badFlag("bench", "--threads must be 1 to %d, got %d", maxThreads, *threads)
	case *steps < 1:
		return badFlag("bench", "--steps must be at least 1, got %d", *steps)
	case *warmup < 0:
		return badFlag("bench", "--warmup must be 0 or more, got %d", *warmup)
	case !(*width >= 0 && *width <= models.MaxWidthMultiplier):
		return badFlag("bench", "--width must be more than 0 and at most %v, got %v", models.MaxWidthMultiplier, *width)
	}
	if _, err := models.New(*model, models.Options{WidthMultiplier: *width}); err != nil {
		return badFlag("bench", "%v", err)
	}
	tr, _, err := df.open("bench")
	if err != nil {
		return err
	}
	if *batch > tr.N {
		return badFlag("bench", "--batch %d is larger than the %d training images", *batch, tr.N)
	}
	compute.SetThreads(*threads)
	if err := checkWidth("bench", *model, *width); err != nil {
		return err
	}
	if err := checkBatchMemory("bench", *model, models.Options{Seed: 1, WidthMultiplier: *width}, *batch, compute.Default()); err != nil {
		return err
	}
	setMemoryLimit()
	r, err := train.Bench(train.BenchConfig{Model: *model, Options: models.Options{Seed: 1, WidthMultiplier: *width},
		Batch: *batch, Steps: *steps, Warmup: *warmup, InferBatches: []int{32, 256}, Pool: compute.Default(), Data: tr})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		return enc.Encode(r)
	}
	fmt.Fprintf(stdout, "resgo bench: %s, batch %d, %d threads, %s kernels\n", r.Model, r.Batch, r.Threads, r.Kernels)
	fmt.Fprintf(stdout, "  training        %8.1f images/s   (%.2f ms a step, %d steps)\n", r.TrainImagesSec, r.StepMillis, r.Steps)
	fmt.Fprintf(stdout, "  data wait       %8.3f ms a step (%.2f%% of the step; %d×%d×%d images, %d prefetching workers)\n",
		r.DataWaitMillis, 100*r.DataWaitShare, tr.H, tr.W, tr.Channels(), data.DefaultWorkers())
	for _, b := range []string{"32", "256"} {
		fmt.Fprintf(stdout, "  inference %-5s %8.1f images/s\n", b, r.InferImagesSec[b])
	}
	fmt.Fprintf(stdout, "  compute         %8.1f GFLOP/s    (%.2f GFLOP a step; peak %.1f GFLOP/s: %.0f%%)\n",
		r.GFLOPS, r.StepGFLOP, r.PeakGFLOPS, 100*r.PeakShare)
	fmt.Fprintf(stdout, "  peak RSS        %8.1f MiB training, %.1f MiB with inference at batch 256\n", r.PeakRSSMiB, r.InferRSSMiB)
	fmt.Fprintf(stdout, "  time per step by op (forward + backward):\n")
	type kv struct {
		k string
		v float64
	}
	var ops []kv
	total := 0.0
	for k, v := range r.OpMillis {
		ops = append(ops, kv{k, v})
		total += v
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].v > ops[j].v })
	for _, o := range ops {
		fmt.Fprintf(stdout, "    %-14s %7.2f ms  %3.0f%%\n", o.k, o.v, 100*o.v/total)
	}
	return nil
}
