package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-varint"
)

// ProtocolSync is the sync protocol: list, with paging, the CIDs a peer holds for a search.
const ProtocolSync protocol.ID = "/airanode/sync/1.0.0"

// ServiceSync is the resource-manager service name of sync streams.
const ServiceSync = "airanode.sync"

// SyncConfig bounds the sync protocol and paces the background catch-up.
type SyncConfig struct {
	// MaxPage is the most CIDs in one page (at most HardMaxPage); the work per request is bounded
	// by it.
	MaxPage int
	// RequestTimeout bounds one page request.
	RequestTimeout time.Duration
	// PeerRequestsPerSecond and PeerRequestBurst rate-limit the pages served to one peer.
	PeerRequestsPerSecond float64
	PeerRequestBurst      int
	// MaxPages bounds the pages one CatchUp reads from one peer.
	MaxPages int
	// Interval is the period of the background catch-up of followed searches; 0 disables the
	// periodic round (catch-up still runs when a peer connects and when a search is followed).
	Interval time.Duration
	// PeersPerRound is how many random peers a periodic round asks, per followed search.
	PeersPerRound int
}

// DefaultSyncConfig returns the limits of docs/protocol.md.
func DefaultSyncConfig() SyncConfig {
	return SyncConfig{
		MaxPage:               1024,
		RequestTimeout:        30 * time.Second,
		PeerRequestsPerSecond: 20,
		PeerRequestBurst:      40,
		MaxPages:              10000,
		Interval:              time.Minute,
		PeersPerRound:         3,
	}
}

// Validate reports the first bad field.
func (c SyncConfig) Validate() error {
	switch {
	case c.MaxPage < 1 || c.MaxPage > HardMaxPage:
		return fmt.Errorf("%w: sync: MaxPage %d, want 1..%d", ErrInvalidConfig, c.MaxPage, HardMaxPage)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("%w: sync: RequestTimeout must be positive", ErrInvalidConfig)
	case !(c.PeerRequestsPerSecond > 0) || c.PeerRequestBurst < 1:
		return fmt.Errorf("%w: sync: rate limits must be positive", ErrInvalidConfig)
	case c.MaxPages < 1:
		return fmt.Errorf("%w: sync: MaxPages must be positive", ErrInvalidConfig)
	case c.Interval < 0 || c.PeersPerRound < 1:
		return fmt.Errorf("%w: sync: Interval must be >= 0 and PeersPerRound >= 1", ErrInvalidConfig)
	}
	return nil
}

func syncRequestMax() int { return 3*varint.MaxLenUvarint63 + MaxSearchBytes + MaxCursorBytes }

// CatchUpStats counts what a catch-up did.
type CatchUpStats struct {
	Pages   int // pages listed
	Listed  int // CIDs listed by the peer(s)
	Fetched int // blocks fetched, verified, stored and admitted
	Failed  int // blocks that could not be fetched or admitted
}

func (s *CatchUpStats) add(o CatchUpStats) {
	s.Pages += o.Pages
	s.Listed += o.Listed
	s.Fetched += o.Fetched
	s.Failed += o.Failed
}

// Sync serves ProtocolSync from a SearchIndex and catches up on searches from peers, fetching
// missing blocks through Blocks and handing each to an Admitter. It is safe for concurrent use.
type Sync struct {
	h      host.Host
	blocks *Blocks
	index  SearchIndex
	admit  Admitter
	cfg    SyncConfig
	log    *slog.Logger
	lim    *peerLimiter
	life   *lifecycle
	jobs   chan syncJob

	mu     sync.Mutex
	follow map[string]struct{}
	sub    event.Subscription
}

type syncJob struct {
	peer   peer.ID // "" means: the peers of a round
	search string  // "" means: every followed search
}

// NewSync registers the sync handler on h, serving lists from index, and starts the background
// catch-up worker. admit is called for every block a catch-up fetches (nil admits nothing: blocks
// are stored but not indexed). log may be nil.
func NewSync(h host.Host, blocks *Blocks, index SearchIndex, admit Admitter, cfg SyncConfig, log *slog.Logger) (*Sync, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if blocks == nil || index == nil {
		return nil, fmt.Errorf("%w: sync: nil blocks or index", ErrInvalidConfig)
	}
	if log == nil {
		log = slog.Default()
	}
	if admit == nil {
		admit = func(context.Context, string, cid.Cid, []byte) error { return nil }
	}
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return nil, fmt.Errorf("sync: subscribe to identify events: %w", err)
	}
	s := &Sync{
		h:      h,
		blocks: blocks,
		index:  index,
		admit:  admit,
		cfg:    cfg,
		log:    log.With("service", "sync"),
		lim:    newPeerLimiter(cfg.PeerRequestsPerSecond, cfg.PeerRequestBurst, 1, 1),
		life:   newLifecycle(),
		jobs:   make(chan syncJob, 256),
		follow: make(map[string]struct{}),
		sub:    sub,
	}
	h.SetStreamHandler(ProtocolSync, s.handle)
	s.life.goFunc(s.worker)
	s.life.goFunc(s.watch)
	return s, nil
}

