// Package gpucore links the node to its GPU compute cores: separate airanode-cuda processes, one per
// NVIDIA device, that run training tasks on the CUDA Device and talk to the node over a small framed
// protocol on their standard input and output (docs/gpu.md, "Core protocol").
//
// The CUDA driver bindings (gorgonia.org/cu) exit the process when no driver is present, so the node
// never links them: it finds devices without cgo (gpu.DetectNVIDIA), spawns the core binary per
// device and drives it through this package. Nothing here needs a GPU: the protocol, the core loop
// and the supervisor run in tests with the CPU device.
//
// The pieces:
//   - The frame codec (ReadMessage, WriteMessage, ParseFrame): length-prefixed frames, each a kind
//     byte, a canonical-CBOR header and an optional raw payload (block bytes), capped in size. Every
//     decoder checks bounds, canonical encoding and, for blocks, the hash against the CID; bad frames
//     are errors wrapping ErrFrame or ErrFrameTooLarge, never panics.
//   - Serve, the core's side: a version handshake (Hello, Info), then one task at a time (Run) with
//     progress, checkpoints, resume states and block requests flowing back over the same pipes, and
//     Cancel and Shutdown. It is device-agnostic: RunFunc does the work, EvalRun is the production
//     RunFunc (bench.Evaluate on the given device).
//   - Supervisor, the node's side: a tasks.Executor that spawns the core binary per device,
//     handshakes, runs tasks on idle cores, stores their checkpoints, restarts a crashed core with
//     bounded, backed-off attempts and returns a retryable error (ErrCrashed, ErrStalled,
//     ErrProtocol) so that the tasks Manager re-runs the task from its last checkpoint.
//
// Thread-safety: a Supervisor is safe for concurrent use; Execute runs one task per core at a time
// and queues the rest. Serve owns its reader and writer until it returns. The codec functions are
// safe for concurrent use on distinct streams.
package gpucore
