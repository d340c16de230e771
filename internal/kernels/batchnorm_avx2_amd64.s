//go:build amd64 && !purego

#include "textflag.h"

// AVX2+FMA row kernels: BatchNorm's and the column sums, the AVX-512 ones
// (elementwise_amd64.s) on 8-float YMM vectors, for CPUs without AVX-512. The data layout is the
// same: `blocks` blocks of `vecs` 16-float vectors, per-channel arrays one
// block long, float64 sums two doubles per float lane (a 16-float vector's
// sums are four YMM vectors of doubles at 2·BX). The sums of one 16-float
// vector stay in registers while it walks all the blocks (R8 is the block
// stride in bytes), in the order of the AVX-512 kernels.

// func momentsAVX2(x *float32, s1, s2 *float64, blocks, vecs int)
// s1 += x, s2 += x² per lane of the block, in float64.
TEXT ·momentsAVX2(SB), NOSPLIT, $0-40
	MOVQ  x+0(FP), SI
	MOVQ  s1+8(FP), R9
	MOVQ  s2+16(FP), R10
	MOVQ  blocks+24(FP), CX
	MOVQ  vecs+32(FP), DX
	TESTQ CX, CX
	JZ    m2done
	MOVQ  DX, R8
	SHLQ  $6, R8
	XORQ  BX, BX

m2vec:
	VMOVUPD (R9)(BX*2), Y0
	VMOVUPD 32(R9)(BX*2), Y1
	VMOVUPD 64(R9)(BX*2), Y2
	VMOVUPD 96(R9)(BX*2), Y3
	VMOVUPD (R10)(BX*2), Y4
	VMOVUPD 32(R10)(BX*2), Y5
	VMOVUPD 64(R10)(BX*2), Y6
	VMOVUPD 96(R10)(BX*2), Y7
	MOVQ    BX, AX
	MOVQ    CX, R11

m2block:
	VCVTPS2PD   (SI)(AX*1), Y8
	VCVTPS2PD   16(SI)(AX*1), Y9
	VCVTPS2PD   32(SI)(AX*1), Y10
	VCVTPS2PD   48(SI)(AX*1), Y11
	VADDPD      Y8, Y0, Y0
	VADDPD      Y9, Y1, Y1
	VADDPD      Y10, Y2, Y2
	VADDPD      Y11, Y3, Y3
	VFMADD231PD Y8, Y8, Y4
	VFMADD231PD Y9, Y9, Y5
	VFMADD231PD Y10, Y10, Y6
	VFMADD231PD Y11, Y11, Y7
	ADDQ        R8, AX
	DECQ        R11
	JNZ         m2block
	VMOVUPD     Y0, (R9)(BX*2)
	VMOVUPD     Y1, 32(R9)(BX*2)
	VMOVUPD     Y2, 64(R9)(BX*2)
	VMOVUPD     Y3, 96(R9)(BX*2)
	VMOVUPD     Y4, (R10)(BX*2)
	VMOVUPD     Y5, 32(R10)(BX*2)
	VMOVUPD     Y6, 64(R10)(BX*2)
	VMOVUPD     Y7, 96(R10)(BX*2)
	ADDQ        $64, BX
	DECQ        DX
	JNZ         m2vec

m2done:
	VZEROUPPER
	RET

// func scaleShiftAVX2(x, center, y, scale, shift *float32, blocks, vecs int, relu bool)
// y = (x − center)·scale + shift, then max(y, 0) if relu.
TEXT ·scaleShiftAVX2(SB), NOSPLIT, $0-57
	MOVQ    x+0(FP), SI
	MOVQ    center+8(FP), R12
	MOVQ    y+16(FP), DI
	MOVQ    scale+24(FP), R8
	MOVQ    shift+32(FP), R9
	MOVQ    blocks+40(FP), CX
	MOVQ    vecs+48(FP), DX
	SHLQ    $1, DX
	MOVBLZX relu+56(FP), R10
	VXORPS  Y15, Y15, Y15
	TESTQ   CX, CX
	JZ      ss2done

ss2block:
	XORQ BX, BX
	MOVQ DX, R11

