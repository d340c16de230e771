//go:build amd64 && !purego

#include "textflag.h"

DATA poolIdx<>+0(SB)/4, $0.0
DATA poolIdx<>+4(SB)/4, $1.0
DATA poolIdx<>+8(SB)/4, $2.0
DATA poolIdx<>+12(SB)/4, $3.0
GLOBL poolIdx<>(SB), RODATA|NOPTR, $16

// func maxPoolRowAVX512(x, y, arg *float32, ow, vecs, rowBytes int)
// One output row of 2x2 max pooling: x points at input row 2·oy, column 0
// (rowBytes = W·C·4 bytes to the next input row), y and arg at the output
// row; C = 16·vecs channels. For each output column and channel, y is the
// window's maximum and arg its position 0..3 (row-major), ties to the
// first, as MaxPool2x2 does.
TEXT ·maxPoolRowAVX512(SB), NOSPLIT, $0-48
	MOVQ         x+0(FP), SI
	MOVQ         y+8(FP), DI
	MOVQ         arg+16(FP), R8
	MOVQ         ow+24(FP), CX
	MOVQ         vecs+32(FP), DX
	MOVQ         rowBytes+40(FP), R9
	MOVQ         DX, R10
	SHLQ         $6, R10
	VBROADCASTSS poolIdx<>+0(SB), Z28
	VBROADCASTSS poolIdx<>+4(SB), Z29
	VBROADCASTSS poolIdx<>+8(SB), Z30
	VBROADCASTSS poolIdx<>+12(SB), Z31
	TESTQ        CX, CX
	JZ           mpdone

mpcol:
	LEAQ (SI)(R10*1), R11
	LEAQ (SI)(R9*1), R12
	LEAQ (R12)(R10*1), R13
	XORQ BX, BX
	MOVQ DX, AX

mpvec:
	VMOVUPS (SI)(BX*1), Z4
	VMOVAPS Z28, Z5
	VMOVUPS (R11)(BX*1), Z1
	VCMPPS  $14, Z4, Z1, K1
	VMOVAPS Z1, K1, Z4
	VMOVAPS Z29, K1, Z5
	VMOVUPS (R12)(BX*1), Z2
	VCMPPS  $14, Z4, Z2, K2
	VMOVAPS Z2, K2, Z4
	VMOVAPS Z30, K2, Z5
	VMOVUPS (R13)(BX*1), Z3
	VCMPPS  $14, Z4, Z3, K3
	VMOVAPS Z3, K3, Z4
	VMOVAPS Z31, K3, Z5
	VMOVUPS Z4, (DI)(BX*1)
	VMOVUPS Z5, (R8)(BX*1)
	ADDQ    $64, BX
	DECQ    AX
	JNZ     mpvec
	ADDQ    R10, SI
	ADDQ    R10, SI
	ADDQ    R10, DI
	ADDQ    R10, R8
	DECQ    CX
	JNZ     mpcol

mpdone:
	VZEROUPPER
	RET

// func maxPoolBackRowAVX512(dy, arg, dx *float32, ow, vecs, rowBytes int)
// Adds each dy of one output row to the input position its arg names.
TEXT ·maxPoolBackRowAVX512(SB), NOSPLIT, $0-48
	MOVQ         dy+0(FP), SI
	MOVQ         arg+8(FP), R8
	MOVQ         dx+16(FP), DI
	MOVQ         ow+24(FP), CX
	MOVQ         vecs+32(FP), DX
	MOVQ         rowBytes+40(FP), R9
	MOVQ         DX, R10
	SHLQ         $6, R10
	VBROADCASTSS poolIdx<>+0(SB), Z28
	VBROADCASTSS poolIdx<>+4(SB), Z29
	VBROADCASTSS poolIdx<>+8(SB), Z30
	VBROADCASTSS poolIdx<>+12(SB), Z31
	TESTQ        CX, CX
	JZ           mbdone

mbcol:
	LEAQ (DI)(R10*1), R11
	LEAQ (DI)(R9*1), R12
	LEAQ (R12)(R10*1), R13
	XORQ BX, BX
	MOVQ DX, AX

mbvec:
	VMOVUPS (SI)(BX*1), Z0
	VMOVUPS (R8)(BX*1), Z1
	VCMPPS  $0, Z28, Z1, K1
	VMOVUPS (DI)(BX*1), Z2
	VADDPS  Z0, Z2, K1, Z2
	VMOVUPS Z2, (DI)(BX*1)
	VCMPPS  $0, Z29, Z1, K1
	VMOVUPS (R11)(BX*1), Z2
	VADDPS  Z0, Z2, K1, Z2
	VMOVUPS Z2, (R11)(BX*1)
	VCMPPS  $0, Z30, Z1, K1
	VMOVUPS (R12)(BX*1), Z2
	VADDPS  Z0, Z2, K1, Z2
	VMOVUPS Z2, (R12)(BX*1)
	VCMPPS  $0, Z31, Z1, K1
	VMOVUPS (R13)(BX*1), Z2
	VADDPS  Z0, Z2, K1, Z2
	VMOVUPS Z2, (R13)(BX*1)
	ADDQ    $64, BX
	DECQ    AX
	JNZ     mbvec
	ADDQ    R10, SI
	ADDQ    R10, R8
	ADDQ    R10, DI
	ADDQ    R10, DI
	DECQ    CX
	JNZ     mbcol

mbdone:
	VZEROUPPER
	RET
