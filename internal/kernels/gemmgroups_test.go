package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// gemmGroupsFunc is the signature of SgemmSegGroups and its implementations.
type gemmGroupsFunc func(groups, gA, gC, m, n, segs, segLen int, a []float32, lda, segStride int, b []float32, ldb int, c []float32, ldc int, acc bool)

// checkGemmGroups runs f on groups of tc (group g's A at g·gA, its C at
// g·gC, the C windows apart) and checks each group against seg, the same
// kernel set's SgemmSeg, bit for bit, and against a float64 reference, and
// that nothing outside the C windows was written.
func checkGemmGroups(t *testing.T, f gemmGroupsFunc, seg gemmSegFunc, tc gemmSegCase, groups, gA, gC int, rng *rand.Rand) {
	t.Helper()
	m, n, k := tc.m, tc.n, tc.segs*tc.segLen
	name := fmt.Sprintf("%v groups=%d gA=%d gC=%d", tc, groups, gA, gC)
	cspan := (m-1)*tc.ldc + n
	aLen := (groups-1)*gA + tc.aLen()
	aAll := randVec(rng, tc.offA+aLen+gemmGuard)
	bAll := randVec(rng, tc.offB+(k-1)*tc.ldb+n+gemmGuard)
	cAll := randVec(rng, tc.offC+(groups-1)*gC+cspan+gemmGuard)
	c0 := append([]float32(nil), cAll...)
	a := aAll[tc.offA : tc.offA+aLen]
	b := bAll[tc.offB : tc.offB+(k-1)*tc.ldb+n]
	c := cAll[tc.offC : tc.offC+(groups-1)*gC+cspan]

	f(groups, gA, gC, m, n, tc.segs, tc.segLen, a, tc.lda, tc.segStride, b, tc.ldb, c, tc.ldc, tc.acc)

	inside := make([]bool, len(cAll))
	for g := 0; g < groups; g++ {
		want := append([]float32(nil), c0[tc.offC+g*gC:tc.offC+g*gC+cspan]...)
		seg(m, n, tc.segs, tc.segLen, a[g*gA:], tc.lda, tc.segStride, b, tc.ldb, want, tc.ldc, tc.acc)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				idx := tc.offC + g*gC + i*tc.ldc + j
				inside[idx] = true
				got := cAll[idx]
				if w := want[i*tc.ldc+j]; got != w {
					t.Fatalf("%s: group %d C[%d,%d] = %g, SgemmSeg gives %g", name, g, i, j, got, w)
				}
				ref, mag := segRef(tc, a[g*gA:], b, c0[idx], i, j)
				if math.Abs(float64(got)-ref) > 1e-5*mag+1e-30 {
					t.Fatalf("%s: group %d C[%d,%d] = %g, want %g", name, g, i, j, got, ref)
				}
			}
		}
	}
	for idx := range cAll {
		if !inside[idx] && cAll[idx] != c0[idx] {
			t.Fatalf("%s: wrote outside the C windows at slice index %d", name, idx-tc.offC)
		}
	}
}

// testGemmGroupsImpl checks f on every row remainder (m 1..40, so each
// group's rows split into tiles of every height), widths of one to five
// vectors, 1..5 groups whose A overlap (as a convolution's rows do) or not,
// and the implicit convolution's own groups.
func testGemmGroupsImpl(t *testing.T, f gemmGroupsFunc, seg gemmSegFunc) {
	rng := rand.New(rand.NewPCG(21, 22))
	for m := 1; m <= 40; m++ {
		for _, n := range []int{1 + rng.IntN(8), 9 + rng.IntN(8), 16, 17 + rng.IntN(31), 32, 48 + rng.IntN(33)} {
			segs, segLen := 1+rng.IntN(4), 1+rng.IntN(60)
			tc := randGemmSegCase(rng, m, n, segs, segLen)
			groups := 1 + rng.IntN(5)
			gA := rng.IntN(tc.aLen() + 8)
			gC := (m-1)*tc.ldc + n + rng.IntN(3)*tc.ldc + rng.IntN(5)
			checkGemmGroups(t, f, seg, tc, groups, gA, gC, rng)
		}
	}
	// Output rows of the ResNet's convolutions and others: groups of OW
	// positions Wp·C floats apart in A, OW·Cout apart in C.
	for _, cv := range [][6]int{ // rows, OW, Wp, C, KW, Cout
		{8, 28, 30, 8, 3, 16}, {8, 28, 30, 16, 3, 16}, {14, 14, 16, 16, 3, 32}, {14, 14, 16, 32, 3, 32},
		{7, 7, 9, 64, 3, 64}, {8, 28, 30, 1, 3, 8}, {8, 28, 30, 16, 3, 8}, {3, 27, 31, 3, 5, 7}, {2, 9, 15, 1, 7, 70},
		// K in several blocks of whole segments, segments split into
		// pieces, and more than one column panel (VGG's wide layers).
		{3, 6, 8, 256, 3, 80}, {2, 5, 7, 300, 3, 20}, {2, 4, 6, 100, 3, 150},
	} {
		rows, ow, wp, c, kw, co := cv[0], cv[1], cv[2], cv[3], cv[4], cv[5]
		for _, acc := range []bool{false, true} {
			tc := gemmSegCase{m: ow, n: co, segs: kw, segLen: kw * c, lda: c, segStride: wp * c, ldb: co, ldc: co, acc: acc}
			checkGemmGroups(t, f, seg, tc, rows, wp*c, ow*co, rng)
		}
	}
}

func TestSgemmSegGroupsGeneric(t *testing.T) {
	testGemmGroupsImpl(t, SgemmSegGroupsGeneric, SgemmSegGeneric)
}

func TestSgemmSegGroups(t *testing.T) { testGemmGroupsImpl(t, SgemmSegGroups, SgemmSeg) }
