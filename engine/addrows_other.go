//go:build !amd64 || purego

package engine

// addRowsSIMD: no vector adds on this platform; addRows adds every value in Go.
func addRowsSIMD[T float](rows int, dst []T, ldd int, src []T, lds, n int) int { return 0 }
