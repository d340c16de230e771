package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"resgo/compute"
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
				var ref, mag float64
				if tc.acc {
					ref = float64(c0[idx])
					mag = math.Abs(ref)
				}
				for s := 0; s < tc.segs; s++ {
					for p := 0; p < tc.segLen; p++ {
						x := float64(a[g*gA+s*tc.segStride+i*tc.lda+p]) * float64(b[(s*tc.segLen+p)*tc.ldb+j])
						ref += x
						mag += math.Abs(x)
					}
				}
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

// TestConvForwardPaddedDirect checks that the forward convolution computed
// straight into y (acc false) gives the bits of the padded-tile path (acc
// true, into zeros): the same sums, the same bias, on every worker count.
func TestConvForwardPaddedDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	shapes := []ConvShape{
		stride1Shape(3, 28, 28, 8, 3, 3, 16, true), stride1Shape(2, 28, 28, 1, 3, 3, 8, true),
		stride1Shape(3, 14, 14, 32, 3, 3, 32, true), stride1Shape(2, 14, 14, 16, 3, 3, 64, true),
		stride1Shape(2, 9, 11, 3, 5, 5, 7, true), stride1Shape(2, 8, 13, 5, 3, 2, 33, false),
		stride1Shape(1, 6, 6, 4, 2, 2, 70, true),
	}
	for _, workers := range []int{1, 2, 3} {
		p := compute.NewPool(workers)
		for _, s := range shapes {
			x := randVec(r, s.N*s.H*s.W*s.C)
			w := randVec(r, s.K()*s.Cout)
			for _, bias := range [][]float32{nil, randVec(r, s.Cout)} {
				xp := make([]float32, PaddedLen(s))
				PadInput(p, s, x, xp)
				got := randVec(r, s.Rows()*s.Cout)
				want := make([]float32, s.Rows()*s.Cout)
				ConvForwardPadded(p, s, xp, w, bias, got, false)
				ConvForwardPadded(p, s, xp, w, bias, want, true)
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("workers %d, %+v, bias %v: y[%d] = %g straight, %g through the tile", workers, s, bias != nil, i, got[i], want[i])
					}
				}
			}
		}
		p.Close()
	}
}

// TestConvForwardFusedLocalPad checks that the inference convolution whose
// work units pad their own input rows gives the bits of padding the whole
// batch first and then running the same units on it, with BatchNorm+ReLU
// before, BatchNorm after and a residual, on every worker count.
func TestConvForwardFusedLocalPad(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	shapes := []ConvShape{
		stride1Shape(3, 28, 28, 8, 3, 3, 16, true), stride1Shape(2, 28, 28, 1, 3, 3, 8, true),
		stride1Shape(3, 14, 14, 32, 3, 3, 32, true), stride1Shape(2, 29, 31, 3, 5, 5, 7, true),
		stride1Shape(2, 20, 13, 5, 3, 2, 33, false), stride1Shape(1, 17, 17, 4, 2, 2, 70, true),
	}
	for _, workers := range []int{1, 2, 3} {
		p := compute.NewPool(workers)
		for _, s := range shapes {
			if !PreferImplicit(s) {
				t.Fatalf("%+v: not a shape of the implicit GEMM", s)
			}
			x := randVec(r, s.N*s.H*s.W*s.C)
			w, bias := randVec(r, s.K()*s.Cout), randVec(r, s.Cout)
			_, _, _, _, pre := ctAffine(r, s.C, true)
			_, _, _, _, post := ctAffine(r, s.Cout, true)
			f := &Fusion{Pre: pre, Post: post, Res: randVec(r, s.Rows()*s.Cout)}
			Hp, Wp := PaddedGeometry(s)
			RB := implicitRows(s, Wp)
			blocks := (s.OH + RB - 1) / RB
			xp := make([]float32, PaddedLen(s))
			parallel(p, &convTasks, s.N*Hp, 8, convTask{op: convPad, s: s, x: x, y: xp, fuse: f})
			want := make([]float32, s.Rows()*s.Cout)
			parallel(p, &convTasks, s.N*blocks, 1, convTask{op: convFwdPadded, p: p, s: s, x: xp, w: w, bias: bias, y: want, fuse: f})
			got := randVec(r, len(want))
			ConvForwardFused(p, s, x, w, bias, got, f, make([]float32, FusedScratch(s)))
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("workers %d, %+v: y[%d] = %g padding per unit, %g padding the batch", workers, s, i, got[i], want[i])
				}
			}
		}
		p.Close()
	}
}
