package p2p

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
)

// GossipConfig bounds gossip.
type GossipConfig struct {
	// MaxMessageSize caps a whole pubsub RPC on the wire; larger ones are dropped unread.
	MaxMessageSize int
	// MaxDataSize is the default cap on a message's data, checked by the validator (a topic may
	// lower it); larger messages are rejected and their sender penalised.
	MaxDataSize int
	// SeenTTL and SeenMax bound the validator's replay cache of message IDs and object CIDs.
	SeenTTL time.Duration
	SeenMax int
	// MaxAge: a decoded object older than this (by Decoded.Time) is stale and ignored.
	MaxAge time.Duration
	// MaxSkew: a decoded object dated more than this in the future is ignored.
	MaxSkew time.Duration
	// ValidatorTimeout bounds one validation; ValidateQueue is pubsub's validation queue length.
	ValidatorTimeout time.Duration
	ValidateQueue    int
	// ScoreInterval is how often the peer-score snapshot behind PeerScore is refreshed.
	ScoreInterval time.Duration
	// PeerExchange enables gossipsub peer exchange on prune (for bootstrap and well-connected nodes).
	PeerExchange bool
}

// DefaultGossipConfig returns the limits of docs/protocol.md.
func DefaultGossipConfig() GossipConfig {
	return GossipConfig{
		MaxMessageSize:   256 << 10,
		MaxDataSize:      252 << 10,
		SeenTTL:          time.Hour,
		SeenMax:          200_000,
		MaxAge:           24 * time.Hour,
		MaxSkew:          5 * time.Minute,
		ValidatorTimeout: 5 * time.Second,
		ValidateQueue:    256,
		ScoreInterval:    10 * time.Second,
	}
}

// Validate reports the first bad field.
func (c GossipConfig) Validate() error {
	switch {
	case c.MaxMessageSize < 4096 || c.MaxMessageSize > 4<<20:
		return fmt.Errorf("%w: gossip: MaxMessageSize %d, want 4 KiB..4 MiB", ErrInvalidConfig, c.MaxMessageSize)
	case c.MaxDataSize < 1 || c.MaxDataSize > c.MaxMessageSize:
		return fmt.Errorf("%w: gossip: MaxDataSize %d, want 1..MaxMessageSize", ErrInvalidConfig, c.MaxDataSize)
	case c.SeenTTL <= 0 || c.SeenMax < 1:
		return fmt.Errorf("%w: gossip: SeenTTL and SeenMax must be positive", ErrInvalidConfig)
	case c.MaxAge <= 0 || c.MaxSkew < 0:
		return fmt.Errorf("%w: gossip: MaxAge must be positive and MaxSkew >= 0", ErrInvalidConfig)
	case c.ValidatorTimeout <= 0 || c.ValidateQueue < 1 || c.ScoreInterval <= 0:
		return fmt.Errorf("%w: gossip: ValidatorTimeout, ValidateQueue and ScoreInterval must be positive", ErrInvalidConfig)
	}
	return nil
}

// Decoded is what a topic's Decoder makes of a message's data.
type Decoded struct {
	// Value is the decoded message, handed to subscribers.
	Value any
	// CID names the object the message carries; when defined, a second message carrying the
	// same object is ignored as a duplicate.
	CID cid.Cid
	// Author is the signer of the envelope inside the message, if it carries one. It must equal
	// the message's author (the pubsub signer), or the message is rejected.
	Author peer.ID
	// Time is when the object was made, if it says; objects older than MaxAge, or dated more
	// than MaxSkew ahead, are ignored as stale.
	Time time.Time
}

// Decoder decodes and checks a message's data: encoding, hash, signature and bounds. It is called
// once per message, concurrently, and must not block. An error rejects the message (and
// penalises its sender) unless it wraps ErrIgnore, which only drops it.
type Decoder func(data []byte) (Decoded, error)

// EnvelopeDecoder returns a Decoder for topics that carry signed envelopes (object.Seal): it opens
// the envelope, which verifies the signature, requires one of kinds (all kinds if none are
// given), and names the message by the object CID of the payload, with the envelope signer as
// Author. check, if not nil, decodes and bounds-checks the payload; its value becomes
// Decoded.Value (otherwise the object.Signed is).
func EnvelopeDecoder(check func(object.Signed) (any, time.Time, error), kinds ...object.Kind) Decoder {
	return func(data []byte) (Decoded, error) {
		c, s, err := object.SealedCID(data)
		if err != nil {
			return Decoded{}, err
		}
		if len(kinds) > 0 && !slices.Contains(kinds, s.Kind) {
			return Decoded{}, fmt.Errorf("%w: %q", object.ErrKind, s.Kind)
		}
		d := Decoded{Value: s, CID: c, Author: s.Author}
		if check != nil {
			v, t, err := check(s)
			if err != nil {
				return Decoded{}, err
			}
			d.Value, d.Time = v, t
		}
		return d, nil
	}
}

