package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/airanode/airanode/object"
)

// testObject is a small authored-looking object for the tests.
type testObject struct {
	Author string `cbor:"author,omitempty"`
	N      int    `cbor:"n"`
	Note   string `cbor:"note,omitempty"`
}

// testOptions keeps badger's buffers small: many stores open at once in the tests.
func testOptions() Options {
	return Options{MemTableSize: 8 << 20, BlockCacheSize: 1 << 20, ValueLogFileSize: 4 << 20, GCInterval: -1}
}

// backend opens a fresh store of one kind.
type backend struct {
	name string
	disk bool
	open func(t *testing.T) *Store
}

func backends() []backend {
	return []backend{
		{name: "disk", disk: true, open: func(t *testing.T) *Store {
			t.Helper()
			return mustOpen(t, t.TempDir(), testOptions())
		}},
		{name: "memory", open: func(t *testing.T) *Store {
			t.Helper()
			return mustOpen(t, "", testOptions())
		}},
	}
}

// forEachBackend runs fn as a subtest over the on-disk and the in-memory store.
func forEachBackend(t *testing.T, fn func(t *testing.T, s *Store)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open(t)) })
	}
}

func mustOpen(t *testing.T, dir string, o Options) *Store {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func encode(t testing.TB, v any) ([]byte, cid.Cid) {
	t.Helper()
	b, c, err := object.Encode(v)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b, c
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return sk, id
}

func mustGet(t *testing.T, s *Store, c cid.Cid, want []byte) {
	t.Helper()
	got, err := s.Get(c)
	if err != nil {
		t.Fatalf("Get(%s): %v", c, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%s) = %x, want %x", c, got, want)
	}
}

func mustHave(t *testing.T, s *Store, c cid.Cid, want bool) {
	t.Helper()
	has, err := s.Has(c)
	if err != nil {
		t.Fatalf("Has(%s): %v", c, err)
	}
	if has != want {
		t.Fatalf("Has(%s) = %v, want %v", c, has, want)
	}
}

func TestPutGet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		objBytes, objCID := encode(t, testObject{N: 1, Note: "hello"})
		raw := randomBytes(t, 3000)
		rawCID := object.RawCID(raw)
		big := randomBytes(t, 1<<20+17) // chunked, in the value log on disk
		bigCID := object.RawCID(big)
		empty := []byte{}
		emptyCID := object.RawCID(empty)
		for _, tc := range []struct {
			name    string
			c       cid.Cid
			data    []byte
			chunked bool
		}{
			{"object", objCID, objBytes, false},
			{"raw", rawCID, raw, false},
			{"raw-large", bigCID, big, true},
			{"raw-empty", emptyCID, empty, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				mustHave(t, s, tc.c, false)
				if _, err := s.Get(tc.c); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Get before Put: %v, want ErrNotFound", err)
				}
				if _, err := s.Size(tc.c); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Size before Put: %v, want ErrNotFound", err)
				}
				for i := range 2 { // the second Put is a no-op
					if err := s.Put(tc.c, tc.data); err != nil {
						t.Fatalf("Put #%d: %v", i+1, err)
					}
				}
				mustGet(t, s, tc.c, tc.data)
				mustHave(t, s, tc.c, true)
				if chunks := countChunks(t, s, tc.c); (chunks > 1) != tc.chunked {
					t.Fatalf("%d chunks stored, want chunked=%v", chunks, tc.chunked)
				}
				n, err := s.Size(tc.c)
				if err != nil || n != int64(len(tc.data)) {
					t.Fatalf("Size = %d, %v; want %d", n, err, len(tc.data))
				}
				if err := s.Delete(tc.c); err != nil {
					t.Fatalf("Delete: %v", err)
				}
				if err := s.Delete(tc.c); err != nil {
					t.Fatalf("Delete again: %v", err)
				}
				mustHave(t, s, tc.c, false)
				if _, err := s.Get(tc.c); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
				}
				if chunks := countChunks(t, s, tc.c); chunks != 0 {
					t.Fatalf("%d chunks left after Delete", chunks)
				}
			})
		}
		// PutDurable stores the same way (a sync on disk, a no-op in memory).
		if err := s.PutDurable(objCID, objBytes); err != nil {
			t.Fatalf("PutDurable: %v", err)
		}
		mustGet(t, s, objCID, objBytes)
		if err := s.PutDurable(objCID, objBytes); err != nil {
			t.Fatalf("PutDurable again: %v", err)
		}
	})
}

