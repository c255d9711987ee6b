// Package arch is the architecture language: the model description that search agents propose,
// nodes exchange (as canonical objects named by CID) and the engine builds. It holds the primitives'
// registry, parse and print of the compact notation and JSON, normalisation, validation, the cost model
// and the search operators (mutate, crossover, stretch, stack).
//
// A model is global dimensions plus a sequence of layers. Every layer is pre-norm with a residual:
// x = x + layer(norm(x)); a final norm precedes the output head.
//
// All functions are safe for concurrent use; an Arch is a value and is never modified in place by
// this package.
package arch

// Arch is one model. The zero values of optional fields are filled in by Normalize.
type Arch struct {
	// Width is the model (residual stream) dimension.
	Width int `json:"width"`
	// Vocab is the vocabulary size. It comes from the evaluation protocol; 0 until bound to one.
	Vocab int `json:"vocab,omitempty"`
	// Norm is the normalisation used before every layer and at the end: "rms" or "layer".
	Norm string `json:"norm"`
	// Pos is the position scheme of the embedding: "none" (attention layers use rotary embeddings) or
	// "learned" (a learned table of Context rows added to the token embedding).
	Pos string `json:"pos"`
	// Context is the longest sequence the model accepts when Pos is "learned"; 0 otherwise.
	Context int `json:"context,omitempty"`
	// Untied, when true, gives the output head its own matrix instead of the token embedding's.
	Untied bool `json:"untied,omitempty"`
	// Layers is the sequence of blocks, input to output.
	Layers []Layer `json:"layers"`
}

// Layer is one block: a primitive and its integer options (objects never hold floats).
type Layer struct {
	// Kind is the primitive's canonical name, e.g. "attention", "swiglu", "gelu", "mamba".
	Kind string `json:"kind"`
	// Opts are the primitive's options, e.g. {"heads": 4, "kv": 2, "win": 64}. After Normalize every
	// option the primitive defines is present.
	Opts map[string]int `json:"opts,omitempty"`
}
