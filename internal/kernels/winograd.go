package kernels

import (
	"hash/maphash"
	"runtime"
	"sync"
	"unsafe"
)

// Winograd convolution F(4×4, 3×3) (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2015) for 3×3 stride-1 convolutions.
//
// The output is cut into 4×4 tiles; tile t reads a 6×6 window d_t of the
// padded input. With the transforms
//
//	V_t = Bᵀ·d_t·B   (6×6 per input channel)
//	U   = G·g·Gᵀ     (6×6 per kernel, input and output channel)
//	Y_t = Aᵀ·[Σ_c U_c ⊙ V_{t,c}]·A
//
// the sum over channels at each of the 36 points ξ of the 6×6 grid is a
// matrix product: M_ξ [tiles × Cout] = V_ξ [tiles × C] · U_ξ [C × Cout].
// So a tile costs 36·C·Cout multiply-adds instead of 16·9·C·Cout: 4× fewer,
// paid for with the transforms (which are additions and small multiples,
// vectorised over channels in NHWC) and with larger rounding error than the
// direct sum's, since the transforms mix values with weights up to 5 and 8
// and G has entries 1/4…1/24 (the points 0, ±1, ±2 and ∞): the tests hold
// it within 1e-4 of the sum of the terms' absolute values and measure up
// to about 2e-5, against 2e-7 for the direct GEMM.
//
// A work unit is one image's block of tile rows, or several whole images
// when they are small, so that each of the 36 GEMMs has a few dozen rows.
// It pads its input rows into worker scratch as the implicit GEMM does
// (with the Fusion's Pre map), transforms them into V, runs the 36 GEMMs
// against the transformed kernel, transforms M back into the output rows
// and finishes each row with the bias and the Fusion's epilogue, as the
// direct path does.

const (
	winoM  = 4  // output tile side
	winoT  = 6  // input window side: winoM + 3 − 1
	winoXi = 36 // points of the transform grid: winoT²
)

// winoTarget is the number of tiles a work unit aims for: the rows of each
// of its 36 GEMMs (measured on the ResNet's shapes: 48 beat 16, 32 and 64).
const winoTarget = 48

// WinogradApplies reports whether s is a convolution the Winograd kernels
// compute: 3×3, stride 1, any padding.
func WinogradApplies(s ConvShape) bool {
	return s.KH == 3 && s.KW == 3 && s.Stride == 1 && s.PadT >= 0 && s.PadL >= 0 &&
		s.OH > 0 && s.OW > 0 && s.C > 0 && s.Cout > 0
}

// PreferWinograd reports whether the Winograd kernels are the faster way to
// run s in this kernel set: only with the AVX-512 transforms (rowsFast),
// and only from 8 input channels. On every such shape of the ResNet,
// VGG and DenseNet at batch 32 on two workers they measured faster than
// the direct kernels (1.0× to 1.9×: least on 14×14 images, which pad to
// 16×16 tiles, most on 7×7, where the direct path packs patches); the
// networks' first convolutions, from 1 or 3 channels, stay direct, as the
// input transform would cost about what the GEMMs save.
func PreferWinograd(s ConvShape) bool {
	return rowsFast && WinogradApplies(s) && s.C >= 8
}

// WinogradWeightsLen returns the floats of the transformed kernel of s.
func WinogradWeightsLen(s ConvShape) int { return winoXi * s.C * s.Cout }

// WinogradWeights writes U = G·g·Gᵀ of the HWIO kernel w [3, 3, C, Cout]
// into u [36, C, Cout] (point ξ = 6·row + column): 36·C·Cout values of
// about 11 operations each, vectorised over output channels. Inference
// keeps the transform while the kernel is unchanged (winoTransformed).
func WinogradWeights(s ConvShape, w, u []float32) {
	_ = w[9*s.C*s.Cout-1]
	_ = u[winoXi*s.C*s.Cout-1]
	winoWeights(s, w, u, 0, s.C)
}

