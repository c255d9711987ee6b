package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
)

// countChunks returns how many chunk entries are stored under c.
func countChunks(t *testing.T, s *Store, c cid.Cid) int {
	t.Helper()
	p := chunkKey(c, 0)
	p = p[:len(p)-4]
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		io := badger.DefaultIteratorOptions
		io.PrefetchValues = false
		io.Prefix = p
		it := txn.NewIterator(io)
		defer it.Close()
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func rawSet(t *testing.T, s *Store, e *badger.Entry) {
	t.Helper()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.SetEntry(e) }); err != nil {
		t.Fatal(err)
	}
}

func rawDelete(t *testing.T, s *Store, k []byte) {
	t.Helper()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(k) }); err != nil {
		t.Fatal(err)
	}
}

// TestChunkedBlocks covers blocks larger than one chunk: round trip, every way a chunk can go bad,
// deletion of all chunks, and a retention rewrite.
func TestChunkedBlocks(t *testing.T) {
	o := testOptions()
	o.MemTableSize = 32 << 20
	for _, b := range []struct {
		name string
		dir  func(t *testing.T) string
	}{
		{"disk", func(t *testing.T) string { return t.TempDir() }},
		{"memory", func(*testing.T) string { return "" }},
	} {
		t.Run(b.name, func(t *testing.T) {
			s := mustOpen(t, b.dir(t), o)
			// Small chunks keep the test fast (the header records the chunk size, so reads do not
			// depend on it); TestPutGet covers the real chunk sizes.
			s.chunkSize = 4096
			data := randomBytes(t, 3*4096+5)
			c := object.RawCID(data)
			wantChunks := (len(data) + s.chunkSize - 1) / s.chunkSize
			put := func() {
				t.Helper()
				if err := s.Put(c, data); err != nil {
					t.Fatal(err)
				}
				if n := countChunks(t, s, c); n != wantChunks {
					t.Fatalf("%d chunks stored, want %d", n, wantChunks)
				}
			}
			put()
			mustGet(t, s, c, data)
			if n, err := s.Size(c); err != nil || n != int64(len(data)) {
				t.Fatalf("Size = %d, %v", n, err)
			}

			// Retention rewrite: with a TTL, then without, the block stays whole and permanent.
			if err := s.Delete(c); err != nil {
				t.Fatal(err)
			}
			if err := s.PutWith(c, data, PutOptions{TTL: time.Hour}); err != nil {
				t.Fatal(err)
			}
			put()
			err := s.db.View(func(txn *badger.Txn) error {
				item, err := txn.Get(blockKey(c))
				if err != nil {
					return err
				}
				if item.ExpiresAt() != 0 {
					t.Errorf("header expires at %d after a permanent put", item.ExpiresAt())
				}
				ci, err := txn.Get(chunkKey(c, 1))
				if err != nil {
					return err
				}
				if ci.ExpiresAt() != 0 {
					t.Errorf("chunk expires at %d after a permanent put", ci.ExpiresAt())
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			mustGet(t, s, c, data)

			chunk1 := data[s.chunkSize : 2*s.chunkSize]
			flipped := bytes.Clone(chunk1)
			flipped[7] ^= 0x10
			for _, tc := range []struct {
				name  string
				spoil func()
			}{
				{"chunk bit flip", func() { rawSet(t, s, badger.NewEntry(chunkKey(c, 1), flipped)) }},
				{"chunk missing", func() { rawDelete(t, s, chunkKey(c, 1)) }},
				{"chunk truncated", func() { rawSet(t, s, badger.NewEntry(chunkKey(c, 1), chunk1[1:])) }},
				{"last chunk missing", func() { rawDelete(t, s, chunkKey(c, uint32(wantChunks-1))) }},
				{"header short", func() {
					rawSet(t, s, badger.NewEntry(blockKey(c), []byte{1, 2, 3}).WithMeta(metaChunked))
				}},
				{"header total too small", func() {
					rawSet(t, s, badger.NewEntry(blockKey(c), encodeHeader(len(data)-1, s.chunkSize)).WithMeta(metaChunked))
				}},
				{"header claims huge block", func() {
					rawSet(t, s, badger.NewEntry(blockKey(c), encodeHeader(1<<62, 1)).WithMeta(metaChunked))
				}},
				{"header zero chunk size", func() {
					rawSet(t, s, badger.NewEntry(blockKey(c), encodeHeader(len(data), 0)).WithMeta(metaChunked))
				}},
				{"unknown entry type", func() {
					rawSet(t, s, badger.NewEntry(blockKey(c), data[:10]).WithMeta(7))
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					tc.spoil()
					if _, err := s.Get(c); !errors.Is(err, ErrCorrupt) {
						t.Fatalf("Get = %v, want ErrCorrupt", err)
					}
					// Delete removes the header and every chunk, even with a bad header.
					if err := s.Delete(c); err != nil {
						t.Fatalf("Delete: %v", err)
					}
					if n := countChunks(t, s, c); n != 0 {
						t.Fatalf("%d chunks left after Delete", n)
					}
					mustHave(t, s, c, false)
					put()
					mustGet(t, s, c, data)
				})
			}
		})
	}

	// In memory, a block over ~15% of the memtable does not fit one transaction.
	s := mustOpen(t, "", o)
	huge := randomBytes(t, 6<<20)
	if err := s.Put(object.RawCID(huge), huge); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put of 6 MiB into a 32 MiB memtable = %v, want ErrTooLarge", err)
	}
	mustHave(t, s, object.RawCID(huge), false)
}

func TestDecodeHeader(t *testing.T) {
	for _, tc := range []struct {
		name   string
		h      []byte
		n      uint32
		wantOK bool
	}{
		{"exact", encodeHeader(4096, 1024), 4, true},
		{"partial last", encodeHeader(4097, 1024), 5, true},
		{"single", encodeHeader(1, 1024), 1, true},
		{"empty", nil, 0, false},
		{"long", append(encodeHeader(10, 1), 0), 0, false},
		{"zero total", encodeHeader(0, 1024), 0, false},
		{"zero chunk", encodeHeader(10, 0), 0, false},
		{"too many chunks", encodeHeader(maxChunks+1, 1), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, n, err := decodeHeader(tc.h)
			if tc.wantOK != (err == nil) || (err != nil && !errors.Is(err, ErrCorrupt)) {
				t.Fatalf("decodeHeader = %v, want ok=%v", err, tc.wantOK)
			}
			if n != tc.n {
				t.Fatalf("n = %d, want %d", n, tc.n)
			}
		})
	}
}
