// Package arch is the architecture language: the model description that search agents propose,
// nodes exchange (as canonical objects named by CID) and the engine builds. It holds the primitives'
// registry, parse and print of the compact notation and of JSON, normalisation, validation, the
// exact cost model (parameters, FLOPs, memory) and the search operators (mutate, crossover, stretch,
// stack, resize, sample). docs/arch.md is the language reference.
//
// A model is global dimensions plus a sequence of layers. Every layer is pre-norm with a residual:
// x = x + layer(norm(x)); a final norm precedes the output head.
//
//	width=128 norm=rms : A M A M          MAD's default (attention, SwiGLU, twice)
//	(A(kv=2,win=64) M)x2 S(state=4) M     options in parentheses, repetition
//
// Every spelling of one model normalises (Normalize) to one Arch and so to one CID. Bounds (depth,
// width, options, parameters, input size) are checked before anything is allocated in proportion to
// a value a peer controls.
//
// Primitives are registered by name (Register, one file per primitive: prim_*.go); adding one is a
// local change. The registry is filled at init; after that every function of this package is safe
// for concurrent use. An Arch is a value and is never modified in place by this package. A Rand is
// not safe for concurrent use.
package arch