// winoWeights is WinogradWeights for input channels [c0, c1).
func winoWeights(s ConvShape, w, u []float32, c0, c1 int) {
	C, Co := s.C, s.Cout
	if c0 >= c1 {
		return
	}
	if rowsFast {
		var tmp [winoXi * 16]float32
		a := winoArgs{src: unsafe.Pointer(&w[c0*Co]), dst: unsafe.Pointer(&u[c0*Co]), tmp: unsafe.Pointer(&tmp[0]),
			ld: uintptr(C*Co) * 4, pix: uintptr(Co) * 4, plane: uintptr(C*Co) * 4, tstep: uintptr(Co) * 4,
			tiles: uintptr(c1 - c0)}
		a.groups, a.mask = winoGroups(Co)
		winoWeightsAVX512(&a)
		return
	}
	winoWeightsGeneric(s, w, u, c0, c1)
}

// winoWeightTask transforms a training kernel on the pool: input channels
// [lo, hi) of the forward kernel w, or with flip output channels [lo, hi)
// of the flipped kernel (the input gradient's), flipped into wf first.
type winoWeightTask struct {
	s        ConvShape
	w, wf, u []float32
	flip     bool
}

var winoWeightTasks taskPool[winoWeightTask]

// Run transforms channels [lo, hi).
func (t *winoWeightTask) Run(_, lo, hi int) {
	if !t.flip {
		winoWeights(t.s, t.w, t.u, lo, hi)
		return
	}
	s := t.s
	C, Co := s.C, s.Cout
	for tap := range 9 {
		src := t.w[(8-tap)*C*Co:]
		dst := t.wf[tap*Co*C:]
		for co := lo; co < hi; co++ {
			d := dst[co*C : (co+1)*C]
			for ci := range d {
				d[ci] = src[ci*Co+co]
			}
		}
	}
	winoWeights(BackwardInputShape(s), t.wf, t.u, lo, hi)
}

// winoWeightsPool runs a winoWeightTask over n channels on p.
func winoWeightsPool(p *Pool, t winoWeightTask, n int) {
	parallel(p, &winoWeightTasks, n, 8, t)
}

// winoWeightsGeneric is the portable winoWeights, computing in float64.
func winoWeightsGeneric(s ConvShape, w, u []float32, c0, c1 int) {
	C, Co := s.C, s.Cout
	// G of Lavin & Gray's F(4, 3), for the points 0, 1, −1, 2, −2 and ∞.
	G := [winoT][3]float64{
		{1.0 / 4, 0, 0},
		{-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6},
		{1.0 / 24, -1.0 / 12, 1.0 / 6},
		{0, 0, 1},
	}
	var g [3][3]float64
	var h [winoT][3]float64
	for ci := c0; ci < c1; ci++ {
		for co := 0; co < Co; co++ {
			for kh := range 3 {
				for kw := range 3 {
					g[kh][kw] = float64(w[((kh*3+kw)*C+ci)*Co+co])
				}
			}
			for i := range winoT { // h = G·g
				for kw := range 3 {
					h[i][kw] = G[i][0]*g[0][kw] + G[i][1]*g[1][kw] + G[i][2]*g[2][kw]
				}
			}
			for i := range winoT { // U = h·Gᵀ
				for j := range winoT {
					v := h[i][0]*G[j][0] + h[i][1]*G[j][1] + h[i][2]*G[j][2]
					u[((i*winoT+j)*C+ci)*Co+co] = float32(v)
				}
			}
		}
	}
}

// winoWeightBufs holds buffers for transformed kernels (*[]float32).
var winoWeightBufs sync.Pool

// getWinoWeights returns a buffer of n floats from winoWeightBufs; put it
// back when done.
func getWinoWeights(n int) *[]float32 {
	u, _ := winoWeightBufs.Get().(*[]float32)
	if u == nil {
		u = new([]float32)
	}
	if cap(*u) < n {
		*u = make([]float32, n)
	}
	*u = (*u)[:n]
	return u
}

// winoCache keeps the transformed kernels of inference convolutions that
// run more than once with the same kernel, keyed by the address of the
// kernel's first element (a number, which does not keep the kernel alive;
// a cleanup drops the entry once the kernel is collected). A kernel's
// first call only records a hash of it: a pass that runs once (such as the
// one that builds a model) keeps nothing but that, nor do kernels that
// training moves between passes. The second call with the same hash keeps
// the transform and a copy of the kernel, and the transform is used only
// while the kernel still equals the copy, so a kernel changed in place
// (training, a loaded checkpoint) or a new one at a reused address is
// transformed again. Entries are never changed once made, so a
// convolution running on one is not disturbed by another call replacing
// it.
var winoCache struct {
	sync.Mutex
	m map[uintptr]*winoEntry
}

