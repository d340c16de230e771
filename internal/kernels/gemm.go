// Package kernels holds resgo's hot loops: matrix multiply, convolution
// patches, batch normalisation, pooling and elementwise kernels.
//
// Every kernel has a portable Go version (the *Generic functions), written
// for speed but kept clear, which is the reference that faster assembly
// versions are tested against. The exported entry points dispatch to the
// kernel set chosen through compute.SetKernels: at start the fastest the CPU
// supports, or the one RESGO_KERNELS names (select.go).
//
// All matrices are row-major float32 slices with an explicit leading
// dimension (row stride) so that sub-matrices can be passed in place.
package kernels

// gemmImpl is the implementation behind Sgemm; assembly versions replace
// it at start-up on CPUs that support them.
var gemmImpl = SgemmGeneric

// gemmTAImpl is the implementation behind SgemmTA.
var gemmTAImpl = SgemmTAGeneric

// gemmTASegImpl is the implementation behind SgemmTASeg.
var gemmTASegImpl = SgemmTASegGeneric

// gemmTBImpl is the implementation behind SgemmTB.
var gemmTBImpl = SgemmTBGeneric

// gemmSegImpl is the implementation behind SgemmSeg.
var gemmSegImpl = SgemmSegGeneric

// gemmGroupsImpl is the implementation behind SgemmSegGroups.
var gemmGroupsImpl = SgemmSegGroupsGeneric

// Sgemm computes C = A·B, or C += A·B when acc is true, for row-major
// A [m×k] (row stride lda), B [k×n] (row stride ldb) and C [m×n]
// (row stride ldc). It runs on the calling goroutine; callers split work
// across a Pool.
func Sgemm(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if m == 0 || n == 0 {
		return
	}
	gemmImpl(m, n, k, a, lda, b, ldb, c, ldc, acc)
}

// SgemmGeneric is the portable reference for Sgemm.
//
// It walks C in blocks of 4 rows; for each k it broadcasts four elements of
// A and updates four rows of C with one row of B, so each B row is read once
// per 4 rows of C, and K is blocked so that the B panel stays in cache.
func SgemmGeneric(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if !acc {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+n])
		}
	}
	const kb = 256
	for p0 := 0; p0 < k; p0 += kb {
		p1 := min(p0+kb, k)
		i := 0
		for ; i+4 <= m; i += 4 {
			c0 := c[i*ldc : i*ldc+n]
			c1 := c[(i+1)*ldc : (i+1)*ldc+n]
			c2 := c[(i+2)*ldc : (i+2)*ldc+n]
			c3 := c[(i+3)*ldc : (i+3)*ldc+n]
			for p := p0; p < p1; p++ {
				a0, a1, a2, a3 := a[i*lda+p], a[(i+1)*lda+p], a[(i+2)*lda+p], a[(i+3)*lda+p]
				br := b[p*ldb : p*ldb+n]
				for j, bv := range br {
					c0[j] += a0 * bv
					c1[j] += a1 * bv
					c2[j] += a2 * bv
					c3[j] += a3 * bv
				}
			}
		}
		for ; i < m; i++ {
			ci := c[i*ldc : i*ldc+n]
			for p := p0; p < p1; p++ {
				av := a[i*lda+p]
				br := b[p*ldb : p*ldb+n]
				for j, bv := range br {
					ci[j] += av * bv
				}
			}
		}
	}
}

// SgemmSeg computes C (+)= Σ_{s<segs} A_s·B_s where A_s is the m×segLen
// matrix at a[s*segStride:] with row stride lda, and B_s is rows
// [s*segLen, (s+1)*segLen) of B [segs*segLen × n] (row stride ldb); C is
// [m×n] (row stride ldc), added to when acc is true. It is one GEMM of depth
// segs·segLen whose A rows are made of segs runs scattered in memory: a
// stride-1 convolution reads its patches this way, one segment per kernel
// row, with A rows overlapping (lda < segLen). With segs = 1 it is Sgemm.
func SgemmSeg(m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if m == 0 || n == 0 {
		return
	}
	gemmSegImpl(m, n, segs, segLen, a, lda, segStride, b, ldb, c, ldc, acc)
}

// SgemmSegGeneric is the portable reference for SgemmSeg: one SgemmGeneric
// per segment, accumulating.
func SgemmSegGeneric(m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if m <= 0 || n <= 0 {
		return
	}
	if segs <= 0 || segLen <= 0 {
		SgemmGeneric(m, n, 0, nil, lda, nil, ldb, c, ldc, acc)
		return
	}
	for s := 0; s < segs; s++ {
		SgemmGeneric(m, n, segLen, a[s*segStride:], lda, b[s*segLen*ldb:], ldb, c, ldc, acc || s > 0)
	}
}