func TestPutRejects(t *testing.T) {
	objBytes, objCID := encode(t, testObject{N: 2})
	other, _ := encode(t, testObject{N: 3})
	raw := []byte("some blob")
	sk, _ := newKey(t)
	env, err := object.Seal(sk, object.KindResult, testObject{N: 2})
	if err != nil {
		t.Fatal(err)
	}
	sha512, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_512, MhLength: -1}.Sum(raw)
	if err != nil {
		t.Fatal(err)
	}
	v0, err := cid.Prefix{Version: 0, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}.Sum(raw)
	if err != nil {
		t.Fatal(err)
	}
	forEachBackend(t, func(t *testing.T, s *Store) {
		for _, tc := range []struct {
			name string
			c    cid.Cid
			data []byte
			opt  PutOptions
			want error
		}{
			{"object-wrong-bytes", objCID, other, PutOptions{}, object.ErrHashMismatch},
			{"raw-cid-for-object", object.RawCID(other), objBytes, PutOptions{}, object.ErrHashMismatch},
			{"raw-under-object-cid", object.ObjectCID(raw), raw[1:], PutOptions{}, object.ErrHashMismatch},
			{"envelope-under-other-cid", object.ObjectCID(other), env, PutOptions{}, object.ErrHashMismatch},
			{"envelope-under-raw-cid", object.RawCID(objBytes), env, PutOptions{}, object.ErrHashMismatch},
			{"sha512", sha512, raw, PutOptions{}, object.ErrBadCID},
			{"cidv0", v0, raw, PutOptions{}, object.ErrBadCID},
			{"undefined", cid.Undef, raw, PutOptions{}, object.ErrBadCID},
			{"negative-ttl", object.RawCID(raw), raw, PutOptions{TTL: -time.Second}, ErrInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := s.PutWith(tc.c, tc.data, tc.opt)
				if !errors.Is(err, tc.want) {
					t.Fatalf("PutWith = %v, want %v", err, tc.want)
				}
				if tc.c.Defined() && object.CheckCID(tc.c) == nil {
					mustHave(t, s, tc.c, false) // nothing written
				}
			})
		}
	})
}

func TestPutTooLarge(t *testing.T) {
	o := testOptions()
	o.MaxBlockSize = 1000
	s := mustOpen(t, "", o)
	ok := randomBytes(t, 1000)
	if err := s.Put(object.RawCID(ok), ok); err != nil {
		t.Fatalf("Put at the cap: %v", err)
	}
	over := randomBytes(t, 1001)
	if err := s.Put(object.RawCID(over), over); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put over the cap: %v, want ErrTooLarge", err)
	}
	mustHave(t, s, object.RawCID(over), false)

	// In memory, badger limits one write to 15% of the memtable: that is ErrTooLarge too.
	o = testOptions()
	o.MemTableSize = 1 << 20
	s = mustOpen(t, "", o)
	huge := randomBytes(t, 1<<20)
	if err := s.Put(object.RawCID(huge), huge); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put over the memtable batch limit: %v, want ErrTooLarge", err)
	}
}

func TestPutSealed(t *testing.T) {
	sk, author := newKey(t)
	in := testObject{Author: author.String(), N: 7, Note: "sealed"}
	env, err := object.Seal(sk, object.KindResult, in)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := object.SealedCID(env)
	if err != nil {
		t.Fatal(err)
	}
	forEachBackend(t, func(t *testing.T, s *Store) {
		if err := s.PutDurable(c, env); err != nil {
			t.Fatalf("PutDurable(envelope): %v", err)
		}
		got, err := s.Get(c)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		var out testObject
		who, err := object.Open(got, object.KindResult, &out)
		if err != nil {
			t.Fatalf("Open stored envelope: %v", err)
		}
		if who != author || out != in {
			t.Fatalf("Open = %v %+v, want %v %+v", who, out, author, in)
		}
		// The same CID may also be put as the bare payload: it is already present, so the
		// envelope stays.
		plain, plainCID := encode(t, in)
		if !plainCID.Equals(c) {
			t.Fatalf("payload CID %s != sealed CID %s", plainCID, c)
		}
		if err := s.Put(c, plain); err != nil {
			t.Fatalf("Put payload: %v", err)
		}
		mustGet(t, s, c, env)

		// A tampered envelope is rejected.
		bad := bytes.Clone(env)
		bad[len(bad)-1] ^= 1
		other, _ := encode(t, testObject{N: 99})
		badCID := object.ObjectCID(other)
		if err := s.Put(badCID, bad); !errors.Is(err, object.ErrHashMismatch) {
			t.Fatalf("Put tampered envelope: %v", err)
		}
	})
}

