//go:build amd64 && !purego

package kernels

// On amd64 the convolution tests also run on the AVX2 GEMM kernels, which
// start-up does not pick on AVX-512 machines.
func init() {
	ctKernelSets = append(ctKernelSets, ctKernelSet{"avx2", func() bool { return hasAVX2 }, func() func() {
		restore := ctSaveKernels()
		gemmImpl, gemmTAImpl, gemmTBImpl, rowsFast, rowsAVX2 = sgemmAVX2, sgemmTAAVX2, sgemmTBAVX2, false, true
		return restore
	}})
}
