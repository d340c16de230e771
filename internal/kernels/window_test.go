package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// wnWindow lists, for output (n, oy, ox) of s, the flat input index of
// every window position inside the input, row-major, straight from the
// definition (window row oy·SH−PadT+ky for ky < KH, likewise columns).
func wnWindow(s PoolShape, n, oy, ox, c int) []int {
	var at []int
	for ky := 0; ky < s.KH; ky++ {
		for kx := 0; kx < s.KW; kx++ {
			iy, ix := oy*s.SH-s.PadT+ky, ox*s.SW-s.PadL+kx
			if iy >= 0 && iy < s.H && ix >= 0 && ix < s.W {
				at = append(at, ((n*s.H+iy)*s.W+ix)*s.C+c)
			}
		}
	}
	return at
}

// wnNaive computes max and average pooling and their input gradients for
// output gradient dy from the definition.
func wnNaive(s PoolShape, x, dy []float32) (ymax, yavg, dxmax, dxavg []float32) {
	no := s.N * s.OH * s.OW * s.C
	ymax, yavg = make([]float32, no), make([]float32, no)
	dxmax, dxavg = make([]float32, len(x)), make([]float32, len(x))
	o := 0
	for n := range s.N {
		for oy := range s.OH {
			for ox := range s.OW {
				for c := range s.C {
					at := wnWindow(s, n, oy, ox, c)
					best := at[0]
					var sum float64
					for _, i := range at {
						if x[i] > x[best] {
							best = i
						}
						sum += float64(x[i])
					}
					ymax[o], yavg[o] = x[best], float32(sum/float64(len(at)))
					dxmax[best] += dy[o]
					for _, i := range at {
						dxavg[i] += dy[o] / float32(len(at))
					}
					o++
				}
			}
		}
	}
	return
}

// wnShapes are pooling cases with odd sizes, windows larger and smaller
// than their strides, non-square ones, and both paddings.
var wnShapes = []struct{ N, H, W, C, KH, KW, SH, SW int }{
	{1, 1, 1, 1, 1, 1, 1, 1},
	{2, 5, 7, 3, 2, 2, 2, 2},
	{1, 5, 5, 2, 3, 3, 2, 2},
	{2, 7, 6, 5, 3, 3, 1, 1},
	{1, 6, 9, 4, 3, 2, 2, 3},
	{3, 4, 4, 1, 4, 4, 4, 4},
	{1, 9, 8, 17, 5, 3, 3, 1},
	{2, 3, 5, 2, 1, 1, 2, 2},
	{1, 8, 8, 16, 2, 2, 2, 2},
	{2, 11, 13, 33, 3, 3, 2, 2},
	{5, 6, 6, 8, 2, 2, 1, 1},
}

func TestNewPoolShape(t *testing.T) {
	// Keras: 'same' gives ceil(H/S) and puts the odd pad below.
	s, err := NewPoolShape(1, 5, 6, 1, 3, 2, 2, 2, true)
	if err != nil || s.OH != 3 || s.OW != 3 || s.PadT != 1 || s.PadL != 0 {
		t.Fatalf("same 3x2/2 over 5x6: %+v %v", s, err)
	}
	s, err = NewPoolShape(1, 5, 6, 1, 3, 2, 2, 2, false)
	if err != nil || s.OH != 2 || s.OW != 3 || s.PadT != 0 {
		t.Fatalf("valid 3x2/2 over 5x6: %+v %v", s, err)
	}
	for _, bad := range [][8]int{{1, 2, 2, 1, 3, 3, 1, 1}, {1, 4, 4, 1, 0, 2, 1, 1}, {1, 4, 4, 1, 2, 2, 0, 1}, {1, 0, 4, 1, 2, 2, 1, 1}} {
		if _, err := NewPoolShape(bad[0], bad[1], bad[2], bad[3], bad[4], bad[5], bad[6], bad[7], false); err == nil {
			t.Errorf("NewPoolShape%v: no error", bad)
		}
	}
}

// TestWindowPools checks MaxPool, AvgPool and their backward passes
// against the definition on every case, both paddings, 1 and 3 workers.
// Values come from a small set so that windows hold ties.
func TestWindowPools(t *testing.T) {
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, c := range wnShapes {
			for _, same := range []bool{false, true} {
				s, err := NewPoolShape(c.N, c.H, c.W, c.C, c.KH, c.KW, c.SH, c.SW, same)
				if err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("%+v same=%v", c, same)
				x := make([]float32, c.N*c.H*c.W*c.C)
				for i := range x {
					x[i] = float32(r.IntN(7)) - 3
				}
				no := c.N * s.OH * s.OW * c.C
				dy := ctRand(r, no)
				ymax, yavg, dxmax, dxavg := wnNaive(s, x, dy)

				y := make([]float32, no)
				MaxPool(p, s, x, y)
				wnSame(t, name+" max", y, ymax, 0)
				dx := ctRand(r, len(x)) // backward accumulates onto what is there
				base := append([]float32(nil), dx...)
				MaxPoolBackward(p, s, x, y, dy, dx)
				for i := range dx {
					dx[i] -= base[i]
				}
				wnSame(t, name+" max backward", dx, dxmax, 1e-6)

				AvgPool(p, s, x, y)
				wnSame(t, name+" avg", y, yavg, 1e-6)
				copy(dx, base)
				AvgPoolBackward(p, s, dy, dx)
				for i := range dx {
					dx[i] -= base[i]
				}
				wnSame(t, name+" avg backward", dx, dxavg, 1e-6)
			}
		}
	})
}

