// Command gen writes the amd64 assembly SGEMM micro-kernels of package
// kernels (gemm_amd64.s) and their Go declarations (gemm_kernels_amd64.go).
//
// Run it with `go generate` in internal/kernels, or
//
//	go run ./gen -o .
//
// Each kernel computes one column panel of C, NV vectors wide (16 floats per
// vector for AVX-512, 8 for AVX2), for `tiles` consecutive tiles of MR rows:
// for every tile it zeroes MR×NV accumulator registers, runs the whole K loop
// (unrolled four times), and then stores the accumulators to C or adds them
// to it. There is one kernel per (MR, NV) so that remainder rows get an
// exact kernel; the Go driver calls them through the generated gemm*Call
// switches (direct calls, so the argument block stays on the stack).
// Each instruction set has a plain kernel (A [m×k] read in place, row by
// row) and a TA kernel (A stored [k×m], the weight-gradient product).
//
// Register use (all kernels):
//
//	R13        *gemmArgs (see gemm_amd64.go for the field offsets)
//	AX,BX,CX,DX A row pointers for rows 0-3, 4-7, 8-11, 12-15 of the tile
//	           (transposed A: AX alone, rows are displacements)
//	SI, DI     lda and 3·lda in bytes
//	R8, R9     B row pointer and ldb in bytes
//	R10        K counter
//	R11        C row pointer
//	R12        prefetch pointer into the next tile of A
//	R14        segment counter
//
// The kernels run K as `segs` segments of k steps each (SgemmSeg,
// SgemmTASeg): B's rows continue from one segment to the next, while at
// each boundary the A row pointers (and the prefetch pointer) jump
// `segskip` bytes. So a convolution's kernel rows are summed in one call
// with the accumulators kept in registers, and its weight gradient skips
// the padded columns between the output rows of a block. With segs = 1 this
// is a plain GEMM.
//
// AVX-512: accumulators Z0-Z23, B vectors Z28-Z31, the A element is a
// {1to16} memory broadcast folded into VFMADD231PS; the last vector of the
// panel is loaded and stored under mask K1 so any N works without packing.
// AVX-512 "512y": the same on 8-float YMM registers (AVX-512VL), used for
// products at most 8 columns wide.
// AVX2: accumulators Y0-Y11, B vectors Y12-Y14, broadcasts in Y13-Y15; the
// driver pads B to a multiple of 8 columns when a full-width load of its
// last row would leave the slice, and the last vector of C is read and
// written with VMASKMOVPS when the panel is ragged.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"path/filepath"
)

// Field offsets of gemmArgs (must match gemm_amd64.go).
const (
	offA     = 0
	offB     = 8
	offC     = 16
	offLda   = 24
	offLdb   = 32
	offLdc   = 40
	offK     = 48
	offTiles = 56
	offKmask = 64
	offAcc   = 72
	offAstep = 80
	offEdge  = 88
	offYmask = 96
	offPf    = 128
	offSegs  = 136
	offSkip  = 144
)

// MR (rows per tile) by NV (vectors per panel).
var (
	mr512  = [5]int{0, 16, 12, 8, 6}
	mr512y = [2]int{0, 16}
	mrAVX2 = [4]int{0, 12, 6, 4}
)

const unroll = 4

type gen struct {
	s bytes.Buffer
	// tail is emitted after the function's RET: the out-of-line segment
	// boundary code, so that the common single-segment path falls through.
	tail []string
}

func (g *gen) p(format string, args ...any) {
	fmt.Fprintf(&g.s, "\t"+format+"\n", args...)
}

func (g *gen) label(l string) { fmt.Fprintf(&g.s, "%s:\n", l) }

var bases = [4]string{"AX", "BX", "CX", "DX"}

// aAddr is the address of A element (row r of the tile, k step u of the
// unrolled group).
func aAddr(r, u int, ta bool) string {
	if ta {
		// A stored [k×m]: row r of C is column r of the stored matrix.
		d := r * 4
		switch u {
		case 0:
			return fmt.Sprintf("%d(AX)", d)
		case 1:
			return fmt.Sprintf("%d(AX)(SI*1)", d)
		case 2:
			return fmt.Sprintf("%d(AX)(SI*2)", d)
		default:
			return fmt.Sprintf("%d(AX)(DI*1)", d)
		}
	}
	b := bases[r/4]
	d := u * 4
	switch r % 4 {
	case 0:
		return fmt.Sprintf("%d(%s)", d, b)
	case 1:
		return fmt.Sprintf("%d(%s)(SI*1)", d, b)
	case 2:
		return fmt.Sprintf("%d(%s)(SI*2)", d, b)
	default:
		return fmt.Sprintf("%d(%s)(DI*1)", d, b)
	}
}

