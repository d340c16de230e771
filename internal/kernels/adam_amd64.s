//go:build amd64 && !purego

#include "textflag.h"

// func adamAVX512(w, grad, m, v *float32, n int, c *[7]float32)
// c = {beta1, 1-beta1, beta2, 1-beta2, alpha, eps, 1-lr·wd}; n is a multiple of 16.
// The operation order matches adamGeneric exactly (no FMA).
TEXT ·adamAVX512(SB), NOSPLIT, $0-48
	MOVQ         w+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         m+16(FP), R8
	MOVQ         v+24(FP), R9
	MOVQ         n+32(FP), CX
	MOVQ         c+40(FP), AX
	VBROADCASTSS 0(AX), Z20
	VBROADCASTSS 4(AX), Z21
	VBROADCASTSS 8(AX), Z22
	VBROADCASTSS 12(AX), Z23
	VBROADCASTSS 16(AX), Z24
	VBROADCASTSS 20(AX), Z25
	VBROADCASTSS 24(AX), Z26
	SHRQ         $4, CX
	TESTQ        CX, CX
	JZ           adone

aloop:
	VMOVUPS (SI), Z0
	VMULPS  (R8), Z20, Z1
	VMULPS  Z0, Z21, Z2
	VADDPS  Z2, Z1, Z1
	VMULPS  (R9), Z22, Z3
	VMULPS  Z0, Z23, Z4
	VMULPS  Z0, Z4, Z4
	VADDPS  Z4, Z3, Z3
	VMOVUPS Z1, (R8)
	VMOVUPS Z3, (R9)
	VSQRTPS Z3, Z5
	VADDPS  Z25, Z5, Z5
	VMULPS  Z1, Z24, Z6
	VDIVPS  Z5, Z6, Z6
	VMULPS  (DI), Z26, Z7
	VSUBPS  Z6, Z7, Z7
	VMOVUPS Z7, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	ADDQ    $64, R8
	ADDQ    $64, R9
	DECQ    CX
	JNZ     aloop

adone:
	VZEROUPPER
	RET
