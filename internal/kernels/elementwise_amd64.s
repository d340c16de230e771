//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 row kernels for per-channel elementwise work over [M, C] data
// (NHWC). The data is processed as `blocks` blocks of `vecs` 16-float
// vectors; per-channel coefficient arrays hold one block (vecs·16 floats),
// channel patterns tiled to a whole number of vectors by the Go caller.

// func scaleShiftAVX512(x, center, y, scale, shift *float32, blocks, vecs int, relu bool)
// y = (x − center)·scale + shift, then max(y, 0) if relu. Centring first
// keeps BatchNorm exact when a channel's mean is large beside its spread.
TEXT ·scaleShiftAVX512(SB), NOSPLIT, $0-57
	MOVQ    x+0(FP), SI
	MOVQ    center+8(FP), R12
	MOVQ    y+16(FP), DI
	MOVQ    scale+24(FP), R8
	MOVQ    shift+32(FP), R9
	MOVQ    blocks+40(FP), CX
	MOVQ    vecs+48(FP), DX
	MOVBLZX relu+56(FP), R10
	VXORPS  Z31, Z31, Z31
	TESTQ   CX, CX
	JZ      ssdone

ssblock:
	XORQ BX, BX
	MOVQ DX, R11

ssvec:
	VMOVUPS     (SI)(BX*1), Z0
	VSUBPS      (R12)(BX*1), Z0, Z0
	VMOVUPS     (R8)(BX*1), Z1
	VFMADD213PS (R9)(BX*1), Z1, Z0
	TESTQ       R10, R10
	JZ          ssstore
	VMAXPS      Z0, Z31, Z0

ssstore:
	VMOVUPS Z0, (DI)(BX*1)
	ADDQ    $64, BX
	DECQ    R11
	JNZ     ssvec
	ADDQ    BX, SI
	ADDQ    BX, DI
	DECQ    CX
	JNZ     ssblock

ssdone:
	VZEROUPPER
	RET

// The BatchNorm sums accumulate in float64: a vector of 16 floats is
// widened into two vectors of 8 doubles (lo, hi), and a block's sums hold
// vecs·16 doubles, lane k of the floats at double k. BX is the byte offset
// of the float vector in the block, so the doubles are at 2·BX and 2·BX+64.

// WIDEN(z, y, lo, hi, tmpY) widens float vector z (y is its lower half)
// into the double vectors lo and hi.
#define WIDEN(z, y, lo, hi, tmpY) \
	VCVTPS2PD y, lo; VEXTRACTF64X4 $1, z, tmpY; VCVTPS2PD tmpY, hi

// The sums over positions are ordered: lane k of a block's sums adds lane
// k of every block in turn. Both kernels keep the sums of one vector of
// the block in registers while they walk that vector through all the
// blocks (v outer, blocks inner; R8 is the block stride in bytes), so an
// addition waits only for the previous one, not for a store to memory and
// a load back; the additions are the same, in the same order.

// func momentsAVX512(x *float32, s1, s2 *float64, blocks, vecs int)
// s1 += x, s2 += x² per lane of the block, in float64.
TEXT ·momentsAVX512(SB), NOSPLIT, $0-40
	MOVQ  x+0(FP), SI
	MOVQ  s1+8(FP), R9
	MOVQ  s2+16(FP), R10
	MOVQ  blocks+24(FP), CX
	MOVQ  vecs+32(FP), DX
	TESTQ CX, CX
	JZ    mdone
	MOVQ  DX, R8
	SHLQ  $6, R8
	XORQ  BX, BX

mvec:
	VMOVUPD (R9)(BX*2), Z3
	VMOVUPD 64(R9)(BX*2), Z4
	VMOVUPD (R10)(BX*2), Z5
	VMOVUPD 64(R10)(BX*2), Z6
	LEAQ    (SI)(BX*1), AX
	MOVQ    CX, R11

