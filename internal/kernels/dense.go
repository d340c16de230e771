package kernels

// DenseForward computes y = x·w + bias for x [B, In], w [In, Out],
// bias [Out] (or nil) and y [B, Out], with the Out columns split across
// workers.
func DenseForward(p *Pool, x, w, bias, y []float32, B, In, Out int) {
	p.For(Out, 16, func(_, lo, hi int) {
		Sgemm(B, hi-lo, In, x, In, w[lo:], Out, y[lo:], Out, false)
		if bias != nil {
			for b := 0; b < B; b++ {
				row := y[b*Out+lo : b*Out+hi]
				for j := range row {
					row[j] += bias[lo+j]
				}
			}
		}
	})
}

// DenseBackward accumulates the gradients of y = x·w + bias:
//
//	dx += dy·wᵀ   (if dx is not nil)   [B, In]
//	dw += xᵀ·dy                        [In, Out]
//	db += Σ_b dy  (if db is not nil)    [Out]
//
// Each product is split across workers along In, so no reduction is needed.
func DenseBackward(p *Pool, x, w, dy, dx, dw, db []float32, B, In, Out int) {
	var wt []float32
	if dx != nil {
		// dx = dy·wᵀ as a plain GEMM against wᵀ [Out, In], transposed once.
		wt = p.Scratch(0, In*Out)
		for i := 0; i < In; i++ {
			for j, v := range w[i*Out : (i+1)*Out] {
				wt[j*In+i] = v
			}
		}
	}
	p.For(In, 16, func(_, lo, hi int) {
		if dx != nil {
			Sgemm(B, hi-lo, Out, dy, Out, wt[lo:], In, dx[lo:], In, true)
		}
		SgemmTA(hi-lo, Out, B, x[lo:], In, dy, Out, dw[lo*Out:], Out, true)
	})
	if db != nil {
		SumRows(dy, B, Out, db)
	}
}
