// Package devicetest is the conformance suite of gpu.Device implementations. Any device (the CPU
// device, the CUDA device) runs the same checks:
//
//   - Run checks every kernel against a plain float64 reference implementation on random inputs
//     (forward kernels element by element; backward kernels against central finite differences of the
//     float64 reference forward, on a random sample of elements of every input), including grouped-query
//     and sliding-window attention, ignored targets in the cross-entropy, accumulating versus
//     overwriting gradients, and run-to-run determinism (the same inputs twice give identical bits).
//   - Compare runs every kernel on two devices with the same inputs and compares the outputs, bit for
//     bit when the tolerance is Exact (two thread counts of one device, two kernel paths) or within a
//     tolerance (CUDA against CPU).
//   - Kernels returns every kernel call ready to run on prepared buffers, for allocation tests and
//     benchmarks.
//
// The suite uses small shapes so that it runs in seconds; the shapes still cross the block boundaries
// of the CPU kernels (for example more than 64 query rows in attention).
package devicetest
