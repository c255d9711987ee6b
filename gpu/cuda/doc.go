// Package cuda is the CUDA implementation of gpu.Device, built only with the build tag cuda. It uses
// the CUDA driver API through gorgonia.org/cu and our own kernels (kernels.cu, compiled to the
// committed kernels.ptx by `make ptx` and loaded with cu.LoadData): no cuBLAS, no NVRTC, so at run
// time only the driver's libcuda is needed. Built with the tag cudaemu instead, the same device runs
// its kernels on the host (driver_emu.go; NewEmu), for tests without a GPU.
//
// gorgonia.org/cu exits the process from its package init when no driver is present, so only the
// separate airanode-cuda binary and this package's tests link it; the main binary never does.
//
// Determinism: every kernel does the CPU device's arithmetic in the CPU device's order, with our own
// transcendental functions (no math library, no approximate instruction), so its bits are the CPU
// device's on every card (docs/gpu.md).
//
// Thread-safety: a Device may be used by one goroutine at a time, any goroutine: every driver call
// makes the device's context current on the calling OS thread first.
package cuda
