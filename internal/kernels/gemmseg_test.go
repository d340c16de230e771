package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"resgo/internal/kernelset"
	"testing"
)

// gemmSegFunc is the signature of SgemmSeg and its implementations.
type gemmSegFunc func(m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool)

// gemmSegCase is one segmented product to test.
type gemmSegCase struct {
	m, n, segs, segLen int
	lda, segStride     int
	ldb, ldc           int
	offA, offB, offC   int
	acc                bool
	ta                 bool // A_s is stored [segLen×m] (SgemmTASeg)
}

func (tc gemmSegCase) String() string {
	return fmt.Sprintf("m=%d n=%d segs=%d segLen=%d lda=%d segStride=%d ldb=%d ldc=%d off=%d,%d,%d acc=%v ta=%v",
		tc.m, tc.n, tc.segs, tc.segLen, tc.lda, tc.segStride, tc.ldb, tc.ldc, tc.offA, tc.offB, tc.offC, tc.acc, tc.ta)
}

// aLen is the number of floats A spans.
func (tc gemmSegCase) aLen() int {
	if tc.m == 0 || tc.segs == 0 || tc.segLen == 0 {
		return 0
	}
	if tc.ta {
		return (tc.segs-1)*tc.segStride + (tc.segLen-1)*tc.lda + tc.m
	}
	return (tc.segs-1)*tc.segStride + (tc.m-1)*tc.lda + tc.segLen
}

// aAt is the index in A of element (i, p) of segment s: row i, step p.
func (tc gemmSegCase) aAt(s, i, p int) int {
	if tc.ta {
		return s*tc.segStride + p*tc.lda + i
	}
	return s*tc.segStride + i*tc.lda + p
}

// randGemmSegCase picks leading dimensions, segment stride and offsets for
// a shape: A rows that overlap (lda < segLen, as a convolution reads them)
// or not, segments apart, back to back or overlapping, B and C with or
// without gaps, slices starting anywhere (unaligned).
func randGemmSegCase(rng *rand.Rand, m, n, segs, segLen int) gemmSegCase {
	tc := gemmSegCase{m: m, n: n, segs: segs, segLen: segLen, acc: rng.IntN(2) == 1}
	switch rng.IntN(4) {
	case 0: // convolution-like: rows C apart, a kernel row of KW·C floats
		kw := 1 + rng.IntN(5)
		tc.lda = max(1, segLen/kw)
	case 1:
		tc.lda = 1 + rng.IntN(segLen+1)
	default:
		tc.lda = segLen + rng.IntN(9)
	}
	switch rng.IntN(6) {
	case 0:
		tc.segStride = segLen
	case 1:
		tc.segStride = rng.IntN(segLen + 1) // overlapping segments
	default: // an image row further on
		tc.segStride = segLen + rng.IntN(4*tc.lda+40)
	}
	extra := func() int {
		if rng.IntN(3) == 0 {
			return 0
		}
		return rng.IntN(9)
	}
	tc.ldb, tc.ldc = n+extra(), n+extra()
	tc.offA, tc.offB, tc.offC = rng.IntN(16), rng.IntN(16), rng.IntN(16)
	return tc
}

// randGemmTASegCase is randGemmSegCase for SgemmTASeg: stored rows of A
// that overlap (lda < m, as a convolution's patches do) or not, segments
// back to back, overlapping or an image row apart.
func randGemmTASegCase(rng *rand.Rand, m, n, segs, segLen int) gemmSegCase {
	tc := randGemmSegCase(rng, m, n, segs, segLen)
	tc.ta = true
	switch rng.IntN(3) {
	case 0: // convolution-like: m = KW·C, rows C apart
		tc.lda = max(1, m/(1+rng.IntN(5)))
	case 1:
		tc.lda = 1 + rng.IntN(m+1)
	default:
		tc.lda = m + rng.IntN(9)
	}
	switch rng.IntN(6) {
	case 0:
		tc.segStride = segLen * tc.lda
	case 1:
		tc.segStride = rng.IntN(segLen*tc.lda + 1) // overlapping segments
	default: // the next output row, past the padded columns
		tc.segStride = segLen*tc.lda + tc.lda*rng.IntN(5) + rng.IntN(3)
	}
	return tc
}