type winoEntry struct {
	C, Cout int
	hash    uint64
	w, u    []float32 // the kernel as it was and its transform, or nil
}

// winoSeed seeds the kernels' hashes.
var winoSeed = maphash.MakeSeed()

// winoTransformed returns the transformed kernel of w: the cached one when
// w has not changed since a previous call, else one computed now. If buf
// is not nil, u is in it, to be put back into winoWeightBufs after use.
func winoTransformed(s ConvShape, w []float32) (u []float32, buf *[]float32) {
	w = w[:9*s.C*s.Cout]
	key := uintptr(unsafe.Pointer(&w[0]))
	winoCache.Lock()
	e := winoCache.m[key]
	winoCache.Unlock()
	if e != nil && e.u != nil && e.C == s.C && e.Cout == s.Cout && equalFloats(e.w, w) {
		return e.u, nil
	}
	n := &winoEntry{C: s.C, Cout: s.Cout, hash: maphash.Bytes(winoSeed, floatBytes(w))}
	if e != nil && e.u == nil && e.C == s.C && e.Cout == s.Cout && e.hash == n.hash {
		// The second call with this kernel: keep its transform.
		n.w = append([]float32(nil), w...)
		n.u = make([]float32, WinogradWeightsLen(s))
		WinogradWeights(s, w, n.u)
		u = n.u
	} else {
		buf = getWinoWeights(WinogradWeightsLen(s))
		WinogradWeights(s, w, *buf)
		u = *buf
	}
	winoCache.Lock()
	if winoCache.m == nil {
		winoCache.m = make(map[uintptr]*winoEntry)
	}
	if _, ok := winoCache.m[key]; !ok {
		runtime.AddCleanup(&w[0], func(key uintptr) {
			winoCache.Lock()
			delete(winoCache.m, key)
			winoCache.Unlock()
		}, key)
	}
	winoCache.m[key] = n
	winoCache.Unlock()
	return u, buf
}

// floatBytes returns the bytes of a.
func floatBytes(a []float32) []byte {
	if len(a) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&a[0])), 4*len(a))
}

// equalFloats reports whether a and b hold the same bits.
func equalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	return string(floatBytes(a)) == string(floatBytes(b))
}

// winoPlan is how a Winograd convolution is cut into work units.
type winoPlan struct {
	tx, ty int // tiles per output row of tiles, rows of tiles per image
	rb     int // rows of tiles per unit (ty when a unit holds whole images)
	imgs   int // images per unit (1 unless rb == ty)
	blocks int // units per image (1 when a unit holds whole images)
	units  int
	T      int // tiles of a full unit: the rows of the GEMMs
	wp     int // pixels of a padded input row: 4·tx + 2
}

func newWinoPlan(s ConvShape, workers int) winoPlan {
	var pl winoPlan
	pl.tx = (s.OW + winoM - 1) / winoM
	pl.ty = (s.OH + winoM - 1) / winoM
	pl.wp = winoM*pl.tx + 2
	if per := pl.tx * pl.ty; per >= winoTarget {
		pl.imgs = 1
		pl.rb = max(1, min(pl.ty, (winoTarget+pl.tx/2)/pl.tx))
		pl.blocks = (pl.ty + pl.rb - 1) / pl.rb
		pl.units = s.N * pl.blocks
	} else {
		pl.rb = pl.ty
		// Whole images per unit, but at least two units per worker, so
		// that a small batch still splits evenly.
		pl.imgs = max(1, min(s.N, winoTarget/per, s.N/(2*workers)))
		pl.blocks = 1
		pl.units = (s.N + pl.imgs - 1) / pl.imgs
	}
	pl.T = pl.imgs * pl.rb * pl.tx
	return pl
}