func name(isa string, ta bool, mr, nv int) string {
	t := ""
	if ta {
		t = "TA"
	}
	return fmt.Sprintf("gemm%s%s_%dx%d", isa, t, mr, nv)
}

// prologue loads the strides and sets up the tile loop.
func (g *gen) prologue(fn string, mr int, ta bool) {
	fmt.Fprintf(&g.s, "// func %s(p *gemmArgs)\n", fn)
	fmt.Fprintf(&g.s, "TEXT ·%s(SB), NOSPLIT, $0-8\n", fn)
	g.p("MOVQ p+0(FP), R13")
	g.p("MOVQ %d(R13), SI", offLda)
	g.p("LEAQ (SI)(SI*2), DI")
	g.p("MOVQ %d(R13), R9", offLdb)
	g.p("MOVQ %d(R13), AX", offA)
	g.p("MOVQ %d(R13), R11", offC)
}

// tileStart sets the A row bases and the B pointer for a tile.
func (g *gen) tileStart(mr int, ta bool) {
	g.label("tile")
	if !ta {
		for i := 1; i*4 < mr; i++ {
			g.p("LEAQ (%s)(SI*4), %s", bases[i-1], bases[i])
		}
	}
	g.p("MOVQ %d(R13), R8", offB)
	if !ta {
		// R12 walks the next tile's rows of A, prefetching them while this
		// tile computes (A is read in place and would otherwise come late
		// from L3 or memory in MR interleaved streams).
		g.p("MOVQ %d(R13), R12", offPf)
		g.p("ADDQ AX, R12")
	}
}

// kLoop emits the unrolled K loop around step(u), which emits one k step
// with A displacement for unrolled position u (u = 0 in the remainder loop),
// wrapped in the segment loop (see the package comment).
func (g *gen) kLoop(ta bool, mr int, step func(u int)) {
	g.p("MOVQ %d(R13), R14", offSegs)
	g.label("seg")
	g.p("MOVQ %d(R13), R10", offK)
	g.p("CMPQ R10, $%d", unroll)
	g.p("JLT rem")
	g.label("loop4")
	for u := 0; u < unroll; u++ {
		step(u)
		if !ta && u == 0 {
			// One unrolled group consumes 16 bytes of each of the MR rows:
			// prefetch as many bytes of the next tile.
			npf := (mr + 3) / 4
			for i := 0; i < npf; i++ {
				g.p("PREFETCHT0 %d(R12)", 64*i)
			}
			g.p("ADDQ $%d, R12", 64*npf)
		}
	}
	if ta {
		g.p("LEAQ (AX)(SI*4), AX")
	} else {
		for i := 0; i*4 < mr; i++ {
			g.p("ADDQ $%d, %s", 4*unroll, bases[i])
		}
	}
	g.p("SUBQ $%d, R10", unroll)
	g.p("CMPQ R10, $%d", unroll)
	g.p("JGE loop4")
	g.label("rem")
	g.p("TESTQ R10, R10")
	g.p("JEQ kdone")
	g.label("remloop")
	step(0)
	if ta {
		g.p("ADDQ SI, AX")
	} else {
		for i := 0; i*4 < mr; i++ {
			g.p("ADDQ $4, %s", bases[i])
		}
	}
	g.p("DECQ R10")
	g.p("JNE remloop")
	g.label("kdone")
	g.p("DECQ R14")
	g.p("JNE segnext")
	// Next segment: move the A rows (and the prefetch stream); B goes on.
	g.tail = append(g.tail, "segnext:")
	g.tail = append(g.tail, fmt.Sprintf("\tMOVQ %d(R13), R10", offSkip))
	if ta {
		g.tail = append(g.tail, "\tADDQ R10, AX")
	} else {
		for i := 0; i*4 < mr; i++ {
			g.tail = append(g.tail, fmt.Sprintf("\tADDQ R10, %s", bases[i]))
		}
		g.tail = append(g.tail, "\tADDQ R10, R12")
	}
	g.tail = append(g.tail, "\tJMP seg")
}

