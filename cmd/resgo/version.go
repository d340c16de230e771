package main

import (
	"fmt"
	"io"
	"runtime"

	"resgo/compute"
)

// version is resgo's release.
const version = "0.1.0"

func init() {
	register(&command{name: "version", summary: "print the version and the kernels this CPU uses", run: runVersion})
}

func runVersion(args []string, stdout, _ io.Writer) error {
	fs := newFlags("version", "Usage: resgo version\n\nPrints resgo's version, the Go version and the kernel set in use\n(avx512, avx2 or generic; RESGO_KERNELS=generic forces the portable one).", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "resgo %s, %s %s/%s, %s kernels, %d cores\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, compute.Kernels(), runtime.NumCPU())
	return nil
}