// scratch returns the floats of worker scratch a unit uses: its padded
// input rows, V, M, the 4 output rows of a tile row for edges, and the
// transforms' 36 vectors.
func (pl *winoPlan) scratch(s ConvShape) (local, v, m, edge, tmp int) {
	local = pl.imgs * (winoM*pl.rb + 2) * pl.wp * s.C
	v = winoXi * pl.T * s.C
	m = winoXi * pl.T * s.Cout
	edge = winoM * winoM * pl.tx * s.Cout
	tmp = winoXi * 16
	return
}

// ConvForwardWinograd computes y = conv(x, w) + bias (or adds conv + bias
// to y when acc) for a 3×3 stride-1 convolution (WinogradApplies), with
// u = WinogradWeights(w). f, if not nil, is applied as ConvForwardFused
// does. It needs no scratch of the caller's.
func ConvForwardWinograd(p *Pool, s ConvShape, x, u, bias, y []float32, acc bool, f *Fusion) {
	pl := newWinoPlan(s, p.Workers())
	parallel(p, &winoTasks, pl.units, 1, winoTask{p: p, s: s, pl: pl, x: x, u: u, bias: bias, y: y, acc: acc, fuse: f})
}

// ConvWinograd is ConvForwardWinograd from the HWIO kernel w, transformed
// first into a buffer of winoWeightBufs: a training convolution, whose
// kernel changes every step. (Pooled rather than in the tape's arena, so
// that a step holds one transformed kernel at a time, not one per layer.)
// f, if not nil, is applied as ConvForwardFused does.
func ConvWinograd(p *Pool, s ConvShape, x, w, bias, y []float32, f *Fusion) {
	u := getWinoWeights(WinogradWeightsLen(s))
	winoWeightsPool(p, winoWeightTask{s: s, w: w, u: *u}, s.C)
	ConvForwardWinograd(p, s, x, *u, bias, y, false, f)
	winoWeightBufs.Put(u)
}

// ConvBackwardInputWinograd adds dX to dx (or writes it there when acc is
// false) for a 3×3 stride-1 convolution s by Winograd: the convolution of
// dY with the flipped kernel (BackwardInputShape, FlipKernel), flipped into
// wf (len(w) floats of scratch).
func ConvBackwardInputWinograd(p *Pool, s ConvShape, dy, w, wf, dx []float32, acc bool) {
	t := BackwardInputShape(s)
	u := getWinoWeights(WinogradWeightsLen(t))
	winoWeightsPool(p, winoWeightTask{s: s, w: w, wf: wf, u: *u, flip: true}, s.Cout)
	ConvForwardWinograd(p, t, dy, *u, nil, dx, acc, nil)
	winoWeightBufs.Put(u)
}

type winoTask struct {
	p       *Pool
	s       ConvShape
	pl      winoPlan
	x, u    []float32
	bias, y []float32
	acc     bool
	fuse    *Fusion
}

var winoTasks taskPool[winoTask]

// Run computes work units [lo, hi).
func (t *winoTask) Run(wk, lo, hi int) {
	s, pl := t.s, t.pl
	C, Co := s.C, s.Cout
	nl, nv, nm, ne, nt := pl.scratch(s)
	buf := t.p.Scratch(wk, nl+nv+nm+ne+nt+16)
	local, buf := buf[:nl], buf[nl:]
	v, buf := buf[:nv], buf[nv:]
	m, buf := buf[:nm], buf[nm:]
	edge, buf := buf[:ne], buf[ne:]
	tmp := buf[:nt]
	pad := convTask{s: s, fuse: t.fuse}
	rowLen := pl.wp * C
	inRows := winoM*pl.rb + 2
	for u := lo; u < hi; u++ {
		// The unit's images [n0, n1) and tile rows [ty0, ty1) of each.
		n0, n1, ty0, ty1 := u, u+1, 0, pl.ty
		if pl.imgs > 1 || pl.blocks == 1 {
			n0 = u * pl.imgs
			n1 = min(n0+pl.imgs, s.N)
		} else {
			n0, n1 = u/pl.blocks, u/pl.blocks+1
			ty0 = (u % pl.blocks) * pl.rb
			ty1 = min(ty0+pl.rb, pl.ty)
		}
		rows := winoM*(ty1-ty0) + 2
		tiles := 0
		for n := n0; n < n1; n++ {
			in := local[(n-n0)*inRows*rowLen:]
			for r := range rows {
				pad.padRow(n, winoM*ty0+r, t.x, in[r*rowLen:(r+1)*rowLen])
			}
			for ty := ty0; ty < ty1; ty++ {
				winoInput(in[winoM*(ty-ty0)*rowLen:], rowLen, C, pl.tx, v[tiles*C:], pl.T*C, tmp)
				tiles += pl.tx
			}
		}
		for xi := range winoXi {
			Sgemm(tiles, Co, C, v[xi*pl.T*C:], C, t.u[xi*C*Co:], Co, m[xi*pl.T*Co:], Co, false)
		}
		tile := 0
		for n := n0; n < n1; n++ {
			for ty := ty0; ty < ty1; ty++ {
				t.output(n, ty, m[tile*Co:], edge, tmp)
				tile += pl.tx
			}
		}
	}
}

