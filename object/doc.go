// Package object owns airanode's wire format: canonical CBOR encoding of shared objects, their CIDs,
// and the signed envelopes that carry authored objects. No other package calls the CBOR library.
//
// Encoding rules (docs/objects.md has the full spec):
//   - Deterministic CBOR (RFC 8949 core deterministic): map keys sorted, shortest integer forms,
//     definite lengths only. Floats are not allowed in any object: fixed-point integers instead.
//   - Decoding rejects duplicate map keys, indefinite lengths, floats, NaN/Inf, data over MaxSize and
//     structures over the nesting, array and map caps, and re-encodes to compare bytes: any
//     non-canonical input is ErrNotCanonical.
//   - Objects are named by CIDv1 (dag-cbor, sha2-256); blobs by CIDv1 (raw, sha2-256). ParseCID and
//     CheckCID accept only that allow-list. Decoding by CID always verifies the hash.
//   - Authored objects travel in go-libp2p record envelopes signed by the author's key, with domain
//     "airanode" and a payload type naming the object kind. Opening an envelope yields the author.
//
// All functions are safe for concurrent use.
package object