ss2vec:
	VMOVUPS     (SI)(BX*1), Y0
	VSUBPS      (R12)(BX*1), Y0, Y0
	VMOVUPS     (R8)(BX*1), Y1
	VFMADD213PS (R9)(BX*1), Y1, Y0
	TESTQ       R10, R10
	JZ          ss2store
	VMAXPS      Y0, Y15, Y0

ss2store:
	VMOVUPS Y0, (DI)(BX*1)
	ADDQ    $32, BX
	DECQ    R11
	JNZ     ss2vec
	ADDQ    BX, SI
	ADDQ    BX, DI
	DECQ    CX
	JNZ     ss2block

ss2done:
	VZEROUPPER
	RET

// LOAD2(off, c) loads the 8 floats at byte offset off of the current
// 16-float vector: Y8 = x − c (the centre's half in c), Y9 = dy.
#define LOAD2(off, c) \
	VMOVUPS off(SI)(AX*1), Y8; VSUBPS c, Y8, Y8; VMOVUPS off(DI)(AX*1), Y9

// MASK2(off) zeroes Y9 where y (R12) is not positive.
#define MASK2(off) \
	VCMPPS $1, off(R12)(AX*1), Y14, Y10; VANDPS Y10, Y9, Y9

// SUM2(g0, g1, gx0, gx1) widens the lower and upper halves of g (Y9) and
// x − center (Y8) to doubles and adds g into g0, g1 and g·(x − center)
// into gx0, gx1.
#define SUM2(g0, g1, gx0, gx1) \
	VCVTPS2PD X9, Y10; VCVTPS2PD X8, Y11; \
	VADDPD Y10, g0, g0; VFMADD231PD Y11, Y10, gx0; \
	VEXTRACTF128 $1, Y9, X10; VEXTRACTF128 $1, Y8, X11; \
	VCVTPS2PD X10, Y10; VCVTPS2PD X11, Y11; \
	VADDPD Y10, g1, g1; VFMADD231PD Y11, Y10, gx1

// func bnSumsAVX2(x, center, dy, y *float32, sumG, sumGX *float64, blocks, vecs int)
// g = dy, or dy where y > 0 if y is not nil; sumG += g,
// sumGX += g·(x − center), in float64.
TEXT ·bnSumsAVX2(SB), NOSPLIT, $0-64
	MOVQ   x+0(FP), SI
	MOVQ   center+8(FP), R13
	MOVQ   dy+16(FP), DI
	MOVQ   y+24(FP), R12
	MOVQ   sumG+32(FP), R9
	MOVQ   sumGX+40(FP), R10
	MOVQ   blocks+48(FP), CX
	MOVQ   vecs+56(FP), DX
	VXORPS Y14, Y14, Y14
	TESTQ  CX, CX
	JZ     bs2done
	MOVQ   DX, R8
	SHLQ   $6, R8
	XORQ   BX, BX

bs2vec:
	VMOVUPS (R13)(BX*1), Y12
	VMOVUPS 32(R13)(BX*1), Y13
	VMOVUPD (R9)(BX*2), Y0
	VMOVUPD 32(R9)(BX*2), Y1
	VMOVUPD 64(R9)(BX*2), Y2
	VMOVUPD 96(R9)(BX*2), Y3
	VMOVUPD (R10)(BX*2), Y4
	VMOVUPD 32(R10)(BX*2), Y5
	VMOVUPD 64(R10)(BX*2), Y6
	VMOVUPD 96(R10)(BX*2), Y7
	MOVQ    BX, AX
	MOVQ    CX, R11
	TESTQ   R12, R12
	JNZ     bs2mblock

bs2block:
	LOAD2(0, Y12)
	SUM2(Y0, Y1, Y4, Y5)
	LOAD2(32, Y13)
	SUM2(Y2, Y3, Y6, Y7)
	ADDQ R8, AX
	DECQ R11
	JNZ  bs2block
	JMP  bs2store

bs2mblock:
	LOAD2(0, Y12)
	MASK2(0)
	SUM2(Y0, Y1, Y4, Y5)
	LOAD2(32, Y13)
	MASK2(32)
	SUM2(Y2, Y3, Y6, Y7)
	ADDQ R8, AX
	DECQ R11
	JNZ  bs2mblock

