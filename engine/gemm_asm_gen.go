//go:build ignore

// gemm_asm_gen writes gemm_amd64.s, the x86-64 SIMD micro-kernels of the GEMM
// (gemm_simd_amd64.go declares them and says when each runs). Run it with
//
//	go generate ./engine/     (or: cd engine && go run gemm_asm_gen.go)
//
// Every kernel computes one mr×nr tile of C = Σ_p A[p]ᵀ·B[p] over kc steps of panels
// (A: kc groups of mr contiguous values, sa elements apart; B: kc groups of nr contiguous
// values, sb elements apart) and stores it into C (acc = 0) or adds it to C (acc ≠ 0),
// C's rows being ldc elements apart:
//
//	func name(kc int, a *T, sa int, b *T, sb int, c *T, ldc, acc int)
//
// Packed panels (gemm.go's packing) have sa = mr and sb = nr; a column-major A and a
// row-major B are read in place with sa and sb their leading dimensions.
//
// Each row of the tile is nr/lanes vector registers of accumulators. Per step p the
// kernel loads the B group into vector registers, then for each row broadcasts A's value
// and multiply-adds it into the row's accumulators (with one vector per row, AVX-512
// folds the broadcast into the FMA's memory operand). The accumulators never leave the
// registers during the k loop: 24 of AVX-512's 32 registers, 12 of AVX2's 16.
//
// Each kernel also has a "Rows" twin that reads A unpacked, as rows lda elements apart
// (A[r, p] = a[r·lda + p]), so that a row-major matrix needs no packing and a
// convolution's patches are gathered with contiguous copies (gemm.go, kernels_conv.go):
//
//	func nameRows(kc int, a *T, lda int, b *T, sb int, c *T, ldc, acc int)
//
// It addresses the rows in groups of three, one pointer register per group (row 3g+j at
// group g's pointer + j·lda, with lda in a register as the index), and is unrolled four
// times over k so that the group pointers advance once per four steps.
package main

import (
	"bytes"
	"fmt"
	"os"
)

type kernel struct {
	name    string
	f64     bool // float64 (else float32)
	avx512  bool // zmm registers (else ymm)
	rows    int  // mr
	vecs    int  // vector registers per row: nr = vecs·lanes
	comment string
}

func (k kernel) elem() int { // bytes per element
	if k.f64 {
		return 8
	}
	return 4
}

func (k kernel) vbytes() int { // bytes per vector register
	if k.avx512 {
		return 64
	}
	return 32
}

func (k kernel) lanes() int { return k.vbytes() / k.elem() }

func (k kernel) reg(i int) string {
	if k.avx512 {
		return fmt.Sprintf("Z%d", i)
	}
	return fmt.Sprintf("Y%d", i)
}

func (k kernel) suffix() string { // packed-single or packed-double mnemonics
	if k.f64 {
		return "PD"
	}
	return "PS"
}

func (k kernel) elemType() string {
	if k.f64 {
		return "float64"
	}
	return "float32"
}

func (k kernel) nr() int { return k.vecs * k.lanes() }

// shift is log2 of the element size: elements to bytes.
func (k kernel) shift() int {
	if k.f64 {
		return 3
	}
	return 2
}

// firstAcc is the first accumulator register: they are the last rows·vecs of the file.
func (k kernel) firstAcc() int {
	if k.avx512 {
		return 32 - k.rows*k.vecs
	}
	return 16 - k.rows*k.vecs
}

// acc names the accumulator of row r, vector v.
func (k kernel) acc(r, v int) string { return k.reg(k.firstAcc() + r*k.vecs + v) }

// embedded reports whether the A broadcast folds into the FMA's memory operand (AVX-512,
// one vector per row); otherwise A is broadcast into a temporary register.
func (k kernel) embedded() bool { return k.avx512 && k.vecs == 1 }

// emitter writes one instruction per call, tab-indented.
type emitter func(format string, args ...any)

