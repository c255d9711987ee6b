//go:build !amd64 || purego

package gemm

// hasFMA reports whether fma32Asm can run: never, without the amd64 assembly.
const hasFMA = false

func fma32Asm(a, b, c float32) float32 { return FMA32(a, b, c) }

func fmaPeak(Path, int) int { return 0 }
