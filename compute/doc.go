// Package compute owns where resgo's math runs: the worker pool (how many
// threads a Tape's ops and an optimiser's update use) and the kernel set
// (AVX-512, AVX2 or portable Go).
//
// It is its own small package, rather than part of autograd, because
// everything that runs kernels needs it (autograd's Tape, optim's
// updates, train's loops, the root package's inference) and because the
// kernels themselves, in an internal package, are written against its
// Pool: a type defined here can appear in every exported signature while
// the kernels stay private.
//
// Most programs need only two calls, both before training:
//
//	compute.SetThreads(4)              // the default pool's size
//	err := compute.SetKernels("generic") // or "auto", "avx2", "avx512"
//
// A Pool of one's own (NewPool) suits a test that wants a fixed thread
// count; its For splits a loop of one's own over the workers.
package compute
