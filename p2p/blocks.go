package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-varint"

	"github.com/airanode/airanode/object"
)

// ProtocolBlocks is the block-exchange protocol: fetch blocks by CID.
const ProtocolBlocks protocol.ID = "/airanode/blocks/1.0.0"

// ServiceBlocks is the resource-manager service name of block-exchange streams.
const ServiceBlocks = "airanode.blocks"

// BlocksConfig bounds the block-exchange protocol, on both sides.
type BlocksConfig struct {
	// MaxBlockSize is the largest block served or accepted, in bytes.
	MaxBlockSize int
	// MaxWant is the most CIDs in one request (at most HardMaxWant). Fetch splits longer lists.
	MaxWant int
	// RequestTimeout bounds a whole request: sending the CIDs and receiving every answer.
	RequestTimeout time.Duration
	// IdleTimeout bounds the wait for each frame within a request.
	IdleTimeout time.Duration
	// PeerBlocksPerSecond and PeerBlockBurst rate-limit the blocks served to one peer.
	PeerBlocksPerSecond float64
	PeerBlockBurst      int
	// PeerBytesPerSecond rate-limits the bytes served to one peer; the burst is MaxBlockSize.
	PeerBytesPerSecond float64
}

// DefaultBlocksConfig returns the limits of docs/protocol.md: 4 MiB blocks, 64 CIDs per request,
// 256 blocks/s (burst 512) and 32 MiB/s per peer.
func DefaultBlocksConfig() BlocksConfig {
	return BlocksConfig{
		MaxBlockSize:        4 << 20,
		MaxWant:             64,
		RequestTimeout:      2 * time.Minute,
		IdleTimeout:         20 * time.Second,
		PeerBlocksPerSecond: 256,
		PeerBlockBurst:      512,
		PeerBytesPerSecond:  32 << 20,
	}
}

// Validate reports the first bad field.
func (c BlocksConfig) Validate() error {
	switch {
	case c.MaxBlockSize < 1024 || c.MaxBlockSize > 64<<20:
		return fmt.Errorf("%w: blocks: MaxBlockSize %d, want 1 KiB..64 MiB", ErrInvalidConfig, c.MaxBlockSize)
	case c.MaxWant < 1 || c.MaxWant > HardMaxWant:
		return fmt.Errorf("%w: blocks: MaxWant %d, want 1..%d", ErrInvalidConfig, c.MaxWant, HardMaxWant)
	case c.RequestTimeout <= 0 || c.IdleTimeout <= 0:
		return fmt.Errorf("%w: blocks: timeouts must be positive", ErrInvalidConfig)
	case !(c.PeerBlocksPerSecond > 0) || c.PeerBlockBurst < 1 || !(c.PeerBytesPerSecond > 0):
		return fmt.Errorf("%w: blocks: rate limits must be positive", ErrInvalidConfig)
	}
	return nil
}

// requestMax is the largest frameBlockRequest payload for maxWant CIDs.
func requestMax(maxWant int) int { return varint.MaxLenUvarint63 + maxWant*(2+MaxCIDBytes) }

// blockFrameMax is the largest frameBlock payload for blocks of at most maxBlock bytes.
func blockFrameMax(maxBlock int) int { return 2 + MaxCIDBytes + maxBlock }

// Fetched is the outcome of fetching one CID: its verified bytes, or why there are none.
type Fetched struct {
	CID  cid.Cid
	Data []byte
	// Err wraps ErrNotFound, ErrTooLarge, ErrRateLimited, ErrRefused, ErrProtocol,
	// object.ErrHashMismatch (bytes that do not match the CID), or a stream or context error.
	Err error
}

// Blocks serves and fetches blocks over ProtocolBlocks. It is safe for concurrent use.
type Blocks struct {
	h     host.Host
	store BlockStore
	cfg   BlocksConfig
	log   *slog.Logger
	lim   *peerLimiter
	life  *lifecycle
}

// NewBlocks registers the block-exchange handler on h, answering from store. Fetched blocks are
// verified and then stored in store. log may be nil.
func NewBlocks(h host.Host, store BlockStore, cfg BlocksConfig, log *slog.Logger) (*Blocks, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, fmt.Errorf("%w: blocks: nil store", ErrInvalidConfig)
	}
	if log == nil {
		log = slog.Default()
	}
	b := &Blocks{
		h:     h,
		store: store,
		cfg:   cfg,
		log:   log.With("service", "blocks"),
		lim:   newPeerLimiter(cfg.PeerBlocksPerSecond, cfg.PeerBlockBurst, cfg.PeerBytesPerSecond, cfg.MaxBlockSize),
		life:  newLifecycle(),
	}
	h.SetStreamHandler(ProtocolBlocks, b.handle)
	return b, nil
}