// SgemmSegGroups is SgemmSeg over groups of m rows: for g < groups it
// computes the SgemmSeg product of A at a[g·gA:] into C at c[g·gC:], all
// with the same B. A stride-1 convolution runs each output row of a block
// as a group, so that it computes the OW valid positions of a row straight
// into the output instead of the whole padded width into scratch. Each C
// element is the same sum as SgemmSeg's, bit for bit.
func SgemmSegGroups(groups, gA, gC, m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if groups <= 0 || m == 0 || n == 0 {
		return
	}
	gemmGroupsImpl(groups, gA, gC, m, n, segs, segLen, a, lda, segStride, b, ldb, c, ldc, acc)
}

// SgemmSegGroupsGeneric is the portable reference for SgemmSegGroups: one
// SgemmSegGeneric per group.
func SgemmSegGroupsGeneric(groups, gA, gC, m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	for g := 0; g < groups; g++ {
		SgemmSegGeneric(m, n, segs, segLen, a[g*gA:], lda, segStride, b, ldb, c[g*gC:], ldc, acc)
	}
}

// SgemmTA computes C (+)= Aᵀ·B where A is stored as [k×m] (row stride lda),
// B is [k×n] and C is [m×n]. It is the weight-gradient product: patchesᵀ·dY.
func SgemmTA(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if m == 0 || n == 0 {
		return
	}
	gemmTAImpl(m, n, k, a, lda, b, ldb, c, ldc, acc)
}

// SgemmTAGeneric is the portable reference for SgemmTA.
func SgemmTAGeneric(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if !acc {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+n])
		}
	}
	// Rank-1 updates over k: row p of A gives a column of coefficients.
	for p := 0; p < k; p++ {
		ar := a[p*lda : p*lda+m]
		br := b[p*ldb : p*ldb+n]
		for i, av := range ar {
			if av == 0 {
				continue
			}
			ci := c[i*ldc : i*ldc+n]
			for j, bv := range br {
				ci[j] += av * bv
			}
		}
	}
}

// SgemmTASeg computes C (+)= Σ_{s<segs} A_sᵀ·B_s where A_s, stored
// [segLen×m] with row stride lda, is at a[s*segStride:], and B_s is rows
// [s*segLen, (s+1)*segLen) of B [segs*segLen × n] (row stride ldb); C is
// [m×n] (row stride ldc), added to when acc is true. It is one SgemmTA of
// depth segs·segLen whose rows of stored A come in runs scattered in
// memory: a convolution's weight gradient reads the patches of a block's
// output rows this way, one segment per row, skipping the padded columns
// between them. Each C element sums its products in K order, so the result
// is that of SgemmTA over the same rows gathered, with the accumulators
// kept in registers across the segment boundaries.
func SgemmTASeg(m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if m == 0 || n == 0 {
		return
	}
	gemmTASegImpl(m, n, segs, segLen, a, lda, segStride, b, ldb, c, ldc, acc)
}

// SgemmTASegGeneric is the portable reference for SgemmTASeg: one
// SgemmTAGeneric per segment, accumulating.
func SgemmTASegGeneric(m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if m <= 0 || n <= 0 {
		return
	}
	if segs <= 0 || segLen <= 0 {
		SgemmTAGeneric(m, n, 0, nil, lda, nil, ldb, c, ldc, acc)
		return
	}
	for s := 0; s < segs; s++ {
		SgemmTAGeneric(m, n, segLen, a[s*segStride:], lda, b[s*segLen*ldb:], ldb, c, ldc, acc || s > 0)
	}
}

// SgemmTB computes C (+)= A·Bᵀ where A is [m×k], B is stored as [n×k]
// (row stride ldb) and C is [m×n]: each C element is a dot product of two
// contiguous rows.
func SgemmTB(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if m == 0 || n == 0 {
		return
	}
	gemmTBImpl(m, n, k, a, lda, b, ldb, c, ldc, acc)
}

// SgemmTBGeneric is the portable reference for SgemmTB.
func SgemmTBGeneric(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	for i := 0; i < m; i++ {
		ar := a[i*lda : i*lda+k]
		ci := c[i*ldc : i*ldc+n]
		for j := 0; j < n; j++ {
			br := b[j*ldb : j*ldb+k]
			var s0, s1, s2, s3 float32
			p := 0
			for ; p+4 <= k; p += 4 {
				s0 += ar[p] * br[p]
				s1 += ar[p+1] * br[p+1]
				s2 += ar[p+2] * br[p+2]
				s3 += ar[p+3] * br[p+3]
			}
			for ; p < k; p++ {
				s0 += ar[p] * br[p]
			}
			s := (s0 + s1) + (s2 + s3)
			if acc {
				ci[j] += s
			} else {
				ci[j] = s
			}
		}
	}
}
