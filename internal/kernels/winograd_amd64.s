//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 transforms of the Winograd convolution F(4×4, 3×3) (winograd.go).
// Both work on 16 channels at a time, one vector per pixel, the last group
// of a channel count that is not a multiple of 16 under the mask K1; a
// 6×6 transform runs as two passes of the 1-D transform, through the 36
// vectors of scratch at tmp. The argument block is winoArgs.

DATA winoC4<>+0(SB)/4, $4.0
DATA winoC5<>+0(SB)/4, $5.0
DATA winoC2<>+0(SB)/4, $2.0
DATA winoC8<>+0(SB)/4, $8.0
GLOBL winoC4<>(SB), RODATA|NOPTR, $4
GLOBL winoC5<>(SB), RODATA|NOPTR, $4
GLOBL winoC2<>(SB), RODATA|NOPTR, $4
GLOBL winoC8<>(SB), RODATA|NOPTR, $4

// BT6 is the 1-D input transform r = Bᵀ·d of Z0..Z5 into Z6..Z11
// (constants Z20 = 4, Z22 = 5, Z23 = 2; Z12..Z15 are clobbered):
//
//	r0 = 4d0 − 5d2 + d4        r3 = (d4 − d2) + 2(d3 − d1)
//	r1 = (d4 − 4d2) + (d3 − 4d1)   r4 = (d4 − d2) − 2(d3 − d1)
//	r2 = (d4 − 4d2) − (d3 − 4d1)   r5 = 4d1 − 5d3 + d5
#define BT6 \
	VMOVAPS      Z4, Z6; VFNMADD231PS Z22, Z2, Z6; VFMADD231PS Z20, Z0, Z6; \
	VMOVAPS      Z4, Z12; VFNMADD231PS Z20, Z2, Z12; \
	VMOVAPS      Z3, Z13; VFNMADD231PS Z20, Z1, Z13; \
	VADDPS       Z13, Z12, Z7; VSUBPS Z13, Z12, Z8; \
	VSUBPS       Z2, Z4, Z14; VSUBPS Z1, Z3, Z15; \
	VMOVAPS      Z14, Z9; VFMADD231PS Z23, Z15, Z9; \
	VMOVAPS      Z14, Z10; VFNMADD231PS Z23, Z15, Z10; \
	VMOVAPS      Z5, Z11; VFNMADD231PS Z22, Z3, Z11; VFMADD231PS Z20, Z1, Z11

// AT6 is the 1-D output transform o = Aᵀ·m of Z0..Z5 into Z6..Z9
// (constants Z20 = 4, Z23 = 2, Z24 = 8; Z12..Z15 are clobbered):
//
//	o0 = m0 + (m1 + m2) + (m3 + m4)    o2 = (m1 + m2) + 4(m3 + m4)
//	o1 = (m1 − m2) + 2(m3 − m4)        o3 = (m1 − m2) + 8(m3 − m4) + m5
#define AT6 \
	VADDPS      Z2, Z1, Z12; VSUBPS Z2, Z1, Z13; \
	VADDPS      Z4, Z3, Z14; VSUBPS Z4, Z3, Z15; \
	VADDPS      Z12, Z0, Z6; VADDPS Z14, Z6, Z6; \
	VMOVAPS     Z13, Z7; VFMADD231PS Z23, Z15, Z7; \
	VMOVAPS     Z12, Z8; VFMADD231PS Z20, Z14, Z8; \
	VADDPS      Z13, Z5, Z9; VFMADD231PS Z24, Z15, Z9

// LOAD6(base, step) loads the six vectors base, base+step, … into Z0..Z5
// under K1 (masked lanes zero); step is a register, R11 is clobbered.
#define LOAD6(base, step) \
	MOVQ      base, R11; \
	VMOVUPS.Z (R11), K1, Z0; ADDQ step, R11; \
	VMOVUPS.Z (R11), K1, Z1; ADDQ step, R11; \
	VMOVUPS.Z (R11), K1, Z2; ADDQ step, R11; \
	VMOVUPS.Z (R11), K1, Z3; ADDQ step, R11; \
	VMOVUPS.Z (R11), K1, Z4; ADDQ step, R11; \
	VMOVUPS.Z (R11), K1, Z5