func (g *gen) epilogue() {
	g.label("next")
	g.p("ADDQ %d(R13), AX", offAstep)
	g.p("DECQ %d(R13)", offTiles)
	g.p("JNE tile")
	g.p("VZEROUPPER")
	g.p("RET")
	for _, l := range g.tail {
		g.s.WriteString(l + "\n")
	}
	g.tail = g.tail[:0]
	g.s.WriteString("\n")
}

func kernel512(g *gen, mr, nv int, ta bool) string { return kernelEVEX(g, mr, nv, ta, false) }

// kernel512y is the AVX-512VL kernel on 8-float YMM vectors, for panels at
// most 8 columns wide, where a ZMM kernel would waste half its lanes (YMM
// FMAs run at the same rate as ZMM ones on Zen 4).
func kernel512y(g *gen, mr, nv int, ta bool) string { return kernelEVEX(g, mr, nv, ta, true) }

func kernelEVEX(g *gen, mr, nv int, ta, ymm bool) string {
	isa, reg, vb := "512", "Z", 64
	if ymm {
		isa, reg, vb = "512y", "Y", 32
	}
	fn := name(isa, ta, mr, nv)
	g.prologue(fn, mr, ta)
	g.p("KMOVW %d(R13), K1", offKmask)
	g.tileStart(mr, ta)
	acc := func(r, v int) string { return fmt.Sprintf("%s%d", reg, r*nv+v) }
	bv := func(v int) string { return fmt.Sprintf("%s%d", reg, 28+v) }
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			g.p("VPXORD %s, %s, %s", acc(r, v), acc(r, v), acc(r, v))
		}
	}
	g.kLoop(ta, mr, func(u int) {
		for v := 0; v < nv; v++ {
			if v == nv-1 {
				g.p("VMOVUPS.Z %d(R8), K1, %s", v*vb, bv(v))
			} else {
				g.p("VMOVUPS %d(R8), %s", v*vb, bv(v))
			}
		}
		for r := 0; r < mr; r++ {
			for v := 0; v < nv; v++ {
				g.p("VFMADD231PS.BCST %s, %s, %s", aAddr(r, u, ta), bv(v), acc(r, v))
			}
		}
		g.p("ADDQ R9, R8")
	})
	g.p("CMPQ %d(R13), $0", offAcc)
	g.p("JEQ store")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			if v == nv-1 {
				g.p("VADDPS.Z %d(R11), %s, K1, %s", v*vb, acc(r, v), acc(r, v))
				g.p("VMOVUPS %s, K1, %d(R11)", acc(r, v), v*vb)
			} else {
				g.p("VADDPS %d(R11), %s, %s", v*vb, acc(r, v), acc(r, v))
				g.p("VMOVUPS %s, %d(R11)", acc(r, v), v*vb)
			}
		}
		g.p("ADDQ %d(R13), R11", offLdc)
	}
	g.p("JMP next")
	g.label("store")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			if v == nv-1 {
				g.p("VMOVUPS %s, K1, %d(R11)", acc(r, v), v*vb)
			} else {
				g.p("VMOVUPS %s, %d(R11)", acc(r, v), v*vb)
			}
		}
		g.p("ADDQ %d(R13), R11", offLdc)
	}
	g.epilogue()
	return fn
}

