package p2p

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/airanode/airanode/object"
)

func testSyncConfig() SyncConfig {
	c := DefaultSyncConfig()
	c.Interval = 0
	c.RequestTimeout = 5 * time.Second
	return c
}

type syncNode struct {
	h      host.Host
	store  *MemBlockStore
	index  *MemIndex
	blocks *Blocks
	sync   *Sync
}

func newSyncNode(t *testing.T, h host.Host, cfg SyncConfig, admit func(*MemIndex) Admitter) *syncNode {
	t.Helper()
	n := &syncNode{h: h, store: NewMemBlockStore(), index: NewMemIndex()}
	n.blocks = newTestBlocks(t, h, n.store, testBlocksConfig())
	a := MemAdmitter(n.index)
	if admit != nil {
		a = admit(n.index)
	}
	s, err := NewSync(h, n.blocks, n.index, a, cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	n.sync = s
	return n
}

// fill stores and indexes n blobs under search; it returns their CIDs.
func (n *syncNode) fill(t *testing.T, search string, count int) []cid.Cid {
	t.Helper()
	var out []cid.Cid
	for i := range count {
		b := fmt.Appendf(nil, "%s/%s/%d", n.h.ID(), search, i)
		c := object.RawCID(b)
		if err := n.store.Put(c, b); err != nil {
			t.Fatal(err)
		}
		n.index.Add(search, c)
		out = append(out, c)
	}
	return out
}

func TestSyncListPages(t *testing.T) {
	hs := mockHosts(t, 2)
	cfg := testSyncConfig()
	cfg.MaxPage = 10
	a := newSyncNode(t, hs[0], cfg, nil)
	b := newSyncNode(t, hs[1], cfg, nil)
	want := b.fill(t, "s", 25)
	b.fill(t, "other", 3)

	var got []cid.Cid
	after := ""
	sizes := []int{}
	for {
		page, next, err := a.sync.List(context.Background(), hs[1].ID(), "s", after, 100) // capped to 10
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page))
		got = append(got, page...)
		if next == "" {
			break
		}
		after = next
	}
	if fmt.Sprint(sizes) != "[10 10 5]" || len(got) != len(want) {
		t.Fatalf("pages %v, %d CIDs", sizes, len(got))
	}
	page, next, err := a.sync.List(context.Background(), hs[1].ID(), "nothing", "", 10)
	if err != nil || len(page) != 0 || next != "" {
		t.Fatalf("unknown search: %v %q %v", page, next, err)
	}
	if _, _, err := a.sync.List(context.Background(), hs[1].ID(), "", "", 10); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty search: %v", err)
	}
}

func TestCatchUp(t *testing.T) {
	hs := mockHosts(t, 2)
	cfg := testSyncConfig()
	cfg.MaxPage = 7
	a := newSyncNode(t, hs[0], cfg, nil)
	b := newSyncNode(t, hs[1], cfg, nil)
	want := b.fill(t, "s", 30)
	b.fill(t, "other", 4)
	for _, c := range want[:3] { // a already holds three
		data, _ := b.store.Get(c)
		_ = a.store.Put(c, data)
		a.index.Add("s", c)
	}

	st, err := a.sync.CatchUp(context.Background(), hs[1].ID(), "s")
	if err != nil {
		t.Fatal(err)
	}
	if st.Listed != 30 || st.Fetched != 27 || st.Failed != 0 || st.Pages != 5 {
		t.Fatalf("stats %+v", st)
	}
	for _, c := range want {
		if ok, _ := a.store.Has(c); !ok {
			t.Fatalf("%s not fetched", c)
		}
	}
	if a.index.Len("s") != 30 || a.index.Len("other") != 0 {
		t.Fatalf("index: s=%d other=%d", a.index.Len("s"), a.index.Len("other"))
	}
	st, err = a.sync.CatchUp(context.Background(), hs[1].ID(), "s")
	if err != nil || st.Fetched != 0 || st.Listed != 30 {
		t.Fatalf("second catch-up: %+v %v", st, err)
	}
}