// STORE6(base, step) stores Z6..Z11 to base, base+step, … under K1.
#define STORE6(base, step) \
	MOVQ    base, R11; \
	VMOVUPS Z6, K1, (R11); ADDQ step, R11; \
	VMOVUPS Z7, K1, (R11); ADDQ step, R11; \
	VMOVUPS Z8, K1, (R11); ADDQ step, R11; \
	VMOVUPS Z9, K1, (R11); ADDQ step, R11; \
	VMOVUPS Z10, K1, (R11); ADDQ step, R11; \
	VMOVUPS Z11, K1, (R11)

// GROUPMASK sets K1 to the lanes of channel group BX·16 (all 16, or the
// remainder of the last group from p.mask); R12 is clobbered.
#define GROUPMASK \
	MOVQ  64(DI), R12; \
	DECQ  R12; \
	CMPQ  BX, R12; \
	MOVQ  $0xffff, R12; \
	JNE   2(PC); \
	MOVQ  72(DI), R12; \
	KMOVW R12, K1

// func winoInputAVX512(p *winoArgs)
// For each of p.tiles tiles (src advancing 4 pixels, dst one tile row of
// the planes) and each channel group: V = Bᵀ·d·B of the 6×6 input window
// at src (rows p.ld bytes apart, pixels p.pix), written to the 36 planes
// at dst (p.plane bytes apart), element ξ = 6·row + column.
TEXT ·winoInputAVX512(SB), NOSPLIT, $0-8
	MOVQ         p+0(FP), DI
	VBROADCASTSS winoC4<>(SB), Z20
	VBROADCASTSS winoC5<>(SB), Z22
	VBROADCASTSS winoC2<>(SB), Z23
	MOVQ         0(DI), SI   // src of the tile
	MOVQ         8(DI), R8   // dst of the tile
	MOVQ         24(DI), R9  // row stride
	MOVQ         32(DI), R10 // pixel stride
	MOVQ         56(DI), CX  // tiles
	TESTQ        CX, CX
	JZ           indone

intile:
	XORQ BX, BX

ingroup:
	GROUPMASK
	MOVQ BX, AX
	SHLQ $6, AX
	LEAQ (SI)(AX*1), R13 // the group's channels in the window's first row
	MOVQ 16(DI), R14     // tmp

	// Pass 1: each window row i, combined across its columns, into
	// tmp[6i .. 6i+5].
	MOVQ $6, DX

inrow:
	LOAD6(R13, R10)
	BT6
	VMOVUPS Z6, 0(R14)
	VMOVUPS Z7, 64(R14)
	VMOVUPS Z8, 128(R14)
	VMOVUPS Z9, 192(R14)
	VMOVUPS Z10, 256(R14)
	VMOVUPS Z11, 320(R14)
	ADDQ    R9, R13
	ADDQ    $384, R14
	DECQ    DX
	JNZ     inrow

	// Pass 2: each column k of tmp, combined across the rows, into
	// planes 6r + k.
	MOVQ 16(DI), R14
	LEAQ (R8)(AX*1), R13 // dst of the group, plane 0
	MOVQ 40(DI), AX      // plane stride
	MOVQ AX, R12
	IMULQ $6, R12        // six planes: from row r to r+1 of ξ
	MOVQ $6, DX

incol:
	VMOVUPS 0(R14), Z0
	VMOVUPS 384(R14), Z1
	VMOVUPS 768(R14), Z2
	VMOVUPS 1152(R14), Z3
	VMOVUPS 1536(R14), Z4
	VMOVUPS 1920(R14), Z5
	BT6
	STORE6(R13, R12)
	ADDQ    AX, R13
	ADDQ    $64, R14
	DECQ    DX
	JNZ     incol

	INCQ BX
	CMPQ BX, 64(DI)
	JNE  ingroup

	LEAQ (SI)(R10*4), SI // the next tile: 4 pixels on
	ADDQ 48(DI), R8      // its row of the planes
	DECQ CX
	JNZ  intile

indone:
	VZEROUPPER
	RET

