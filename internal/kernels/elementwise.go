package kernels

// ReLU writes y = max(x, 0).
func ReLU(p *Pool, x, y []float32) {
	p.For(len(x), 4096, func(_, lo, hi int) {
		done := 0
		if rowsFast {
			done = (hi - lo) &^ 15
			reluAVX512(ptr(x[lo:hi]), ptr(y[lo:hi]), done)
		}
		for i, v := range x[lo+done : hi] {
			y[lo+done+i] = max(v, 0)
		}
	})
}

// ReLUBackward adds dy where y > 0 to dx (y is the forward output).
func ReLUBackward(p *Pool, y, dy, dx []float32) {
	p.For(len(y), 4096, func(_, lo, hi int) {
		if rowsFast {
			done := (hi - lo) &^ 15
			reluBackAVX512(ptr(y[lo:hi]), ptr(dy[lo:hi]), ptr(dx[lo:hi]), done)
			lo += done
		}
		for i, v := range y[lo:hi] {
			if v > 0 {
				dx[lo+i] += dy[lo+i]
			}
		}
	})
}

// Add writes z = x + y.
func Add(p *Pool, x, y, z []float32) {
	p.For(len(x), 4096, func(_, lo, hi int) {
		if rowsFast {
			done := (hi - lo) &^ 15
			addAVX512(ptr(x[lo:hi]), ptr(y[lo:hi]), ptr(z[lo:hi]), done)
			lo += done
		}
		xs, ys, zs := x[lo:hi], y[lo:hi], z[lo:hi]
		for i := range zs {
			zs[i] = xs[i] + ys[i]
		}
	})
}

// AddTo adds x into y.
func AddTo(p *Pool, x, y []float32) {
	p.For(len(x), 4096, func(_, lo, hi int) {
		if rowsFast {
			done := (hi - lo) &^ 15
			addAVX512(ptr(x[lo:hi]), ptr(y[lo:hi]), ptr(y[lo:hi]), done)
			lo += done
		}
		xs, ys := x[lo:hi], y[lo:hi]
		for i := range ys {
			ys[i] += xs[i]
		}
	})
}

// AddBiasRows adds bias [C] to every row of y [M, C].
func AddBiasRows(y, bias []float32, C int) { addBiasRows(y, bias, C) }

// SumRows adds the column sums of x [M, C] to out [C].
func SumRows(x []float32, M, C int, out []float32) {
	for r := 0; r < M; r++ {
		for c, v := range x[r*C : (r+1)*C] {
			out[c] += v
		}
	}
}

// Mul writes z = x·y elementwise.
func Mul(x, y, z []float32) {
	for i := range z {
		z[i] = x[i] * y[i]
	}
}

// MulAddTo adds x·y elementwise into z.
func MulAddTo(x, y, z []float32) {
	for i := range z {
		z[i] += x[i] * y[i]
	}
}