// Message is a validated message delivered to a subscriber.
type Message struct {
	Topic string
	// ID is the pubsub message ID: sha256(author || data).
	ID string
	// Author signed the message (msg.GetFrom()); ReceivedFrom only forwarded it.
	Author       peer.ID
	ReceivedFrom peer.ID
	// Local is true for our own publications (delivered to our own subscribers too).
	Local bool
	// Decoded is the Decoder's result; Data the raw bytes (do not modify).
	Decoded Decoded
	Data    []byte
}

// GossipStats counts validation outcomes since start.
type GossipStats struct {
	Accepted, Rejected, Ignored uint64
}

// Gossip is GossipSub with airanode's validation and scoring. It is safe for concurrent use.
type Gossip struct {
	h      host.Host
	ps     *pubsub.PubSub
	cfg    GossipConfig
	log    *slog.Logger
	seen   *seenCache
	cancel context.CancelFunc

	app    atomic.Pointer[func(peer.ID) float64]
	scores atomic.Pointer[map[peer.ID]float64]

	accepted, rejected, ignored atomic.Uint64

	mu     sync.Mutex
	topics map[string]*Topic
	closed bool
}

// MessageID is the gossip message ID: sha256 over the author's peer-ID bytes and the data. Two
// authors publishing the same bytes make two messages; one author publishing them twice makes one.
func MessageID(m *pb.Message) string {
	h := sha256.New()
	h.Write(m.GetFrom())
	h.Write(m.GetData())
	return string(h.Sum(nil))
}

// NewGossip starts GossipSub on h. The router runs until Close. log may be nil.
func NewGossip(h host.Host, cfg GossipConfig, log *slog.Logger, opts ...pubsub.Option) (*Gossip, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gossip{
		h:      h,
		cfg:    cfg,
		log:    log.With("service", "gossip"),
		seen:   newSeenCache(cfg.SeenTTL, cfg.SeenMax),
		cancel: cancel,
		topics: make(map[string]*Topic),
	}
	empty := map[peer.ID]float64{}
	g.scores.Store(&empty)
	base := []pubsub.Option{
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMessageIdFn(MessageID),
		pubsub.WithMaxMessageSize(cfg.MaxMessageSize),
		pubsub.WithValidateQueueSize(cfg.ValidateQueue),
		pubsub.WithPeerExchange(cfg.PeerExchange),
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerScore(peerScoreParams(g.appScore), peerScoreThresholds()),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(g.storeScores), cfg.ScoreInterval),
		pubsub.WithLogger(g.log.With("lib", "pubsub")),
	}
	ps, err := pubsub.NewGossipSub(ctx, h, append(base, opts...)...)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("start gossipsub: %w", err)
	}
	g.ps = ps
	return g, nil
}

// PubSub returns the underlying router, for what this type does not wrap.
func (g *Gossip) PubSub() *pubsub.PubSub { return g.ps }

// SetAppScore installs the application-specific score (the reputation the verification layer
// computes), added to every peer's gossip score with weight 1. fn must be fast, must not block
// and must be safe for concurrent use; nil removes it.
func (g *Gossip) SetAppScore(fn func(peer.ID) float64) {
	if fn == nil {
		g.app.Store(nil)
		return
	}
	g.app.Store(&fn)
}

func (g *Gossip) appScore(p peer.ID) float64 {
	if fn := g.app.Load(); fn != nil {
		return (*fn)(p)
	}
	return 0
}

func (g *Gossip) storeScores(m map[peer.ID]float64) {
	c := maps.Clone(m)
	g.scores.Store(&c)
}

// PeerScore returns p's gossip score as of the last snapshot (refreshed every ScoreInterval), and
// whether the router scores p at all.
func (g *Gossip) PeerScore(p peer.ID) (float64, bool) {
	s, ok := (*g.scores.Load())[p]
	return s, ok
}

// Scores returns a copy of the last score snapshot.
func (g *Gossip) Scores() map[peer.ID]float64 { return maps.Clone(*g.scores.Load()) }

