package store

import (
	"bytes"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
)

// IndexEntry is one entry of an index: a key and a CID filed under it.
type IndexEntry struct {
	Key string
	CID cid.Cid
}

// Index files c under key in index ix. It is idempotent. The CID need not be stored as a block.
func (s *Store) Index(ix IndexName, key string, c cid.Cid) error {
	return s.IndexWith(ix, key, c, PutOptions{})
}

// IndexWith is Index with options. Unlike blocks, an index entry written again takes the new
// options' TTL (last write wins): entries are tiny and re-indexing is how a caller renews one.
func (s *Store) IndexWith(ix IndexName, key string, c cid.Cid, o PutOptions) error {
	if err := checkIndexArgs(ix, key, c); err != nil {
		return fmt.Errorf("store: index: %w", err)
	}
	if err := o.validate(); err != nil {
		return fmt.Errorf("store: index: %w", err)
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	k := indexEntryKey(ix, key, c)
	if err := s.update(func(txn *badger.Txn) error { return txn.SetEntry(ttlEntry(k, nil, o.TTL)) }); err != nil {
		return fmt.Errorf("store: index %s/%s: %w", ix, key, err)
	}
	if o.Sync {
		if err := s.db.Sync(); err != nil {
			return fmt.Errorf("store: index %s/%s: sync: %w", ix, key, err)
		}
	}
	return nil
}

// Unindex removes c from key in index ix. Removing a missing entry is not an error.
func (s *Store) Unindex(ix IndexName, key string, c cid.Cid) error {
	if err := checkIndexArgs(ix, key, c); err != nil {
		return fmt.Errorf("store: unindex: %w", err)
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	k := indexEntryKey(ix, key, c)
	if err := s.update(func(txn *badger.Txn) error { return txn.Delete(k) }); err != nil {
		return fmt.Errorf("store: unindex %s/%s: %w", ix, key, err)
	}
	return nil
}

func checkIndexArgs(ix IndexName, key string, c cid.Cid) error {
	if err := ix.Validate(); err != nil {
		return err
	}
	if err := validIndexKey(key); err != nil {
		return err
	}
	if err := object.CheckCID(c); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Scan returns up to limit CIDs filed under key in index ix, in CID byte order, starting after
// the cursor after ("" for the first page). next is the cursor of the following page, or "" when
// there are no more entries. Pages are stable: walking them from "" to the end returns every entry
// that was present throughout exactly once. Cursors are opaque and belong to (ix, key); a cursor
// from another key is ErrInvalid.
func (s *Store) Scan(ix IndexName, key string, after string, limit int) (cids []cid.Cid, next string, err error) {
	if err := ix.Validate(); err != nil {
		return nil, "", fmt.Errorf("store: scan: %w", err)
	}
	if err := validIndexKey(key); err != nil {
		return nil, "", fmt.Errorf("store: scan: %w", err)
	}
	base := indexBase(ix)
	prefix := indexKeyPrefix(ix, key)
	start, err := seekAfter(base, prefix, after)
	if err != nil {
		return nil, "", fmt.Errorf("store: scan %s/%s: %w", ix, key, err)
	}
	entries, next, err := s.scanIndex(base, prefix, start, limit)
	if err != nil {
		return nil, "", fmt.Errorf("store: scan %s/%s: %w", ix, key, err)
	}
	cids = make([]cid.Cid, len(entries))
	for i, e := range entries {
		cids[i] = e.CID
	}
	return cids, next, nil
}

// ScanAll returns up to limit entries of index ix, ordered by key bytes and then CID bytes,
// starting after the cursor after ("" for the first page); next is as for Scan. Cursors belong to
// ix; a Scan cursor of the same index is valid here too.
func (s *Store) ScanAll(ix IndexName, after string, limit int) (entries []IndexEntry, next string, err error) {
	if err := ix.Validate(); err != nil {
		return nil, "", fmt.Errorf("store: scan all: %w", err)
	}
	base := indexBase(ix)
	start, err := seekAfter(base, base, after)
	if err != nil {
		return nil, "", fmt.Errorf("store: scan all %s: %w", ix, err)
	}
	entries, next, err = s.scanIndex(base, base, start, limit)
	if err != nil {
		return nil, "", fmt.Errorf("store: scan all %s: %w", ix, err)
	}
	return entries, next, nil
}

// seekAfter returns the first badger key to visit: the prefix itself for an empty cursor, else
// the smallest key strictly after the cursor's position. The position must lie under prefix.
func seekAfter(base, prefix []byte, after string) ([]byte, error) {
	if after == "" {
		return prefix, nil
	}
	pos, err := decodeCursor(after)
	if err != nil {
		return nil, err
	}
	k := append(append(append([]byte(nil), base...), pos...), 0) // successor of base+pos
	if !bytes.HasPrefix(k, prefix) {
		return nil, fmt.Errorf("%w: cursor belongs to another key", ErrInvalid)
	}
	return k, nil
}

// scanIndex walks index entries under prefix from start, returning up to limit of them and the
// cursor of the next page.
func (s *Store) scanIndex(base, prefix, start []byte, limit int) ([]IndexEntry, string, error) {
	if err := validLimit(limit); err != nil {
		return nil, "", err
	}
	if err := s.acquire(); err != nil {
		return nil, "", err
	}
	defer s.mu.RUnlock()
	var (
		out  []IndexEntry
		next string
	)
	err := s.db.View(func(txn *badger.Txn) error {
		io := badger.DefaultIteratorOptions
		io.PrefetchValues = false
		io.Prefix = prefix
		it := txn.NewIterator(io)
		defer it.Close()
		var last []byte
		for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
			k := it.Item().Key()
			if len(out) == limit {
				next = encodeCursor(last)
				return nil
			}
			e, err := parseIndexEntry(k[len(base):])
			if err != nil {
				return err
			}
			out = append(out, e)
			last = append(last[:0], k[len(base):]...)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// parseIndexEntry splits "<key>/<cid bytes>" (keys never contain '/').
func parseIndexEntry(pos []byte) (IndexEntry, error) {
	i := bytes.IndexByte(pos, sep)
	if i <= 0 {
		return IndexEntry{}, fmt.Errorf("%w: index entry %q has no key", ErrCorrupt, pos)
	}
	c, err := object.CastCID(pos[i+1:])
	if err != nil {
		return IndexEntry{}, fmt.Errorf("%w: index entry %q: %w", ErrCorrupt, pos, err)
	}
	return IndexEntry{Key: string(pos[:i]), CID: c}, nil
}
