package kernels

// DenseForward computes y = x·w + bias for x [B, In], w [In, Out],
// bias [Out] (or nil) and y [B, Out], with the Out columns split across
// workers.
func DenseForward(p *Pool, x, w, bias, y []float32, B, In, Out int) {
	parallel(p, &denseTasks, Out, 16, denseTask{x: x, w: w, bias: bias, y: y, B: B, In: In, Out: Out})
}

type denseTask struct {
	x, w, bias, y, dy, dw []float32
	B, In, Out            int
}

var denseTasks taskPool[denseTask]
var denseBackTasks taskPool[denseBackTask]

func (t *denseTask) Run(_, lo, hi int) {
	B, In, Out := t.B, t.In, t.Out
	y := t.y
	Sgemm(B, hi-lo, In, t.x, In, t.w[lo:], Out, y[lo:], Out, false)
	if t.bias != nil {
		for b := 0; b < B; b++ {
			row := y[b*Out+lo : b*Out+hi]
			for j, v := range t.bias[lo:hi] {
				row[j] += v
			}
		}
	}
}

// DenseBackward accumulates the gradients of y = x·w + bias:
//
//	dx += dy·wᵀ   (if dx is not nil)   [B, In]
//	dw += xᵀ·dy                        [In, Out]
//	db += Σ_b dy  (if db is not nil)    [Out]
//
// Each product is split across workers along In, so no reduction is needed.
func DenseBackward(p *Pool, x, w, dy, dx, dw, db []float32, B, In, Out int) {
	parallel(p, &denseBackTasks, In, 16, denseBackTask{denseTask{x: x, w: w, dy: dy, y: dx, dw: dw, B: B, In: In, Out: Out}})
	if db != nil {
		SumRows(dy, B, Out, db)
	}
}

// denseBackTask: y is dx (nil when not wanted).
type denseBackTask struct{ denseTask }

func (t *denseBackTask) Run(_, lo, hi int) {
	B, In, Out := t.B, t.In, t.Out
	if t.y != nil {
		SgemmTB(B, hi-lo, Out, t.dy, Out, t.w[lo*Out:], Out, t.y[lo:], In, true)
	}
	SgemmTA(hi-lo, Out, B, t.x[lo:], In, t.dy, Out, t.dw[lo*Out:], Out, true)
}
