package consensus

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/airanode/airanode/store"
)

// ErrNotFound is returned by a KV's Get for a key it does not hold.
var ErrNotFound = errors.New("consensus: not found")

// KV is the persistence a Reputation needs: bytes by key. Implementations must be safe for
// concurrent use, and a Put must be atomic (a reader sees the old or the new value, never half).
type KV interface {
	// Get returns the value under key, or an error wrapping ErrNotFound.
	Get(key string) ([]byte, error)
	// Put stores value under key. The caller does not modify value afterwards.
	Put(key string, value []byte) error
}

// KVEntry is one key and its value.
type KVEntry struct {
	Key   string
	Value []byte
}

// ScanKV is a KV that can also list the keys under a prefix; Reputation.Peers needs it.
type ScanKV interface {
	KV
	// Scan returns the entries whose key starts with prefix, in key order.
	Scan(prefix string) ([]KVEntry, error)
}

// MemKV is an in-memory ScanKV for tests and tools. The zero value is ready to use; it is safe
// for concurrent use.
type MemKV struct {
	mu sync.Mutex
	m  map[string][]byte
	// fail, when set, makes Put fail for the keys it reports (tests of crash recovery).
	fail func(key string) bool
}

// Get returns a copy of the value under key.
func (m *MemKV) Get(key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[key]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return slices.Clone(v), nil
}

// Put stores a copy of value under key.
func (m *MemKV) Put(key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil && m.fail(key) {
		return fmt.Errorf("memkv: put %q: injected failure", key)
	}
	if m.m == nil {
		m.m = make(map[string][]byte)
	}
	m.m[key] = slices.Clone(value)
	return nil
}

// Scan returns copies of the entries under prefix, in key order.
func (m *MemKV) Scan(prefix string) ([]KVEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []KVEntry
	for k, v := range m.m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, KVEntry{Key: k, Value: slices.Clone(v)})
		}
	}
	slices.SortFunc(out, func(a, b KVEntry) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// StoreKV adapts the node store's meta key-value space (GetMeta, PutMeta, ScanMeta) to ScanKV.
func StoreKV(s *store.Store) ScanKV { return storeKV{s} }

type storeKV struct{ s *store.Store }

func (k storeKV) Get(key string) ([]byte, error) {
	v, err := k.s.GetMeta(key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q: %w", ErrNotFound, key, err)
	}
	return v, err
}

func (k storeKV) Put(key string, value []byte) error { return k.s.PutMeta(key, value) }

func (k storeKV) Scan(prefix string) ([]KVEntry, error) {
	es, err := k.s.ScanMeta(prefix)
	if err != nil {
		return nil, err
	}
	out := make([]KVEntry, len(es))
	for i, e := range es {
		out[i] = KVEntry{Key: e.Key, Value: e.Value}
	}
	return out, nil
}