// lyingStore serves whatever bytes it is given, unverified.
type lyingStore struct{ m map[cid.Cid][]byte }

func (s lyingStore) Get(c cid.Cid) ([]byte, error) {
	if b, ok := s.m[c]; ok {
		return b, nil
	}
	return nil, ErrNotFound
}
func (s lyingStore) Has(c cid.Cid) (bool, error) { _, ok := s.m[c]; return ok, nil }
func (s lyingStore) Put(c cid.Cid, b []byte) error {
	s.m[c] = b
	return nil
}

func TestCatchUpFromLyingPeer(t *testing.T) {
	hs := mockHosts(t, 2)
	a := newSyncNode(t, hs[0], testSyncConfig(), nil)
	good := []byte("good")
	forged := object.RawCID([]byte("what the CID names"))
	absent := object.RawCID([]byte("never stored"))
	ls := lyingStore{m: map[cid.Cid][]byte{object.RawCID(good): good, forged: []byte("other bytes")}}
	newTestBlocks(t, hs[1], ls, testBlocksConfig())
	idx := NewMemIndex()
	for _, c := range []cid.Cid{object.RawCID(good), forged, absent} {
		idx.Add("s", c)
	}
	bs, _ := NewBlocks(hs[1], ls, testBlocksConfig(), quietLog()) // replaces the handler with the same store
	t.Cleanup(func() { _ = bs.Close() })
	sy, err := NewSync(hs[1], bs, idx, nil, testSyncConfig(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sy.Close() })

	st, err := a.sync.CatchUp(context.Background(), hs[1].ID(), "s")
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("err = %v, want ErrIncomplete", err)
	}
	if st.Fetched != 1 || st.Failed != 2 {
		t.Fatalf("stats %+v", st)
	}
	if ok, _ := a.store.Has(forged); ok || a.index.Len("s") != 1 {
		t.Fatal("forged block stored or indexed")
	}
}

func TestCatchUpAdmitFailure(t *testing.T) {
	hs := mockHosts(t, 2)
	refuse := func(*MemIndex) Admitter {
		return func(context.Context, string, cid.Cid, []byte) error { return errors.New("not in this search") }
	}
	a := newSyncNode(t, hs[0], testSyncConfig(), refuse)
	b := newSyncNode(t, hs[1], testSyncConfig(), nil)
	b.fill(t, "s", 4)
	st, err := a.sync.CatchUp(context.Background(), hs[1].ID(), "s")
	if !errors.Is(err, ErrIncomplete) || st.Failed != 4 || st.Fetched != 0 {
		t.Fatalf("%+v %v", st, err)
	}
}

// stuckIndex always returns the same page and cursor.
type stuckIndex struct{ c cid.Cid }

func (x stuckIndex) ListSearch(string, string, int) ([]cid.Cid, string, error) {
	return []cid.Cid{x.c}, "same", nil
}

// hugeIndex returns more CIDs than asked for.
type hugeIndex struct{}

func (hugeIndex) ListSearch(_ string, _ string, limit int) ([]cid.Cid, string, error) {
	return testCIDs(limit + 1), "", nil
}

