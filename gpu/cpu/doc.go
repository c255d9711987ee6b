// Package cpu is the CPU compute device: every kernel of gpu.Kernels in pure Go, with the matrix
// multiply delegated to the assembly microkernels of gpu/cpu/gemm.
//
// # Memory
//
// Buffers are views of ordinary Go slices ([]float32 and []int32); Upload and Download copy. Alloc
// allocates (it is meant for set-up); the kernels do not: every kernel keeps its per-call state in a
// task struct owned by the Device, and the few kernels that need scratch memory (attention, the
// reductions, the selective-scan backward) keep it in the Device and grow it only when a larger shape
// appears, so a steady-state training step allocates nothing.
//
// # Determinism
//
// The reproducibility class is "cpu-v1": for the same inputs every kernel returns the same bits on
// every machine, for every thread count and on every kernel path of gemm. Work is split across threads
// over independent outputs only (rows, columns, heads, sequences); every reduction has an order the
// kernel fixes (documented on each kernel and in docs/engine-kernels.md); transcendental functions come
// from gpu/fmath; every multiply-add is either an explicit fused multiply-add or a rounded product
// (float32(a*b)) followed by an add, so the compiler cannot fuse differently on another target.
//
// # Errors
//
// A kernel given buffers of the wrong size, buffers of another device, or an out-of-range token id
// records the first such error (wrapping ErrShape, ErrForeignBuffer or ErrIndex) and does nothing;
// Err and Sync return it. After Close every kernel records gpu.ErrClosed.
//
// # Thread-safety
//
// A Device may be used by one goroutine at a time (kernels run synchronously on the caller's goroutine
// and the Device's worker threads). Close may be called from any goroutine once no kernel is running.
package cpu
