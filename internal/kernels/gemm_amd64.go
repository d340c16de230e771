//go:build amd64 && !purego

package kernels

//go:generate go run ./gen -o .

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// gemmArgs is the argument block of the assembly micro-kernels. The field
// offsets are fixed by gen/main.go; TestGemmArgsLayout checks them.
type gemmArgs struct {
	a, b, c       unsafe.Pointer // 0, 8, 16: first element of the A, B, C tiles
	lda, ldb, ldc uintptr        // 24, 32, 40: row strides in bytes
	k             uintptr        // 48: depth of the product
	tiles         uintptr        // 56: number of MR-row tiles to compute (≥ 1)
	kmask         uint64         // 64: AVX-512 mask of the valid lanes of the last vector
	acc           uintptr        // 72: 1 to add the product to C, 0 to store it
	astep         uintptr        // 80: bytes from A after a tile's K loop to the next tile
	edge          uintptr        // 88: AVX2: 1 when the last vector is partial
	ymask         [8]int32       // 96: AVX2 lane mask of the last vector
	pf            uintptr        // 128: bytes from a tile's A to the next tile's (prefetch)
	segs          uintptr        // 136: K segments of k steps each (≥ 1)
	segskip       uintptr        // 144: bytes the A rows jump at a segment boundary
}

// gemmKernels describes one instruction set's micro-kernels.
type gemmKernels struct {
	name  string
	vec   int   // floats per vector register
	maxNV int   // widest panel in vectors
	mr    []int // rows per tile, by vectors per panel
	padB  bool  // B must be padded to whole vectors (no masked loads)
}

var gemm512 = &gemmKernels{
	name:  "avx512",
	vec:   16,
	maxNV: 4,
	mr:    mr512Tab[:],
}

// gemm512y is the AVX-512 set on YMM vectors, for products at most 8 wide.
var gemm512y = &gemmKernels{
	name:  "avx512y",
	vec:   8,
	maxNV: 1,
	mr:    mr512yTab[:],
}

var gemmAVX2 = &gemmKernels{
	name:  "avx2",
	vec:   8,
	maxNV: 3,
	mr:    mrAVX2Tab[:],
	padB:  true,
}

var (
	mr512Tab  = [5]int{0, 16, 12, 8, 6}
	mr512yTab = [2]int{0, 16}
	mrAVX2Tab = [4]int{0, 12, 6, 4}
)