// Close removes the handler, stops the background catch-up and waits for it. It is idempotent.
func (s *Sync) Close() error {
	s.h.RemoveStreamHandler(ProtocolSync)
	s.life.close()
	s.mu.Lock()
	sub := s.sub
	s.sub = nil
	s.mu.Unlock()
	if sub != nil {
		return sub.Close()
	}
	return nil
}

// Follow makes the background worker keep search caught up: at once with every connected peer,
// then with each peer that connects, and every Interval with PeersPerRound random peers.
func (s *Sync) Follow(search string) {
	s.mu.Lock()
	s.follow[search] = struct{}{}
	s.mu.Unlock()
	s.enqueue(syncJob{search: search})
}

// Unfollow stops the background catch-up of search.
func (s *Sync) Unfollow(search string) {
	s.mu.Lock()
	delete(s.follow, search)
	s.mu.Unlock()
}

// Following returns the followed searches, sorted.
func (s *Sync) Following() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.follow))
	for k := range s.follow {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (s *Sync) enqueue(j syncJob) {
	select {
	case s.jobs <- j:
	default: // the queue is full: the next round covers it
		s.log.Debug("catch-up queue full", "peer", j.peer, "search", j.search)
	}
}

// watch turns identify events of peers speaking ProtocolSync into catch-up jobs.
func (s *Sync) watch(ctx context.Context) {
	var tick <-chan time.Time
	if s.cfg.Interval > 0 {
		t := time.NewTicker(s.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	out := s.sub.Out()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			s.enqueue(syncJob{})
		case ev, ok := <-out:
			if !ok {
				return
			}
			e, ok := ev.(event.EvtPeerIdentificationCompleted)
			if ok && slices.Contains(e.Protocols, ProtocolSync) {
				s.enqueue(syncJob{peer: e.Peer})
			}
		}
	}
}

// worker runs catch-up jobs one at a time, so the background work is bounded.
func (s *Sync) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.jobs:
			s.run(ctx, j)
		}
	}
}

func (s *Sync) run(ctx context.Context, j syncJob) {
	searches := []string{j.search}
	if j.search == "" {
		searches = s.Following()
	} else if !slices.Contains(s.Following(), j.search) {
		return
	}
	for _, search := range searches {
		var peers []peer.ID
		switch {
		case j.peer != "":
			peers = []peer.ID{j.peer}
		case j.search != "": // a new follow: everyone
			peers = peersWith(s.h, ProtocolSync)
		default: // a periodic round: a few at random
			peers = peersWith(s.h, ProtocolSync)
			rand.Shuffle(len(peers), func(a, b int) { peers[a], peers[b] = peers[b], peers[a] })
			peers = peers[:min(len(peers), s.cfg.PeersPerRound)]
		}
		for _, p := range peers {
			if ctx.Err() != nil {
				return
			}
			st, err := s.CatchUp(ctx, p, search)
			if err != nil {
				s.log.Debug("catch-up", "peer", p, "search", search, "err", err)
			} else if st.Fetched > 0 {
				s.log.Info("caught up", "peer", p, "search", search, "fetched", st.Fetched)
			}
		}
	}
}

func (s *Sync) handle(st network.Stream) {
	serveStream(s.life, s.log, st, ServiceSync, s.cfg.RequestTimeout, s.serve)
}

// serve answers one request on st, which serveStream has bound to a context.
func (s *Sync) serve(_ context.Context, st network.Stream) error {
	r := bufio.NewReader(st)
	w := bufio.NewWriter(st)
	typ, p, err := readFrame(r, syncRequestMax())
	if err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	if typ != frameSyncRequest {
		return refuse(w, StatusRefused, fmt.Errorf("%w: frame 0x%02x, want a sync request", ErrProtocol, typ))
	}
	if !s.lim.get(st.Conn().RemotePeer()).events.Allow() {
		return refuse(w, StatusRateLimited, errors.New("too many sync requests"))
	}
	req, err := decodeSyncRequest(p, HardMaxPage)
	if err != nil {
		return refuse(w, StatusRefused, fmt.Errorf("decode request: %w", err))
	}
	limit := min(req.Limit, s.cfg.MaxPage)
	cids, next, err := s.index.ListSearch(req.Search, req.After, limit)
	if err != nil {
		return refuse(w, StatusRefused, fmt.Errorf("list %q: %w", req.Search, err))
	}
	if len(cids) > limit || len(next) > MaxCursorBytes {
		return refuse(w, StatusRefused, fmt.Errorf("%w: index page of %d CIDs, cursor %d bytes", ErrTooLarge, len(cids), len(next)))
	}
	if err := writeFrame(w, frameSyncPage, syncPage{CIDs: cids, Next: next}.encode()); err != nil {
		return err
	}
	return w.Flush()
}

