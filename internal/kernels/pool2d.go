package kernels

// MaxPool2x2 computes 2×2 max pooling with stride 2 ('valid': a trailing odd
// row or column is dropped, as in Keras) over x [N, H, W, C] into
// y [N, H/2, W/2, C]. For each output it saves in arg which of the four
// window positions (0..3, row-major) held the maximum, for the backward pass;
// ties go to the first.
func MaxPool2x2(p *Pool, x []float32, N, H, W, C int, y, arg []float32) {
	parallel(p, &poolTasks, N*(H/2), 8, poolTask{x: x, y: y, arg: arg, H: H, W: W, C: C})
}

type poolTask struct {
	x, y, arg []float32
	H, W, C   int
}

var poolTasks taskPool[poolTask]
var poolBackTasks taskPool[poolBackTask]

func (t *poolTask) Run(_, lo, hi int) {
	x, y, arg, H, W, C := t.x, t.y, t.arg, t.H, t.W, t.C
	OH, OW := H/2, W/2
	for r := lo; r < hi; r++ {
		n, oy := r/OH, r%OH
		if rowsFast && C%16 == 0 && OW > 0 {
			o := (n*OH + oy) * OW * C
			maxPoolRowAVX512(&x[(n*H+2*oy)*W*C], &y[o], &arg[o], OW, C/16, 4*W*C)
			continue
		}
		for ox := 0; ox < OW; ox++ {
			base := ((n*H+2*oy)*W + 2*ox) * C
			i0, i1 := x[base:base+C], x[base+C:base+2*C]
			i2, i3 := x[base+W*C:base+W*C+C], x[base+W*C+C:base+W*C+2*C]
			o := ((n*OH+oy)*OW + ox) * C
			yo, ao := y[o:o+C], arg[o:o+C]
			for c := range yo {
				m, a := i0[c], float32(0)
				if i1[c] > m {
					m, a = i1[c], 1
				}
				if i2[c] > m {
					m, a = i2[c], 2
				}
				if i3[c] > m {
					m, a = i3[c], 3
				}
				yo[c], ao[c] = m, a
			}
		}
	}
}

// MaxPool2x2Backward adds each dy to the input position that held the
// maximum, recorded in arg by MaxPool2x2. With acc false dx is overwritten
// instead: each worker zeroes its rows of dx before adding into them.
func MaxPool2x2Backward(p *Pool, dy, arg []float32, N, H, W, C int, dx []float32, acc bool) {
	if !acc && H%2 != 0 { // the last row of each image belongs to no window
		clear(dx[:N*H*W*C])
		acc = true
	}
	parallel(p, &poolBackTasks, N*(H/2), 8, poolBackTask{poolTask{x: dx, y: dy, arg: arg, H: H, W: W, C: C}, acc})
}

type poolBackTask struct {
	poolTask
	acc bool
}

func (t *poolBackTask) Run(_, lo, hi int) {
	dx, dy, arg, H, W, C := t.x, t.y, t.arg, t.H, t.W, t.C
	OH, OW := H/2, W/2
	for r := lo; r < hi; r++ {
		n, oy := r/OH, r%OH
		if !t.acc { // the window row's two input rows, odd last column included
			clear(dx[(n*H+2*oy)*W*C : (n*H+2*oy+2)*W*C])
		}
		if rowsFast && C%16 == 0 && OW > 0 {
			o := (n*OH + oy) * OW * C
			maxPoolBackRowAVX512(&dy[o], &arg[o], &dx[(n*H+2*oy)*W*C], OW, C/16, 4*W*C)
			continue
		}
		for ox := 0; ox < OW; ox++ {
			base := ((n*H+2*oy)*W + 2*ox) * C
			o := ((n*OH+oy)*OW + ox) * C
			for c := 0; c < C; c++ {
				a := int(arg[o+c])
				off := base + (a>>1)*W*C + (a&1)*C + c
				dx[off] += dy[o+c]
			}
		}
	}
}