// Close removes the handler and waits for requests in progress. It is idempotent.
func (b *Blocks) Close() error {
	b.h.RemoveStreamHandler(ProtocolBlocks)
	b.life.close()
	return nil
}

// Config returns the configuration the service runs with.
func (b *Blocks) Config() BlocksConfig { return b.cfg }

func (b *Blocks) handle(s network.Stream) {
	serveStream(b.life, b.log, s, ServiceBlocks, b.cfg.RequestTimeout, b.serve)
}

// serve answers one request on s, which serveStream has bound to ctx.
func (b *Blocks) serve(ctx context.Context, s network.Stream) error {
	remote := s.Conn().RemotePeer()
	r := bufio.NewReaderSize(s, 4096)
	w := bufio.NewWriterSize(s, 64<<10)
	_ = s.SetReadDeadline(time.Now().Add(b.cfg.IdleTimeout))
	typ, p, err := readFrame(r, requestMax(b.cfg.MaxWant))
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return refuse(w, StatusRefused, fmt.Errorf("read request: %w", err))
		}
		return fmt.Errorf("read request: %w", err)
	}
	if typ != frameBlockRequest {
		return refuse(w, StatusRefused, fmt.Errorf("%w: frame 0x%02x, want a block request", ErrProtocol, typ))
	}
	req, err := decodeBlockRequest(p, b.cfg.MaxWant)
	if err != nil {
		return refuse(w, StatusRefused, fmt.Errorf("decode request: %w", err))
	}
	buckets := b.lim.get(remote)
	for _, c := range req.CIDs {
		if err := b.serveOne(ctx, s, w, buckets, c); err != nil {
			return err
		}
	}
	return w.Flush()
}

// serveOne writes the answer for one CID: the block or a missing frame.
func (b *Blocks) serveOne(ctx context.Context, s network.Stream, w *bufio.Writer, lim *peerBuckets, c cid.Cid) error {
	missing := func(st Status) error { return writeFrame(w, frameMissing, encodeMissing(c, st)) }
	if !lim.events.Allow() {
		return missing(StatusRateLimited)
	}
	data, err := b.store.Get(c)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			b.log.Debug("store get", "cid", c, "err", err)
		}
		return missing(StatusNotFound)
	}
	if len(data) > b.cfg.MaxBlockSize {
		return missing(StatusTooLarge)
	}
	if len(data) > 0 {
		if err := lim.bytes.WaitN(ctx, len(data)); err != nil {
			return missing(StatusRateLimited)
		}
	}
	if err := s.Scope().ReserveMemory(len(data), network.ReservationPriorityMedium); err != nil {
		return missing(StatusRefused)
	}
	defer s.Scope().ReleaseMemory(len(data))
	if err := writeFrame(w, frameBlock, blockHeader(c), data); err != nil {
		return err
	}
	// Flush large blocks now so that the reservation covers the bytes in flight.
	if w.Buffered() >= w.Size()/2 || len(data) >= w.Size() {
		return w.Flush()
	}
	return nil
}

// Fetch asks p for cids (split into requests of MaxWant) and returns one Fetched per CID, in
// order. Blocks already held locally are read from the store without asking. Every block
// received is verified with object.VerifyBlock and stored before it is returned. The error is nil
// when every CID was fetched; otherwise it wraps ErrIncomplete and the first failure.
func (b *Blocks) Fetch(ctx context.Context, p peer.ID, cids []cid.Cid) ([]Fetched, error) {
	if b.life.isClosed() {
		return nil, ErrClosed
	}
	out, want := b.local(cids)
	b.fetchFrom(ctx, p, out, want)
	return out, summarise(out)
}

// fetchFrom asks p for out[want...], in requests of at most MaxWant CIDs, and returns the indexes
// that still failed. Each out[i] it asks for gets either Data or Err.
func (b *Blocks) fetchFrom(ctx context.Context, p peer.ID, out []Fetched, want []int) (failed []int) {
	for _, i := range want {
		out[i].Err = nil
	}
	for rest := want; len(rest) > 0; {
		n := min(len(rest), b.cfg.MaxWant)
		b.fetchBatch(ctx, p, out, rest[:n])
		rest = rest[n:]
	}
	for _, i := range want {
		if out[i].Err != nil {
			failed = append(failed, i)
		}
	}
	return failed
}

// local fills out with the blocks held locally and rejects disallowed CIDs; want lists the indexes
// still to fetch.
func (b *Blocks) local(cids []cid.Cid) (out []Fetched, want []int) {
	out = make([]Fetched, len(cids))
	for i, c := range cids {
		out[i].CID = c
		if err := object.CheckCID(c); err != nil {
			out[i].Err = err
			continue
		}
		if data, err := b.store.Get(c); err == nil {
			out[i].Data = data
			continue
		}
		want = append(want, i)
	}
	return out, want
}

