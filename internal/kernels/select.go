package kernels

import (
	"os"
	"slices"

	"resgo/internal/kernelset"
)

func init() {
	sets := append(archSets(), "generic")
	first := sets[0]
	if env := os.Getenv("RESGO_KERNELS"); slices.Contains(sets, env) {
		first = env
	}
	kernelset.Register(sets, useSet, first)
}

// useSet points every dispatching entry point at the named set.
func useSet(name string) {
	gemmImpl, gemmTAImpl, gemmTBImpl, gemmSegImpl = SgemmGeneric, SgemmTAGeneric, SgemmTBGeneric, SgemmSegGeneric
	gemmGroupsImpl, gemmTASegImpl = SgemmSegGroupsGeneric, SgemmTASegGeneric
	rowsFast, rowsAVX2 = false, false
	useArch(name)
}

// forcedGeneric reports whether the portable kernels are in use by choice
// on a CPU that has faster ones (RESGO_KERNELS=generic or
// compute.SetKernels("generic")); the tests of the fast kernels skip then.
func forcedGeneric() bool { return kernelset.Current() == "generic" }