bs2store:
	VMOVUPD Y0, (R9)(BX*2)
	VMOVUPD Y1, 32(R9)(BX*2)
	VMOVUPD Y2, 64(R9)(BX*2)
	VMOVUPD Y3, 96(R9)(BX*2)
	VMOVUPD Y4, (R10)(BX*2)
	VMOVUPD Y5, 32(R10)(BX*2)
	VMOVUPD Y6, 64(R10)(BX*2)
	VMOVUPD Y7, 96(R10)(BX*2)
	ADDQ    $64, BX
	DECQ    DX
	JNZ     bs2vec

bs2done:
	VZEROUPPER
	RET

// func bnGradAVX2(x, center, dy, y, dx, a, b, d *float32, blocks, vecs int, acc bool)
// g = dy, or dy where y > 0 if y is not nil;
// dx += a·g + b·(x − center) + d, or dx = … when acc is false.
TEXT ·bnGradAVX2(SB), NOSPLIT, $0-81
	MOVQ    x+0(FP), SI
	MOVQ    center+8(FP), AX
	MOVQ    dy+16(FP), DI
	MOVQ    y+24(FP), R12
	MOVQ    dx+32(FP), R13
	MOVQ    a+40(FP), R8
	MOVQ    b+48(FP), R9
	MOVQ    d+56(FP), R10
	MOVQ    blocks+64(FP), CX
	MOVQ    vecs+72(FP), DX
	SHLQ    $1, DX
	MOVBLZX acc+80(FP), R14
	VXORPS  Y15, Y15, Y15
	TESTQ   CX, CX
	JZ      bg2done

bg2block:
	XORQ BX, BX
	MOVQ DX, R11

bg2vec:
	VMOVUPS (DI)(BX*1), Y0
	TESTQ   R12, R12
	JZ      bg2load
	VCMPPS  $1, (R12)(BX*1), Y15, Y3
	VANDPS  Y3, Y0, Y0

bg2load:
	VMOVUPS     (SI)(BX*1), Y1
	VSUBPS      (AX)(BX*1), Y1, Y1
	VMOVUPS     (R10)(BX*1), Y2
	VFMADD231PS (R9)(BX*1), Y1, Y2
	VFMADD231PS (R8)(BX*1), Y0, Y2
	TESTQ       R14, R14
	JZ          bg2store
	VADDPS      (R13)(BX*1), Y2, Y2

bg2store:
	VMOVUPS Y2, (R13)(BX*1)
	ADDQ    $32, BX
	DECQ    R11
	JNZ     bg2vec
	ADDQ    BX, SI
	ADDQ    BX, DI
	ADDQ    BX, R13
	TESTQ   R12, R12
	JZ      bg2next
	ADDQ    BX, R12

bg2next:
	DECQ CX
	JNZ  bg2block

bg2done:
	VZEROUPPER
	RET

// func colSumAVX2(x, out *float32, rows, vecs int)
// out[j] += x[r·vecs·8 + j] for r = 0, 1, …, rows−1 in turn (the order of
// the portable loop, so the sums are the same), j < vecs·8. Four vector
// columns at a time run as independent chains.
TEXT ·colSumAVX2(SB), NOSPLIT, $0-32
	MOVQ  x+0(FP), SI
	MOVQ  out+8(FP), DI
	MOVQ  rows+16(FP), CX
	MOVQ  vecs+24(FP), DX
	MOVQ  DX, R8
	SHLQ  $5, R8 // row stride in bytes
	TESTQ CX, CX
	JZ    cs2done

cs24:
	CMPQ    DX, $4
	JLT     cs21
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	MOVQ    SI, R9
	MOVQ    CX, R10

cs24row:
	VADDPS  (R9), Y0, Y0
	VADDPS  32(R9), Y1, Y1
	VADDPS  64(R9), Y2, Y2
	VADDPS  96(R9), Y3, Y3
	ADDQ    R8, R9
	DECQ    R10
	JNZ     cs24row
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $4, DX
	JMP     cs24

cs21:
	TESTQ   DX, DX
	JZ      cs2done
	VMOVUPS (DI), Y0
	MOVQ    SI, R9
	MOVQ    CX, R10

cs21row:
	VADDPS  (R9), Y0, Y0
	ADDQ    R8, R9
	DECQ    R10
	JNZ     cs21row
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    DX
	JMP     cs21

cs2done:
	VZEROUPPER
	RET