// corrupt overwrites a stored block behind the store's back.
func corrupt(t *testing.T, s *Store, c cid.Cid, data []byte) {
	t.Helper()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(blockKey(c), data) }); err != nil {
		t.Fatal(err)
	}
}

func TestGetCorrupt(t *testing.T) {
	sk, _ := newKey(t)
	env, err := object.Seal(sk, object.KindClaim, testObject{N: 5})
	if err != nil {
		t.Fatal(err)
	}
	sealedCID, _, err := object.SealedCID(env)
	if err != nil {
		t.Fatal(err)
	}
	objBytes, objCID := encode(t, testObject{N: 4})
	raw := randomBytes(t, 500)
	forEachBackend(t, func(t *testing.T, s *Store) {
		for _, tc := range []struct {
			name      string
			c         cid.Cid
			good, bad []byte
		}{
			{"raw-bitflip", object.RawCID(raw), raw, append([]byte{raw[0] ^ 0x80}, raw[1:]...)},
			{"raw-truncated", object.RawCID(raw), raw, raw[:499]},
			{"object-replaced", objCID, objBytes, []byte{0xa0}},
			{"sealed-tampered", sealedCID, env, append(bytes.Clone(env[:len(env)-1]), env[len(env)-1]^1)},
			{"sealed-empty", sealedCID, env, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := s.Put(tc.c, tc.good); err != nil {
					t.Fatal(err)
				}
				corrupt(t, s, tc.c, tc.bad)
				_, err := s.Get(tc.c)
				if !errors.Is(err, ErrCorrupt) || !errors.Is(err, object.ErrHashMismatch) {
					t.Fatalf("Get of corrupt block: %v, want ErrCorrupt and ErrHashMismatch", err)
				}
				// Delete then Put heals it.
				if err := s.Delete(tc.c); err != nil {
					t.Fatal(err)
				}
				if err := s.Put(tc.c, tc.good); err != nil {
					t.Fatal(err)
				}
				mustGet(t, s, tc.c, tc.good)
			})
		}
	})
}

func TestExtendsRetention(t *testing.T) {
	for _, tc := range []struct {
		name       string
		have, want uint64
		extends    bool
	}{
		{"permanent stays", 0, 2000, false},
		{"permanent, no ttl", 0, 0, false},
		{"expiring made permanent", 1010, 0, true},
		{"later expiry extends", 1010, 1020, true},
		{"earlier expiry does not shorten", 1010, 1005, false},
		{"same expiry is a no-op", 1010, 1010, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := extendsRetention(tc.have, tc.want); got != tc.extends {
				t.Fatalf("extendsRetention(%d, %d) = %v, want %v", tc.have, tc.want, got, tc.extends)
			}
		})
	}
	now := time.Unix(1000, 0)
	if got := expiry(0, now); got != 0 {
		t.Fatalf("expiry(0) = %d", got)
	}
	if got := expiry(10*time.Second, now); got != 1010 {
		t.Fatalf("expiry(10s) = %d", got)
	}
}