// List asks p for one page of the CIDs it holds for search, after the cursor after ("" for the
// first page), at most limit (capped at MaxPage). It returns the CIDs and the next cursor ("" at
// the end of the list).
func (s *Sync) List(ctx context.Context, p peer.ID, search, after string, limit int) ([]cid.Cid, string, error) {
	if s.life.isClosed() {
		return nil, "", ErrClosed
	}
	limit = min(max(limit, 1), s.cfg.MaxPage)
	req := syncRequest{Search: search, After: after, Limit: limit}
	if len(search) == 0 || len(search) > MaxSearchBytes || len(after) > MaxCursorBytes {
		return nil, "", fmt.Errorf("%w: search or cursor out of bounds", ErrMalformed)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	st, end, err := openRequest(ctx, s.h, p, ProtocolSync, ServiceSync, frameSyncRequest, req.encode())
	if err != nil {
		return nil, "", err
	}
	ok := false
	defer func() { end(ok) }()
	typ, payload, err := readFrame(bufio.NewReader(st), syncPageMax(limit))
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: no answer", ErrProtocol)
		}
		return nil, "", fmt.Errorf("read from %s: %w", p, err)
	}
	switch typ {
	case frameSyncPage:
		page, err := decodeSyncPage(payload, limit)
		if err != nil {
			return nil, "", fmt.Errorf("from %s: %w", p, err)
		}
		ok = true
		return page.CIDs, page.Next, nil
	case frameError:
		e, err := decodeError(payload)
		if err != nil {
			return nil, "", fmt.Errorf("from %s: %w", p, err)
		}
		ok = true
		return nil, "", fmt.Errorf("from %s: %w", p, e.err())
	default:
		return nil, "", fmt.Errorf("from %s: %w: frame 0x%02x", p, ErrProtocol, typ)
	}
}

// CatchUp pages through the CIDs p holds for search and fetches from p every block the local
// store lacks; each fetched block is verified, stored and admitted. It returns what it did; the
// error wraps ErrIncomplete when some blocks failed, or the listing error that stopped it.
func (s *Sync) CatchUp(ctx context.Context, p peer.ID, search string) (CatchUpStats, error) {
	var st CatchUpStats
	var firstErr error
	after := ""
	for {
		if st.Pages >= s.cfg.MaxPages {
			return st, fmt.Errorf("%w: stopped after %d pages", ErrIncomplete, st.Pages)
		}
		cids, next, err := s.List(ctx, p, search, after, s.cfg.MaxPage)
		if err != nil {
			return st, fmt.Errorf("catch up %q from %s: %w", search, p, err)
		}
		st.Pages++
		st.Listed += len(cids)
		var missing []cid.Cid
		for _, c := range cids {
			if ok, err := s.blocks.store.Has(c); err != nil || !ok {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			got, _ := s.blocks.Fetch(ctx, p, missing)
			for _, f := range got {
				err := f.Err
				if err == nil {
					err = s.admit(ctx, search, f.CID, f.Data)
				}
				if err != nil {
					st.Failed++
					if firstErr == nil {
						firstErr = fmt.Errorf("%s: %w", f.CID, err)
					}
					continue
				}
				st.Fetched++
			}
		}
		if next == "" {
			break
		}
		if next == after {
			return st, fmt.Errorf("catch up %q from %s: %w: cursor did not advance", search, p, ErrProtocol)
		}
		after = next
	}
	if firstErr != nil {
		return st, fmt.Errorf("catch up %q from %s: %w: %d failed, first: %w", search, p, ErrIncomplete, st.Failed, firstErr)
	}
	return st, nil
}

// CatchUpAll runs CatchUp with every connected peer that speaks ProtocolSync, one after the other.
// The error joins the peers' errors; ErrNoPeers when there is nobody to ask.
func (s *Sync) CatchUpAll(ctx context.Context, search string) (CatchUpStats, error) {
	var total CatchUpStats
	peers := peersWith(s.h, ProtocolSync)
	if len(peers) == 0 {
		return total, ErrNoPeers
	}
	var errs []error
	for _, p := range peers {
		st, err := s.CatchUp(ctx, p, search)
		total.add(st)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}
