//go:build amd64 && !purego

package kernels

import "testing"

// The assembly paths are called directly so they are tested whatever
// RESGO_KERNELS says, and the AVX2 ones on AVX-512 machines too.
func TestSgemmSegAVX512(t *testing.T)     { needAVX512(t); testGemmSegImpl(t, sgemmSegAVX512) }
func TestSgemmSegAVX2(t *testing.T)       { needAVX2(t); testGemmSegImpl(t, sgemmSegAVX2) }
func TestSgemmSegConvAVX512(t *testing.T) { needAVX512(t); testGemmSegConv(t, sgemmSegAVX512) }
func TestSgemmSegConvAVX2(t *testing.T)   { needAVX2(t); testGemmSegConv(t, sgemmSegAVX2) }

func TestSgemmTASegAVX512(t *testing.T) { needAVX512(t); testGemmTASegImpl(t, sgemmTASegAVX512) }
func TestSgemmTASegAVX2(t *testing.T)   { needAVX2(t); testGemmTASegImpl(t, sgemmTASegAVX2) }

func init() {
	gemmSegBenchImpls = append(gemmSegBenchImpls,
		gemmSegBenchImpl{"avx512", sgemmSegAVX512, sgemmAVX512, func() bool { return hasAVX512 }},
		gemmSegBenchImpl{"avx2", sgemmSegAVX2, sgemmAVX2, func() bool { return hasAVX2 }},
	)
}

func TestSgemmSegGroupsAVX512(t *testing.T) {
	needAVX512(t)
	testGemmGroupsImpl(t, sgemmGroupsAVX512, sgemmSegAVX512)
}

func TestSgemmSegGroupsAVX2(t *testing.T) {
	needAVX2(t)
	testGemmGroupsImpl(t, sgemmGroupsAVX2, sgemmSegAVX2)
}