// zeroAccs clears the accumulators.
func (k kernel) zeroAccs(p emitter) {
	for r := range k.rows {
		for v := range k.vecs {
			if k.avx512 {
				p("VPXORD %s, %s, %s", k.acc(r, v), k.acc(r, v), k.acc(r, v))
			} else {
				p("VXORP%s %s, %s, %s", k.suffix()[1:], k.acc(r, v), k.acc(r, v), k.acc(r, v))
			}
		}
	}
}

// step emits one k step: B's vectors loaded from bAddr(v) into registers 0…vecs−1, then
// for each row A's value at aAddr(r) broadcast and multiply-added into the row's
// accumulators (broadcast temporaries: registers vecs and vecs+1, alternating).
func (k kernel) step(p emitter, bAddr func(v int) string, aAddr func(r int) string) {
	for v := range k.vecs {
		p("VMOVUP%s %s, %s", k.suffix()[1:], bAddr(v), k.reg(v))
	}
	bc := "VBROADCASTSS"
	if k.f64 {
		bc = "VBROADCASTSD"
	}
	for r := range k.rows {
		if k.embedded() {
			p("VFMADD231%s.BCST %s, %s, %s", k.suffix(), aAddr(r), k.reg(0), k.acc(r, 0))
			continue
		}
		t := k.reg(k.vecs + r%2)
		p("%s %s, %s", bc, aAddr(r), t)
		for v := range k.vecs {
			p("VFMADD231%s %s, %s, %s", k.suffix(), k.reg(v), t, k.acc(r, v))
		}
	}
}

// storeTile emits the epilogue: with C in DI, its row stride in bytes in R8 and the acc
// flag in R9, add C's current values when acc ≠ 0, store the tile, return.
func (k kernel) storeTile(w *bytes.Buffer, p emitter) {
	p("TESTQ R9, R9")
	p("JZ store")
	p("MOVQ DI, R10")
	for r := range k.rows {
		for v := range k.vecs {
			p("VADD%s %d(R10), %s, %s", k.suffix(), v*k.vbytes(), k.acc(r, v), k.acc(r, v))
		}
		if r+1 < k.rows {
			p("ADDQ R8, R10")
		}
	}
	fmt.Fprintln(w, "store:")
	for r := range k.rows {
		for v := range k.vecs {
			p("VMOVUP%s %s, %d(DI)", k.suffix()[1:], k.acc(r, v), v*k.vbytes())
		}
		if r+1 < k.rows {
			p("ADDQ R8, DI")
		}
	}
	p("VZEROUPPER")
	p("RET")
}

var kernels = []kernel{
	{"gemmAVX512F32x12x32", false, true, 12, 2, "float32, 12×32 tile (AVX-512)"},
	{"gemmAVX512F32x24x16", false, true, 24, 1, "float32, 24×16 tile (AVX-512)"},
	{"gemmAVX512F64x12x16", true, true, 12, 2, "float64, 12×16 tile (AVX-512)"},
	{"gemmAVX512F64x24x8", true, true, 24, 1, "float64, 24×8 tile (AVX-512)"},
	{"gemmAVX2F32x6x16", false, false, 6, 2, "float32, 6×16 tile (AVX2+FMA)"},
	{"gemmAVX2F64x6x8", true, false, 6, 2, "float64, 6×8 tile (AVX2+FMA)"},
}

