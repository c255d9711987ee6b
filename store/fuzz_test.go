package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/airanode/airanode/object"
)

// FuzzScan feeds arbitrary index names, keys, cursors and limits (all of which can come from a
// peer's sync request) to Scan, ScanAll and the meta lookups: they must never panic, must reject
// bad input with ErrInvalid only, and must return only entries of the key asked for.
func FuzzScan(f *testing.F) {
	s, err := Open("", Options{MemTableSize: 4 << 20, BlockCacheSize: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	var cursors []string
	for _, key := range []string{"k", "k2", "kk"} {
		for i := range 5 {
			c := object.RawCID([]byte(fmt.Sprintf("%s-%d", key, i)))
			if err := s.Index(IndexSearch, key, c); err != nil {
				f.Fatal(err)
			}
			if err := s.PutMeta(key+"/"+fmt.Sprint(i), []byte{byte(i)}); err != nil {
				f.Fatal(err)
			}
		}
		_, next, err := s.Scan(IndexSearch, key, "", 2)
		if err != nil {
			f.Fatal(err)
		}
		cursors = append(cursors, next)
	}
	for _, c := range cursors {
		f.Add("search", "k", c, 3)
		f.Add("search", "k2", c, 1)
	}
	f.Add("search", "k", "", 10)
	f.Add("", "", "", 0)
	f.Add("search", "a/b", "AAAA", -1)
	f.Add("Search", "k\x00", "!!", 1<<40)
	f.Fuzz(func(t *testing.T, ix, key, after string, limit int) {
		cids, next, err := s.Scan(IndexName(ix), key, after, limit)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Scan error %v is not ErrInvalid", err)
			}
		} else {
			if len(cids) > limit {
				t.Fatalf("%d results for limit %d", len(cids), limit)
			}
			for _, c := range cids {
				if object.CheckCID(c) != nil {
					t.Fatalf("bad CID %s", c)
				}
			}
			if next != "" {
				if _, _, err := s.Scan(IndexName(ix), key, next, limit); err != nil {
					t.Fatalf("next cursor %q rejected: %v", next, err)
				}
			}
		}
		entries, _, err := s.ScanAll(IndexName(ix), after, limit)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("ScanAll error %v is not ErrInvalid", err)
		}
		if err == nil && len(entries) > limit {
			t.Fatalf("%d entries for limit %d", len(entries), limit)
		}
		if _, err := s.GetMeta(key); err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetMeta error %v", err)
		}
		if _, err := s.ScanMeta(key); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("ScanMeta error %v", err)
		}
	})
}
