// Package train builds models from an architecture (package arch) on a compute device (package gpu)
// and trains them deterministically: layers with explicit forward and backward passes, deterministic
// initialisation from a seed, AdamW with a warmup + cosine schedule and gradient clipping, a training
// loop cut into segments with a state digest at every boundary, and checkpoints in the safetensors
// format. It is written to be read top to bottom, in the spirit of llm.c: every buffer is allocated once
// when a model is built and a steady-state training step allocates nothing.
//
// The pieces:
//
//   - Model (NewModel): the parameters, gradients and activations of one architecture for a fixed
//     batch shape (B sequences of T tokens). All parameters live in one device buffer, in a canonical
//     order (Model.Tensors); gradients in a second one with the same layout.
//   - Trainer (NewTrainer): AdamW moments, the step counter and the RNG state; Run trains until the
//     configured number of steps, reporting Events and computing a Digest at every segment boundary.
//   - Checkpoints: Trainer.SaveCheckpoint and Trainer.LoadCheckpoint (full training state),
//     Model.SaveWeights and Model.LoadWeights (weights only, for export and evaluation), all in the
//     safetensors format (EncodeSafetensors, DecodeSafetensors).
//   - Evaluation: Model.Predict runs the forward pass only and returns argmax predictions and losses.
//
// Determinism: given the same architecture, shape, hyper-parameters, seed and data, two runs on devices
// of the same reproducibility class (gpu.Device.Class) produce bit-identical weights, losses and
// digests, whatever the thread count. The engine relies on the device for the kernels (DESIGN.md §7)
// and keeps its own host-side arithmetic (initialisation, schedule, clipping, loss averaging) free of
// platform-dependent functions: transcendental functions come from gpu/fmath and float32 expressions
// that could be fused into FMAs carry explicit conversions.
//
// Thread-safety: a Model and a Trainer may be used by one goroutine at a time (the same rule as for
// the gpu.Device they run on). Event callbacks run on the goroutine that called Run.
//
// docs/engine.md documents the model math, the parameter layout, the initialisation, the optimizer, the
// digest byte layout and the checkpoint format.
package train