// Stats returns the validation counters.
func (g *Gossip) Stats() GossipStats {
	return GossipStats{Accepted: g.accepted.Load(), Rejected: g.rejected.Load(), Ignored: g.ignored.Load()}
}

// TopicOption adjusts one topic.
type TopicOption func(*topicOptions)

type topicOptions struct {
	maxData int
}

// WithMaxData lowers the data cap of a topic below GossipConfig.MaxDataSize.
func WithMaxData(n int) TopicOption { return func(o *topicOptions) { o.maxData = n } }

// Join joins a topic: it registers the validator built around dec, joins, and sets the topic's
// score parameters. Each topic can be joined once at a time.
func (g *Gossip) Join(name string, dec Decoder, opts ...TopicOption) (*Topic, error) {
	if dec == nil {
		return nil, fmt.Errorf("%w: join %s: nil decoder", ErrInvalidConfig, name)
	}
	o := topicOptions{maxData: g.cfg.MaxDataSize}
	for _, f := range opts {
		f(&o)
	}
	if o.maxData < 1 || o.maxData > g.cfg.MaxDataSize {
		return nil, fmt.Errorf("%w: join %s: data cap %d, want 1..%d", ErrInvalidConfig, name, o.maxData, g.cfg.MaxDataSize)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, ErrClosed
	}
	if _, ok := g.topics[name]; ok {
		return nil, fmt.Errorf("join %s: already joined", name)
	}
	err := g.ps.RegisterTopicValidator(name, g.validator(name, dec, o.maxData),
		pubsub.WithValidatorTimeout(g.cfg.ValidatorTimeout))
	if err != nil {
		return nil, fmt.Errorf("join %s: register validator: %w", name, err)
	}
	pt, err := g.ps.Join(name)
	if err != nil {
		_ = g.ps.UnregisterTopicValidator(name)
		return nil, fmt.Errorf("join %s: %w", name, err)
	}
	if err := pt.SetScoreParams(topicScoreParams()); err != nil {
		_ = pt.Close()
		_ = g.ps.UnregisterTopicValidator(name)
		return nil, fmt.Errorf("join %s: score params: %w", name, err)
	}
	t := &Topic{g: g, name: name, t: pt, subs: make(map[*Subscription]struct{})}
	g.topics[name] = t
	return t, nil
}

// Topic returns a joined topic, or nil.
func (g *Gossip) Topic(name string) *Topic {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.topics[name]
}

// Close leaves every topic and stops the router. It is idempotent.
func (g *Gossip) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	topics := make([]*Topic, 0, len(g.topics))
	for _, t := range g.topics {
		topics = append(topics, t)
	}
	g.mu.Unlock()
	var errs []error
	for _, t := range topics {
		if err := t.Leave(); err != nil && !errors.Is(err, ErrNotJoined) {
			errs = append(errs, err)
		}
	}
	g.cancel()
	return errors.Join(errs...)
}

// validator builds the ValidatorEx of a topic. The author is msg.GetFrom(), which pubsub has
// already authenticated (StrictSign verifies the signature before user validators run); the
// forwarder is only used by pubsub to score.
func (g *Gossip) validator(topic string, dec Decoder, maxData int) pubsub.ValidatorEx {
	return func(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
		res, reason := g.validate(dec, maxData, msg)
		switch res {
		case pubsub.ValidationAccept:
			g.accepted.Add(1)
		case pubsub.ValidationReject:
			g.rejected.Add(1)
			g.log.Debug("reject message", "topic", topic, "author", msg.GetFrom(), "from", from, "reason", reason)
		default:
			g.ignored.Add(1)
			g.log.Debug("ignore message", "topic", topic, "author", msg.GetFrom(), "from", from, "reason", reason)
		}
		return res
	}
}

func (g *Gossip) validate(dec Decoder, maxData int, msg *pubsub.Message) (pubsub.ValidationResult, error) {
	author := msg.GetFrom()
	if author == "" {
		return pubsub.ValidationReject, errors.New("unsigned message")
	}
	if len(msg.Data) > maxData {
		return pubsub.ValidationReject, fmt.Errorf("%w: %d bytes, cap %d", ErrTooLarge, len(msg.Data), maxData)
	}
	d, err := safeDecode(dec, msg.Data)
	if err != nil {
		if errors.Is(err, ErrIgnore) {
			return pubsub.ValidationIgnore, err
		}
		return pubsub.ValidationReject, err
	}
	if d.Author != "" && d.Author != author {
		return pubsub.ValidationReject, fmt.Errorf("%w: signer %s, author %s", ErrAuthor, d.Author, author)
	}
	if !d.Time.IsZero() {
		now := time.Now()
		if now.Sub(d.Time) > g.cfg.MaxAge || d.Time.Sub(now) > g.cfg.MaxSkew {
			return pubsub.ValidationIgnore, fmt.Errorf("stale: made %s", d.Time.UTC().Format(time.RFC3339))
		}
	}
	keys := []string{"m/" + msg.ID}
	if d.CID.Defined() {
		keys = append(keys, "c/"+d.CID.KeyString())
	}
	if !g.seen.add(keys...) {
		return pubsub.ValidationIgnore, errors.New("duplicate or replay")
	}
	msg.ValidatorData = d
	return pubsub.ValidationAccept, nil
}