func TestTTL(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := b.open(t)
			const ttl = 2 * time.Second
			expiring := randomBytes(t, 2048)
			expCID := object.RawCID(expiring)
			kept := randomBytes(t, 2048)
			keptCID := object.RawCID(kept)
			if err := s.PutWith(expCID, expiring, PutOptions{TTL: ttl}); err != nil {
				t.Fatal(err)
			}
			// Put with a TTL, then again without: the block becomes permanent.
			if err := s.PutWith(keptCID, kept, PutOptions{TTL: ttl}); err != nil {
				t.Fatal(err)
			}
			if err := s.Put(keptCID, kept); err != nil {
				t.Fatal(err)
			}
			// A shorter TTL on a permanent block does not shorten it.
			if err := s.PutWith(keptCID, kept, PutOptions{TTL: ttl}); err != nil {
				t.Fatal(err)
			}
			if err := s.PutMetaWith("lease/x", []byte("held"), PutOptions{TTL: ttl}); err != nil {
				t.Fatal(err)
			}
			if err := s.IndexWith(IndexTask, "t1", expCID, PutOptions{TTL: ttl}); err != nil {
				t.Fatal(err)
			}
			mustHave(t, s, expCID, true) // lifetime is more than TTL-1s
			mustGet(t, s, expCID, expiring)

			deadline := time.Now().Add(ttl + 3*time.Second)
			for {
				has, err := s.Has(expCID)
				if err != nil {
					t.Fatal(err)
				}
				_, metaErr := s.GetMeta("lease/x")
				cids, _, err := s.Scan(IndexTask, "t1", "", 10)
				if err != nil {
					t.Fatal(err)
				}
				if !has && errors.Is(metaErr, ErrNotFound) && len(cids) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after %s: block present %v, meta err %v, index %v", ttl+3*time.Second, has, metaErr, cids)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if _, err := s.Get(expCID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get of expired block: %v", err)
			}
			mustGet(t, s, keptCID, kept)
		})
	}
}

func cidsOf(t *testing.T, n int, tag string) []cid.Cid {
	t.Helper()
	out := make([]cid.Cid, n)
	for i := range out {
		if i%2 == 0 {
			out[i] = object.RawCID([]byte(fmt.Sprintf("%s-%d", tag, i)))
		} else {
			_, out[i] = encode(t, testObject{N: i, Note: tag})
		}
	}
	return out
}

func sortedByBytes(cs []cid.Cid) []cid.Cid {
	out := slices.Clone(cs)
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Bytes(), out[j].Bytes()) < 0 })
	return out
}

// scanPages walks every page of (ix, key) and checks each page's size.
func scanPages(t *testing.T, s *Store, ix IndexName, key string, limit int) []cid.Cid {
	t.Helper()
	var all []cid.Cid
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("scan does not terminate")
		}
		cids, next, err := s.Scan(ix, key, after, limit)
		if err != nil {
			t.Fatalf("Scan(%s, %s, %q, %d): %v", ix, key, after, limit, err)
		}
		if len(cids) > limit {
			t.Fatalf("page of %d > limit %d", len(cids), limit)
		}
		if next != "" && len(cids) != limit {
			t.Fatalf("short page (%d of %d) with a next cursor", len(cids), limit)
		}
		all = append(all, cids...)
		if next == "" {
			return all
		}
		after = next
	}
}

