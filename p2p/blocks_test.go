package p2p

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/airanode/airanode/object"
)

// mockHosts returns n connected hosts on an in-memory mocknet.
func mockHosts(t *testing.T, n int) []host.Host {
	t.Helper()
	return mockHostsTB(t, n)
}

func mockHostsTB(t testing.TB, n int) []host.Host {
	t.Helper()
	mn, hosts := mockNet(t, n)
	if err := mn.ConnectAllButSelf(); err != nil {
		t.Fatal(err)
	}
	return hosts
}

// mockNet returns n linked but unconnected hosts: tests that rely on identify register their
// handlers first, then connect.
func mockNet(t testing.TB, n int) (mocknet.Mocknet, []host.Host) {
	t.Helper()
	mn := mocknet.New()
	t.Cleanup(func() { _ = mn.Close() })
	hosts := make([]host.Host, n)
	for i := range hosts {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		hosts[i] = h
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	return mn, hosts
}

func testBlocksConfig() BlocksConfig {
	c := DefaultBlocksConfig()
	c.RequestTimeout = 10 * time.Second
	c.IdleTimeout = 2 * time.Second
	return c
}

func newTestBlocks(t *testing.T, h host.Host, store BlockStore, cfg BlocksConfig) *Blocks {
	t.Helper()
	b, err := NewBlocks(h, store, cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

type testObj struct {
	Name string `cbor:"name"`
	Pad  []byte `cbor:"pad"`
}

// blocksOfEveryKind returns a raw blob, an unsigned object and a signed envelope, with their CIDs.
func blocksOfEveryKind(t *testing.T) ([]cid.Cid, [][]byte) {
	t.Helper()
	blob := make([]byte, 3000)
	_, _ = rand.Read(blob)
	obj, objCID, err := object.Encode(testObj{Name: "unsigned"})
	if err != nil {
		t.Fatal(err)
	}
	sk, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	env, err := object.Seal(sk, object.KindResult, testObj{Name: "signed"})
	if err != nil {
		t.Fatal(err)
	}
	envCID, _, err := object.SealedCID(env)
	if err != nil {
		t.Fatal(err)
	}
	return []cid.Cid{object.RawCID(blob), objCID, envCID}, [][]byte{blob, obj, env}
}

func TestFetchEveryKindAndMissing(t *testing.T) {
	hs := mockHosts(t, 2)
	remote := NewMemBlockStore()
	cids, data := blocksOfEveryKind(t)
	for i := range cids {
		if err := remote.Put(cids[i], data[i]); err != nil {
			t.Fatal(err)
		}
	}
	local := NewMemBlockStore()
	a := newTestBlocks(t, hs[0], local, testBlocksConfig())
	b := newTestBlocks(t, hs[1], remote, testBlocksConfig())

	missing := object.RawCID([]byte("nobody has this"))
	want := append(append([]cid.Cid{}, cids...), missing)
	got, err := a.Fetch(context.Background(), hs[1].ID(), want)
	if !errors.Is(err, ErrIncomplete) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("Fetch error = %v, want ErrIncomplete wrapping ErrNotFound", err)
	}
	for i := range cids {
		if got[i].Err != nil || !bytes.Equal(got[i].Data, data[i]) {
			t.Fatalf("block %d: err %v, %d bytes", i, got[i].Err, len(got[i].Data))
		}
		if ok, _ := local.Has(cids[i]); !ok {
			t.Fatalf("block %d was not stored", i)
		}
	}
	if !errors.Is(got[3].Err, ErrNotFound) || got[3].Data != nil {
		t.Fatalf("missing block: %+v", got[3])
	}
	if local.Len() != 3 {
		t.Fatalf("local store has %d blocks, want 3", local.Len())
	}

	// Held blocks are answered locally: the remote service is gone, the fetch still succeeds.
	_ = b.Close()
	got, err = a.Fetch(context.Background(), hs[1].ID(), cids)
	if err != nil {
		t.Fatalf("local refetch: %v", err)
	}
	for i := range cids {
		if !bytes.Equal(got[i].Data, data[i]) {
			t.Fatalf("local refetch %d differs", i)
		}
	}
	if _, err := a.Fetch(context.Background(), hs[1].ID(), []cid.Cid{missing}); err == nil {
		t.Fatal("fetch from a closed service succeeded")
	}
	_ = a.Close()
	if _, err := a.Fetch(context.Background(), hs[1].ID(), cids); !errors.Is(err, ErrClosed) {
		t.Fatalf("fetch after Close: %v", err)
	}
}

func TestFetchRejectsDisallowedCID(t *testing.T) {
	hs := mockHosts(t, 2)
	a := newTestBlocks(t, hs[0], NewMemBlockStore(), testBlocksConfig())
	newTestBlocks(t, hs[1], NewMemBlockStore(), testBlocksConfig())
	got, err := a.Fetch(context.Background(), hs[1].ID(), []cid.Cid{cid.Undef})
	if !errors.Is(err, ErrIncomplete) || !errors.Is(got[0].Err, object.ErrBadCID) {
		t.Fatalf("got %v / %v, want ErrBadCID", err, got[0].Err)
	}
}

func TestFetchSplitsLongLists(t *testing.T) {
	hs := mockHosts(t, 2)
	remote := NewMemBlockStore()
	var cids []cid.Cid
	for i := range 150 {
		b := []byte{byte(i), byte(i >> 8), 'x'}
		c := object.RawCID(b)
		_ = remote.Put(c, b)
		cids = append(cids, c)
	}
	cfg := testBlocksConfig()
	cfg.MaxWant = 64
	a := newTestBlocks(t, hs[0], NewMemBlockStore(), cfg)
	newTestBlocks(t, hs[1], remote, cfg)
	got, err := a.Fetch(context.Background(), hs[1].ID(), cids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 150 {
		t.Fatalf("%d results", len(got))
	}
}

func TestFetchOversizedBlocks(t *testing.T) {
	hs := mockHosts(t, 2)
	small := bytes.Repeat([]byte{1}, 1000)
	mid := bytes.Repeat([]byte{2}, 20<<10)  // over the requester's cap, under the responder's
	huge := bytes.Repeat([]byte{3}, 80<<10) // over the responder's cap
	remote := NewMemBlockStore()
	for _, b := range [][]byte{small, mid, huge} {
		_ = remote.Put(object.RawCID(b), b)
	}
	rcfg := testBlocksConfig()
	rcfg.MaxBlockSize = 64 << 10
	newTestBlocks(t, hs[1], remote, rcfg)
	lcfg := testBlocksConfig()
	lcfg.MaxBlockSize = 16 << 10
	local := NewMemBlockStore()
	a := newTestBlocks(t, hs[0], local, lcfg)

	// The responder refuses a block over its own cap, and serves the rest.
	got, _ := a.Fetch(context.Background(), hs[1].ID(), []cid.Cid{object.RawCID(huge), object.RawCID(small)})
	if !errors.Is(got[0].Err, ErrTooLarge) {
		t.Fatalf("huge: %v, want ErrTooLarge", got[0].Err)
	}
	if got[1].Err != nil {
		t.Fatalf("small after huge: %v", got[1].Err)
	}
	// A frame over the requester's cap is refused before it is read; the stream is abandoned.
	got, _ = a.Fetch(context.Background(), hs[1].ID(), []cid.Cid{object.RawCID(mid), object.RawCID(small)})
	if !errors.Is(got[0].Err, ErrTooLarge) {
		t.Fatalf("mid: %v, want ErrTooLarge", got[0].Err)
	}
	if ok, _ := local.Has(object.RawCID(mid)); ok {
		t.Fatal("oversized block was stored")
	}
}

// maliciousResponder serves ProtocolBlocks on h by reading the request and calling answer.
func maliciousResponder(t *testing.T, h host.Host, answer func(req blockRequest, w *bufio.Writer)) {
	t.Helper()
	h.SetStreamHandler(ProtocolBlocks, func(s network.Stream) {
		defer s.Close()
		typ, p, err := readFrame(bufio.NewReader(s), requestMax(HardMaxWant))
		if err != nil || typ != frameBlockRequest {
			_ = s.Reset()
			return
		}
		req, err := decodeBlockRequest(p, HardMaxWant)
		if err != nil {
			_ = s.Reset()
			return
		}
		w := bufio.NewWriter(s)
		answer(req, w)
		_ = w.Flush()
	})
}

func TestFetchFromMaliciousResponder(t *testing.T) {
	good := []byte("the real block")
	goodCID := object.RawCID(good)
	other := []byte("another block")
	otherCID := object.RawCID(other)
	_, objs := blocksOfEveryKind(t)
	sk, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	env, _ := object.Seal(sk, object.KindResult, testObj{Name: "x"})
	envCID, _, _ := object.SealedCID(env)
	tampered := bytes.Clone(env)
	tampered[len(tampered)-1] ^= 1 // the signature no longer verifies

	tests := []struct {
		name   string
		want   []cid.Cid
		answer func(req blockRequest, w *bufio.Writer)
		errs   []error // per CID
	}{
		{
			name: "bytes do not match the CID",
			want: []cid.Cid{goodCID, otherCID},
			answer: func(req blockRequest, w *bufio.Writer) {
				_ = writeFrame(w, frameBlock, blockHeader(req.CIDs[0]), []byte("forged bytes"))
				_ = writeFrame(w, frameBlock, blockHeader(req.CIDs[1]), other)
			},
			errs: []error{object.ErrHashMismatch, nil},
		},
		{
			name: "object CID answered with another object",
			want: []cid.Cid{object.ObjectCID(objs[1])},
			answer: func(req blockRequest, w *bufio.Writer) {
				_ = writeFrame(w, frameBlock, blockHeader(req.CIDs[0]), objs[1][:len(objs[1])-1])
			},
			errs: []error{object.ErrHashMismatch},
		},
		{
			name: "envelope with a broken signature",
			want: []cid.Cid{envCID},
			answer: func(req blockRequest, w *bufio.Writer) {
				_ = writeFrame(w, frameBlock, blockHeader(req.CIDs[0]), tampered)
			},
			errs: []error{object.ErrHashMismatch},
		},
		{
			name: "answers out of order",
			want: []cid.Cid{goodCID, otherCID},
			answer: func(req blockRequest, w *bufio.Writer) {
				_ = writeFrame(w, frameBlock, blockHeader(otherCID), other)
				_ = writeFrame(w, frameBlock, blockHeader(goodCID), good)
			},
			errs: []error{ErrProtocol, ErrProtocol},
		},
		{
			name: "oversized frame",
			want: []cid.Cid{goodCID},
			answer: func(req blockRequest, w *bufio.Writer) {
				_ = writeFrame(w, frameBlock, blockHeader(req.CIDs[0]), make([]byte, 70<<10))
			},
			errs: []error{ErrTooLarge},
		},
		{
			name: "unknown frame type",
			want: []cid.Cid{goodCID},
			answer: func(req blockRequest, w *bufio.Writer) {
				_ = writeFrame(w, 0x42, []byte("hi"))
			},
			errs: []error{ErrProtocol},
		},
		{
			name: "malformed missing frame",
			want: []cid.Cid{goodCID},
			answer: func(req blockRequest, w *bufio.Writer) {
				_ = writeFrame(w, frameMissing, blockHeader(req.CIDs[0]))
			},
			errs: []error{ErrMalformed},
		},
		{
			name:   "stream ends early",
			want:   []cid.Cid{goodCID, otherCID},
			answer: func(req blockRequest, w *bufio.Writer) { _ = writeFrame(w, frameBlock, blockHeader(goodCID), good) },
			errs:   []error{nil, ErrProtocol},
		},
		{
			name: "error frame",
			want: []cid.Cid{goodCID},
			answer: func(req blockRequest, w *bufio.Writer) {
				_ = writeFrame(w, frameError, errorFrame{StatusRateLimited, "later"}.encode())
			},
			errs: []error{ErrRateLimited},
		},
		{
			name: "stalls",
			want: []cid.Cid{goodCID},
			answer: func(req blockRequest, w *bufio.Writer) {
				time.Sleep(600 * time.Millisecond)
			},
			errs: []error{errAny},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := mockHosts(t, 2)
			cfg := testBlocksConfig()
			cfg.MaxBlockSize = 64 << 10
			cfg.IdleTimeout = 300 * time.Millisecond
			local := NewMemBlockStore()
			a := newTestBlocks(t, hs[0], local, cfg)
			maliciousResponder(t, hs[1], tt.answer)
			got, err := a.Fetch(context.Background(), hs[1].ID(), tt.want)
			for i, want := range tt.errs {
				switch {
				case want == nil && got[i].Err != nil:
					t.Errorf("CID %d: %v, want success", i, got[i].Err)
				case want == errAny && got[i].Err == nil:
					t.Errorf("CID %d: success, want an error", i)
				case want != nil && want != errAny && !errors.Is(got[i].Err, want):
					t.Errorf("CID %d: %v, want %v", i, got[i].Err, want)
				}
				if got[i].Err != nil {
					if ok, _ := local.Has(tt.want[i]); ok {
						t.Errorf("CID %d failed but is stored", i)
					}
				}
			}
			if err == nil {
				t.Error("Fetch returned no error")
			}
		})
	}
}

var errAny = errors.New("any error")

func TestServeRejectsBadRequests(t *testing.T) {
	tests := []struct {
		name    string
		typ     byte
		payload []byte
	}{
		{"wrong frame type", frameSyncRequest, syncRequest{Search: "s", Limit: 1}.encode()},
		{"zero CIDs", frameBlockRequest, []byte{0}},
		{"over MaxWant", frameBlockRequest, blockRequest{CIDs: testCIDs(9)}.encode()},
		{"garbage", frameBlockRequest, []byte{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := mockHosts(t, 2)
			cfg := testBlocksConfig()
			cfg.MaxWant = 8
			newTestBlocks(t, hs[1], NewMemBlockStore(), cfg)
			typ, p, err := rawRequest(t, hs[0], hs[1].ID(), ProtocolBlocks, tt.typ, tt.payload, 1024)
			if err != nil {
				t.Fatalf("no error frame: %v", err)
			}
			e, err := decodeError(p)
			if typ != frameError || err != nil || e.Status != StatusRefused {
				t.Fatalf("got frame %x %+v %v, want a refusal", typ, e, err)
			}
		})
	}
}

func TestServeRateLimitsPerPeer(t *testing.T) {
	hs := mockHosts(t, 3)
	remote := NewMemBlockStore()
	var cids []cid.Cid
	for i := range 5 {
		b := []byte{byte(i), 'r'}
		_ = remote.Put(object.RawCID(b), b)
		cids = append(cids, object.RawCID(b))
	}
	cfg := testBlocksConfig()
	cfg.PeerBlocksPerSecond = 0.01
	cfg.PeerBlockBurst = 2
	newTestBlocks(t, hs[1], remote, cfg)
	a := newTestBlocks(t, hs[0], NewMemBlockStore(), testBlocksConfig())
	got, err := a.Fetch(context.Background(), hs[1].ID(), cids)
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("err = %v", err)
	}
	ok, limited := 0, 0
	for _, f := range got {
		switch {
		case f.Err == nil:
			ok++
		case errors.Is(f.Err, ErrRateLimited):
			limited++
		default:
			t.Fatalf("unexpected error %v", f.Err)
		}
	}
	if ok != 2 || limited != 3 {
		t.Fatalf("%d served, %d rate-limited; want 2 and 3", ok, limited)
	}
	// Another peer has its own bucket.
	c := newTestBlocks(t, hs[2], NewMemBlockStore(), testBlocksConfig())
	if _, err := c.Fetch(context.Background(), hs[1].ID(), cids[:2]); err != nil {
		t.Fatalf("second peer: %v", err)
	}
}

func TestFetchAny(t *testing.T) {
	mn, hs := mockNet(t, 3)
	x, y := []byte("block x"), []byte("block y")
	sx, sy := NewMemBlockStore(), NewMemBlockStore()
	_ = sx.Put(object.RawCID(x), x)
	_ = sy.Put(object.RawCID(y), y)
	a := newTestBlocks(t, hs[0], NewMemBlockStore(), testBlocksConfig())
	newTestBlocks(t, hs[1], sx, testBlocksConfig())
	newTestBlocks(t, hs[2], sy, testBlocksConfig())
	if err := mn.ConnectAllButSelf(); err != nil {
		t.Fatal(err)
	}
	waitProtocols(t, hs[0], ProtocolBlocks, hs[1], hs[2])
	got, err := a.FetchAny(context.Background(), []cid.Cid{object.RawCID(x), object.RawCID(y)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[0].Data, x) || !bytes.Equal(got[1].Data, y) {
		t.Fatal("wrong data")
	}
	got, err = a.FetchAny(context.Background(), []cid.Cid{object.RawCID([]byte("none"))}, 0)
	if !errors.Is(err, ErrIncomplete) || !errors.Is(got[0].Err, ErrNotFound) {
		t.Fatalf("absent block: %v / %v", err, got[0].Err)
	}
}

// waitProtocols waits until h's peerstore knows that every peer speaks proto.
func waitProtocols(t *testing.T, h host.Host, proto protocolID, peers ...host.Host) {
	t.Helper()
	for _, p := range peers {
		waitUntil(t, 10*time.Second, fmt.Sprintf("%s never learnt that %s speaks %s", h.ID(), p.ID(), proto), func() bool {
			ps, _ := h.Peerstore().SupportsProtocols(p.ID(), proto)
			return len(ps) > 0
		})
	}
}