// func winoOutputAVX512(p *winoArgs)
// For each of p.tiles tiles (src advancing one tile row of the planes, dst
// 4 pixels) and each channel group: Y = Aᵀ·M·A of the 36 planes at src
// (p.plane bytes apart), the 4×4 outputs written to dst (rows p.ld bytes
// apart, pixels p.pix), or added to what is there when p.acc is set.
TEXT ·winoOutputAVX512(SB), NOSPLIT, $0-8
	MOVQ         p+0(FP), DI
	VBROADCASTSS winoC4<>(SB), Z20
	VBROADCASTSS winoC2<>(SB), Z23
	VBROADCASTSS winoC8<>(SB), Z24
	MOVQ         0(DI), SI   // src of the tile (plane 0)
	MOVQ         8(DI), R8   // dst of the tile
	MOVQ         24(DI), R9  // row stride
	MOVQ         32(DI), R10 // pixel stride
	MOVQ         56(DI), CX  // tiles
	TESTQ        CX, CX
	JZ           outdone

outtile:
	XORQ BX, BX

outgroup:
	GROUPMASK
	MOVQ BX, AX
	SHLQ $6, AX
	LEAQ (SI)(AX*1), R13 // plane 0 of the group
	MOVQ 40(DI), R12
	MOVQ R12, DX
	IMULQ $6, DX         // from plane 6i+k to 6(i+1)+k
	MOVQ 16(DI), R14

	// Pass 1: each column k, combined across the rows i of planes 6i+k,
	// into tmp[6r + k] for r < 4.
	MOVQ $6, R15

outcol:
	LOAD6(R13, DX)
	AT6
	VMOVUPS Z6, 0(R14)
	VMOVUPS Z7, 384(R14)
	VMOVUPS Z8, 768(R14)
	VMOVUPS Z9, 1152(R14)
	ADDQ    R12, R13
	ADDQ    $64, R14
	DECQ    R15
	JNZ     outcol

	// Pass 2: each row r of tmp, combined across its columns, into the
	// output pixels (r, 0..3).
	MOVQ 16(DI), R14
	LEAQ (R8)(AX*1), R13
	MOVQ $4, DX

outrow:
	VMOVUPS 0(R14), Z0
	VMOVUPS 64(R14), Z1
	VMOVUPS 128(R14), Z2
	VMOVUPS 192(R14), Z3
	VMOVUPS 256(R14), Z4
	VMOVUPS 320(R14), Z5
	AT6
	MOVQ    R13, R11
	CMPQ    80(DI), $0
	JEQ     outstore
	VMOVUPS.Z (R11), K1, Z0
	VADDPS    Z0, Z6, Z6
	ADDQ      R10, R11
	VMOVUPS.Z (R11), K1, Z0
	VADDPS    Z0, Z7, Z7
	ADDQ      R10, R11
	VMOVUPS.Z (R11), K1, Z0
	VADDPS    Z0, Z8, Z8
	ADDQ      R10, R11
	VMOVUPS.Z (R11), K1, Z0
	VADDPS    Z0, Z9, Z9
	MOVQ      R13, R11

outstore:
	VMOVUPS Z6, K1, (R11)
	ADDQ    R10, R11
	VMOVUPS Z7, K1, (R11)
	ADDQ    R10, R11
	VMOVUPS Z8, K1, (R11)
	ADDQ    R10, R11
	VMOVUPS Z9, K1, (R11)
	ADDQ    R9, R13
	ADDQ    $384, R14
	DECQ    DX
	JNZ     outrow

	INCQ BX
	CMPQ BX, 64(DI)
	JNE  outgroup

	ADDQ 48(DI), SI      // the next tile's row of the planes
	LEAQ (R8)(R10*4), R8 // 4 pixels on
	DECQ CX
	JNZ  outtile

outdone:
	VZEROUPPER
	RET

DATA winoQ4<>+0(SB)/4, $0.25
DATA winoQ6<>+0(SB)/4, $-0.16666666666666666
DATA winoQ12<>+0(SB)/4, $0.08333333333333333
DATA winoQ24<>+0(SB)/4, $0.041666666666666664
DATA winoP6<>+0(SB)/4, $0.16666666666666666
GLOBL winoQ4<>(SB), RODATA|NOPTR, $4
GLOBL winoQ6<>(SB), RODATA|NOPTR, $4
GLOBL winoQ12<>(SB), RODATA|NOPTR, $4
GLOBL winoQ24<>(SB), RODATA|NOPTR, $4
GLOBL winoP6<>(SB), RODATA|NOPTR, $4