// segRef is C[i,j] of tc in float64 (c, C's value before, added when
// tc.acc) and the sum of the magnitudes of its terms, for the tolerance:
// a holds A from its first row.
func segRef(tc gemmSegCase, a, b []float32, c float32, i, j int) (ref, mag float64) {
	if tc.acc {
		ref = float64(c)
		mag = math.Abs(ref)
	}
	for s := 0; s < tc.segs; s++ {
		for p := 0; p < tc.segLen; p++ {
			x := float64(a[tc.aAt(s, i, p)]) * float64(b[(s*tc.segLen+p)*tc.ldb+j])
			ref += x
			mag += math.Abs(x)
		}
	}
	return ref, mag
}

// checkGemmSeg runs f on tc and compares it with a float64 reference, as
// checkGemm does, including that nothing outside C's window is written.
func checkGemmSeg(t *testing.T, f gemmSegFunc, tc gemmSegCase, rng *rand.Rand) {
	t.Helper()
	m, n, k := tc.m, tc.n, tc.segs*tc.segLen
	span := func(rows, cols, ld int) int {
		if rows == 0 || cols == 0 {
			return 0
		}
		return (rows-1)*ld + cols
	}
	fill := func(s []float32) {
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
	}
	aAll := make([]float32, tc.offA+tc.aLen()+gemmGuard)
	bAll := make([]float32, tc.offB+span(k, n, tc.ldb)+gemmGuard)
	cAll := make([]float32, tc.offC+span(m, n, tc.ldc)+gemmGuard)
	fill(aAll)
	fill(bAll)
	fill(cAll)
	c0 := append([]float32(nil), cAll...)
	a := aAll[tc.offA : tc.offA+tc.aLen()]
	b := bAll[tc.offB : tc.offB+span(k, n, tc.ldb)]
	c := cAll[tc.offC : tc.offC+span(m, n, tc.ldc)]

	f(m, n, tc.segs, tc.segLen, a, tc.lda, tc.segStride, b, tc.ldb, c, tc.ldc, tc.acc)

	inside := make([]bool, len(cAll))
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			idx := tc.offC + i*tc.ldc + j
			inside[idx] = true
			want, mag := segRef(tc, a, b, c0[idx], i, j)
			got := float64(cAll[idx])
			if math.Abs(got-want) > 1e-5*mag+1e-30 || math.IsNaN(got) {
				t.Fatalf("%v: C[%d,%d] = %g, want %g (Σ|ab| %g)", tc, i, j, got, want, mag)
			}
		}
	}
	for idx := range cAll {
		if !inside[idx] && cAll[idx] != c0[idx] {
			t.Fatalf("%v: wrote outside C at slice index %d", tc, idx-tc.offC)
		}
	}
}

// gemmSegShapes lists (m, n, segs, segLen): every remainder of the register
// tiles in M (several tiles of each) and N (up to five vectors, two panels),
// segs 1..5 and segLen 1..200 at random; K blocks made of several whole
// segments and segments longer than a K block; row blocks; and the
// convolutions' own shapes.
func gemmSegShapes(rng *rand.Rand) [][4]int {
	var s [][4]int
	seg := func() (int, int) {
		segLen := 1 + rng.IntN(200)
		if rng.IntN(3) == 0 {
			segLen = 1 + rng.IntN(9)
		}
		return 1 + rng.IntN(5), segLen
	}
	for n := 1; n <= 70; n++ {
		for m := 1; m <= 40; m++ {
			if m > 20 && rng.IntN(3) != 0 {
				continue
			}
			segs, segLen := seg()
			s = append(s, [4]int{m, n, segs, segLen})
		}
	}
	for segs := 1; segs <= 5; segs++ {
		for segLen := 1; segLen <= 12; segLen++ {
			s = append(s, [4]int{1 + rng.IntN(40), 1 + rng.IntN(70), segs, segLen})
		}
	}
	for _, sh := range [][4]int{
		{37, 20, 5, 200}, {50, 33, 4, 300}, {20, 16, 2, 769}, {17, 40, 3, 1600}, {9, 8, 5, 500},
		{130, 150, 3, 192}, {97, 65, 5, 120}, {49, 128, 2, 400},
		{240, 16, 3, 24}, {240, 16, 3, 48}, {224, 32, 3, 48}, {224, 32, 3, 96}, {63, 64, 3, 96}, {63, 64, 3, 192},
		{240, 8, 3, 48}, {224, 16, 3, 96}, {63, 32, 3, 192},
	} {
		s = append(s, sh)
	}
	return s
}

