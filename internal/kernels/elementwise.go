package kernels

// ReLU writes y = max(x, 0).
func ReLU(p *Pool, x, y []float32) {
	parallel(p, &reluTasks, len(x), 4096, reluTask{x: x, y: y})
}

type reluTask struct{ x, y []float32 }

var reluTasks taskPool[reluTask]

func (t *reluTask) Run(_, lo, hi int) {
	x, y := t.x[lo:hi], t.y[lo:hi]
	done := 0
	if rowsFast {
		done = len(x) &^ 15
		reluAVX512(ptr(x), ptr(y), done)
	}
	for i, v := range x[done:] {
		y[done+i] = max(v, 0)
	}
}

// ReLUBackward adds dy where y > 0 to dx (y is the forward output).
func ReLUBackward(p *Pool, y, dy, dx []float32) {
	parallel(p, &reluBackTasks, len(y), 4096, reluBackTask{y: y, dy: dy, dx: dx})
}

type reluBackTask struct{ y, dy, dx []float32 }

var reluBackTasks taskPool[reluBackTask]

func (t *reluBackTask) Run(_, lo, hi int) {
	y, dy, dx := t.y[lo:hi], t.dy[lo:hi], t.dx[lo:hi]
	done := 0
	if rowsFast {
		done = len(y) &^ 15
		reluBackAVX512(ptr(y), ptr(dy), ptr(dx), done)
	}
	for i, v := range y[done:] {
		if v > 0 {
			dx[done+i] += dy[done+i]
		}
	}
}

// Add writes z = x + y.
func Add(p *Pool, x, y, z []float32) {
	parallel(p, &addTasks, len(x), 4096, addTask{x: x, y: y, z: z})
}

// AddTo adds x into y.
func AddTo(p *Pool, x, y []float32) {
	parallel(p, &addTasks, len(x), 4096, addTask{x: x, y: y, z: y})
}

// Copy copies x into y, split across the pool's workers.
func Copy(p *Pool, x, y []float32) {
	parallel(p, &copyTasks, len(x), 8192, copyTask{x: x, y: y})
}

type copyTask struct{ x, y []float32 }

var copyTasks taskPool[copyTask]

func (t *copyTask) Run(_, lo, hi int) { copy(t.y[lo:hi], t.x[lo:hi]) }

type addTask struct{ x, y, z []float32 }

var addTasks taskPool[addTask]

func (t *addTask) Run(_, lo, hi int) {
	x, y, z := t.x[lo:hi], t.y[lo:hi], t.z[lo:hi]
	done := 0
	if rowsFast {
		done = len(x) &^ 15
		addAVX512(ptr(x), ptr(y), ptr(z), done)
	}
	for i := done; i < len(z); i++ {
		z[i] = x[i] + y[i]
	}
}

// SumRows adds the column sums of x [M, C] to out [C], row after row.
func SumRows(x []float32, M, C int, out []float32) {
	if rowsFast && C%16 == 0 && M > 0 {
		_ = x[M*C-1]
		_ = out[C-1]
		colSumAVX512(ptr(x), ptr(out), M, C/16)
		return
	}
	if rowsAVX2 && C%8 == 0 && M > 0 {
		_ = x[M*C-1]
		_ = out[C-1]
		colSumAVX2(ptr(x), ptr(out), M, C/8)
		return
	}
	for r := 0; r < M; r++ {
		for c, v := range x[r*C : (r+1)*C] {
			out[c] += v
		}
	}
}

// MulAddTo adds x·y elementwise into z.
func MulAddTo(x, y, z []float32) {
	for i := range z {
		z[i] += x[i] * y[i]
	}
}