mblock:
	VMOVUPS     (AX), Z0
	WIDEN(Z0, Y0, Z1, Z2, Y2)
	VADDPD      Z1, Z3, Z3
	VADDPD      Z2, Z4, Z4
	VFMADD231PD Z1, Z1, Z5
	VFMADD231PD Z2, Z2, Z6
	ADDQ        R8, AX
	DECQ        R11
	JNZ         mblock
	VMOVUPD     Z3, (R9)(BX*2)
	VMOVUPD     Z4, 64(R9)(BX*2)
	VMOVUPD     Z5, (R10)(BX*2)
	VMOVUPD     Z6, 64(R10)(BX*2)
	ADDQ        $64, BX
	DECQ        DX
	JNZ         mvec

mdone:
	VZEROUPPER
	RET

// func bnSumsAVX512(x, center, dy, scale, shift *float32, sumG, sumGX *float64, blocks, vecs int)
// g = dy, or dy where (x − center)·scale + shift > 0 if scale is not nil
// (the fused ReLU's mask, computed as scaleShiftAVX512 computes its
// output); sumG += g, sumGX += g·(x − center), in float64.
TEXT ·bnSumsAVX512(SB), NOSPLIT, $0-72
	MOVQ   x+0(FP), SI
	MOVQ   center+8(FP), R13
	MOVQ   dy+16(FP), DI
	MOVQ   scale+24(FP), R12
	MOVQ   shift+32(FP), R14
	MOVQ   sumG+40(FP), R9
	MOVQ   sumGX+48(FP), R10
	MOVQ   blocks+56(FP), CX
	MOVQ   vecs+64(FP), DX
	VXORPS Z31, Z31, Z31
	KXNORW K1, K1, K1
	TESTQ  CX, CX
	JZ     bsdone
	MOVQ   DX, R8
	SHLQ   $6, R8
	XORQ   BX, BX

bsvec:
	VMOVUPS (R13)(BX*1), Z7
	TESTQ   R12, R12
	JZ      bsacc
	VMOVUPS (R12)(BX*1), Z8
	VMOVUPS (R14)(BX*1), Z9

bsacc:
	VMOVUPD (R9)(BX*2), Z10
	VMOVUPD 64(R9)(BX*2), Z11
	VMOVUPD (R10)(BX*2), Z12
	VMOVUPD 64(R10)(BX*2), Z13
	MOVQ    BX, AX
	MOVQ    CX, R11

bsblock:
	VMOVUPS (SI)(AX*1), Z1
	VSUBPS  Z7, Z1, Z1
	TESTQ   R12, R12
	JZ      bsload
	VMOVAPS     Z1, Z6
	VFMADD213PS Z9, Z8, Z6
	VCMPPS      $1, Z6, Z31, K1

bsload:
	VMOVUPS.Z   (DI)(AX*1), K1, Z0
	WIDEN(Z0, Y0, Z2, Z3, Y3)
	WIDEN(Z1, Y1, Z4, Z5, Y5)
	VADDPD      Z2, Z10, Z10
	VADDPD      Z3, Z11, Z11
	VFMADD231PD Z4, Z2, Z12
	VFMADD231PD Z5, Z3, Z13
	ADDQ        R8, AX
	DECQ        R11
	JNZ         bsblock
	VMOVUPD     Z10, (R9)(BX*2)
	VMOVUPD     Z11, 64(R9)(BX*2)
	VMOVUPD     Z12, (R10)(BX*2)
	VMOVUPD     Z13, 64(R10)(BX*2)
	ADDQ        $64, BX
	DECQ        DX
	JNZ         bsvec

bsdone:
	VZEROUPPER
	RET

