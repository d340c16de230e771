package kernels

import (
	"math"
	"math/rand/v2"
	"resgo/compute"
	"testing"
)

// withRowsFast runs f with the vector row kernels on or off.
func withRowsFast(on bool, f func()) {
	old := rowsFast
	rowsFast = on
	defer func() { rowsFast = old }()
	f()
}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func closeVec(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*math.Max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestRowKernelsMatchPortable runs the BatchNorm and elementwise kernels
// with the AVX-512 row kernels and with the portable loops, for channel
// counts that tile a vector, that span several, and that do neither, and
// for position counts that leave a tail.
func TestRowKernelsMatchPortable(t *testing.T) {
	if !hasAVX512 || forcedGeneric() {
		t.Skip("no AVX-512 row kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, workers := range []int{1, 3} {
		p := compute.NewPool(workers)
		for _, C := range []int{1, 2, 3, 4, 8, 16, 24, 32, 48, 64} {
			for _, M := range []int{1, 7, 33, 300} {
				n := M * C
				x, dy, y := randVec(r, n), randVec(r, n), randVec(r, n)
				gamma, beta := randVec(r, C), randVec(r, C)
				run := func() (out [][]float32) {
					mean, vr, inv := make([]float32, C), make([]float32, C), make([]float32, C)
					BNStats(p, x, M, C, mean, vr)
					InvStd(vr, 1e-3, inv)
					for _, relu := range []bool{false, true} {
						ys := make([]float32, n)
						BNApply(p, x, M, C, mean, inv, gamma, beta, ys, relu, make([]float32, BNScratch(C)))
						dx := randVec(rand.New(rand.NewPCG(3, 4)), n)
						dg, db := make([]float32, C), make([]float32, C)
						var mask []float32
						if relu {
							mask = ys
						}
						BNBackward(p, x, dy, mask, M, C, mean, inv, gamma, beta, dx, dg, db, make([]float32, BNScratch(C)), true)
						out = append(out, ys, dx, dg, db)
					}
					rl, rb, ad, at := make([]float32, n), make([]float32, n), make([]float32, n), append([]float32(nil), dy...)
					ReLU(p, x, rl)
					ReLUBackward(p, y, dy, rb)
					Add(p, x, y, ad)
					AddTo(p, x, at)
					return append(out, mean, vr, rl, rb, ad, at)
				}
				var fast, slow [][]float32
				withRowsFast(true, func() { fast = run() })
				withRowsFast(false, func() { slow = run() })
				for i := range slow {
					closeVec(t, "output", fast[i], slow[i], 1e-4)
				}
			}
		}
		p.Close()
	}
}

// TestMaxPoolVectorMatchesPortable compares the AVX-512 pooling rows with
// the portable loop, forward (values and argmax, ties included) and
// backward, on odd sizes and several channel counts.
func TestMaxPoolVectorMatchesPortable(t *testing.T) {
	if !hasAVX512 || forcedGeneric() {
		t.Skip("no AVX-512 row kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(9, 9))
	p := compute.NewPool(3)
	defer p.Close()
	for _, sh := range [][4]int{{2, 4, 4, 16}, {3, 7, 5, 32}, {1, 28, 28, 16}, {2, 14, 14, 48}, {1, 3, 3, 16}} {
		N, H, W, C := sh[0], sh[1], sh[2], sh[3]
		x := randVec(r, N*H*W*C)
		for i := range x {
			x[i] = float32(int(x[i] * 2)) // many ties
		}
		n := N * (H / 2) * (W / 2) * C
		dy := randVec(r, n)
		run := func(fast bool) (y, arg, dx []float32) {
			y, arg, dx = make([]float32, n), make([]float32, n), make([]float32, len(x))
			withRowsFast(fast, func() {
				MaxPool2x2(p, x, N, H, W, C, y, arg)
				MaxPool2x2Backward(p, dy, arg, N, H, W, C, dx, true)
			})
			return
		}
		yf, af, df := run(true)
		ys, as, ds := run(false)
		for i := range ys {
			if yf[i] != ys[i] || af[i] != as[i] {
				t.Fatalf("%v: output %d: %v (arg %v), want %v (arg %v)", sh, i, yf[i], af[i], ys[i], as[i])
			}
		}
		for i := range ds {
			if df[i] != ds[i] {
				t.Fatalf("%v: dx[%d] = %v, want %v", sh, i, df[i], ds[i])
			}
		}
	}
}

// TestRowKernelsPropagateNaN checks that the vector kernels, like the
// portable loops, keep a NaN a NaN through BatchNorm+ReLU and ReLU rather
// than clamping it to 0, so a diverged model is seen as diverged on every
// kernel set.
func TestRowKernelsPropagateNaN(t *testing.T) {
	nan := float32(math.NaN())
	p := compute.NewPool(1)
	defer p.Close()
	for _, fast := range []bool{false, true} {
		if fast && (!hasAVX512 || forcedGeneric()) {
			continue
		}
		withRowsFast(fast, func() {
			C, M := 16, 4
			x := make([]float32, M*C)
			x[5], x[40] = nan, -1
			ones, zeros := make([]float32, C), make([]float32, C)
			for i := range ones {
				ones[i] = 1
			}
			y := make([]float32, M*C)
			BNApply(p, x, M, C, zeros, ones, ones, zeros, y, true, make([]float32, BNScratch(C)))
			r := make([]float32, M*C)
			ReLU(p, x, r)
			for name, out := range map[string][]float32{"BN+ReLU": y, "ReLU": r} {
				if !math.IsNaN(float64(out[5])) || out[40] != 0 {
					t.Errorf("fast=%v %s: got %v and %v, want NaN and 0", fast, name, out[5], out[40])
				}
			}
		})
	}
}
