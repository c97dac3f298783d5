package engine

import (
	"unsafe"

	"github.com/gomlx/gomlx/backends"
)

// Dispatch of the float32 elementwise loops to the AVX2 kernels of vec_amd64.s (see
// vec_asm_gen.go). Each wrapper does the longest prefix that is a multiple of 8 elements
// and returns its length; the caller's Go loop does the rest (and everything when the
// kernels are unavailable or off). The kernels compute each element with the same IEEE
// operation as the Go loops, so results do not depend on which ran.

// vecOn switches the kernels (tests compare both paths).
var vecOn = vecSupported

// f32Data reinterprets the data of a slice of 4-byte elements (float32, or uint32 bit
// patterns) as a *float32; ok is false for other element sizes.
func f32Data[T any](s []T) (p *float32, ok bool) {
	var zero T
	if unsafe.Sizeof(zero) != 4 {
		return nil, false
	}
	return (*float32)(unsafe.Pointer(unsafe.SliceData(s))), true
}

// vecBinary computes a prefix of dst = a op b (op Add, Sub, Mul or Div; a and b at
// least as long as dst) and returns its length.
func vecBinary[T float](op binaryOp, dst, a, b []T) int {
	n := len(dst) &^ 7
	if !vecOn || n == 0 || int(op) >= len(vecBinaryKernels) || len(a) < n || len(b) < n {
		return 0
	}
	d, ok := f32Data(dst)
	if !ok {
		return 0
	}
	x, _ := f32Data(a)
	y, _ := f32Data(b)
	vecBinaryKernels[op](d, x, y, n)
	return n
}

// vecSelect computes a prefix of o = cond ? t : f on float32 bit patterns, t and f each
// of cond's length or a single value, and returns its length.
func vecSelect[U uint32 | uint64](cond []bool, t, f, o []U) int {
	n := len(cond) &^ 7
	if !vecOn || n == 0 || len(o) < n {
		return 0
	}
	od, ok := f32Data(o)
	if !ok {
		return 0
	}
	td, _ := f32Data(t)
	fd, _ := f32Data(f)
	switch {
	case len(t) >= n && len(f) >= n:
		vecSelectKernels[0](&cond[0], td, fd, od, n)
	case len(t) == 1 && len(f) >= n:
		vecSelectKernels[1](&cond[0], td, fd, od, n)
	case len(f) == 1 && len(t) >= n:
		vecSelectKernels[2](&cond[0], td, fd, od, n)
	default:
		return 0
	}
	return n
}

// swappedCompare gives, for each comparison, the one that holds with its operands
// swapped (a op b ⇔ b swapped a, NaNs included).
var swappedCompare = map[backends.OpType]backends.OpType{
	backends.OpTypeGreaterOrEqual: backends.OpTypeLessOrEqual, backends.OpTypeLessOrEqual: backends.OpTypeGreaterOrEqual,
	backends.OpTypeGreaterThan: backends.OpTypeLessThan, backends.OpTypeLessThan: backends.OpTypeGreaterThan,
	backends.OpTypeEqual: backends.OpTypeEqual, backends.OpTypeNotEqual: backends.OpTypeNotEqual,
}

// vecCompare computes a prefix of dst = a op b for a comparison op, a and b each of
// dst's length or a single value (not both), and returns its length.
func vecCompare(op backends.OpType, dst []bool, a, b []float32) int {
	n := len(dst) &^ 7
	if !vecOn || n == 0 {
		return 0
	}
	if len(a) == 1 && len(b) >= n { // a scalar on the left: swap the operands
		op, a, b = swappedCompare[op], b, a
	}
	k, ok := vecCompareKernels[op]
	switch {
	case !ok || len(a) < n:
		return 0
	case len(b) >= n:
		k[0](&dst[0], &a[0], &b[0], n)
	case len(b) == 1:
		k[1](&dst[0], &a[0], &b[0], n)
	default:
		return 0
	}
	return n
}
