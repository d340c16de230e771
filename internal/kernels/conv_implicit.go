package kernels

// Implicit-GEMM convolution for stride 1.
//
// The input is copied once into a zero-bordered buffer xp [N, Hp, Wp, C]
// (the padding made explicit). In that layout the patch of output position
// (oy, ox) for kernel row kh is one contiguous run of KW·C floats,
// xp[n, oy+kh, ox : ox+KW, :], and the runs of consecutive positions of a
// row start C floats apart. So for each kh the convolution is a GEMM whose
// A matrix is read in place from xp with row stride C (rows overlap):
//
//	Y[p, :] += xp[(p + kh·Wp)·C : +KW·C] · W[kh]      p over oy·Wp + ox
//
// Positions run over the padded width, so the Wp−OW columns past the right
// edge of each row are computed and dropped (or, in the weight gradient,
// given a zero dY). Nothing like an im2col matrix is ever built: the
// extra memory traffic is one copy of the input and of the output.

// PaddedGeometry returns the padded height and width of the input buffer
// the stride-1 implicit convolution reads: room for the padding and for the
// dropped columns' reads, plus one zero row of slack at the bottom.
func PaddedGeometry(s ConvShape) (Hp, Wp int) {
	Wp = max(s.W+s.PadL, s.OW+s.KW-1)
	Hp = max(s.H+s.PadT, s.OH+s.KH-1) + 1
	return Hp, Wp
}

// Implicit reports whether ConvForwardPadded applies: stride 1 and not a
// plain 1×1 (which needs no patches at all).
func Implicit(s ConvShape) bool { return s.Stride == 1 && !s.pointwise() }

// PreferImplicit reports whether the padded implicit GEMM is the faster way
// to run s. It computes Wp−OW dropped columns per output row, so on small
// images (7×7 pads to 9 columns: 29% wasted work) packing patches (im2col,
// whose copy is about 1/Cout of the multiply's work) wins; measured on the
// ResNet's shapes, the implicit GEMM wins from 14×14 (14% dropped) up.
func PreferImplicit(s ConvShape) bool {
	if !Implicit(s) {
		return false
	}
	_, Wp := PaddedGeometry(s)
	return 100*(Wp-s.OW) <= 15*s.OW
}

// PreferImplicitWeight reports whether the implicit GEMM is the faster way
// to run s's weight gradient. Unlike the forward pass it computes no
// dropped columns (SgemmTASeg skips them), so it wins wherever it applies:
// it reads each input row once where im2col copies it KH·KW times.
func PreferImplicitWeight(s ConvShape) bool { return Implicit(s) }

// PaddedLen returns the length of the padded input buffer for s.
func PaddedLen(s ConvShape) int {
	Hp, Wp := PaddedGeometry(s)
	return s.N * Hp * Wp * s.C
}

// PadInput writes x [N, H, W, C] into xp [N, Hp, Wp, C] at offset
// (PadT, PadL) with zeros everywhere else.
func PadInput(p *Pool, s ConvShape, x, xp []float32) {
	Hp, _ := PaddedGeometry(s)
	parallel(p, &convTasks, s.N*Hp, 8, convTask{op: convPad, s: s, x: x, y: xp})
}

// pad writes padded rows [lo, hi) (over N·Hp) of y from x.
func (t *convTask) pad(lo, hi int) {
	s, x, xp := t.s, t.x, t.y
	Hp, Wp := PaddedGeometry(s)
	C := s.C
	for r := lo; r < hi; r++ {
		t.padRow(r/Hp, r%Hp, x, xp[r*Wp*C:(r+1)*Wp*C])
	}
}