func main() {
	var w bytes.Buffer
	fmt.Fprintln(&w, "// Code generated by gemm_asm_gen.go; DO NOT EDIT.")
	fmt.Fprintln(&w)
	fmt.Fprintln(&w, "//go:build amd64 && !purego")
	fmt.Fprintln(&w)
	fmt.Fprintln(&w, `#include "textflag.h"`)
	for _, k := range kernels {
		generate(&w, k)
		generateRows(&w, k)
	}
	generateAddRows(&w, false)
	generateAddRows(&w, true)
	if err := os.WriteFile("gemm_amd64.s", w.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func generate(w *bytes.Buffer, k kernel) {
	p := emitter(func(format string, args ...any) { fmt.Fprintf(w, "\t"+format+"\n", args...) })
	if !k.embedded() && k.vecs+2 > k.firstAcc() {
		panic(k.name + ": not enough registers") // B vectors and two broadcast temporaries
	}
	fmt.Fprintf(w, "\n// func %s(kc int, a *%s, sa int, b *%s, sb int, c *%s, ldc, acc int)\n", k.name, k.elemType(), k.elemType(), k.elemType())
	fmt.Fprintf(w, "// %s: C[%d×%d] (+)= Σ_p a[p·sa : p·sa+%d]ᵀ · b[p·sb : p·sb+%d].\n", k.comment, k.rows, k.nr(), k.rows, k.nr())
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-64\n", k.name)
	p("MOVQ kc+0(FP), CX")
	p("MOVQ a+8(FP), SI")
	p("MOVQ sa+16(FP), R11")
	p("MOVQ b+24(FP), BX")
	p("MOVQ sb+32(FP), R12")
	p("MOVQ c+40(FP), DI")
	p("MOVQ ldc+48(FP), R8")
	p("MOVQ acc+56(FP), R9")
	p("SHLQ $%d, R11", k.shift())
	p("SHLQ $%d, R12", k.shift())
	p("SHLQ $%d, R8", k.shift())
	k.zeroAccs(p)
	fmt.Fprintln(w, "loop:")
	k.step(p,
		func(v int) string { return fmt.Sprintf("%d(BX)", v*k.vbytes()) },
		func(r int) string { return fmt.Sprintf("%d(SI)", r*k.elem()) })
	p("ADDQ R11, SI")
	p("ADDQ R12, BX")
	p("DECQ CX")
	p("JNZ loop")
	k.storeTile(w, p)
}

// generateRows writes the Rows twin of kernel k (A read as rows lda apart).
func generateRows(w *bytes.Buffer, k kernel) {
	p := emitter(func(format string, args ...any) { fmt.Fprintf(w, "\t"+format+"\n", args...) })
	groupRegs := []string{"SI", "R8", "R9", "R10", "R11", "R12", "R13", "R14"}
	groups := (k.rows + 2) / 3
	if groups > len(groupRegs) {
		panic(k.name + ": too many row groups")
	}
	const unroll = 4
	name := k.name + "Rows"
	fmt.Fprintf(w, "\n// func %s(kc int, a *%s, lda int, b *%s, sb int, c *%s, ldc, acc int)\n", name, k.elemType(), k.elemType(), k.elemType())
	fmt.Fprintf(w, "// %s, A read as rows lda elements apart: C[%d×%d] (+)= Σ_p a[r·lda + p]·b[p·sb + q].\n", k.comment, k.rows, k.nr())
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-64\n", name)
	p("MOVQ kc+0(FP), CX")
	p("MOVQ a+8(FP), SI")
	p("MOVQ lda+16(FP), DX")
	p("SHLQ $%d, DX", k.shift())
	p("MOVQ b+24(FP), BX")
	p("MOVQ sb+32(FP), DI")
	p("SHLQ $%d, DI", k.shift())
	p("LEAQ (DX)(DX*2), AX") // 3·lda bytes: the distance between groups
	for g := 1; g < groups; g++ {
		p("LEAQ (%s)(AX*1), %s", groupRegs[g-1], groupRegs[g])
	}
	p("LEAQ (DI)(DI*2), AX") // 3·sb bytes: B's fourth step in the unrolled loop
	k.zeroAccs(p)
	// Step u of an unrolled group: A at byte displacement u·elem from the group pointers
	// (row 3g+j at group g's pointer + j·lda), B at BX + u·sb (sb, 2·sb and 3·sb from DI
	// and AX).
	bIndex := []string{"", "(DI*1)", "(DI*2)", "(AX*1)"}
	aIndex := []string{"", "(DX*1)", "(DX*2)"}
	step := func(u int) {
		k.step(p,
			func(v int) string { return fmt.Sprintf("%d(BX)%s", v*k.vbytes(), bIndex[u]) },
			func(r int) string { return fmt.Sprintf("%d(%s)%s", u*k.elem(), groupRegs[r/3], aIndex[r%3]) })
	}
	advance := func(steps int) {
		for g := range groups {
			p("ADDQ $%d, %s", steps*k.elem(), groupRegs[g])
		}
		if steps == 4 {
			p("LEAQ (BX)(DI*4), BX")
		} else {
			p("ADDQ DI, BX")
		}
	}
	p("CMPQ CX, $%d", unroll)
	p("JLT tail")
	fmt.Fprintln(w, "loop4:")
	for u := range unroll {
		step(u)
	}
	advance(unroll)
	p("SUBQ $%d, CX", unroll)
	p("CMPQ CX, $%d", unroll)
	p("JGE loop4")
	fmt.Fprintln(w, "tail:")
	p("TESTQ CX, CX")
	p("JZ done")
	fmt.Fprintln(w, "loop1:")
	step(0)
	advance(1)
	p("DECQ CX")
	p("JNZ loop1")
	fmt.Fprintln(w, "done:")
	p("MOVQ c+40(FP), DI")
	p("MOVQ ldc+48(FP), R8")
	p("MOVQ acc+56(FP), R9")
	p("SHLQ $%d, R8", k.shift())
	k.storeTile(w, p)
}

// generateAddRows writes addRowsAVXF32 / addRowsAVXF64, the vector adds of the
// convolutions' col2im (kernels_conv.go, addrows_amd64.go):
//
//	func addRowsAVXF32(rows int, dst *float32, ldd int, src *float32, lds int, groups int)
//
// dst[r·ldd + j] += src[r·lds + j] for r < rows and j < groups·(32 bytes / element);
// AVX (VEX-encoded 256-bit) instructions only.
func generateAddRows(w *bytes.Buffer, f64 bool) {
	p := func(format string, args ...any) { fmt.Fprintf(w, "\t"+format+"\n", args...) }
	name, elemT, sfx, shift, lanes := "addRowsAVXF32", "float32", "PS", 2, 8
	if f64 {
		name, elemT, sfx, shift, lanes = "addRowsAVXF64", "float64", "PD", 3, 4
	}
	fmt.Fprintf(w, "\n// func %s(rows int, dst *%s, ldd int, src *%s, lds int, groups int)\n", name, elemT, elemT)
	fmt.Fprintf(w, "// dst[r·ldd + j] += src[r·lds + j] for r < rows, j < %d·groups.\n", lanes)
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-48\n", name)
	p("MOVQ rows+0(FP), CX")
	p("MOVQ dst+8(FP), DI")
	p("MOVQ ldd+16(FP), R8")
	p("MOVQ src+24(FP), SI")
	p("MOVQ lds+32(FP), R9")
	p("MOVQ groups+40(FP), DX")
	p("SHLQ $%d, R8", shift)
	p("SHLQ $%d, R9", shift)
	p("TESTQ CX, CX")
	p("JLE done")
	p("TESTQ DX, DX")
	p("JLE done")
	fmt.Fprintln(w, "rowloop:")
	p("MOVQ DI, R10")
	p("MOVQ SI, R11")
	p("MOVQ DX, BX")
	fmt.Fprintln(w, "grouploop:")
	p("VMOVUP%s (R11), Y0", sfx[1:])
	p("VADD%s (R10), Y0, Y0", sfx)
	p("VMOVUP%s Y0, (R10)", sfx[1:])
	p("ADDQ $32, R10")
	p("ADDQ $32, R11")
	p("DECQ BX")
	p("JNZ grouploop")
	p("ADDQ R8, DI")
	p("ADDQ R9, SI")
	p("DECQ CX")
	p("JNZ rowloop")
	fmt.Fprintln(w, "done:")
	p("VZEROUPPER")
	p("RET")
}
