package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestElementwise(t *testing.T) {
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		r := rand.New(rand.NewPCG(14, 14))
		for _, n := range []int{0, 1, 15, 16, 17, 100, 4095, 4097, 9001, 20000} {
			name := fmt.Sprintf("n=%d", n)
			x, y := ctRand(r, n), ctRand(r, n)
			for i := 0; i < n; i += 11 {
				x[i] = 0 // ReLU(0) = 0 and its gradient is 0
			}

			rl := ctOut(r, n)
			ReLU(p, x, rl)
			ctCheckGuard(t, name+" ReLU", rl)
			for i, v := range x {
				if want := max(v, 0); rl[i] != want {
					t.Fatalf("%s: ReLU[%d] = %v, want %v", name, i, rl[i], want)
				}
			}

			dx := ctOut(r, n)
			want := append([]float32(nil), dx...)
			for i := range want {
				if rl[i] > 0 {
					want[i] += y[i]
				}
			}
			ReLUBackward(p, rl, y, dx)
			ctCheckGuard(t, name+" ReLUBackward", dx)
			for i := range want {
				if dx[i] != want[i] {
					t.Fatalf("%s: ReLUBackward[%d] = %v, want %v", name, i, dx[i], want[i])
				}
			}

			z := ctOut(r, n)
			Add(p, x, y, z)
			ctCheckGuard(t, name+" Add", z)
			for i := range z {
				if z[i] != x[i]+y[i] {
					t.Fatalf("%s: Add[%d] = %v, want %v", name, i, z[i], x[i]+y[i])
				}
			}

			cp := ctOut(r, n)
			Copy(p, x, cp)
			ctCheckGuard(t, name+" Copy", cp)
			ctSameBits(t, name+" Copy", cp, x)

			acc := ctOut(r, n)
			want = append(want[:0], acc...)
			AddTo(p, x, acc)
			ctCheckGuard(t, name+" AddTo", acc)
			for i := range acc {
				if acc[i] != want[i]+x[i] {
					t.Fatalf("%s: AddTo[%d] = %v, want %v", name, i, acc[i], want[i]+x[i])
				}
			}

			ma := ctOut(r, n)
			want = append(want[:0], ma...)
			MulAddTo(x, y, ma)
			ctCheckGuard(t, name+" MulAddTo", ma)
			for i := range ma {
				if ma[i] != want[i]+x[i]*y[i] {
					t.Fatalf("%s: MulAddTo[%d] = %v", name, i, ma[i])
				}
			}
		}
	})
}

func TestRowSums(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 15))
	M, C := 9, 5
	x, bias := ctRand(r, M*C), ctRand(r, C)
	out := ctOut(r, C)
	want := append([]float32(nil), out...)
	for i, v := range x {
		want[i%C] += v
	}
	SumRows(x, M, C, out)
	for c := range want {
		if d := out[c] - want[c]; d > 1e-5 || d < -1e-5 {
			t.Fatalf("SumRows[%d] = %v, want %v", c, out[c], want[c])
		}
	}
	// The fast paths (channels in whole vectors, one to nine of them: the
	// four-at-a-time columns and the rest) adds the rows in the portable
	// loop's order, so its sums are bit-identical.
	ctForEachSet(t, func(t *testing.T, _ *Pool) {
		for _, C := range []int{8, 16, 24, 32, 40, 48, 64, 80, 144, 5, 17} {
			for _, M := range []int{0, 1, 2, 7, 300} {
				x := ctRand(r, M*C)
				init := ctRand(r, C)
				want := append([]float32(nil), init...)
				for i, v := range x {
					want[i%C] += v
				}
				got := ctOut(r, C)
				copy(got, init)
				SumRows(x, M, C, got)
				ctCheckGuard(t, fmt.Sprintf("SumRows M=%d C=%d", M, C), got)
				ctSameBits(t, fmt.Sprintf("SumRows M=%d C=%d", M, C), got, want)
			}
		}
	})
	y := append([]float32(nil), x...)
	addBiasRows(y, bias, C)
	for i := range y {
		if y[i] != x[i]+bias[i%C] {
			t.Fatalf("AddBiasRows[%d] = %v, want %v", i, y[i], x[i]+bias[i%C])
		}
	}
	addBiasRows(y, nil, C) // nil bias: nothing
	for i := range y {
		if y[i] != x[i]+bias[i%C] {
			t.Fatalf("AddBiasRows with nil bias changed y[%d]", i)
		}
	}
}
