// Package torchexport writes an architecture (package arch) as one self-contained Python file that
// defines it as a PyTorch module: the same parameters, under the same names and shapes as the engine's
// safetensors checkpoints (arch.Layout), and the same math (docs/engine.md, "model math"). The file
// also holds a pure-Python safetensors reader and writer, a loader for the engine's weights files and
// a loss_and_grads helper, so that anyone can check, fine-tune or study a model found by the network
// with nothing but PyTorch installed. The module targets Debian's python3-torch 1.13: attention and
// the Mamba scan are written out (no scaled_dot_product_attention, no fused kernels).
//
// The generated module is also the engine's reference: the package's tests feed the same weights and
// batch to the engine and to the module (in float64) and compare the loss and every gradient
// (docs/benchmarks.md, "Correctness against PyTorch").
//
// All functions are safe for concurrent use.
package torchexport
