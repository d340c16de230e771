package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// naiveMaxPool is 2×2 stride-2 'valid' max pooling from the definition:
// y[n,oy,ox,c] = max over the window rows 2oy, 2oy+1 and columns 2ox, 2ox+1;
// a trailing odd row or column is never read. It returns, for each output,
// the flat input index of the first (row-major) maximum.
func naiveMaxPool(x []float32, N, H, W, C int) (y []float32, at []int) {
	OH, OW := H/2, W/2
	for n := 0; n < N; n++ {
		for oy := 0; oy < OH; oy++ {
			for ox := 0; ox < OW; ox++ {
				for c := 0; c < C; c++ {
					best := -1
					for dy := 0; dy < 2; dy++ {
						for dx := 0; dx < 2; dx++ {
							i := ((n*H+2*oy+dy)*W+2*ox+dx)*C + c
							if best < 0 || x[i] > x[best] {
								best = i
							}
						}
					}
					y = append(y, x[best])
					at = append(at, best)
				}
			}
		}
	}
	return y, at
}

func TestMaxPool2x2(t *testing.T) {
	shapes := [][4]int{
		{1, 2, 2, 1}, {2, 5, 7, 3}, {1, 4, 6, 2}, {2, 3, 2, 1}, {1, 2, 3, 5},
		{3, 9, 6, 2}, {2, 17, 15, 16}, {4, 28, 28, 8}, // split across workers
	}
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		r := rand.New(rand.NewPCG(10, 10))
		for _, s := range shapes {
			N, H, W, C := s[0], s[1], s[2], s[3]
			name := fmt.Sprintf("maxpool %v", s)
			n, no := N*H*W*C, N*(H/2)*(W/2)*C
			// Values from a small set, so that windows have ties.
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.IntN(5)) - 2
			}
			want, at := naiveMaxPool(x, N, H, W, C)
			y, arg := ctOut(r, no), ctOut(r, no)
			MaxPool2x2(p, x, N, H, W, C, y, arg)
			ctCheckGuard(t, name+" y", y)
			ctCheckGuard(t, name+" arg", arg)
			for i := range want {
				if y[i] != want[i] {
					t.Fatalf("%s: y[%d] = %v, want %v", name, i, y[i], want[i])
				}
			}
			// The backward pass sends each dy to the first maximum of its
			// window and nothing anywhere else (the dropped row and column
			// included), accumulating into dx.
			dy, dx := ctRand(r, no), ctOut(r, n)
			wantDX := append([]float32(nil), dx...)
			for i, j := range at {
				wantDX[j] += dy[i]
			}
			MaxPool2x2Backward(p, dy, arg, N, H, W, C, dx, true)
			ctCheckGuard(t, name+" dx", dx)
			for i := range wantDX {
				if dx[i] != wantDX[i] {
					t.Fatalf("%s: dx[%d] = %v, want %v", name, i, dx[i], wantDX[i])
				}
			}
		}
	})
}