func TestIndexScan(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		k1 := cidsOf(t, 25, "k1")
		k2 := cidsOf(t, 5, "k2")
		for _, c := range k1 {
			for range 2 { // idempotent
				if err := s.Index(IndexSearch, "k1", c); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, c := range k2 {
			if err := s.Index(IndexSearch, "k2", c); err != nil {
				t.Fatal(err)
			}
		}
		// Same key in another index, and a key that extends "k1": neither may leak into k1.
		for _, c := range cidsOf(t, 3, "other") {
			if err := s.Index(IndexArch, "k1", c); err != nil {
				t.Fatal(err)
			}
			if err := s.Index(IndexSearch, "k10", c); err != nil {
				t.Fatal(err)
			}
		}
		want := sortedByBytes(k1)
		for _, limit := range []int{1, 7, 24, 25, 26, MaxScanLimit} {
			got := scanPages(t, s, IndexSearch, "k1", limit)
			if !slices.EqualFunc(got, want, cid.Cid.Equals) {
				t.Fatalf("limit %d: scan = %v, want %v", limit, got, want)
			}
		}
		cids, next, err := s.Scan(IndexSearch, "nothing", "", 10)
		if err != nil || len(cids) != 0 || next != "" {
			t.Fatalf("Scan of empty key = %v %q %v", cids, next, err)
		}

		// ScanAll walks (key, cid) in byte order over the whole index.
		var all []IndexEntry
		after := ""
		for {
			page, next, err := s.ScanAll(IndexSearch, after, 4)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if next == "" {
				break
			}
			after = next
		}
		if len(all) != 25+5+3 {
			t.Fatalf("ScanAll returned %d entries, want 33", len(all))
		}
		seen := map[string]bool{}
		for i, e := range all {
			id := e.Key + "/" + e.CID.KeyString()
			if seen[id] {
				t.Fatalf("duplicate entry %v", e)
			}
			seen[id] = true
			if i > 0 {
				prev := all[i-1]
				if prev.Key > e.Key || prev.Key == e.Key && bytes.Compare(prev.CID.Bytes(), e.CID.Bytes()) >= 0 {
					t.Fatalf("ScanAll out of order at %d: %v then %v", i, prev, e)
				}
			}
		}

		// Unindex removes exactly one entry; again is a no-op.
		for range 2 {
			if err := s.Unindex(IndexSearch, "k1", k1[3]); err != nil {
				t.Fatal(err)
			}
		}
		got := scanPages(t, s, IndexSearch, "k1", 10)
		if len(got) != 24 || slices.ContainsFunc(got, k1[3].Equals) {
			t.Fatalf("after Unindex: %d entries, removed one present: %v", len(got), slices.ContainsFunc(got, k1[3].Equals))
		}

		// Cursors are checked.
		_, c2, err := s.Scan(IndexSearch, "k2", "", 1)
		if err != nil || c2 == "" {
			t.Fatalf("Scan k2: %q %v", c2, err)
		}
		for _, tc := range []struct {
			name, key, after string
			limit            int
		}{
			{"cursor of another key", "k1", c2, 5},
			{"garbage cursor", "k1", "!!!", 5},
			{"cursor with padding", "k1", c2 + "==", 5},
			{"overlong cursor", "k1", strings.Repeat("A", maxCursor+4), 5},
			{"limit 0", "k1", "", 0},
			{"limit -1", "k1", "", -1},
			{"limit too big", "k1", "", MaxScanLimit + 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, _, err := s.Scan(IndexSearch, tc.key, tc.after, tc.limit); !errors.Is(err, ErrInvalid) {
					t.Fatalf("Scan = %v, want ErrInvalid", err)
				}
			})
		}
		// A Scan cursor is valid for ScanAll of the same index.
		if _, _, err := s.ScanAll(IndexSearch, c2, 5); err != nil {
			t.Fatalf("ScanAll with a Scan cursor: %v", err)
		}
	})
}

// TestScanStableUnderWrites pages through a key while other entries are added and checks that
// every original entry comes back once and no entry twice.
func TestScanStableUnderWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		orig := cidsOf(t, 40, "orig")
		for _, c := range orig {
			if err := s.Index(IndexTask, "k", c); err != nil {
				t.Fatal(err)
			}
		}
		extra := cidsOf(t, 40, "extra")
		var got []cid.Cid
		after := ""
		for i := 0; ; i++ {
			cids, next, err := s.Scan(IndexTask, "k", after, 6)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, cids...)
			if i < len(extra) {
				if err := s.Index(IndexTask, "k", extra[i]); err != nil {
					t.Fatal(err)
				}
			}
			if next == "" {
				break
			}
			after = next
		}
		seen := map[string]bool{}
		for _, c := range got {
			if seen[c.KeyString()] {
				t.Fatalf("duplicate %s", c)
			}
			seen[c.KeyString()] = true
		}
		for _, c := range orig {
			if !seen[c.KeyString()] {
				t.Fatalf("original entry %s missing", c)
			}
		}
		for i := 1; i < len(got); i++ {
			if bytes.Compare(got[i-1].Bytes(), got[i].Bytes()) >= 0 {
				t.Fatalf("out of order at %d", i)
			}
		}
	})
}

