//go:build !amd64 || purego

package kernels

// Without the assembly kernels there are no vector paths to report; tests
// that exercise the amd64 row and GEMM kernels check these and skip.
var (
	hasAVX512 = false
	hasAVX2   = false
)

// archSets: no assembly sets here.
func archSets() []string { return nil }

// useArch has nothing to switch to.
func useArch(string) {}
