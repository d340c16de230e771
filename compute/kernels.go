package compute

import "resgo/internal/kernelset"

// Kernels names the kernel set the engine's hot loops use: "avx512",
// "avx2" or "generic" (the portable Go kernels, the reference the others
// are tested against). At start it is the fastest set the CPU supports,
// or the one the environment variable RESGO_KERNELS names.
func Kernels() string { return kernelset.Current() }

// KernelSets lists the kernel sets this CPU supports, fastest first; the
// last is always "generic".
func KernelSets() []string { return kernelset.Available() }

// SetKernels switches every kernel to the named set ("auto" or "" for the
// fastest, else one of KernelSets), as RESGO_KERNELS does at start. An
// unknown or unsupported name is an error naming the sets available.
// Results differ between sets only by float32 rounding. Call it between
// training steps, never while ops run.
func SetKernels(name string) error { return kernelset.Use(name) }
