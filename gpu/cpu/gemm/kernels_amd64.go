//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run ./internal/gen -s kernels_amd64.s -go kernels_decl_amd64.go

// hasFMA reports whether the scalar hardware FMA (fma32Asm) can run; tests compare FMA32 with it.
var hasFMA = cpu.X86.HasAVX && cpu.X86.HasFMA

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		kernelSets[AVX2] = &kernelSet{path: AVX2, mr: k256MR, nr: k256NR, kc: 256, nc: 512, kernN: k256nKernels[:], kernT: k256tKernels[:], pack: k256Pack}
	}
	if cpu.X86.HasAVX512F {
		kernelSets[AVX512] = &kernelSet{path: AVX512, mr: k512MR, nr: k512NR, kc: 512, nc: 128, kernN: k512nKernels[:], kernT: k512tKernels[:], pack: k512Pack, packT: k512PackT, mc: 8 * k512MR, mcAll: 256}
	}
}

// fmaPeak runs the FMA-peak loop of path p for about flops floating-point operations and returns how
// many it ran; it returns 0 for a path without one.
func fmaPeak(p Path, flops int) int {
	switch p {
	case AVX512:
		n := max(flops/768, 1)
		fmaPeak512(n)
		return n * 768
	case AVX2:
		n := max(flops/192, 1)
		fmaPeak256(n)
		return n * 192
	}
	return 0
}