// summarise returns nil if every fetch succeeded, else ErrIncomplete with the first failure.
func summarise(out []Fetched) error {
	failed := 0
	var first error
	for _, f := range out {
		if f.Err != nil {
			if first == nil {
				first = fmt.Errorf("%s: %w", f.CID, f.Err)
			}
			failed++
		}
	}
	if failed == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d of %d blocks failed, first: %w", ErrIncomplete, failed, len(out), first)
}

// fetchBatch runs one request for out[idx...]. It fills Data or Err of each.
func (b *Blocks) fetchBatch(ctx context.Context, p peer.ID, out []Fetched, idx []int) {
	failRest := func(from int, err error) {
		for _, i := range idx[from:] {
			out[i].Err = err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	req := blockRequest{CIDs: make([]cid.Cid, len(idx))}
	for k, i := range idx {
		req.CIDs[k] = out[i].CID
	}
	s, end, err := openRequest(ctx, b.h, p, ProtocolBlocks, ServiceBlocks, frameBlockRequest, req.encode())
	if err != nil {
		failRest(0, err)
		return
	}
	ok := false
	defer func() { end(ok) }()

	r := bufio.NewReaderSize(s, 64<<10)
	for k, i := range idx {
		want := out[i].CID
		_ = s.SetReadDeadline(minTime(deadline, time.Now().Add(b.cfg.IdleTimeout)))
		typ, payload, err := readFrame(r, blockFrameMax(b.cfg.MaxBlockSize))
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%w)", ctx.Err(), err)
			} else if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: stream ended after %d of %d answers", ErrProtocol, k, len(idx))
			}
			failRest(k, fmt.Errorf("read from %s: %w", p, err))
			return
		}
		switch typ {
		case frameBlock:
			c, data, err := decodeBlock(payload)
			if err == nil && !c.Equals(want) {
				err = fmt.Errorf("%w: answer %d is %s, want %s", ErrProtocol, k, c, want)
			}
			if err != nil {
				failRest(k, fmt.Errorf("from %s: %w", p, err))
				return
			}
			if len(data) > b.cfg.MaxBlockSize {
				out[i].Err = fmt.Errorf("from %s: %d bytes: %w", p, len(data), ErrTooLarge)
				continue
			}
			if err := object.VerifyBlock(want, data); err != nil {
				out[i].Err = fmt.Errorf("from %s: %w", p, err)
				continue
			}
			if err := b.store.Put(want, data); err != nil {
				out[i].Err = fmt.Errorf("store: %w", err)
				continue
			}
			out[i].Data = data
		case frameMissing:
			c, st, err := decodeMissing(payload)
			if err == nil && !c.Equals(want) {
				err = fmt.Errorf("%w: answer %d is %s, want %s", ErrProtocol, k, c, want)
			}
			if err != nil {
				failRest(k, fmt.Errorf("from %s: %w", p, err))
				return
			}
			out[i].Err = fmt.Errorf("from %s: %w", p, st.Err())
		case frameError:
			e, err := decodeError(payload)
			if err != nil {
				failRest(k, fmt.Errorf("from %s: %w", p, err))
				return
			}
			failRest(k, fmt.Errorf("from %s: %w", p, e.err()))
			return
		default:
			failRest(k, fmt.Errorf("from %s: %w: frame 0x%02x", p, ErrProtocol, typ))
			return
		}
	}
	ok = true
}

// FetchAny fetches cids from the connected peers that speak ProtocolBlocks, asking them in turn
// for what is still missing, at most maxPeers peers (0 means all). It returns one Fetched per CID.
func (b *Blocks) FetchAny(ctx context.Context, cids []cid.Cid, maxPeers int) ([]Fetched, error) {
	if b.life.isClosed() {
		return nil, ErrClosed
	}
	out, want := b.local(cids)
	for _, i := range want {
		out[i].Err = ErrNoPeers
	}
	asked := 0
	for _, p := range peersWith(b.h, ProtocolBlocks) {
		if len(want) == 0 || ctx.Err() != nil || (maxPeers > 0 && asked >= maxPeers) {
			break
		}
		asked++
		want = b.fetchFrom(ctx, p, out, want)
	}
	return out, summarise(out)
}

// peersWith returns the connected peers known to support proto.
func peersWith(h host.Host, proto protocol.ID) []peer.ID {
	var out []peer.ID
	for _, p := range h.Network().Peers() {
		if ps, err := h.Peerstore().SupportsProtocols(p, proto); err == nil && len(ps) > 0 {
			out = append(out, p)
		}
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
