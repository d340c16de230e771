package kernels

import (
	"fmt"
	"math/rand/v2"
	"resgo/compute"
	"testing"
)

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
				sameBits(t, fmt.Sprintf("workers %d, %+v, bias %v: y, straight against through the tile", workers, s, bias != nil), got, want)
			}
		}
		p.Close()
	}
}

// sameBits fails the test at the first float of got that differs from
// want, bit for bit.
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: [%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

// localPadShapes are stride-1 convolutions of the implicit GEMM: the
// ResNet's, one input channel, larger and even kernels, 'valid' padding,
// and output channels that are not whole vectors.
func localPadShapes() []ConvShape {
	return []ConvShape{
		stride1Shape(3, 28, 28, 8, 3, 3, 16, true), stride1Shape(2, 28, 28, 1, 3, 3, 8, true),
		stride1Shape(3, 14, 14, 32, 3, 3, 32, true), stride1Shape(2, 29, 31, 3, 5, 5, 7, true),
		stride1Shape(2, 20, 13, 5, 3, 2, 33, false), stride1Shape(1, 17, 17, 4, 2, 2, 70, true),
	}
}

// TestConvForwardFusedLocalPad checks that the inference convolution whose
// work units pad their own input rows gives the bits of padding the whole
// batch first and then running the same units on it, with BatchNorm+ReLU
// before, BatchNorm after and a residual, on every worker count.
func TestConvForwardFusedLocalPad(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	shapes := localPadShapes()
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
			// The implicit GEMM as ConvForwardFused runs it (where it does
			// not prefer Winograd).
			implicitForward(convTask{op: convFwdPadded, p: p, s: s, x: x, w: w, bias: bias, y: got, fuse: f, local: true})
			sameBits(t, fmt.Sprintf("workers %d, %+v: y, padding per unit against padding the batch", workers, s), got, want)
		}
		p.Close()
	}
}

// TestConvImplicitLocalPad checks that the training convolutions whose
// work units pad their input rows in scratch (ConvForwardImplicit,
// ConvBackwardInputImplicit, ConvBackwardWeightImplicit) give the bits of
// the same kernels on the whole batch padded first, accumulating or not,
// on every worker count.
func TestConvImplicitLocalPad(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	shapes := localPadShapes()
	same := func(what string, workers int, s ConvShape, got, want []float32) {
		t.Helper()
		sameBits(t, fmt.Sprintf("workers %d, %+v: %s, padding per unit against padding the batch", workers, s, what), got, want)
	}
	for _, workers := range []int{1, 2, 3} {
		p := compute.NewPool(workers)
		for _, s := range shapes {
			x, dy := randVec(r, s.N*s.H*s.W*s.C), randVec(r, s.Rows()*s.Cout)
			w, bias := randVec(r, s.K()*s.Cout), randVec(r, s.Cout)
			xp := make([]float32, PaddedLen(s))
			PadInput(p, s, x, xp)
			for _, acc := range []bool{false, true} {
				y0 := randVec(r, s.Rows()*s.Cout)
				want, got := append([]float32(nil), y0...), append([]float32(nil), y0...)
				ConvForwardPadded(p, s, xp, w, bias, want, acc)
				ConvForwardImplicit(p, s, x, w, bias, got, acc)
				same("y", workers, s, got, want)

				dx0 := randVec(r, len(x))
				want, got = append([]float32(nil), dx0...), append([]float32(nil), dx0...)
				wf := make([]float32, len(w))
				ConvBackwardInputPadded(p, s, dy, w, wf, make([]float32, PaddedLen(BackwardInputShape(s))), want, acc)
				ConvBackwardInputImplicit(p, s, dy, w, wf, got, acc)
				same("dx", workers, s, got, want)
			}
			dw0, db0 := randVec(r, len(w)), randVec(r, s.Cout)
			wantW, gotW := append([]float32(nil), dw0...), append([]float32(nil), dw0...)
			wantB, gotB := append([]float32(nil), db0...), append([]float32(nil), db0...)
			ConvBackwardWeightPadded(p, s, xp, dy, wantW, wantB)
			ConvBackwardWeightImplicit(p, s, x, dy, gotW, gotB)
			same("dw", workers, s, gotW, wantW)
			same("db", workers, s, gotB, wantB)
		}
		p.Close()
	}
}

// TestFinishRows checks the one-pass convolution epilogue against the
// separate row kernels it replaces (addBiasRows, then the fusion's Post
// map and residual), bit for bit: every channel count to 70 (tiles of one
// to several vectors, and more than the bias kernel's 64 floats), rows of
// whole blocks and with a tail, each part alone and together.
func TestFinishRows(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 30))
	for c := 1; c <= 70; c++ {
		for _, pixels := range []int{1, 3, 16, 1 + r.IntN(60)} {
			n := pixels * c
			for k := range 16 {
				useBias, usePost, relu, useRes := k&1 != 0, k&2 != 0, k&4 != 0, k&8 != 0
				var bias []float32
				if useBias {
					bias = randVec(r, c)
				}
				f := &Fusion{}
				if usePost {
					_, _, _, _, f.Post = ctAffine(r, c, relu)
				}
				off := r.IntN(40)
				if useRes {
					f.Res = randVec(r, off+n+5)
				}
				y := randVec(r, n)
				want := append([]float32(nil), y...)
				addBiasRows(want, bias, c)
				f.epilogue(want, off)
				finishRows(y, bias, c, f, off)
				for i := range want {
					if y[i] != want[i] {
						t.Fatalf("C %d, %d pixels, bias %v post %v relu %v res %v: y[%d] = %g, want %g", c, pixels, useBias, usePost, relu, useRes, i, y[i], want[i])
					}
				}
			}
		}
	}
}
