package kernels

import "unsafe"

// rowsFast is set at start-up when the AVX-512 row kernels can be used.
var rowsFast = false

// rowsAVX2 is set when the AVX2 set is in use: some row kernels have AVX2
// versions, picked when rowsFast is not set: BatchNorm's (moments,
// scale-and-shift, the backward's sums and gradient; see bnSplit) and the
// column sums of SumRows.
var rowsAVX2 = false

// tileLen returns the length of a per-channel coefficient block for the
// vector row kernels: the least common multiple of C and 16, so that a
// block spans whole rows of C channels and whole 16-float vectors (C when
// C is a multiple of 16, 16 when C divides 16, 48 for DenseNet's 24
// channels). Per-channel coefficients are tiled over it.
func tileLen(C int) int {
	a, b := C, 16
	for b != 0 {
		a, b = b, a%b
	}
	return C / a * 16
}

// tile repeats the C-long pattern src over dst (len(dst) a multiple of C).
func tile(dst, src []float32) {
	for i := 0; i < len(dst); i += len(src) {
		copy(dst[i:], src)
	}
}

// fold adds the C-long segments of src into dst (C = len(dst)).
func fold[T float32 | float64](dst, src []T) {
	C := len(dst)
	for i := 0; i < len(src); i += C {
		for c, v := range src[i : i+C] {
			dst[c] += v
		}
	}
}

func ptr(s []float32) *float32 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.SliceData(s)
}

// vecSplit returns how many whole L-long blocks of x the vector kernels take
// (L = tileLen(C)), and how many leading elements that covers.
// bnSplit is vecSplit for the BatchNorm row kernels, which have an AVX2
// set as well as the AVX-512 one.
func bnSplit(n, C int) (blocks, L, done int) {
	if !rowsFast && !rowsAVX2 {
		return 0, 0, 0
	}
	L = tileLen(C)
	blocks = n / L
	return blocks, L, blocks * L
}

// scaleShiftBlocks runs the vector scale-and-shift kernel of the set in use
// (see bnSplit) over blocks of vecs 16-float vectors.
func scaleShiftBlocks(x, center, y, scale, shift []float32, blocks, vecs int, relu bool) {
	if rowsFast {
		scaleShiftAVX512(ptr(x), ptr(center), ptr(y), ptr(scale), ptr(shift), blocks, vecs, relu)
		return
	}
	scaleShiftAVX2(ptr(x), ptr(center), ptr(y), ptr(scale), ptr(shift), blocks, vecs, relu)
}

func vecSplit(n, C int) (blocks, L, done int) {
	if !rowsFast {
		return 0, 0, 0
	}
	L = tileLen(C)
	blocks = n / L
	return blocks, L, blocks * L
}