// padRow writes padded row pr of image n of x into row (Wp·C floats),
// applying the fusion's Pre map to the input values if there is one.
func (t *convTask) padRow(n, pr int, x, row []float32) {
	s, C := t.s, t.s.C
	iy := pr - s.PadT
	if iy < 0 || iy >= s.H {
		clear(row)
		return
	}
	clear(row[:s.PadL*C])
	src := x[((n*s.H+iy)*s.W)*C : ((n*s.H+iy)*s.W+s.W)*C]
	if t.fuse != nil && t.fuse.Pre.on() {
		t.fuse.Pre.rows(src, row[s.PadL*C:(s.PadL+s.W)*C])
	} else {
		copy(row[s.PadL*C:], src)
	}
	clear(row[(s.PadL+s.W)*C:])
}

// localLen is the scratch floats a work unit of rb output rows pads its
// input rows into (the local flag): the KH−1 rows below the block, and one
// more for the reads of the padded width's dropped columns, which run
// into the next row.
func localLen(s ConvShape, rb int) int {
	_, Wp := PaddedGeometry(s)
	return (rb + s.KH) * Wp * s.C
}

// blockInput returns the padded input rows that output rows [oy0, oy1) of
// image n read: from the padded input xp, or with the local flag padded
// from the unpadded t.x into local. The GEMMs over the padded width
// (wide) read one row further than those over the valid columns.
func (t *convTask) blockInput(n, oy0, oy1 int, xp, local []float32, wide bool) []float32 {
	s := t.s
	Hp, Wp := PaddedGeometry(s)
	if !t.local {
		return xp[((n*Hp+oy0)*Wp)*s.C:]
	}
	rows := oy1 - oy0 + s.KH - 1
	if wide {
		rows = min(rows+1, Hp-oy0)
	}
	for r := range rows {
		t.padRow(n, oy0+r, t.x, local[r*Wp*s.C:(r+1)*Wp*s.C])
	}
	return local[:rows*Wp*s.C]
}

// tileAndLocal splits worker wk's scratch into a tile of n floats and,
// with the local flag, the padded rows of a unit of rb output rows.
func (t *convTask) tileAndLocal(wk, n, rb int) (tile, local []float32) {
	if !t.local {
		return t.p.Scratch(wk, n), nil
	}
	buf := t.p.Scratch(wk, n+localLen(t.s, rb))
	return buf[:n], buf[n:]
}

// implicitRows picks how many output rows one work unit computes: enough
// positions (rows·Wp) to fill the GEMM's tiles, few enough to share work.
func implicitRows(s ConvShape, Wp int) int {
	return max(1, min(s.OH, 256/Wp))
}

// ConvForwardPadded computes y = conv(x, w) + bias (or adds it when acc)
// from the padded input xp (PadInput), for stride-1 convolutions.
//
//	xp   [N, Hp, Wp, C]        padded input
//	w    [KH, KW, C, Cout]     kernel, HWIO
//	bias [Cout] or nil
//	y    [N, OH, OW, Cout]
//
// Work is split across workers by (image, block of output rows); each unit
// runs one segmented GEMM (one segment per kernel row, so the accumulators
// stay in registers over all of K) whose row groups are the block's output
// rows (SgemmSegGroups): it computes the OW valid positions of each row
// straight into y, then adds the bias there. When acc is set it computes
// the padded width into a per-worker tile instead and adds the OW valid
// columns of each row to y, so that y + (conv + bias) is summed as before.
func ConvForwardPadded(p *Pool, s ConvShape, xp, w, bias, y []float32, acc bool) {
	implicitForward(convTask{op: convFwdPadded, p: p, s: s, x: xp, w: w, bias: bias, y: y, acc: acc})
}

// ConvForwardImplicit is ConvForwardPadded on the unpadded input x: each
// work unit pads the input rows its block of output rows reads into its
// worker's scratch (a few rows more than the block, in cache) instead of
// the whole batch being padded into a buffer first. The sums are the same,
// bit for bit.
func ConvForwardImplicit(p *Pool, s ConvShape, x, w, bias, y []float32, acc bool) {
	implicitForward(convTask{op: convFwdPadded, p: p, s: s, x: x, w: w, bias: bias, y: y, acc: acc, local: true})
}