func TestIndexValidation(t *testing.T) {
	s := mustOpen(t, "", testOptions())
	c := object.RawCID([]byte("x"))
	for _, tc := range []struct {
		name string
		ix   IndexName
		key  string
		c    cid.Cid
		ok   bool
	}{
		{"plain", IndexSearch, "bafyfoo", c, true},
		{"custom name", "my_index-2", "k", c, true},
		{"unicode key", IndexArch, "é-模型", c, true},
		{"key at cap", IndexArch, strings.Repeat("k", MaxIndexKey), c, true},
		{"name at cap", IndexName(strings.Repeat("a", MaxIndexName)), "k", c, true},
		{"empty name", "", "k", c, false},
		{"upper-case name", "Search", "k", c, false},
		{"name starts with digit", "1x", "k", c, false},
		{"name with slash", "a/b", "k", c, false},
		{"name with space", "a b", "k", c, false},
		{"long name", IndexName(strings.Repeat("a", MaxIndexName+1)), "k", c, false},
		{"empty key", IndexSearch, "", c, false},
		{"key with slash", IndexSearch, "a/b", c, false},
		{"key with NUL", IndexSearch, "a\x00b", c, false},
		{"key with newline", IndexSearch, "a\nb", c, false},
		{"key with C1 control", IndexSearch, "a\u0085b", c, false},
		{"key not UTF-8", IndexSearch, "a\xffb", c, false},
		{"long key", IndexSearch, strings.Repeat("k", MaxIndexKey+1), c, false},
		{"undefined cid", IndexSearch, "k", cid.Undef, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Index(tc.ix, tc.key, tc.c)
			if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("Index(%q, %q) = %v, want ok=%v", tc.ix, tc.key, err, tc.ok)
			}
			_, _, err = s.Scan(tc.ix, tc.key, "", 1)
			if tc.c.Defined() && tc.ok != (err == nil) {
				t.Fatalf("Scan(%q, %q) = %v, want ok=%v", tc.ix, tc.key, err, tc.ok)
			}
			if err := s.Unindex(tc.ix, tc.key, tc.c); tc.ok != (err == nil) {
				t.Fatalf("Unindex(%q, %q) = %v, want ok=%v", tc.ix, tc.key, err, tc.ok)
			}
		})
	}
}

func TestMeta(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		if _, err := s.GetMeta("claim/a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetMeta missing: %v", err)
		}
		entries := map[string]string{
			"claim/b":  "2",
			"claim/a":  "1",
			"claimx":   "not under claim/",
			"lease/a":  "L",
			"claim/é":  "u",
			"progress": "",
		}
		for k, v := range entries {
			if err := s.PutMeta(k, []byte(v)); err != nil {
				t.Fatalf("PutMeta(%q): %v", k, err)
			}
		}
		if err := s.PutMetaWith("claim/a", []byte("1b"), PutOptions{Sync: true}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetMeta("claim/a")
		if err != nil || string(got) != "1b" {
			t.Fatalf("GetMeta after overwrite = %q, %v", got, err)
		}
		got, err = s.GetMeta("progress")
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("GetMeta of empty value = %#v, %v; want empty non-nil", got, err)
		}
		list, err := s.ScanMeta("claim/")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, e := range list {
			keys = append(keys, e.Key)
		}
		if want := []string{"claim/a", "claim/b", "claim/é"}; !slices.Equal(keys, want) {
			t.Fatalf("ScanMeta(claim/) keys = %q, want %q", keys, want)
		}
		if string(list[0].Value) != "1b" {
			t.Fatalf("ScanMeta value = %q", list[0].Value)
		}
		all, err := s.ScanMeta("")
		if err != nil || len(all) != len(entries) {
			t.Fatalf("ScanMeta(\"\") = %d entries, %v; want %d", len(all), err, len(entries))
		}
		for range 2 {
			if err := s.DeleteMeta("claim/b"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.GetMeta("claim/b"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetMeta after delete: %v", err)
		}
		// Meta keys never collide with blocks or indexes, and bad input is rejected.
		for _, tc := range []struct {
			name  string
			key   string
			value []byte
			opt   PutOptions
			want  error
		}{
			{"empty key", "", nil, PutOptions{}, ErrInvalid},
			{"control char", "a\tb", nil, PutOptions{}, ErrInvalid},
			{"not UTF-8", "\xc3", nil, PutOptions{}, ErrInvalid},
			{"long key", strings.Repeat("m", MaxMetaKey+1), nil, PutOptions{}, ErrInvalid},
			{"large value", "big", make([]byte, MaxMetaValue+1), PutOptions{}, ErrTooLarge},
			{"negative ttl", "k", nil, PutOptions{TTL: -1}, ErrInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := s.PutMetaWith(tc.key, tc.value, tc.opt); !errors.Is(err, tc.want) {
					t.Fatalf("PutMetaWith = %v, want %v", err, tc.want)
				}
			})
		}
		if _, err := s.GetMeta("a\x00"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("GetMeta bad key: %v", err)
		}
		if _, err := s.ScanMeta("\n"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("ScanMeta bad prefix: %v", err)
		}
		if err := s.DeleteMeta(""); !errors.Is(err, ErrInvalid) {
			t.Fatalf("DeleteMeta bad key: %v", err)
		}
	})
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	objBytes, objCID := encode(t, testObject{N: 11})
	raw := randomBytes(t, 2<<20) // value-log resident
	rawCID := object.RawCID(raw)
	if err := s.PutDurable(objCID, objBytes); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(rawCID, raw); err != nil {
		t.Fatal(err)
	}
	if err := s.Index(IndexArch, "a1", objCID); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta("worker/progress", []byte("step 40")); err != nil {
		t.Fatal(err)
	}
	// The directory is locked while open.
	if s2, err := Open(dir, testOptions()); err == nil {
		_ = s2.Close()
		t.Fatal("second Open of a locked directory succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, dir, testOptions())
	mustGet(t, s, objCID, objBytes)
	mustGet(t, s, rawCID, raw)
	cids, _, err := s.Scan(IndexArch, "a1", "", 10)
	if err != nil || len(cids) != 1 || !cids[0].Equals(objCID) {
		t.Fatalf("Scan after reopen = %v, %v", cids, err)
	}
	v, err := s.GetMeta("worker/progress")
	if err != nil || string(v) != "step 40" {
		t.Fatalf("GetMeta after reopen = %q, %v", v, err)
	}
}

func TestLayoutVersion(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(versionKey, []byte("99")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(dir, testOptions()); !errors.Is(err, ErrVersion) {
		if err == nil {
			_ = s.Close()
		}
		t.Fatalf("Open of a future layout = %v, want ErrVersion", err)
	}
	// The failed Open released the directory: a second try fails the same way, not on the lock.
	if s, err := Open(dir, testOptions()); !errors.Is(err, ErrVersion) {
		if err == nil {
			_ = s.Close()
		}
		t.Fatalf("second Open of a future layout = %v, want ErrVersion", err)
	}
}

func TestOpenOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  string
		opt  Options
	}{
		{"in-memory with dir", "somewhere", Options{InMemory: true}},
		{"negative block size", "", Options{MaxBlockSize: -1}},
		{"negative memtable", "", Options{MemTableSize: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.dir, tc.opt)
			if !errors.Is(err, ErrInvalid) {
				if err == nil {
					_ = s.Close()
				}
				t.Fatalf("Open = %v, want ErrInvalid", err)
			}
		})
	}
	s := mustOpen(t, "", Options{InMemory: true, MemTableSize: 4 << 20, BlockCacheSize: 1 << 20})
	if !s.InMemory() {
		t.Fatal("InMemory() = false")
	}
	n, err := s.CollectGarbage()
	if err != nil || n != 0 {
		t.Fatalf("CollectGarbage in memory = %d, %v", n, err)
	}
}

func TestCloseAndUseAfterClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		objBytes, objCID := encode(t, testObject{N: 1})
		if err := s.Put(objCID, objBytes); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := s.Close(); err != nil {
				t.Fatalf("Close #%d: %v", i+1, err)
			}
		}
		ops := map[string]func() error{
			"Put":        func() error { return s.Put(objCID, objBytes) },
			"PutDurable": func() error { return s.PutDurable(objCID, objBytes) },
			"Get":        func() error { _, err := s.Get(objCID); return err },
			"Has":        func() error { _, err := s.Has(objCID); return err },
			"Size":       func() error { _, err := s.Size(objCID); return err },
			"Delete":     func() error { return s.Delete(objCID) },
			"Index":      func() error { return s.Index(IndexTask, "k", objCID) },
			"Unindex":    func() error { return s.Unindex(IndexTask, "k", objCID) },
			"Scan":       func() error { _, _, err := s.Scan(IndexTask, "k", "", 1); return err },
			"ScanAll":    func() error { _, _, err := s.ScanAll(IndexTask, "", 1); return err },
			"PutMeta":    func() error { return s.PutMeta("k", nil) },
			"GetMeta":    func() error { _, err := s.GetMeta("k"); return err },
			"DeleteMeta": func() error { return s.DeleteMeta("k") },
			"ScanMeta":   func() error { _, err := s.ScanMeta(""); return err },
			"Sync":       func() error { return s.Sync() },
			"DiskUsage":  func() error { _, err := s.DiskUsage(); return err },
			"GC":         func() error { _, err := s.CollectGarbage(); return err },
		}
		for name, op := range ops {
			if err := op(); !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close = %v, want ErrClosed", name, err)
			}
		}
	})
}

func TestConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		const workers, each = 8, 30
		blocks := make([][]byte, each)
		for i := range blocks {
			blocks[i] = []byte(fmt.Sprintf("shared block %d", i))
		}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					// Every worker writes the same blocks (idempotent puts racing) and its own
					// index entries and meta.
					b := blocks[(i+w)%each]
					c := object.RawCID(b)
					if err := s.Put(c, b); err != nil {
						errs <- err
						return
					}
					if err := s.Index(IndexTask, fmt.Sprintf("w%d", w), c); err != nil {
						errs <- err
						return
					}
					if err := s.PutMeta(fmt.Sprintf("w/%d", w), []byte{byte(i)}); err != nil {
						errs <- err
						return
					}
					if _, err := s.Get(c); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for w := range workers {
			cids := scanPages(t, s, IndexTask, fmt.Sprintf("w%d", w), 7)
			if len(cids) != each {
				t.Fatalf("worker %d: %d index entries, want %d", w, len(cids), each)
			}
		}
	})
}

// TestCloseRacesOperations closes the store while goroutines use it: every call either works or
// returns ErrClosed, and nothing panics or races.
func TestCloseRacesOperations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					b := []byte(fmt.Sprintf("race %d %d", w, i))
					err := s.Put(object.RawCID(b), b)
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("Put: %v", err)
						return
					}
				}
			})
		}
		time.Sleep(20 * time.Millisecond)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	})
}

// TestGCLoop runs the background GC on a short interval over data that is written and deleted,
// and checks that Close stops it and leaves no goroutine behind.
func TestGCLoop(t *testing.T) {
	before := runtime.NumGoroutine()
	o := testOptions()
	o.GCInterval = 5 * time.Millisecond
	o.ValueLogFileSize = 1 << 20
	s, err := Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		b := randomBytes(t, 1<<20+i) // value-log resident
		c := object.RawCID(b)
		if err := s.Put(c, b); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := s.Delete(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(30 * time.Millisecond) // a few ticks of the loop
	if _, err := s.CollectGarbage(); err != nil {
		t.Fatalf("CollectGarbage: %v", err)
	}
	n, err := s.DiskUsage()
	if err != nil || n < 3<<20 {
		t.Fatalf("DiskUsage = %d, %v; want at least the 3 MiB still stored", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkGoroutines(t, before)
}

// checkGoroutines waits for the goroutine count to fall back to before.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after Close\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// captureHandler records log records for TestLogger.
type captureHandler struct {
	mu   sync.Mutex
	recs []slog.Record
	with []slog.Attr
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	r = r.Clone()
	r.AddAttrs(h.with...)
	h.recs = append(h.recs, r)
	return nil
}
func (h *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &shared{h, append(slices.Clone(h.with), as...)}
}
func (h *captureHandler) WithGroup(string) slog.Handler { return h }

// shared is a view of a captureHandler with extra attributes.
type shared struct {
	root *captureHandler
	with []slog.Attr
}

func (h *shared) Enabled(context.Context, slog.Level) bool { return true }
func (h *shared) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.with...)
	return h.root.Handle(ctx, r)
}
func (h *shared) WithAttrs(as []slog.Attr) slog.Handler {
	return &shared{h.root, append(slices.Clone(h.with), as...)}
}
func (h *shared) WithGroup(string) slog.Handler { return h }

func TestLogger(t *testing.T) {
	h := &captureHandler{}
	o := testOptions()
	o.Logger = slog.New(h)
	s, err := Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var fromBadger, fromStore int
	for _, r := range h.recs {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "component" && a.Value.String() == "badger" {
				fromBadger++
				if r.Level > slog.LevelWarn {
					t.Errorf("badger logged an error on a clean open/close: %s", r.Message)
				}
				if strings.HasSuffix(r.Message, "\n") {
					t.Errorf("message keeps its newline: %q", r.Message)
				}
			}
			if a.Key == "component" && a.Value.String() == "store" {
				fromStore++
			}
			return true
		})
	}
	if fromBadger == 0 || fromStore == 0 {
		t.Fatalf("records: %d from badger, %d from store; want both", fromBadger, fromStore)
	}
}