// TestMaxPoolMatches2x2 checks that the general MaxPool and its backward
// agree with the 2×2 kernels (assembly where the CPU has it) that
// autograd routes window 2, stride 2, 'valid' to, on shapes with every
// remainder of C by 16 and odd H and W.
func TestMaxPoolMatches2x2(t *testing.T) {
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, C := range []int{1, 3, 15, 16, 17, 31, 32, 48} {
			for _, hw := range [][2]int{{2, 2}, {5, 7}, {8, 6}, {9, 9}} {
				N, H, W := 2, hw[0], hw[1]
				s, _ := NewPoolShape(N, H, W, C, 2, 2, 2, 2, false)
				x := ctRand(r, N*H*W*C)
				no := N * s.OH * s.OW * C
				y, y2, arg := make([]float32, no), make([]float32, no), make([]float32, no)
				MaxPool(p, s, x, y)
				MaxPool2x2(p, x, N, H, W, C, y2, arg)
				name := fmt.Sprintf("C=%d H=%d W=%d", C, H, W)
				wnSame(t, name, y, y2, 0)
				dy := ctRand(r, no)
				dx, dx2 := make([]float32, len(x)), make([]float32, len(x))
				MaxPoolBackward(p, s, x, y, dy, dx)
				MaxPool2x2Backward(p, dy, arg, N, H, W, C, dx2, true)
				wnSame(t, name+" backward", dx, dx2, 0)
			}
		}
	})
}

func TestGlobalAvgPoolAndConcat(t *testing.T) {
	ctForEachSet(t, func(t *testing.T, p *Pool) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, c := range [][3]int{{1, 1, 1}, {3, 5, 7}, {2, 49, 64}, {5, 3, 17}} {
			N, HW, C := c[0], c[1], c[2]
			x := ctRand(r, N*HW*C)
			y := make([]float32, N*C)
			GlobalAvgPool(p, x, N, HW, C, y)
			dy := ctRand(r, N*C)
			dx := make([]float32, len(x))
			GlobalAvgPoolBackward(p, dy, N, HW, C, dx)
			for n := range N {
				for ch := range C {
					var sum float64
					for i := range HW {
						sum += float64(x[(n*HW+i)*C+ch])
						if d := dx[(n*HW+i)*C+ch]; math.Abs(float64(d-dy[n*C+ch]/float32(HW))) > 1e-7 {
							t.Fatalf("global avg %v backward: dx = %v", c, d)
						}
					}
					if math.Abs(sum/float64(HW)-float64(y[n*C+ch])) > 1e-5 {
						t.Fatalf("global avg %v: y[%d,%d] = %v, want %v", c, n, ch, y[n*C+ch], sum/float64(HW))
					}
				}
			}
		}
		for _, widths := range [][]int{{1}, {3, 5}, {8, 4, 4, 7}, {16, 1, 33}} {
			for _, M := range []int{1, 7, 130} {
				xs := make([][]float32, len(widths))
				total := 0
				for i, w := range widths {
					xs[i] = ctRand(r, M*w)
					total += w
				}
				y := make([]float32, M*total)
				Concat(p, xs, widths, M, y)
				dy := ctRand(r, M*total)
				dxs := make([][]float32, len(widths))
				for i, w := range widths {
					if i != 1 { // a nil gradient is skipped
						dxs[i] = make([]float32, M*w)
						dxs[i][0] = 1
					}
				}
				ConcatBackward(p, dy, widths, M, dxs)
				for m := range M {
					off := 0
					for i, w := range widths {
						for k := range w {
							if y[m*total+off+k] != xs[i][m*w+k] {
								t.Fatalf("concat %v M=%d: y[%d, %d] wrong", widths, M, m, off+k)
							}
							if dxs[i] != nil {
								want := dy[m*total+off+k]
								if m == 0 && k == 0 {
									want++
								}
								if dxs[i][m*w+k] != want {
									t.Fatalf("concat %v M=%d backward: dx%d[%d, %d] = %v, want %v", widths, M, i, m, k, dxs[i][m*w+k], want)
								}
							}
						}
						off += w
					}
				}
			}
		}
	})
}

// wnSame fails unless got and want agree within tol.
func wnSame(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > tol {
			t.Fatalf("%s: [%d] = %v, want %v", name, i, got[i], want[i])
		}
	}
}