// hasAVX512 and hasAVX2 report what the CPU (and OS) support.
var (
	hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// archSets lists the assembly kernel sets the CPU supports, fastest first.
func archSets() []string {
	var sets []string
	if hasAVX512 {
		sets = append(sets, "avx512")
	}
	if hasAVX2 {
		sets = append(sets, "avx2")
	}
	return sets
}

// useArch switches to an assembly set named by archSets; useSet has reset
// everything to the portable kernels first.
func useArch(name string) {
	switch name {
	case "avx512":
		gemmImpl = sgemmAVX512
		gemmTAImpl = sgemmTAAVX512
		gemmTASegImpl = sgemmTASegAVX512
		gemmTBImpl = sgemmTBAVX512
		gemmSegImpl = sgemmSegAVX512
		gemmGroupsImpl = sgemmGroupsAVX512
		rowsFast = true
	case "avx2":
		gemmImpl = sgemmAVX2
		gemmTAImpl = sgemmTAAVX2
		gemmTASegImpl = sgemmTASegAVX2
		gemmTBImpl = sgemmTBAVX2
		gemmSegImpl = sgemmSegAVX2
		gemmGroupsImpl = sgemmGroupsAVX2
		rowsAVX2 = true
	}
}

func sgemmAVX512(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	sgemmAsm(gemm512, false, m, n, k, a, lda, b, ldb, c, ldc, acc)
}

func sgemmAVX2(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	sgemmAsm(gemmAVX2, false, m, n, k, a, lda, b, ldb, c, ldc, acc)
}

func sgemmSegAVX512(m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	sgemmSegAsm(gemm512, false, m, n, segs, segLen, a, lda, segStride, b, ldb, c, ldc, acc)
}

func sgemmSegAVX2(m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	sgemmSegAsm(gemmAVX2, false, m, n, segs, segLen, a, lda, segStride, b, ldb, c, ldc, acc)
}

func sgemmGroupsAVX512(groups, gA, gC, m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	sgemmGroupsAsm(gemm512, false, groups, gA, gC, m, n, segs, segLen, a, lda, segStride, b, ldb, c, ldc, acc)
}

func sgemmGroupsAVX2(groups, gA, gC, m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	sgemmGroupsAsm(gemmAVX2, false, groups, gA, gC, m, n, segs, segLen, a, lda, segStride, b, ldb, c, ldc, acc)
}

func sgemmTAAVX512(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	sgemmAsm(gemm512, true, m, n, k, a, lda, b, ldb, c, ldc, acc)
}

func sgemmTAAVX2(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	sgemmAsm(gemmAVX2, true, m, n, k, a, lda, b, ldb, c, ldc, acc)
}

func sgemmTASegAVX512(m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	sgemmSegAsm(gemm512, true, m, n, segs, segLen, a, lda, segStride, b, ldb, c, ldc, acc)
}

func sgemmTASegAVX2(m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	sgemmSegAsm(gemmAVX2, true, m, n, segs, segLen, a, lda, segStride, b, ldb, c, ldc, acc)
}

func sgemmTBAVX512(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	sgemmTBAsm(gemm512, m, n, k, a, lda, b, ldb, c, ldc, acc)
}

func sgemmTBAVX2(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	sgemmTBAsm(gemmAVX2, m, n, k, a, lda, b, ldb, c, ldc, acc)
}

// sgemmTBAsm computes C (+)= A·Bᵀ (B stored [n×k]) with the assembly
// kernels, through whichever transposed copy is smaller: either Bᵀ
// (n·k floats), then C (+)= A·Bᵀ directly; or Aᵀ (m·k floats), then
// Cᵀ = B·Aᵀ into scratch and C (+)= (Cᵀ)ᵀ (2·m·n floats moved).
func sgemmTBAsm(ks *gemmKernels, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if m <= 0 || n <= 0 {
		return
	}
	if k <= 0 {
		sgemmAsm(ks, false, m, n, 0, nil, 0, nil, 0, c, ldc, acc)
		return
	}
	if len(a) < (m-1)*lda+k || len(b) < (n-1)*ldb+k || len(c) < (m-1)*ldc+n {
		panic("kernels: SgemmTB: slice too short")
	}
	vec := ks.vec
	buf := gemmPackPool.Get().(*[]float32)
	if n*k <= m*k+2*m*n {
		np := (n + vec - 1) / vec * vec // whole vectors: no packing for AVX2
		need := (k-1)*np + np
		if cap(*buf) < need {
			*buf = make([]float32, need)
		}
		bt := (*buf)[:need]
		transposeF32(bt, np, b, ldb, n, k, false)
		sgemmAsm(ks, false, m, n, k, a, lda, bt, np, c, ldc, acc)
	} else {
		mp := (m + vec - 1) / vec * vec
		need := k*mp + n*m
		if cap(*buf) < need {
			*buf = make([]float32, need)
		}
		at, ct := (*buf)[:k*mp], (*buf)[k*mp:need]
		transposeF32(at, mp, a, lda, m, k, false)
		sgemmAsm(ks, false, n, m, k, b, ldb, at, mp, ct, m, false)
		transposeF32(c, ldc, ct, m, n, m, acc)
	}
	gemmPackPool.Put(buf)
}

// gemmPackPool holds scratch buffers for padded copies of B.
var gemmPackPool = sync.Pool{New: func() any { return new([]float32) }}

// Blocking parameters. K is split into balanced blocks of at most
// gemmKCMax so that a B block stays in L2; with several column panels,
// rows are blocked so that an A block stays in L2 while the panels sweep it.
const (
	gemmKCMax   = 768
	gemmKCTA    = 256 // transposed A is read down columns: keep its block small
	gemmABlock  = 160 << 10
	gemmRowUnit = 48 // a multiple of every MR
)

// sgemmAsm is the assembly SGEMM driver: C (+)= op(A)·B with op(A) = A, or
// Aᵀ (A stored [k×m]) when ta.
func sgemmAsm(ks *gemmKernels, ta bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	sgemmSegAsm(ks, ta, m, n, 1, k, a, lda, k, b, ldb, c, ldc, acc)
}

// sgemmSegAsm is the driver behind sgemmAsm, SgemmSeg and SgemmTASeg:
// C (+)= Σ_s op(A_s)·B_s over segs segments of segLen steps of K, A_s at
// a[s·segStride:] and B_s rows [s·segLen, (s+1)·segLen) of B.
//
// K is blocked so that a B block stays in L2: when segments are at most
// kcMax long a block is a run of whole segments, which the kernels sum in
// one pass (they jump the A rows at each boundary); longer segments are
// split into balanced blocks of one segment each.
func sgemmSegAsm(ks *gemmKernels, ta bool, m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	sgemmGroupsAsm(ks, ta, 1, 0, 0, m, n, segs, segLen, a, lda, segStride, b, ldb, c, ldc, acc)
}

// sgemmGroupsAsm is sgemmSegAsm over groups of m rows (SgemmSegGroups):
// group g reads A from a[g·gA:] and writes C at c[g·gC:]. Every group is
// computed with the same B panel before the next panel is loaded, and the
// rows of a group are cut into tiles of balanced height.
func sgemmGroupsAsm(ks *gemmKernels, ta bool, groups, gA, gC, m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if m <= 0 || n <= 0 || groups <= 0 {
		return
	}
	if len(c) < (groups-1)*gC+(m-1)*ldc+n {
		panic("kernels: Sgemm: C too short")
	}
	k := segs * segLen
	if segs <= 0 || segLen <= 0 {
		if !acc {
			for g := 0; g < groups; g++ {
				for i := 0; i < m; i++ {
					clear(c[g*gC+i*ldc : g*gC+i*ldc+n])
				}
			}
		}
		return
	}
	if ta {
		if groups != 1 {
			panic("kernels: grouped SgemmTA")
		}
		if len(a) < (segs-1)*segStride+(segLen-1)*lda+m {
			panic("kernels: SgemmTA: A too short")
		}
	} else if len(a) < (groups-1)*gA+(segs-1)*segStride+(m-1)*lda+segLen {
		panic("kernels: Sgemm: A too short")
	}
	if len(b) < (k-1)*ldb+n {
		panic("kernels: Sgemm: B too short")
	}

	if ks == gemm512 && n <= 8 {
		ks = gemm512y
	}
	vec := ks.vec
	var pack *[]float32
	if np := (n + vec - 1) / vec * vec; ks.padB && n != np && len(b) < (k-1)*ldb+np {
		// Copy B into a buffer padded with zeros to whole vectors so the
		// kernel's full-width loads stay inside it.
		np := (n + vec - 1) / vec * vec
		pack = gemmPackPool.Get().(*[]float32)
		if cap(*pack) < k*np {
			*pack = make([]float32, k*np)
		}
		bp := (*pack)[:k*np]
		for p := 0; p < k; p++ {
			row := bp[p*np : p*np+np]
			copy(row, b[p*ldb:p*ldb+n])
			clear(row[n:])
		}
		b, ldb = bp, np
	}

	// K blocks: either sg whole segments, or one segment in pieces of kc.
	kcMax := gemmKCMax
	if ta {
		kcMax = gemmKCTA
	}
	sg, kc := 1, segLen
	if segLen <= kcMax {
		nb := (segs + kcMax/segLen - 1) / (kcMax / segLen)
		sg = (segs + nb - 1) / nb
	} else {
		nkb := (segLen + kcMax - 1) / kcMax
		kc = (segLen + nkb - 1) / nkb
	}

	nvecs := (n + vec - 1) / vec
	var args gemmArgs
	args.lda = uintptr(lda) * 4
	args.ldb = uintptr(ldb) * 4
	args.ldc = uintptr(ldc) * 4
	// A moves by one element per K step (plain) or one row (ta).
	kstep := 1
	if ta {
		kstep = lda
	}
	args.segskip = uintptr(segStride-segLen*kstep) * 4
	first := true
	for s0 := 0; s0 < segs; s0 += sg {
		ns := min(sg, segs-s0)
		for p0 := 0; p0 < segLen; p0 += kc {
			kk := min(kc, segLen-p0)
			args.k = uintptr(kk)
			args.segs = uintptr(ns)
			if acc || !first {
				args.acc = 1
			} else {
				args.acc = 0
			}
			first = false
			aOff := s0*segStride + p0*kstep     // A offset of the block's first step
			bRow := s0*segLen + p0              // B row of the block's first step
			aEnd := (ns-1)*segStride + kk*kstep // A floats the K loop moves a row pointer
			// Row blocks: only worth it when several panels sweep A.
			mc := m
			if nvecs > ks.maxNV {
				mc = max(gemmRowUnit, gemmABlock/(ns*kk*4)/gemmRowUnit*gemmRowUnit)
			}
			for i0 := 0; i0 < m; i0 += mc {
				mi := min(mc, m-i0)
				for v0 := 0; v0 < nvecs; {
					nv := gemmPanel(nvecs-v0, ks.maxNV)
					j0 := v0 * vec
					w := min(nv*vec, n-j0) // valid columns in the panel
					last := w - (nv-1)*vec // valid lanes of the last vector
					args.kmask = 1<<last - 1
					args.edge = 0
					if last < vec {
						args.edge = 1
					}
					for l := range args.ymask {
						args.ymask[l] = 0
						if l < last {
							args.ymask[l] = -1
						}
					}
					args.b = unsafe.Pointer(&b[bRow*ldb+j0])
					mr := ks.mr[nv]
					for g := 0; g < groups; g++ {
						ga, gc := g*gA, g*gC
						for i := i0; i < i0+mi; {
							r := min(mr, i0+mi-i)
							tiles := (i0 + mi - i) / r
							if groups > 1 {
								// Balanced heights: 28 rows as 14+14, not 16+12;
								// 14 as 7+7, not 12+2 (a latency-bound tile).
								// nt tiles: the first left−nt·(r−1) of r rows, the
								// rest (the next pass) of r−1.
								left := i0 + mi - i
								nt := (left + mr - 1) / mr
								r = (left + nt - 1) / nt
								tiles = left - nt*(r-1)
							}
							args.tiles = uintptr(tiles)
							args.c = unsafe.Pointer(&c[gc+i*ldc+j0])
							if ta {
								args.a = unsafe.Pointer(&a[aOff+i])
								args.astep = uintptr(r*4) - uintptr(aEnd*4)
							} else {
								args.a = unsafe.Pointer(&a[ga+aOff+i*lda])
								args.astep = uintptr(r)*args.lda - uintptr(aEnd*4)
								args.pf = uintptr(r) * args.lda
							}
							switch ks {
							case gemm512:
								gemm512Call(ta, nv, r, &args)
							case gemm512y:
								gemm512yCall(ta, nv, r, &args)
							default:
								gemmAVX2Call(ta, nv, r, &args)
							}
							i += tiles * r
						}
					}
					v0 += nv
				}
			}
		}
	}
	if pack != nil {
		gemmPackPool.Put(pack)
	}
}

// gemmPanel chooses how many vectors the next column panel spans when
// rem vectors remain, keeping panels as wide as possible and balanced.
func gemmPanel(rem, maxNV int) int {
	switch {
	case rem <= maxNV:
		return rem
	case rem < 2*maxNV:
		return (rem + 1) / 2
	default:
		return maxNV
	}
}

// gemmPfDist is how many tiles ahead the kernels prefetch A.
var gemmPfDist uintptr = 3
