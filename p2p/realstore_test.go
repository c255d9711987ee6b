package p2p_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/p2p"
	"github.com/airanode/airanode/p2p/p2ptest"
	"github.com/airanode/airanode/store"
)

// storeIndex adapts the badger store's search index to p2p.SearchIndex, as the node does.
type storeIndex struct{ s *store.Store }

func (x storeIndex) ListSearch(search, after string, limit int) ([]cid.Cid, string, error) {
	return x.s.Scan(store.IndexSearch, search, after, limit)
}

func realNode(t *testing.T) (*p2p.Host, *store.Store) {
	t.Helper()
	st, err := store.Open("", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	admit := func(_ context.Context, search string, c cid.Cid, _ []byte) error {
		return st.Index(store.IndexSearch, search, c)
	}
	h, err := p2p.New(context.Background(), p2ptest.Config(), p2p.Deps{Blocks: st, Index: storeIndex{st}, Admit: admit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h, st
}

// TestWithBadgerStore runs block exchange and catch-up between two hosts backed by the real store.
func TestWithBadgerStore(t *testing.T) {
	a, sa := realNode(t)
	b, sb := realNode(t)
	var want []cid.Cid
	for k := range 40 {
		env, c := p2ptest.Seal(t, b.Libp2p().Peerstore().PrivKey(b.ID()), search, int64(k), 32)
		if err := sb.Put(c, env); err != nil {
			t.Fatal(err)
		}
		if err := sb.Index(store.IndexSearch, search, c); err != nil {
			t.Fatal(err)
		}
		want = append(want, c)
	}
	blob := bytes.Repeat([]byte("checkpoint"), 300_000) // 3 MB: chunked inside the store
	blobCID := object.RawCID(blob)
	if err := sb.Put(blobCID, blob); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Connect(ctx, b.Addrs()[0].String()); err != nil {
		t.Fatal(err)
	}

	st, err := a.Sync().CatchUp(ctx, b.ID(), search)
	if err != nil || st.Fetched != len(want) {
		t.Fatalf("catch-up: %+v %v", st, err)
	}
	got, next, err := sa.Scan(store.IndexSearch, search, "", 100)
	if err != nil || next != "" || len(got) != len(want) {
		t.Fatalf("a's index: %d CIDs, next %q, %v", len(got), next, err)
	}
	res, err := a.Blocks().Fetch(ctx, b.ID(), []cid.Cid{blobCID, object.RawCID([]byte("absent"))})
	if !errors.Is(err, p2p.ErrIncomplete) || !bytes.Equal(res[0].Data, blob) || !errors.Is(res[1].Err, p2p.ErrNotFound) {
		t.Fatalf("fetch: %v / %v", err, res[1].Err)
	}
	if stored, err := sa.Get(blobCID); err != nil || !bytes.Equal(stored, blob) {
		t.Fatalf("blob not stored: %v", err)
	}
}