func testGemmSegImpl(t *testing.T, f gemmSegFunc) {
	testGemmSegShapes(t, f, rand.New(rand.NewPCG(7, 8)), randGemmSegCase)
}

// testGemmSegShapes checks f on gemmSegShapes with strides and offsets
// from newCase.
func testGemmSegShapes(t *testing.T, f gemmSegFunc, rng *rand.Rand, newCase func(rng *rand.Rand, m, n, segs, segLen int) gemmSegCase) {
	shapes := gemmSegShapes(rng)
	if testing.Short() {
		shapes = shapes[:len(shapes)/4]
	}
	for _, sh := range shapes {
		checkGemmSeg(t, f, newCase(rng, sh[0], sh[1], sh[2], sh[3]), rng)
	}
}

// convSegCase is the product one work unit of the implicit convolution
// runs: M = rows·Wp positions, segLen = KW·C, lda = C, segStride = Wp·C.
func convSegCase(rows, wp, c, kh, kw, co int) gemmSegCase {
	return gemmSegCase{m: rows * wp, n: co, segs: kh, segLen: kw * c, lda: c, segStride: wp * c, ldb: co, ldc: co}
}

func testGemmSegConv(t *testing.T, f gemmSegFunc) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []gemmSegCase{
		convSegCase(8, 30, 8, 3, 3, 16), convSegCase(8, 30, 16, 3, 3, 16), convSegCase(14, 16, 16, 3, 3, 32),
		convSegCase(14, 16, 32, 3, 3, 32), convSegCase(7, 9, 32, 3, 3, 64), convSegCase(7, 9, 64, 3, 3, 64),
		convSegCase(8, 30, 16, 3, 3, 8), convSegCase(3, 32, 3, 5, 5, 7), convSegCase(2, 12, 1, 7, 7, 70),
	} {
		for _, acc := range []bool{false, true} {
			tc.acc = acc
			tc.offA, tc.offB, tc.offC = rng.IntN(16), rng.IntN(16), rng.IntN(16)
			checkGemmSeg(t, f, tc, rng)
		}
	}
}

func testGemmTASegImpl(t *testing.T, f gemmSegFunc) {
	rng := rand.New(rand.NewPCG(17, 18))
	testGemmSegShapes(t, f, rng, randGemmTASegCase)
	for _, tc := range wgradSegCases() {
		for _, acc := range []bool{false, true} {
			tc.acc = acc
			tc.offA, tc.offB, tc.offC = rng.IntN(16), rng.IntN(16), rng.IntN(16)
			checkGemmSeg(t, f, tc, rng)
		}
	}
}

// wgradSegCase is the product one work unit of the implicit weight
// gradient runs for one kernel row: dW[kh] (KW·C × Cout) += Σ over the
// valid positions of rows output rows of patchᵀ·dY, a segment per row.
func wgradSegCase(rows, ow, wp, c, kw, co int) gemmSegCase {
	return gemmSegCase{m: kw * c, n: co, segs: rows, segLen: ow, lda: c, segStride: wp * c, ldb: co, ldc: co, ta: true}
}

// wgradSegCases are the ResNet's weight-gradient units and some odd ones.
func wgradSegCases() []gemmSegCase {
	return []gemmSegCase{
		wgradSegCase(8, 28, 30, 1, 3, 8), wgradSegCase(8, 28, 30, 8, 3, 16), wgradSegCase(8, 28, 30, 16, 3, 16),
		wgradSegCase(14, 14, 16, 16, 3, 32), wgradSegCase(14, 14, 16, 32, 3, 32), wgradSegCase(7, 7, 9, 32, 3, 64),
		wgradSegCase(7, 7, 9, 64, 3, 64), wgradSegCase(3, 5, 9, 3, 5, 7), wgradSegCase(2, 300, 306, 2, 7, 70),
	}
}