// safeDecode runs a caller's decoder, turning a panic into a rejection: peer data must never
// crash the node, even through a buggy decoder.
func safeDecode(dec Decoder, data []byte) (d Decoded, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoder panic: %v", ErrMalformed, r)
		}
	}()
	return dec(data)
}

// Topic is a joined gossip topic. It is safe for concurrent use.
type Topic struct {
	g    *Gossip
	name string
	t    *pubsub.Topic

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
}

// Name returns the topic name.
func (t *Topic) Name() string { return t.name }

// Publish signs and publishes data. Our own validator runs first, so data that a peer would
// reject returns an error here and is not sent. Publishing the exact bytes of a message already
// delivered is a no-op (gossip does not repeat itself; sync repairs what gossip missed).
func (t *Topic) Publish(ctx context.Context, data []byte) error {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return fmt.Errorf("publish %s: %w", t.name, ErrNotJoined)
	}
	if err := t.t.Publish(ctx, data); err != nil {
		return fmt.Errorf("publish %s: %w", t.name, err)
	}
	return nil
}

// Peers returns the peers we know to be subscribed to the topic.
func (t *Topic) Peers() []peer.ID { return t.g.ps.ListPeers(t.name) }

// Subscribe starts delivering the topic's validated messages; buffer is the queue length (pubsub
// drops messages for a subscriber that falls behind it).
func (t *Topic) Subscribe(buffer int) (*Subscription, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fmt.Errorf("subscribe %s: %w", t.name, ErrNotJoined)
	}
	ps, err := t.t.Subscribe(pubsub.WithBufferSize(max(buffer, 1)))
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", t.name, err)
	}
	s := &Subscription{t: t, sub: ps}
	t.subs[s] = struct{}{}
	return s, nil
}

// Leave cancels the topic's subscriptions, leaves it and drops its validator. It is idempotent
// (a second call returns ErrNotJoined).
func (t *Topic) Leave() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrNotJoined
	}
	t.closed = true
	subs := make([]*Subscription, 0, len(t.subs))
	for s := range t.subs {
		subs = append(subs, s)
	}
	t.subs = nil
	t.mu.Unlock()
	for _, s := range subs {
		s.sub.Cancel()
	}
	err := t.t.Close()
	_ = t.g.ps.UnregisterTopicValidator(t.name)
	t.g.mu.Lock()
	if t.g.topics[t.name] == t {
		delete(t.g.topics, t.name)
	}
	t.g.mu.Unlock()
	if err != nil {
		return fmt.Errorf("leave %s: %w", t.name, err)
	}
	return nil
}

// Subscription delivers a topic's validated messages. Next must be called from one goroutine at
// a time; Cancel from any.
type Subscription struct {
	t   *Topic
	sub *pubsub.Subscription
}

// Next blocks until the next message, ctx is done, or the subscription ends (ErrNotJoined).
func (s *Subscription) Next(ctx context.Context) (Message, error) {
	for {
		m, err := s.sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return Message{}, ctx.Err()
			}
			return Message{}, fmt.Errorf("next on %s: %w: %w", s.t.name, ErrNotJoined, err)
		}
		d, ok := m.ValidatorData.(Decoded)
		if !ok { // cannot happen: every delivered message passed our validator
			continue
		}
		return Message{
			Topic:        s.t.name,
			ID:           m.ID,
			Author:       m.GetFrom(),
			ReceivedFrom: m.ReceivedFrom,
			Local:        m.ReceivedFrom == s.t.g.h.ID(),
			Decoded:      d,
			Data:         m.Data,
		}, nil
	}
}

// Cancel ends the subscription. It is idempotent.
func (s *Subscription) Cancel() {
	s.t.mu.Lock()
	if s.t.subs != nil {
		delete(s.t.subs, s)
	}
	s.t.mu.Unlock()
	s.sub.Cancel()
}