// func bnGradAVX512(x, center, dy, scale, shift, dx, a, b, d *float32, blocks, vecs int, acc bool)
// g = dy, or dy masked as in bnSumsAVX512 if scale is not nil;
// dx += a·g + b·(x − center) + d, or dx = … when acc is false.
TEXT ·bnGradAVX512(SB), NOSPLIT, $0-89
	MOVQ   x+0(FP), SI
	MOVQ   center+8(FP), AX
	MOVQ   dy+16(FP), DI
	MOVQ   scale+24(FP), R12
	MOVQ   shift+32(FP), R14
	MOVQ   dx+40(FP), R13
	MOVQ   a+48(FP), R8
	MOVQ   b+56(FP), R9
	MOVQ   d+64(FP), R10
	MOVQ   blocks+72(FP), CX
	MOVQ    vecs+80(FP), DX
	VXORPS  Z31, Z31, Z31
	KXNORW  K1, K1, K1
	TESTQ   CX, CX
	JZ      bgdone

bgblock:
	XORQ BX, BX
	MOVQ DX, R11

bgvec:
	VMOVUPS (SI)(BX*1), Z1
	VSUBPS  (AX)(BX*1), Z1, Z1
	TESTQ   R12, R12
	JZ      bgload
	VMOVUPS     (R12)(BX*1), Z6
	VFMADD213PS (R14)(BX*1), Z1, Z6
	VCMPPS      $1, Z6, Z31, K1

bgload:
	VMOVUPS.Z   (DI)(BX*1), K1, Z0
	VMOVUPS     (R10)(BX*1), Z2
	VFMADD231PS (R9)(BX*1), Z1, Z2
	VFMADD231PS (R8)(BX*1), Z0, Z2
	CMPB        acc+88(FP), $0
	JEQ         bgstore
	VADDPS      (R13)(BX*1), Z2, Z2

bgstore:
	VMOVUPS     Z2, (R13)(BX*1)
	ADDQ        $64, BX
	DECQ        R11
	JNZ         bgvec
	ADDQ        BX, SI
	ADDQ        BX, DI
	ADDQ        BX, R13
	DECQ CX
	JNZ  bgblock

bgdone:
	VZEROUPPER
	RET

// func reluBackAVX512(y, dy, dx *float32, n int)
// dx += dy where y > 0, for n a multiple of 16.
TEXT ·reluBackAVX512(SB), NOSPLIT, $0-32
	MOVQ   y+0(FP), SI
	MOVQ   dy+8(FP), DI
	MOVQ   dx+16(FP), R8
	MOVQ   n+24(FP), CX
	SHRQ   $4, CX
	VXORPS Z31, Z31, Z31
	TESTQ  CX, CX
	JZ     rbdone

rbloop:
	VCMPPS      $1, (SI), Z31, K1
	VMOVUPS.Z   (DI), K1, Z0
	VADDPS      (R8), Z0, Z0
	VMOVUPS     Z0, (R8)
	ADDQ        $64, SI
	ADDQ        $64, DI
	ADDQ        $64, R8
	DECQ        CX
	JNZ         rbloop

rbdone:
	VZEROUPPER
	RET

// func addAVX512(x, y, z *float32, n int)
// z = x + y, for n a multiple of 16.
TEXT ·addAVX512(SB), NOSPLIT, $0-32
	MOVQ  x+0(FP), SI
	MOVQ  y+8(FP), DI
	MOVQ  z+16(FP), R8
	MOVQ  n+24(FP), CX
	SHRQ  $4, CX
	TESTQ CX, CX
	JZ    addone

addloop:
	VMOVUPS (SI), Z0
	VADDPS  (DI), Z0, Z0
	VMOVUPS Z0, (R8)
	ADDQ    $64, SI
	ADDQ    $64, DI
	ADDQ    $64, R8
	DECQ    CX
	JNZ     addloop

addone:
	VZEROUPPER
	RET

// func reluAVX512(x, y *float32, n int)
// y = max(x, 0), for n a multiple of 16.
TEXT ·reluAVX512(SB), NOSPLIT, $0-24
	MOVQ   x+0(FP), SI
	MOVQ   y+8(FP), DI
	MOVQ   n+16(FP), CX
	SHRQ   $4, CX
	VXORPS Z31, Z31, Z31
	TESTQ  CX, CX
	JZ     reldone

relloop:
	VMAXPS  (SI), Z31, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     relloop

