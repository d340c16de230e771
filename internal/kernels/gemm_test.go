package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"resgo/internal/kernelset"
	"testing"
)

// gemmFunc is the signature shared by Sgemm, SgemmTA, SgemmTB and their
// implementations.
type gemmFunc func(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool)

// gemmCase is one product to test: shapes, leading dimensions, where each
// matrix starts inside its slice, and whether C is accumulated into.
type gemmCase struct {
	m, n, k          int
	lda, ldb, ldc    int
	offA, offB, offC int
	acc              bool
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("m=%d n=%d k=%d lda=%d ldb=%d ldc=%d off=%d,%d,%d acc=%v",
		tc.m, tc.n, tc.k, tc.lda, tc.ldb, tc.ldc, tc.offA, tc.offB, tc.offC, tc.acc)
}

// randGemmCase fills in random leading dimensions and offsets. transA and
// transB say how A and B are stored (A [k×m], B [n×k]).
func randGemmCase(rng *rand.Rand, m, n, k int, transA, transB bool) gemmCase {
	tc := gemmCase{m: m, n: n, k: k, acc: rng.IntN(2) == 1}
	extra := func() int {
		if rng.IntN(3) == 0 {
			return 0
		}
		return rng.IntN(9)
	}
	tc.lda = k + extra()
	if transA {
		tc.lda = m + extra()
	}
	tc.ldb = n + extra()
	if transB {
		tc.ldb = k + extra()
	}
	tc.ldc = n + extra()
	tc.offA, tc.offB, tc.offC = rng.IntN(16), rng.IntN(16), rng.IntN(16)
	return tc
}

const gemmGuard = 17 // floats past the end of each matrix that must stay intact

// checkGemm runs f on tc and compares it with a float64 reference, with a
// tolerance relative to Σ|a||b| per element. It also checks that nothing
// outside the m×n window of C (the leading-dimension gaps, the bytes before
// the start and after the end) was written.
func checkGemm(t *testing.T, f gemmFunc, tc gemmCase, transA, transB bool, rng *rand.Rand) {
	t.Helper()
	m, n, k := tc.m, tc.n, tc.k
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	span := func(rows, cols, ld int) int {
		if rows == 0 {
			return 0
		}
		return (rows-1)*ld + cols
	}
	fill := func(s []float32) {
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
	}
	aAll := make([]float32, tc.offA+span(rowsA, colsA, tc.lda)+gemmGuard)
	bAll := make([]float32, tc.offB+span(rowsB, colsB, tc.ldb)+gemmGuard)
	cAll := make([]float32, tc.offC+span(m, n, tc.ldc)+gemmGuard)
	fill(aAll)
	fill(bAll)
	fill(cAll)
	c0 := append([]float32(nil), cAll...)
	// Slices end exactly at the last element so an overrun would panic in
	// Go code; the guard is beyond the slice's length but inside its cap.
	a := aAll[tc.offA : tc.offA+span(rowsA, colsA, tc.lda)]
	b := bAll[tc.offB : tc.offB+span(rowsB, colsB, tc.ldb)]
	c := cAll[tc.offC : tc.offC+span(m, n, tc.ldc)]

	f(m, n, k, a, tc.lda, b, tc.ldb, c, tc.ldc, tc.acc)

	at := func(i, p int) float32 {
		if transA {
			return a[p*tc.lda+i]
		}
		return a[i*tc.lda+p]
	}
	bt := func(p, j int) float32 {
		if transB {
			return b[j*tc.ldb+p]
		}
		return b[p*tc.ldb+j]
	}
	inside := make([]bool, len(cAll))
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			idx := tc.offC + i*tc.ldc + j
			inside[idx] = true
			var want, mag float64
			if tc.acc {
				want = float64(c0[idx])
				mag = math.Abs(want)
			}
			for p := 0; p < k; p++ {
				x := float64(at(i, p)) * float64(bt(p, j))
				want += x
				mag += math.Abs(x)
			}
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

// gemmShapes lists the shapes every implementation is tested on: every
// remainder of the register tiles in M, N and K, several K blocks, several
// column panels and row blocks, and the network's own shapes.
func gemmShapes(rng *rand.Rand) [][3]int {
	var s [][3]int
	ks := []int{0, 1, 2, 3, 4, 5, 7, 9, 16, 17, 31, 72, 144}
	for n := 1; n <= 70; n++ {
		for m := 1; m <= 20; m++ {
			s = append(s, [3]int{m, n, ks[rng.IntN(len(ks))]})
		}
	}
	for k := 0; k <= 40; k++ {
		for range 4 {
			s = append(s, [3]int{1 + rng.IntN(40), 1 + rng.IntN(100), k})
		}
	}
	for _, m := range []int{47, 48, 49, 97, 130} {
		for _, n := range []int{8, 10, 16, 32, 33, 64, 65, 128, 150} {
			for _, k := range []int{144, 576, 769, 1600} {
				if m*n*k <= 8e6 {
					s = append(s, [3]int{m, n, k})
				}
			}
		}
	}
	s = append(s, [3]int{32, 128, 3136}, [3]int{32, 10, 128}, [3]int{300, 64, 576},
		[3]int{256, 16, 144}, [3]int{200, 8, 9})
	return s
}

func testGemmImpl(t *testing.T, f gemmFunc, transA, transB bool) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := gemmShapes(rng)
	if testing.Short() {
		shapes = shapes[:len(shapes)/4]
	}
	for _, sh := range shapes {
		tc := randGemmCase(rng, sh[0], sh[1], sh[2], transA, transB)
		checkGemm(t, f, tc, transA, transB, rng)
	}
}

func TestSgemmGeneric(t *testing.T)   { testGemmImpl(t, SgemmGeneric, false, false) }
func TestSgemmTAGeneric(t *testing.T) { testGemmImpl(t, SgemmTAGeneric, true, false) }
func TestSgemmTBGeneric(t *testing.T) { testGemmImpl(t, SgemmTBGeneric, false, true) }

// The exported entry points, whatever set they dispatch to.
func TestSgemm(t *testing.T) {
	t.Log("kernels:", kernelset.Current())
	testGemmImpl(t, Sgemm, false, false)
}
func TestSgemmTA(t *testing.T) { testGemmImpl(t, SgemmTA, true, false) }
func TestSgemmTB(t *testing.T) { testGemmImpl(t, SgemmTB, false, true) }

// TestSgemmEmpty checks that empty products touch nothing.
func TestSgemmEmpty(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, f := range []gemmFunc{Sgemm, SgemmTA, SgemmTB} {
		for _, sh := range [][3]int{{0, 5, 5}, {5, 0, 5}, {0, 0, 0}} {
			checkGemm(t, f, gemmCase{m: sh[0], n: sh[1], k: sh[2], lda: 5, ldb: 5, ldc: 5, offC: 3}, false, false, rng)
		}
	}
}

// TestSgemmAllocs checks that the steady state allocates nothing, including
// the paths that pack operands.
func TestSgemmAllocs(t *testing.T) {
	m, n, k := 40, 10, 33
	a := make([]float32, m*k)
	b := make([]float32, k*n)
	c := make([]float32, m*n)
	for _, f := range []gemmFunc{Sgemm, SgemmTA, SgemmTB} {
		f(m, n, k, a, k, b, n, c, n, false)
		if got := testing.AllocsPerRun(20, func() { f(m, n, k, a, k, b, n, c, n, true) }); got != 0 {
			t.Errorf("%d allocations per call", int(got))
		}
	}
}