// output transforms the tile row ty of image n from the planes at m into
// y, and finishes its output rows (bias, the Fusion's epilogue).
func (t *winoTask) output(n, ty int, m, edge, tmp []float32) {
	s, pl := t.s, t.pl
	Co := s.Cout
	oy0 := winoM * ty
	oy1 := min(oy0+winoM, s.OH)
	yRow := s.OW * Co
	img := n * s.OH * yRow
	// Tiles wholly inside y go straight there; the rest through edge.
	direct := s.OW / winoM
	if oy1-oy0 < winoM {
		direct = 0
	}
	plane := pl.T * Co
	if direct > 0 {
		winoOutput(m, plane, Co, direct, t.y[img+oy0*yRow:], yRow, t.acc, tmp)
	}
	if rest := pl.tx - direct; rest > 0 {
		eRow := winoM * rest * Co
		winoOutput(m[direct*Co:], plane, Co, rest, edge, eRow, false, tmp)
		for oy := oy0; oy < oy1; oy++ {
			dst := t.y[img+oy*yRow+winoM*direct*Co : img+(oy+1)*yRow]
			src := edge[(oy-oy0)*eRow : (oy-oy0)*eRow+len(dst)]
			if t.acc {
				addRows(dst, src)
			} else {
				copy(dst, src)
			}
		}
	}
	for oy := oy0; oy < oy1; oy++ {
		off := img + oy*yRow
		finishRows(t.y[off:off+yRow], t.bias, Co, t.fuse, off)
	}
}

// winoArgs is the argument block of the assembly transforms; the field
// offsets are fixed by winograd_amd64.s.
type winoArgs struct {
	src, dst, tmp unsafe.Pointer // 0, 8, 16
	ld            uintptr        // 24: bytes between rows of the window or tile
	pix           uintptr        // 32: bytes between pixels
	plane         uintptr        // 40: bytes between the planes of two points ξ
	tstep         uintptr        // 48: bytes between two tiles in a plane
	tiles         uintptr        // 56
	groups        uintptr        // 64: channel groups of 16
	mask          uint64         // 72: lanes of the last group
	acc           uintptr        // 80: 1 to add the output to dst
}

// winoInput writes V = Bᵀ·d·B for tiles consecutive tiles of a tile row:
// tile i's window is the 6×6 pixels of C channels at src[4·i·C:], rows ld
// floats apart; its 36 points go to v[ξ·plane + i·C:] (C floats each).
// tmp is scratch of 36·16 floats.
func winoInput(src []float32, ld, C, tiles int, v []float32, plane int, tmp []float32) {
	if tiles == 0 {
		return
	}
	_ = src[(winoT-1)*ld+(winoM*(tiles-1)+winoT)*C-1]
	_ = v[(winoXi-1)*plane+tiles*C-1]
	if rowsFast {
		a := winoArgs{src: unsafe.Pointer(&src[0]), dst: unsafe.Pointer(&v[0]), tmp: unsafe.Pointer(&tmp[0]),
			ld: uintptr(ld) * 4, pix: uintptr(C) * 4, plane: uintptr(plane) * 4, tstep: uintptr(C) * 4,
			tiles: uintptr(tiles)}
		a.groups, a.mask = winoGroups(C)
		winoInputAVX512(&a)
		return
	}
	winoInputGeneric(src, ld, C, tiles, v, plane)
}

