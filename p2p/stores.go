package p2p

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
)

// BlockStore is what block exchange and sync need from the node's store. Implementations must be
// safe for concurrent use. The node adapts the badger store (store.Store) to it; MemBlockStore is
// the in-memory implementation for tests.
type BlockStore interface {
	// Get returns the bytes stored under c. A block that is not held is an error wrapping
	// ErrNotFound (or any error, which block exchange reports to the requester as not found).
	Get(c cid.Cid) ([]byte, error)
	// Has reports whether a block is held.
	Has(c cid.Cid) (bool, error)
	// Put stores data under c. It must verify data against c (object.VerifyBlock) and be idempotent.
	Put(c cid.Cid, data []byte) error
}

// SearchIndex lists the CIDs a node holds for a search, in a stable order, with paging. It must be
// safe for concurrent use.
type SearchIndex interface {
	// ListSearch returns up to limit CIDs of search that sort after the cursor after ("" for the
	// first page), and the cursor of the next page ("" when there are no more).
	ListSearch(search string, after string, limit int) ([]cid.Cid, string, error)
}

// Admitter is called by Sync for every block fetched during a catch-up, after the block has been
// verified and stored: the node decodes it, checks that it belongs to search and indexes it. An
// error leaves the block stored but unindexed, and counts as a failed fetch.
type Admitter func(ctx context.Context, search string, c cid.Cid, data []byte) error

// MemBlockStore is an in-memory BlockStore. Put verifies blocks with object.VerifyBlock. It does
// not copy: Put keeps the caller's slice and Get returns the stored one, so neither may be modified
// afterwards (block exchange never does). The zero value is not usable; call NewMemBlockStore.
type MemBlockStore struct {
	mu     sync.RWMutex
	blocks map[cid.Cid][]byte
}

// NewMemBlockStore returns an empty in-memory block store.
func NewMemBlockStore() *MemBlockStore {
	return &MemBlockStore{blocks: make(map[cid.Cid][]byte)}
}

// Get implements BlockStore. The returned slice is the stored one: do not modify it.
func (s *MemBlockStore) Get(c cid.Cid) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.blocks[c]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", c, ErrNotFound)
	}
	return b, nil
}

// Has implements BlockStore.
func (s *MemBlockStore) Has(c cid.Cid) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.blocks[c]
	return ok, nil
}

// Put implements BlockStore: it verifies data against c and keeps the slice (not a copy).
func (s *MemBlockStore) Put(c cid.Cid, data []byte) error {
	if err := object.VerifyBlock(c, data); err != nil {
		return fmt.Errorf("put %s: %w", c, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.blocks[c]; !ok {
		s.blocks[c] = data
	}
	return nil
}

// Len returns the number of blocks held.
func (s *MemBlockStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.blocks)
}

// CIDs returns the CIDs held, sorted by their string form.
func (s *MemBlockStore) CIDs() []cid.Cid {
	s.mu.RLock()
	out := make([]cid.Cid, 0, len(s.blocks))
	for c := range s.blocks {
		out = append(out, c)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b cid.Cid) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// MemIndex is an in-memory SearchIndex. The cursor is the string form of the last CID of a page.
// The zero value is not usable; call NewMemIndex.
type MemIndex struct {
	mu       sync.RWMutex
	searches map[string][]string // sorted CID strings
}

// NewMemIndex returns an empty in-memory search index.
func NewMemIndex() *MemIndex {
	return &MemIndex{searches: make(map[string][]string)}
}

// Add records that c belongs to search. It is idempotent.
func (x *MemIndex) Add(search string, c cid.Cid) {
	k := c.String()
	x.mu.Lock()
	defer x.mu.Unlock()
	list := x.searches[search]
	i, found := slices.BinarySearch(list, k)
	if !found {
		x.searches[search] = slices.Insert(list, i, k)
	}
}

// Len returns the number of CIDs recorded for search.
func (x *MemIndex) Len(search string) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.searches[search])
}

// ListSearch implements SearchIndex.
func (x *MemIndex) ListSearch(search string, after string, limit int) ([]cid.Cid, string, error) {
	if limit <= 0 {
		return nil, "", fmt.Errorf("list %q: limit %d: %w", search, limit, ErrMalformed)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	list := x.searches[search]
	i, found := slices.BinarySearch(list, after)
	if found {
		i++
	}
	end := min(i+limit, len(list))
	out := make([]cid.Cid, 0, end-i)
	for _, k := range list[i:end] {
		c, err := cid.Decode(k)
		if err != nil {
			return nil, "", fmt.Errorf("list %q: %w", search, err)
		}
		out = append(out, c)
	}
	next := ""
	if end < len(list) && end > i {
		next = list[end-1]
	}
	return out, next, nil
}

// MemAdmitter returns an Admitter that records every admitted block in x under its search.
func MemAdmitter(x *MemIndex) Admitter {
	return func(_ context.Context, search string, c cid.Cid, _ []byte) error {
		x.Add(search, c)
		return nil
	}
}