reldone:
	VZEROUPPER
	RET

// func colSumAVX512(x, out *float32, rows, vecs int)
// out[j] += x[r·vecs·16 + j] for r = 0, 1, …, rows−1 in turn (the order of
// the portable loop, so the sums are the same), j < vecs·16. Four vector
// columns at a time run as independent chains.
TEXT ·colSumAVX512(SB), NOSPLIT, $0-32
	MOVQ  x+0(FP), SI
	MOVQ  out+8(FP), DI
	MOVQ  rows+16(FP), CX
	MOVQ  vecs+24(FP), DX
	MOVQ  DX, R8
	SHLQ  $6, R8 // row stride in bytes
	TESTQ CX, CX
	JZ    csdone

cs4:
	CMPQ    DX, $4
	JLT     cs1
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	MOVQ    SI, R9
	MOVQ    CX, R10

cs4row:
	VADDPS  (R9), Z0, Z0
	VADDPS  64(R9), Z1, Z1
	VADDPS  128(R9), Z2, Z2
	VADDPS  192(R9), Z3, Z3
	ADDQ    R8, R9
	DECQ    R10
	JNZ     cs4row
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ    $256, SI
	ADDQ    $256, DI
	SUBQ    $4, DX
	JMP     cs4

cs1:
	TESTQ   DX, DX
	JZ      csdone
	VMOVUPS (DI), Z0
	MOVQ    SI, R9
	MOVQ    CX, R10

cs1row:
	VADDPS  (R9), Z0, Z0
	ADDQ    R8, R9
	DECQ    R10
	JNZ     cs1row
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    DX
	JMP     cs1

csdone:
	VZEROUPPER
	RET

// func epilogueAVX512(y, bias, center, scale, shift, res *float32, blocks, vecs, flags int)
// A convolution's output finished in one pass, each step the instruction
// of the separate row kernel it replaces (so the same bits): flags&1: y =
// (y − 0)·1 + bias (copyAddBias); flags&2: y = (y − center)·scale + shift,
// then max(y, 0) if flags&4 (scaleShiftAVX512); flags&8: y = res + y
// (addAVX512). bias, center, scale and shift hold one block; res advances
// with y.
TEXT ·epilogueAVX512(SB), NOSPLIT, $0-72
	MOVQ y+0(FP), DI
	MOVQ bias+8(FP), R13
	MOVQ center+16(FP), R12
	MOVQ scale+24(FP), R8
	MOVQ shift+32(FP), R9
	MOVQ res+40(FP), SI
	MOVQ blocks+48(FP), CX
	MOVQ vecs+56(FP), DX
	MOVQ flags+64(FP), R10
	VXORPS Z31, Z31, Z31
	MOVL $0x3f800000, AX
	VPBROADCASTD AX, Z30
	TESTQ CX, CX
	JZ    epdone

epblock:
	XORQ BX, BX
	MOVQ DX, R11

epvec:
	VMOVUPS (DI)(BX*1), Z0
	TESTQ   $1, R10
	JZ      epnobias
	VSUBPS  Z31, Z0, Z0
	VFMADD213PS (R13)(BX*1), Z30, Z0

epnobias:
	TESTQ $2, R10
	JZ    epnopost
	VSUBPS      (R12)(BX*1), Z0, Z0
	VMOVUPS     (R8)(BX*1), Z1
	VFMADD213PS (R9)(BX*1), Z1, Z0
	TESTQ       $4, R10
	JZ          epnopost
	VMAXPS      Z0, Z31, Z0

epnopost:
	TESTQ   $8, R10
	JZ      epstore
	VMOVUPS (SI)(BX*1), Z2
	VADDPS  Z0, Z2, Z0

epstore:
	VMOVUPS Z0, (DI)(BX*1)
	ADDQ    $64, BX
	DECQ    R11
	JNZ     epvec
	ADDQ    BX, DI
	ADDQ    BX, SI
	DECQ    CX
	JNZ     epblock

epdone:
	VZEROUPPER
	RET
