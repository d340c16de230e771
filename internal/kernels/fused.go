package kernels

// Affine is a per-channel map y = (x − Center)·Scale + Shift, followed by
// max(y, 0) when ReLU is set: BatchNorm with fixed statistics, and its
// ReLU. In inference a convolution applies one to its input as it pads it
// (the prologue) or to its output as it writes it (the epilogue), instead
// of a separate pass over memory. The zero value is no map.
type Affine struct {
	Center, Scale, Shift []float32 // the channel pattern tiled to L floats
	ReLU                 bool
	C, L                 int
}

// AffineLen returns the scratch floats NewBNAffine needs for C channels.
func AffineLen(C int) int { return 3 * max(tileLen(C), C) }

// NewBNAffine returns BatchNorm's map for fixed statistics: centre mean,
// scale invstd·gamma, shift beta (as BNApply computes it), in scratch of
// AffineLen(C) floats.
func NewBNAffine(mean, invstd, gamma, beta []float32, relu bool, scratch []float32) Affine {
	C := len(gamma)
	L := max(tileLen(C), C)
	a := Affine{Center: scratch[:L], Scale: scratch[L : 2*L], Shift: scratch[2*L : 3*L], ReLU: relu, C: C, L: L}
	for c := 0; c < C; c++ {
		a.Scale[c] = invstd[c] * gamma[c]
	}
	tile(a.Center, mean[:C])
	tile(a.Scale, a.Scale[:C])
	tile(a.Shift, beta[:C])
	return a
}

// on reports whether a is a map (not the zero value).
func (a *Affine) on() bool { return a.Scale != nil }

// rows applies a to x into y, both whole pixels of C channels starting at
// a pixel (x and y may be the same), the way BNApply's workers do.
func (a *Affine) rows(x, y []float32) {
	C := a.C
	blocks, bl, done := bnSplit(len(x), C)
	if blocks > 0 {
		scaleShiftBlocks(x, a.Center, y, a.Scale, a.Shift, blocks, bl/16, a.ReLU)
	}
	scaleShiftRows(x[done:], y[done:], a.Center[:C], a.Scale[:C], a.Shift[:C], a.ReLU)
}

// Fusion is what an inference convolution does beyond conv(x, w) + bias
// (and a training one, Res only: a residual unit's last convolution):
// Pre maps the input, Post maps the output (after the bias), and Res, if
// not nil, is added to the output last (a residual connection), so that
//
//	y = Post(conv(Pre(x), w) + bias) + Res
//
// The values are those of the separate ops (BatchNorm, ReLU, Add) bit for
// bit, as each output row goes through the same row kernels.
type Fusion struct {
	Pre, Post Affine
	Res       []float32 // [N, OH, OW, Cout] or nil
}

// epilogue applies Post and Res to output floats y[off : off+len(dst)],
// already holding conv + bias, in dst.
func (f *Fusion) epilogue(dst []float32, off int) {
	if f == nil {
		return
	}
	if f.Post.on() {
		f.Post.rows(dst, dst)
	}
	if f.Res != nil {
		addRows(dst, f.Res[off:off+len(dst)])
	}
}

// finishRows adds bias to dst (whole pixels of c channels, the output
// floats y[off:off+len(dst)]) and applies f's epilogue: addBiasRows then
// f.epilogue, bit for bit, but in one pass over dst where the AVX-512 row
// kernel covers it (the pixels of whole blocks of tileLen(c) floats); the
// rest goes through the separate row kernels as before.
func finishRows(dst, bias []float32, c int, f *Fusion, off int) {
	blocks, L, done := vecSplit(len(dst), c)
	if f == nil || blocks == 0 || (bias != nil && L > len(ones)) || (f.Post.on() && f.Post.L != L) {
		addBiasRows(dst, bias, c)
		f.epilogue(dst, off)
		return
	}
	var tiled [64]float32
	flags := 0
	if bias != nil {
		tile(tiled[:L], bias)
		flags |= 1
	}
	center, scale, shift := &zeros[0], &zeros[0], &zeros[0]
	if f.Post.on() {
		center, scale, shift = ptr(f.Post.Center), ptr(f.Post.Scale), ptr(f.Post.Shift)
		flags |= 2
		if f.Post.ReLU {
			flags |= 4
		}
	}
	var res *float32
	if f.Res != nil {
		res = &f.Res[off]
		flags |= 8
	}
	epilogueAVX512(ptr(dst), &tiled[0], center, scale, shift, res, blocks, L/16, flags)
	if done < len(dst) {
		addBiasRows(dst[done:], bias, c)
		f.epilogue(dst[done:], off+done)
	}
}

// FusedScratch returns the scratch floats ConvForwardFused needs for s.
func FusedScratch(s ConvShape) int {
	if PreferWinograd(s) || PreferImplicit(s) {
		return 0
	}
	return s.N * s.H * s.W * s.C
}

// ConvForwardFused computes y = Post(conv(Pre(x), w) + bias) + Res for
// inference (see Fusion). scratch holds FusedScratch(s) floats: Pre(x) for
// the packed-patch GEMM. The implicit GEMM needs none: each work unit pads
// the input rows its block of output rows reads into its worker's scratch,
// applying Pre as it writes them, so no padded copy of the whole batch
// goes out to memory and back. 3×3 stride-1 convolutions run as Winograd
// F(4×4, 3×3) where PreferWinograd says so, with the kernel's transform
// kept while the kernel is unchanged (winoTransformed).
func ConvForwardFused(p *Pool, s ConvShape, x, w, bias, y []float32, f *Fusion, scratch []float32) {
	if PreferWinograd(s) {
		u, buf := winoTransformed(s, w)
		ConvForwardWinograd(p, s, x, u, bias, y, false, f)
		if buf != nil {
			winoWeightBufs.Put(buf)
		}
		return
	}
	if PreferImplicit(s) {
		implicitForward(convTask{op: convFwdPadded, p: p, s: s, x: x, w: w, bias: bias, y: y, fuse: f, local: true})
		return
	}
	if f.Pre.on() {
		n := s.N * s.H * s.W * s.C
		parallel(p, &affineTasks, s.N*s.H*s.W, 256, affineTask{a: &f.Pre, x: x[:n], y: scratch[:n]})
		x = scratch[:n]
	}
	convForwardRows(convTask{op: convFwd, p: p, s: s, x: x, w: w, bias: bias, y: y, fuse: f})
}

// affineTask applies an Affine to pixels [lo, hi).
type affineTask struct {
	a    *Affine
	x, y []float32
}

var affineTasks taskPool[affineTask]

func (t *affineTask) Run(_, lo, hi int) {
	C := t.a.C
	t.a.rows(t.x[lo*C:hi*C], t.y[lo*C:hi*C])
}
