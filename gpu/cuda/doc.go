// Package cuda is the CUDA implementation of gpu.Device (reproducibility class "cuda-v1"), built only
// with the build tag cuda. It uses the CUDA driver API through gorgonia.org/cu and our own kernels
// (kernels.cu, compiled to the committed kernels.ptx by `make ptx` and loaded with cu.LoadData): no
// cuBLAS, no NVRTC, so at run time only the driver's libcuda is needed.
//
// gorgonia.org/cu exits the process from its package init when no driver is present, so only the
// separate airanode-cuda binary and this package's tests link it; the main binary never does.
//
// Determinism: no atomics, every reduction in an order fixed by the kernel code, launch geometry
// fixed by constants (never by the card's properties), explicit fmaf and -fmad=false.
//
// Thread-safety: a Device binds its CUDA context to the OS thread of the goroutine that created it
// (New locks that goroutine to its thread); use it only from that goroutine.
package cuda
