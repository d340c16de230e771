//go:build amd64 && !purego

package kernels

import (
	"testing"
	"unsafe"
)

func TestGemmArgsLayout(t *testing.T) {
	var p gemmArgs
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"a", unsafe.Offsetof(p.a), 0}, {"b", unsafe.Offsetof(p.b), 8}, {"c", unsafe.Offsetof(p.c), 16},
		{"lda", unsafe.Offsetof(p.lda), 24}, {"ldb", unsafe.Offsetof(p.ldb), 32}, {"ldc", unsafe.Offsetof(p.ldc), 40},
		{"k", unsafe.Offsetof(p.k), 48}, {"tiles", unsafe.Offsetof(p.tiles), 56}, {"kmask", unsafe.Offsetof(p.kmask), 64},
		{"acc", unsafe.Offsetof(p.acc), 72}, {"astep", unsafe.Offsetof(p.astep), 80}, {"edge", unsafe.Offsetof(p.edge), 88},
		{"ymask", unsafe.Offsetof(p.ymask), 96}, {"pf", unsafe.Offsetof(p.pf), 128},
		{"segs", unsafe.Offsetof(p.segs), 136}, {"segskip", unsafe.Offsetof(p.segskip), 144},
	} {
		if f.got != f.want {
			t.Errorf("gemmArgs.%s at offset %d, gen/main.go assumes %d", f.name, f.got, f.want)
		}
	}
}

func needAVX512(t testing.TB) {
	if !hasAVX512 {
		t.Skip("CPU lacks AVX-512")
	}
}

func needAVX2(t testing.TB) {
	if !hasAVX2 {
		t.Skip("CPU lacks AVX2+FMA")
	}
}

// The assembly paths are called directly so they are tested whatever
// RESGO_KERNELS says, and the AVX2 ones on AVX-512 machines too.
func TestSgemmAVX512(t *testing.T)   { needAVX512(t); testGemmImpl(t, sgemmAVX512, false, false) }
func TestSgemmTAAVX512(t *testing.T) { needAVX512(t); testGemmImpl(t, sgemmTAAVX512, true, false) }
func TestSgemmAVX2(t *testing.T)     { needAVX2(t); testGemmImpl(t, sgemmAVX2, false, false) }
func TestSgemmTAAVX2(t *testing.T)   { needAVX2(t); testGemmImpl(t, sgemmTAAVX2, true, false) }
func TestSgemmTBAVX512(t *testing.T) { needAVX512(t); testGemmImpl(t, sgemmTBAVX512, false, true) }
func TestSgemmTBAVX2(t *testing.T)   { needAVX2(t); testGemmImpl(t, sgemmTBAVX2, false, true) }

func init() {
	gemmBenchImpls = append(gemmBenchImpls,
		struct {
			name        string
			f, fTA, fTB gemmFunc
			ok          func() bool
		}{"avx512", sgemmAVX512, sgemmTAAVX512, sgemmTBAVX512, func() bool { return hasAVX512 }},
		struct {
			name        string
			f, fTA, fTB gemmFunc
			ok          func() bool
		}{"avx2", sgemmAVX2, sgemmTAAVX2, sgemmTBAVX2, func() bool { return hasAVX2 }},
	)
}