// G3 is the 1-D kernel transform h = G·g of Z0..Z2 into Z6..Z11
// (constants Z25 = 1/4, Z26 = −1/6, Z27 = 1/12, Z28 = 1/24, Z29 = 1/6;
// Z12..Z15 are clobbered):
//
//	h0 = g0/4                h3 = (g0/24 + g2/6) + g1/12
//	h1 = −((g0 + g2) + g1)/6  h4 = (g0/24 + g2/6) − g1/12
//	h2 = −((g0 + g2) − g1)/6  h5 = g2
#define G3 \
	VMULPS      Z25, Z0, Z6; \
	VADDPS      Z2, Z0, Z12; \
	VADDPS      Z1, Z12, Z13; VMULPS Z26, Z13, Z7; \
	VSUBPS      Z1, Z12, Z13; VMULPS Z26, Z13, Z8; \
	VMULPS      Z28, Z0, Z14; VFMADD231PS Z29, Z2, Z14; \
	VMULPS      Z27, Z1, Z15; \
	VADDPS      Z15, Z14, Z9; VSUBPS Z15, Z14, Z10; \
	VMOVAPS     Z2, Z11

// func winoWeightsAVX512(p *winoArgs)
// U = G·g·Gᵀ for each input channel (p.tiles of them, src advancing
// p.tstep bytes and dst p.pix) and each group of 16 output channels: the
// 3×3 kernel at src (taps p.ld bytes apart, in HWIO order) into the 36
// planes at dst (p.plane bytes apart).
TEXT ·winoWeightsAVX512(SB), NOSPLIT, $0-8
	MOVQ         p+0(FP), DI
	VBROADCASTSS winoQ4<>(SB), Z25
	VBROADCASTSS winoQ6<>(SB), Z26
	VBROADCASTSS winoQ12<>(SB), Z27
	VBROADCASTSS winoQ24<>(SB), Z28
	VBROADCASTSS winoP6<>(SB), Z29
	MOVQ         0(DI), SI  // the input channel's taps
	MOVQ         8(DI), R8  // its row of the planes
	MOVQ         24(DI), R9 // bytes between taps
	MOVQ         56(DI), CX // input channels
	TESTQ        CX, CX
	JZ           wdone

wchan:
	XORQ BX, BX

wgroup:
	GROUPMASK
	MOVQ BX, AX
	SHLQ $6, AX
	LEAQ (SI)(AX*1), R13 // tap (0, 0) of the group
	MOVQ 16(DI), R14

	// Pass 1: each kernel column kw (taps kw, 3+kw, 6+kw) into
	// tmp[6i + kw], i < 6.
	MOVQ R9, R10
	IMULQ $3, R10 // from kernel row kh to kh+1
	MOVQ $3, DX

wcol:
	MOVQ      R13, R11
	VMOVUPS.Z (R11), K1, Z0
	ADDQ      R10, R11
	VMOVUPS.Z (R11), K1, Z1
	ADDQ      R10, R11
	VMOVUPS.Z (R11), K1, Z2
	G3
	VMOVUPS   Z6, 0(R14)
	VMOVUPS   Z7, 384(R14)
	VMOVUPS   Z8, 768(R14)
	VMOVUPS   Z9, 1152(R14)
	VMOVUPS   Z10, 1536(R14)
	VMOVUPS   Z11, 1920(R14)
	ADDQ      R9, R13
	ADDQ      $64, R14
	DECQ      DX
	JNZ       wcol

	// Pass 2: each row i of tmp (3 values) into planes 6i .. 6i+5.
	MOVQ 16(DI), R14
	LEAQ (R8)(AX*1), R13
	MOVQ 40(DI), R12 // plane stride
	MOVQ $6, DX

wrow:
	VMOVUPS 0(R14), Z0
	VMOVUPS 64(R14), Z1
	VMOVUPS 128(R14), Z2
	G3
	MOVQ    R12, R10
	STORE6(R13, R10)
	MOVQ    R12, R10
	IMULQ   $6, R10
	ADDQ    R10, R13
	ADDQ    $384, R14
	DECQ    DX
	JNZ     wrow

	INCQ BX
	CMPQ BX, 64(DI)
	JNE  wgroup

	ADDQ 48(DI), SI
	ADDQ 32(DI), R8
	DECQ CX
	JNZ  wchan

wdone:
	VZEROUPPER
	RET