// implicitForward runs a forward task of the implicit GEMM over its work
// units: (image, block of output rows).
func implicitForward(t convTask) {
	_, Wp := PaddedGeometry(t.s)
	RB := implicitRows(t.s, Wp)
	blocks := (t.s.OH + RB - 1) / RB
	parallel(t.p, &convTasks, t.s.N*blocks, 1, t)
}

// forwardPadded computes work units [lo, hi) of ConvForwardPadded.
func (t *convTask) forwardPadded(wk, lo, hi int) {
	s, xp, w, y, bias, acc := t.s, t.x, t.w, t.y, t.bias, t.acc
	_, Wp := PaddedGeometry(s)
	C, Co, KW := s.C, s.Cout, s.KW
	RB := implicitRows(s, Wp)
	blocks := (s.OH + RB - 1) / RB
	if !acc {
		var local []float32
		if t.local {
			local = t.p.Scratch(wk, localLen(s, RB))
		}
		for u := lo; u < hi; u++ {
			n, oy0 := u/blocks, (u%blocks)*RB
			oy1 := min(oy0+RB, s.OH)
			row := ((n*s.OH + oy0) * s.OW) * Co
			a := t.blockInput(n, oy0, oy1, xp, local, false)
			SgemmSegGroups(oy1-oy0, Wp*C, s.OW*Co, s.OW, Co, s.KH, KW*C, a, C, Wp*C, w, Co, y[row:], Co, false)
			for oy := oy0; oy < oy1; oy++ {
				dst := y[row+(oy-oy0)*s.OW*Co : row+(oy-oy0+1)*s.OW*Co]
				finishRows(dst, bias, Co, t.fuse, row+(oy-oy0)*s.OW*Co)
			}
		}
		return
	}
	tile, local := t.tileAndLocal(wk, RB*Wp*Co, RB)
	for u := lo; u < hi; u++ {
		n, oy0 := u/blocks, (u%blocks)*RB
		oy1 := min(oy0+RB, s.OH)
		M := (oy1 - oy0) * Wp
		// One GEMM of depth KH·KW·C: kernel row kh is the segment of A
		// Wp·C floats further on (the next padded input row).
		SgemmSeg(M, Co, s.KH, KW*C, t.blockInput(n, oy0, oy1, xp, local, true), C, Wp*C, w, Co, tile, Co, false)
		for oy := oy0; oy < oy1; oy++ {
			src := tile[(oy-oy0)*Wp*Co : ((oy-oy0)*Wp+s.OW)*Co]
			dst := y[((n*s.OH+oy)*s.OW)*Co : ((n*s.OH+oy)*s.OW+s.OW)*Co]
			addRows(dst, src)
			addBiasRows(dst, bias, Co)
			t.fuse.epilogue(dst, ((n*s.OH+oy)*s.OW)*Co)
		}
	}
}

// ConvBackwardInputPadded adds dX to dx (or writes it there when acc is
// false) for a stride-1 convolution by convolving the padded dY with the
// flipped kernel (FlipKernel into wf). dyp is scratch of at least
// PaddedLen(BackwardInputShape(s)) floats.
func ConvBackwardInputPadded(p *Pool, s ConvShape, dy, w, wf, dyp, dx []float32, acc bool) {
	FlipKernel(s, w, wf)
	t := BackwardInputShape(s)
	PadInput(p, t, dy, dyp)
	ConvForwardPadded(p, t, dyp, wf, nil, dx, acc)
}

// ConvBackwardInputImplicit is ConvBackwardInputPadded with dY padded a
// work unit at a time in worker scratch (see ConvForwardImplicit).
func ConvBackwardInputImplicit(p *Pool, s ConvShape, dy, w, wf, dx []float32, acc bool) {
	FlipKernel(s, w, wf)
	ConvForwardImplicit(p, BackwardInputShape(s), dy, wf, nil, dx, acc)
}

