// Package store is airanode's embedded database: content-addressed blocks, typed secondary
// indexes and a small key-value space for node state, on top of badger (github.com/dgraph-io/badger/v4).
//
// # Blocks
//
// A block is stored under its CID and verified on the way in and on the way out with
// object.VerifyBlock: raw blocks and plain objects must hash to their CID, and a sealed (signed)
// object is its envelope stored under the CID of the payload inside. Put is idempotent. PutDurable,
// or PutWith and PutOptions.Sync, returns only after the write is synced to disk: use it for
// everything the node signs or promises to peers. PutOptions.TTL gives bulky blocks such as
// checkpoints a retention window after which they disappear.
//
// # Indexes
//
// Index adds an entry (index name, key, CID) — for example index "search", key <search CID>, value a
// result CID. Scan lists the CIDs of one key in CID byte order, a page at a time, with an opaque
// cursor; ScanAll does the same over every key of an index.
//
// # Node state
//
// PutMeta, GetMeta, DeleteMeta and ScanMeta are a plain key-value space for claims, leases,
// reputation and worker progress.
//
// # Key layout
//
// The badger key space is private to this package and versioned:
//
//	s/version                      the layout version ("1")
//	b/<cid bytes>                  a block, or the header of a chunked block
//	c/<cid bytes><uint32 BE>       chunk i of a chunked block
//	i/<index>/<key>/<cid bytes>    an index entry (empty value)
//	m/<key>                        a meta entry
//
// A block larger than the chunk size (1 MiB on disk; in memory half of badger's per-value cap)
// is split into chunks; its "b/" entry (badger user meta 1) then holds the total length (uint64
// BE) and the chunk size (uint32 BE). Header and chunks are written, expire and are deleted
// together in one transaction, so a reader never sees half a block. On disk, values over 64 KiB
// live in badger's value log, which keeps the LSM tree small.
//
// Index names match [a-z][a-z0-9_-]{0,31}. Index keys are 1 to MaxIndexKey bytes of valid UTF-8
// with no '/' and no control characters, so an entry's key cannot be confused with a neighbour's.
// Meta keys are 1 to MaxMetaKey bytes of valid UTF-8 without control characters ('/' is allowed,
// so callers can build prefixes like "claim/<task>").
//
// # Modes and lifecycle
//
// Open with an empty dir or Options.InMemory gives an in-memory store for tests (nothing touches
// the disk and the value-log GC does not run). In memory, one block must fit one badger
// transaction, about 15% of Options.MemTableSize (9.6 MiB with the default 64 MiB); a larger Put
// fails with ErrTooLarge. On disk, a background loop runs badger's value-log
// GC every Options.GCInterval. Close stops that loop, waits for it and closes the database; it is
// idempotent, and every other method returns ErrClosed after it.
//
// A Store is safe for concurrent use by multiple goroutines.
package store