// TestSgemmTASegPaddedBits checks the property the weight gradient relies
// on: SgemmTASeg over the valid positions gives the bits of SgemmTA over
// the padded width with zero rows of B in the gaps, when the product is
// one K block.
func TestSgemmTASegPaddedBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, tc := range wgradSegCases()[:7] {
		wp := tc.segStride / tc.lda
		a := randVec(rng, tc.aLen()+(wp-tc.segLen)*tc.lda)
		b := randVec(rng, tc.segs*tc.segLen*tc.n)
		bp := make([]float32, tc.segs*wp*tc.n) // B over the padded width
		for s := 0; s < tc.segs; s++ {
			copy(bp[s*wp*tc.n:], b[s*tc.segLen*tc.n:(s+1)*tc.segLen*tc.n])
		}
		want := randVec(rng, tc.m*tc.n)
		got := append([]float32(nil), want...)
		SgemmTA(tc.m, tc.n, tc.segs*wp, a, tc.lda, bp, tc.n, want, tc.n, true)
		SgemmTASeg(tc.m, tc.n, tc.segs, tc.segLen, a, tc.lda, tc.segStride, b, tc.n, got, tc.n, true)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%v: element %d: %g, over the padded width %g", tc, i, got[i], want[i])
			}
		}
	}
}

func TestSgemmTASegGeneric(t *testing.T) { testGemmTASegImpl(t, SgemmTASegGeneric) }
func TestSgemmTASeg(t *testing.T)        { testGemmTASegImpl(t, SgemmTASeg) }

func TestSgemmSegGeneric(t *testing.T) { testGemmSegImpl(t, SgemmSegGeneric) }
func TestSgemmSeg(t *testing.T)        { t.Log("kernels:", kernelset.Current()); testGemmSegImpl(t, SgemmSeg) }
func TestSgemmSegConv(t *testing.T)    { testGemmSegConv(t, SgemmSeg) }

// TestSgemmSegOne checks that one segment is exactly Sgemm, bit for bit.
func TestSgemmSegOne(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, sh := range [][3]int{{1, 1, 1}, {17, 33, 9}, {64, 16, 144}, {50, 70, 1000}, {130, 150, 300}} {
		m, n, k := sh[0], sh[1], sh[2]
		a, b := randVec(rng, m*k), randVec(rng, k*n)
		c1, c2 := randVec(rng, m*n), make([]float32, m*n)
		copy(c2, c1)
		Sgemm(m, n, k, a, k, b, n, c1, n, true)
		SgemmSeg(m, n, 1, k, a, k, 12345, b, n, c2, n, true)
		for i := range c1 {
			if c1[i] != c2[i] {
				t.Fatalf("%v: SgemmSeg with one segment differs from Sgemm at %d: %g vs %g", sh, i, c2[i], c1[i])
			}
		}
	}
}

// TestSgemmSegEmpty checks that empty products touch nothing but clear C
// when they do not accumulate.
func TestSgemmSegEmpty(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for fi, f := range []gemmSegFunc{SgemmSeg, SgemmSegGeneric, SgemmTASeg, SgemmTASegGeneric} {
		for _, sh := range [][4]int{{0, 5, 2, 5}, {5, 0, 2, 5}, {0, 0, 0, 0}, {4, 5, 0, 3}, {4, 5, 3, 0}} {
			for _, acc := range []bool{false, true} {
				tc := gemmSegCase{m: sh[0], n: sh[1], segs: sh[2], segLen: sh[3], lda: 5, segStride: 7, ldb: 5, ldc: 6, offC: 3, acc: acc, ta: fi >= 2}
				checkGemmSeg(t, f, tc, rng)
			}
		}
	}
}

// TestSgemmSegAllocs checks that the steady state allocates nothing.
func TestSgemmSegAllocs(t *testing.T) {
	tc := convSegCase(8, 30, 16, 3, 3, 10)
	a := make([]float32, tc.aLen())
	b := make([]float32, tc.segs*tc.segLen*tc.n)
	c := make([]float32, tc.m*tc.n)
	f := func() { SgemmSeg(tc.m, tc.n, tc.segs, tc.segLen, a, tc.lda, tc.segStride, b, tc.n, c, tc.n, true) }
	f()
	if got := testing.AllocsPerRun(20, f); got != 0 {
		t.Errorf("%d allocations per call", int(got))
	}
}