// BackwardInputShape is the convolution that maps dY to dX for stride 1:
// dY [N, OH, OW, Cout] convolved with the flipped kernel, padded by
// KH−1−PadT rows and KW−1−PadL columns, gives [N, H, W, C].
func BackwardInputShape(s ConvShape) ConvShape {
	return ConvShape{N: s.N, H: s.OH, W: s.OW, C: s.Cout, KH: s.KH, KW: s.KW, Cout: s.C,
		Stride: 1, PadT: s.KH - 1 - s.PadT, PadL: s.KW - 1 - s.PadL, OH: s.H, OW: s.W}
}

// ConvBackwardWeightPadded adds dW = Σ_p patch(p)ᵀ·dY[p] to dw and Σ dY to
// db (if not nil), reading the patches in place from the padded input xp.
// A work unit (a block of an image's output rows) runs one Aᵀ·B GEMM per
// kernel row into its worker's partial gradient, with a K segment per
// output row (SgemmTASeg): it reads dY where it lies and skips the padded
// columns between the rows, whose products would be zero. Partials are
// added in worker order.
func ConvBackwardWeightPadded(p *Pool, s ConvShape, xp, dy, dw, db []float32) {
	backwardWeightImplicit(convTask{op: convBwdWeightPadded, p: p, s: s, x: xp, dy: dy}, dw, db)
}

// ConvBackwardWeightImplicit is ConvBackwardWeightPadded on the unpadded
// input x, each work unit padding the input rows it reads in worker
// scratch (see ConvForwardImplicit).
func ConvBackwardWeightImplicit(p *Pool, s ConvShape, x, dy, dw, db []float32) {
	backwardWeightImplicit(convTask{op: convBwdWeightPadded, p: p, s: s, x: x, dy: dy, local: true}, dw, db)
}

// backwardWeightImplicit runs a weight-gradient task of the implicit GEMM
// into per-worker partials and adds them to dw and db in worker order.
func backwardWeightImplicit(t convTask, dw, db []float32) {
	p, s := t.p, t.s
	_, Wp := PaddedGeometry(s)
	K, Co := s.K(), s.Cout
	RB := implicitRows(s, Wp)
	blocks := (s.OH + RB - 1) / RB
	stride := K*Co + Co
	t.part = p.Partials(stride)
	t.db = db != nil
	parallel(p, &convTasks, s.N*blocks, 1, t)
	addWeightPartials(t.part, p.Workers(), K*Co, Co, dw, db)
}

// backwardWeightPadded sums the weight (and bias) gradient of work units
// [lo, hi) into worker wk's partials.
func (t *convTask) backwardWeightPadded(wk, lo, hi int) {
	s, xp, dy := t.s, t.x, t.dy
	_, Wp := PaddedGeometry(s)
	C, Co, KW := s.C, s.Cout, s.KW
	K := s.K()
	RB := implicitRows(s, Wp)
	blocks := (s.OH + RB - 1) / RB
	stride := K*Co + Co
	pd := t.part[wk*stride : wk*stride+K*Co]
	pb := t.part[wk*stride+K*Co : (wk+1)*stride]
	var local []float32
	if t.local {
		local = t.p.Scratch(wk, localLen(s, RB))
	}
	for u := lo; u < hi; u++ {
		n, oy0 := u/blocks, (u%blocks)*RB
		oy1 := min(oy0+RB, s.OH)
		a := t.blockInput(n, oy0, oy1, xp, local, false)
		g := dy[((n*s.OH+oy0)*s.OW)*Co : ((n*s.OH+oy1)*s.OW)*Co]
		if t.db {
			SumRows(g, (oy1-oy0)*s.OW, Co, pb)
		}
		for kh := 0; kh < s.KH; kh++ {
			SgemmTASeg(KW*C, Co, oy1-oy0, s.OW, a[kh*Wp*C:], C, Wp*C, g, Co, pd[kh*KW*C*Co:], Co, true)
		}
	}
}
