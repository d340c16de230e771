//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 row kernels for per-channel elementwise work over [M, C] data
// (NHWC). The data is processed as `blocks` blocks of `vecs` 16-float
// vectors; per-channel coefficient arrays hold one block (vecs·16 floats),
// channel patterns tiled to a whole number of vectors by the Go caller.

// func scaleShiftAVX512(x, y, scale, shift *float32, blocks, vecs int, relu bool)
// y = x·scale + shift, then max(y, 0) if relu.
TEXT ·scaleShiftAVX512(SB), NOSPLIT, $0-49
	MOVQ    x+0(FP), SI
	MOVQ    y+8(FP), DI
	MOVQ    scale+16(FP), R8
	MOVQ    shift+24(FP), R9
	MOVQ    blocks+32(FP), CX
	MOVQ    vecs+40(FP), DX
	MOVBLZX relu+48(FP), R10
	VXORPS  Z31, Z31, Z31
	TESTQ   CX, CX
	JZ      ssdone

ssblock:
	XORQ BX, BX
	MOVQ DX, R11

ssvec:
	VMOVUPS     (SI)(BX*1), Z0
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

// func momentsAVX512(x, center, s1, s2 *float32, blocks, vecs int)
// s1 += x − center, s2 += (x − center)² per lane of the block.
TEXT ·momentsAVX512(SB), NOSPLIT, $0-48
	MOVQ  x+0(FP), SI
	MOVQ  center+8(FP), R8
	MOVQ  s1+16(FP), R9
	MOVQ  s2+24(FP), R10
	MOVQ  blocks+32(FP), CX
	MOVQ  vecs+40(FP), DX
	TESTQ CX, CX
	JZ    mdone

mblock:
	XORQ BX, BX
	MOVQ DX, R11

mvec:
	VMOVUPS     (SI)(BX*1), Z0
	VSUBPS      (R8)(BX*1), Z0, Z0
	VADDPS      (R9)(BX*1), Z0, Z1
	VMOVUPS     Z1, (R9)(BX*1)
	VMOVUPS     (R10)(BX*1), Z2
	VFMADD231PS Z0, Z0, Z2
	VMOVUPS     Z2, (R10)(BX*1)
	ADDQ        $64, BX
	DECQ        R11
	JNZ         mvec
	ADDQ        BX, SI
	DECQ        CX
	JNZ         mblock

mdone:
	VZEROUPPER
	RET

// func bnSumsAVX512(x, dy, y, sumG, sumGX *float32, blocks, vecs int)
// g = dy, or dy where y > 0 if y is not nil; sumG += g, sumGX += g·x.
TEXT ·bnSumsAVX512(SB), NOSPLIT, $0-56
	MOVQ   x+0(FP), SI
	MOVQ   dy+8(FP), DI
	MOVQ   y+16(FP), R12
	MOVQ   sumG+24(FP), R8
	MOVQ   sumGX+32(FP), R9
	MOVQ   blocks+40(FP), CX
	MOVQ   vecs+48(FP), DX
	VXORPS Z31, Z31, Z31
	KXNORW K1, K1, K1
	TESTQ  CX, CX
	JZ     bsdone

bsblock:
	XORQ BX, BX
	MOVQ DX, R11

bsvec:
	TESTQ  R12, R12
	JZ     bsload
	VCMPPS $1, (R12)(BX*1), Z31, K1

bsload:
	VMOVUPS.Z   (DI)(BX*1), K1, Z0
	VMOVUPS     (SI)(BX*1), Z1
	VADDPS      (R8)(BX*1), Z0, Z2
	VMOVUPS     Z2, (R8)(BX*1)
	VMOVUPS     (R9)(BX*1), Z3
	VFMADD231PS Z1, Z0, Z3
	VMOVUPS     Z3, (R9)(BX*1)
	ADDQ        $64, BX
	DECQ        R11
	JNZ         bsvec
	ADDQ        BX, SI
	ADDQ        BX, DI
	TESTQ       R12, R12
	JZ          bsnext
	ADDQ        BX, R12

bsnext:
	DECQ CX
	JNZ  bsblock

bsdone:
	VZEROUPPER
	RET

// func bnGradAVX512(x, dy, y, dx, a, b, d *float32, blocks, vecs int)
// g = dy, or dy where y > 0 if y is not nil; dx += a·g + b·x + d.
TEXT ·bnGradAVX512(SB), NOSPLIT, $0-72
	MOVQ   x+0(FP), SI
	MOVQ   dy+8(FP), DI
	MOVQ   y+16(FP), R12
	MOVQ   dx+24(FP), R13
	MOVQ   a+32(FP), R8
	MOVQ   b+40(FP), R9
	MOVQ   d+48(FP), R10
	MOVQ   blocks+56(FP), CX
	MOVQ   vecs+64(FP), DX
	VXORPS Z31, Z31, Z31
	KXNORW K1, K1, K1
	TESTQ  CX, CX
	JZ     bgdone

bgblock:
	XORQ BX, BX
	MOVQ DX, R11

bgvec:
	TESTQ  R12, R12
	JZ     bgload
	VCMPPS $1, (R12)(BX*1), Z31, K1

bgload:
	VMOVUPS.Z   (DI)(BX*1), K1, Z0
	VMOVUPS     (SI)(BX*1), Z1
	VMOVUPS     (R10)(BX*1), Z2
	VFMADD231PS (R9)(BX*1), Z1, Z2
	VFMADD231PS (R8)(BX*1), Z0, Z2
	VADDPS      (R13)(BX*1), Z2, Z2
	VMOVUPS     Z2, (R13)(BX*1)
	ADDQ        $64, BX
	DECQ        R11
	JNZ         bgvec
	ADDQ        BX, SI
	ADDQ        BX, DI
	ADDQ        BX, R13
	TESTQ       R12, R12
	JZ          bgnext
	ADDQ        BX, R12

bgnext:
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