// winoOutput writes Y = Aᵀ·M·A for tiles consecutive tiles of a tile row:
// tile i's 36 points are Co floats at m[ξ·plane + i·Co:]; its 4×4 outputs
// go to the pixels of y at y[4·i·Co:], rows ld floats apart (added to what
// is there when acc). tmp is scratch of 36·16 floats.
func winoOutput(m []float32, plane, Co, tiles int, y []float32, ld int, acc bool, tmp []float32) {
	if tiles == 0 {
		return
	}
	_ = m[(winoXi-1)*plane+tiles*Co-1]
	_ = y[(winoM-1)*ld+winoM*tiles*Co-1]
	if rowsFast {
		a := winoArgs{src: unsafe.Pointer(&m[0]), dst: unsafe.Pointer(&y[0]), tmp: unsafe.Pointer(&tmp[0]),
			ld: uintptr(ld) * 4, pix: uintptr(Co) * 4, plane: uintptr(plane) * 4, tstep: uintptr(Co) * 4,
			tiles: uintptr(tiles)}
		a.groups, a.mask = winoGroups(Co)
		if acc {
			a.acc = 1
		}
		winoOutputAVX512(&a)
		return
	}
	winoOutputGeneric(m, plane, Co, tiles, y, ld, acc)
}

// winoGroups returns the 16-channel groups of C channels and the lane mask
// of the last.
func winoGroups(C int) (uintptr, uint64) {
	g := (C + 15) / 16
	return uintptr(g), 1<<(C-16*(g-1)) - 1
}

// bt6 is the 1-D input transform Bᵀ·d.
func bt6(d *[winoT]float32) [winoT]float32 {
	return [winoT]float32{
		4*d[0] - 5*d[2] + d[4],
		(d[4] - 4*d[2]) + (d[3] - 4*d[1]),
		(d[4] - 4*d[2]) - (d[3] - 4*d[1]),
		(d[4] - d[2]) + 2*(d[3]-d[1]),
		(d[4] - d[2]) - 2*(d[3]-d[1]),
		4*d[1] - 5*d[3] + d[5],
	}
}

// at6 is the 1-D output transform Aᵀ·m.
func at6(m *[winoT]float32) [winoM]float32 {
	s1, d1 := m[1]+m[2], m[1]-m[2]
	s2, d2 := m[3]+m[4], m[3]-m[4]
	return [winoM]float32{m[0] + s1 + s2, d1 + 2*d2, s1 + 4*s2, d1 + 8*d2 + m[5]}
}

// winoInputGeneric is the portable winoInput.
func winoInputGeneric(src []float32, ld, C, tiles int, v []float32, plane int) {
	var d, col [winoT]float32
	var u [winoT][winoT]float32
	for i := range tiles {
		for c := range C {
			for r := range winoT {
				for j := range winoT {
					d[j] = src[r*ld+(winoM*i+j)*C+c]
				}
				u[r] = bt6(&d)
			}
			for k := range winoT {
				for r := range winoT {
					col[r] = u[r][k]
				}
				o := bt6(&col)
				for r := range winoT {
					v[(r*winoT+k)*plane+i*C+c] = o[r]
				}
			}
		}
	}
}

// winoOutputGeneric is the portable winoOutput.
func winoOutputGeneric(m []float32, plane, Co, tiles int, y []float32, ld int, acc bool) {
	var col, row [winoT]float32
	var w [winoM][winoT]float32
	for i := range tiles {
		for c := range Co {
			for k := range winoT {
				for r := range winoT {
					col[r] = m[(r*winoT+k)*plane+i*Co+c]
				}
				o := at6(&col)
				for r := range winoM {
					w[r][k] = o[r]
				}
			}
			for r := range winoM {
				row = w[r]
				o := at6(&row)
				for j := range winoM {
					p := &y[r*ld+(winoM*i+j)*Co+c]
					if acc {
						*p += o[j]
					} else {
						*p = o[j]
					}
				}
			}
		}
	}
}