func kernelAVX2(g *gen, mr, nv int, ta bool) string {
	fn := name("AVX2", ta, mr, nv)
	g.prologue(fn, mr, ta)
	g.tileStart(mr, ta)
	acc := func(r, v int) string { return fmt.Sprintf("Y%d", r*nv+v) }
	bv := func(v int) string { return fmt.Sprintf("Y%d", 12+v) }
	// Broadcast registers: those not holding B, used round robin.
	var bc []string
	for i := 12 + nv; i < 16; i++ {
		bc = append(bc, fmt.Sprintf("Y%d", i))
	}
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			g.p("VXORPS %s, %s, %s", acc(r, v), acc(r, v), acc(r, v))
		}
	}
	g.kLoop(ta, mr, func(u int) {
		for v := 0; v < nv; v++ {
			g.p("VMOVUPS %d(R8), %s", v*32, bv(v))
		}
		for r := 0; r < mr; r++ {
			t := bc[r%len(bc)]
			g.p("VBROADCASTSS %s, %s", aAddr(r, u, ta), t)
			for v := 0; v < nv; v++ {
				g.p("VFMADD231PS %s, %s, %s", bv(v), t, acc(r, v))
			}
		}
		g.p("ADDQ R9, R8")
	})
	store := func(masked, add bool) {
		for r := 0; r < mr; r++ {
			for v := 0; v < nv; v++ {
				a := acc(r, v)
				if masked && v == nv-1 {
					if add {
						g.p("VMASKMOVPS %d(R11), Y12, Y13", v*32)
						g.p("VADDPS Y13, %s, %s", a, a)
					}
					g.p("VMASKMOVPS %s, Y12, %d(R11)", a, v*32)
					continue
				}
				if add {
					g.p("VADDPS %d(R11), %s, %s", v*32, a, a)
				}
				g.p("VMOVUPS %s, %d(R11)", a, v*32)
			}
			g.p("ADDQ %d(R13), R11", offLdc)
		}
		g.p("JMP next")
	}
	g.p("CMPQ %d(R13), $0", offEdge)
	g.p("JNE edge")
	g.p("CMPQ %d(R13), $0", offAcc)
	g.p("JEQ store")
	store(false, true)
	g.label("store")
	store(false, false)
	g.label("edge")
	g.p("VMOVDQU %d(R13), Y12", offYmask)
	g.p("CMPQ %d(R13), $0", offAcc)
	g.p("JEQ estore")
	store(true, true)
	g.label("estore")
	store(true, false)
	g.epilogue()
	return fn
}

func main() {
	out := flag.String("o", ".", "output directory (internal/kernels)")
	flag.Parse()

	var asm gen
	asm.s.WriteString("// Code generated by gen/main.go; DO NOT EDIT.\n\n//go:build amd64 && !purego\n\n#include \"textflag.h\"\n\n")
	var decl bytes.Buffer
	decl.WriteString("// Code generated by gen/main.go; DO NOT EDIT.\n\n//go:build amd64 && !purego\n\npackage kernels\n\n")

	// Dispatchers: direct calls (not func values) so that the argument
	// block, marked noescape, can stay on the caller's stack.
	dispatch := func(fname, isa string, mrs []int, emit func(g *gen, mr, nv int, ta bool) string) {
		fmt.Fprintf(&decl, "// %s calls the %s kernel for tiles of mr rows × nv vectors\n// (transposed A when ta).\n", fname, isa)
		fmt.Fprintf(&decl, "func %s(ta bool, nv, mr int, p *gemmArgs) {\n", fname)
		for _, ta := range []bool{false, true} {
			fmt.Fprintf(&decl, "if ta == %v {\nswitch nv<<5 | mr {\n", ta)
			for nv := 1; nv < len(mrs); nv++ {
				for mr := 1; mr <= mrs[nv]; mr++ {
					fn := emit(&asm, mr, nv, ta)
					fmt.Fprintf(&decl, "case %d<<5 | %d:\n%s(p)\nreturn\n", nv, mr, fn)
				}
			}
			decl.WriteString("}\n}\n")
		}
		decl.WriteString("panic(\"kernels: no such gemm kernel\")\n}\n\n")
	}
	dispatch("gemm512Call", "AVX-512", mr512[:], kernel512)
	dispatch("gemm512yCall", "AVX-512VL YMM", mr512y[:], kernel512y)
	dispatch("gemmAVX2Call", "AVX2", mrAVX2[:], kernelAVX2)

	// Declarations.
	emitDecl := func(isa string, mrs []int, ta bool) {
		for nv := 1; nv < len(mrs); nv++ {
			for mr := 1; mr <= mrs[nv]; mr++ {
				fmt.Fprintf(&decl, "//go:noescape\nfunc %s(p *gemmArgs)\n\n", name(isa, ta, mr, nv))
			}
		}
	}
	emitDecl("512", mr512[:], false)
	emitDecl("512", mr512[:], true)
	emitDecl("512y", mr512y[:], false)
	emitDecl("512y", mr512y[:], true)
	emitDecl("AVX2", mrAVX2[:], false)
	emitDecl("AVX2", mrAVX2[:], true)

	src, err := format.Source(decl.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "gemm_amd64.s"), asm.s.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "gemm_kernels_amd64.go"), src, 0o644); err != nil {
		log.Fatal(err)
	}
}
