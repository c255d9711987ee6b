package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// MetaEntry is one key-value pair of node state.
type MetaEntry struct {
	Key   string
	Value []byte
}

// PutMeta stores value under key in the node-state space, replacing any earlier value.
func (s *Store) PutMeta(key string, value []byte) error {
	return s.PutMetaWith(key, value, PutOptions{})
}

// PutMetaWith is PutMeta with options: Sync for state that must survive a crash (claims the node
// made, progress it reported), TTL for state that lapses on its own (leases).
func (s *Store) PutMetaWith(key string, value []byte, o PutOptions) error {
	if err := validMetaKey(key); err != nil {
		return fmt.Errorf("store: put meta: %w", err)
	}
	if err := o.validate(); err != nil {
		return fmt.Errorf("store: put meta %q: %w", key, err)
	}
	if len(value) > MaxMetaValue {
		return fmt.Errorf("store: put meta %q: %d bytes (max %d): %w", key, len(value), MaxMetaValue, ErrTooLarge)
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	k := metaKey(key)
	if err := s.update(func(txn *badger.Txn) error { return txn.SetEntry(ttlEntry(k, value, o.TTL)) }); err != nil {
		return fmt.Errorf("store: put meta %q: %w", key, err)
	}
	if o.Sync {
		if err := s.db.Sync(); err != nil {
			return fmt.Errorf("store: put meta %q: sync: %w", key, err)
		}
	}
	return nil
}

// GetMeta returns the value stored under key, or ErrNotFound.
func (s *Store) GetMeta(key string) ([]byte, error) {
	if err := validMetaKey(key); err != nil {
		return nil, fmt.Errorf("store: get meta: %w", err)
	}
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(metaKey(key))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("store: get meta %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get meta %q: %w", key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// DeleteMeta removes key. Removing a missing key is not an error.
func (s *Store) DeleteMeta(key string) error {
	if err := validMetaKey(key); err != nil {
		return fmt.Errorf("store: delete meta: %w", err)
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if err := s.update(func(txn *badger.Txn) error { return txn.Delete(metaKey(key)) }); err != nil {
		return fmt.Errorf("store: delete meta %q: %w", key, err)
	}
	return nil
}

// ScanMeta returns every entry whose key starts with prefix ("" for all), in key byte order.
// Node state is small (claims, leases, one reputation entry per known peer); callers that file
// many entries under one prefix should split it.
func (s *Store) ScanMeta(prefix string) ([]MetaEntry, error) {
	if err := validMetaPrefix(prefix); err != nil {
		return nil, fmt.Errorf("store: scan meta: %w", err)
	}
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	p := metaKey(prefix)
	var out []MetaEntry
	err := s.db.View(func(txn *badger.Txn) error {
		io := badger.DefaultIteratorOptions
		io.Prefix = p
		it := txn.NewIterator(io)
		defer it.Close()
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if v == nil {
				v = []byte{}
			}
			out = append(out, MetaEntry{Key: string(item.Key()[len(metaPrefix):]), Value: v})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: scan meta %q: %w", prefix, err)
	}
	return out, nil
}