func TestCatchUpFromMisbehavingIndex(t *testing.T) {
	tests := []struct {
		name  string
		index SearchIndex
		want  error
	}{
		{"cursor does not advance", stuckIndex{object.RawCID([]byte("x"))}, ErrProtocol},
		{"page over the limit", hugeIndex{}, ErrRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := mockHosts(t, 2)
			a := newSyncNode(t, hs[0], testSyncConfig(), nil)
			bs := newTestBlocks(t, hs[1], NewMemBlockStore(), testBlocksConfig())
			sy, err := NewSync(hs[1], bs, tt.index, nil, testSyncConfig(), quietLog())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sy.Close() })
			if _, err := a.sync.CatchUp(context.Background(), hs[1].ID(), "s"); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSyncServerRejects(t *testing.T) {
	hs := mockHosts(t, 2)
	cfg := testSyncConfig()
	cfg.PeerRequestsPerSecond = 0.01
	cfg.PeerRequestBurst = 2
	newSyncNode(t, hs[1], cfg, nil)

	ask := func(typ byte, payload []byte) (byte, []byte) {
		rt, p, err := rawRequest(t, hs[0], hs[1].ID(), ProtocolSync, typ, payload, 1<<16)
		if err != nil {
			t.Fatalf("read answer: %v", err)
		}
		return rt, p
	}
	// A malformed request is refused.
	if typ, p := ask(frameSyncRequest, []byte{0, 0, 1}); typ != frameError || p[0] != byte(StatusRefused) {
		t.Fatalf("malformed request: %x %x", typ, p)
	}
	if typ, _ := ask(frameSyncRequest, syncRequest{Search: "s", Limit: 1}.encode()); typ != frameSyncPage {
		t.Fatalf("second request: frame %x, want a page", typ)
	}
	// Those two used the burst: the next is rate-limited.
	if typ, p := ask(frameSyncRequest, syncRequest{Search: "s", Limit: 1}.encode()); typ != frameError || p[0] != byte(StatusRateLimited) {
		t.Fatalf("rate limit: %x %x", typ, p)
	}
}

func TestSyncWrongFrameType(t *testing.T) {
	hs := mockHosts(t, 2)
	newSyncNode(t, hs[1], testSyncConfig(), nil)
	typ, p, err := rawRequest(t, hs[0], hs[1].ID(), ProtocolSync, frameBlockRequest, blockRequest{CIDs: testCIDs(1)}.encode(), 1024)
	if err != nil || typ != frameError || Status(p[0]) != StatusRefused {
		t.Fatalf("got %x %x %v", typ, p, err)
	}
}

func TestFollowCatchesUpInBackground(t *testing.T) {
	mn, hs := mockNet(t, 3)
	a := newSyncNode(t, hs[0], testSyncConfig(), nil)
	b := newSyncNode(t, hs[1], testSyncConfig(), nil)
	c := newSyncNode(t, hs[2], testSyncConfig(), nil)
	b.fill(t, "s", 12)
	c.fill(t, "s", 5)
	if err := mn.ConnectAllButSelf(); err != nil {
		t.Fatal(err)
	}
	waitProtocols(t, hs[0], ProtocolSync, hs[1], hs[2])
	a.sync.Follow("s")
	if got := a.sync.Following(); len(got) != 1 || got[0] != "s" {
		t.Fatalf("Following = %v", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.index.Len("s") != 17 {
		if time.Now().After(deadline) {
			t.Fatalf("index has %d of 17", a.index.Len("s"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.sync.Unfollow("s")
	if len(a.sync.Following()) != 0 {
		t.Fatal("still following")
	}
	st, err := a.sync.CatchUpAll(context.Background(), "s")
	if err != nil || st.Listed != 17 || st.Fetched != 0 {
		t.Fatalf("CatchUpAll: %+v %v", st, err)
	}
}

func TestSyncClose(t *testing.T) {
	hs := mockHosts(t, 2)
	a := newSyncNode(t, hs[0], testSyncConfig(), nil)
	b := newSyncNode(t, hs[1], testSyncConfig(), nil)
	a.fill(t, "s", 1)
	if _, _, err := b.sync.List(context.Background(), hs[0].ID(), "s", "", 1); err != nil {
		t.Fatalf("before Close: %v", err)
	}
	if err := a.sync.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.sync.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := a.sync.List(context.Background(), hs[1].ID(), "s", "", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("List after Close: %v", err)
	}
	// The handler is gone: the peer's requests fail.
	if _, _, err := b.sync.List(context.Background(), hs[0].ID(), "s", "", 1); err == nil {
		t.Fatal("a closed Sync still answers")
	}
}
