package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/p2p"
	"github.com/airanode/airanode/store"
	"github.com/airanode/airanode/tasks"
)

// TasksSyncKey is the sync key under which a node lists the offers and results of the tasks that
// belong to no search (a search's objects are listed under the search's CID).
const TasksSyncKey = "tasks"

// netIndex is the store index of the objects listed under TasksSyncKey, keyed by network name.
const netIndex store.IndexName = "net"

// subBuffer is the queue of validated messages per topic subscription.
const subBuffer = 1024

// messageKinds are the kinds of envelope the node's topics carry: the task protocol's, searches
// (on the network topic, so every node hears of them) and proposals (on a search's topic).
var messageKinds = append(slices.Clone(tasks.Kinds), object.KindSearch, object.KindProposal)

// checkMessage is the gossip validator's check: tasks.Check for the task protocol, strict
// decoding with bounds and signer = author for searches and proposals.
func checkMessage(s object.Signed) (any, time.Time, error) {
	switch s.Kind { // SearchOf and ProposalOf cap the size first
	case object.KindSearch:
		v, err := object.SearchOf(s)
		return v, time.Time{}, err
	case object.KindProposal:
		v, err := object.ProposalOf(s)
		return v, time.Time{}, err
	}
	return tasks.Check(s)
}

// isSearchKind reports whether a decoded message is a search or a proposal.
func isSearchKind(v any) bool {
	switch v.(type) {
	case object.Search, object.Proposal:
		return true
	}
	return false
}

// TasksTopic names the gossip topic of a network's task protocol messages outside any search:
// offers of such tasks, every node's capability, claims and results.
func TasksTopic(network string) string {
	return "/airanode/" + p2p.TopicVersion + "/" + network + "/tasks"
}

// bus implements tasks.Bus on gossip topics: one topic for the network ("" search) and one per
// followed search. It is safe for concurrent use.
type bus struct {
	n *Node

	mu      sync.Mutex
	topics  map[string]*joined // by search ("" for the network topic)
	reading bool               // readers started: a new topic starts its reader at once
	closed  bool
}

type joined struct {
	search string
	topic  *p2p.Topic
	sub    *p2p.Subscription
}

func newBus(n *Node) *bus { return &bus{n: n, topics: map[string]*joined{}} }

// topicName maps a search to its topic.
func (b *bus) topicName(search string) (string, error) {
	if search == "" {
		return TasksTopic(b.n.cfg.Network), nil
	}
	c, err := object.ParseCID(search)
	if err != nil {
		return "", fmt.Errorf("search %q: %w", search, err)
	}
	return p2p.SearchTopic(b.n.cfg.Network, c), nil
}

// join joins (once) the topic of search and subscribes to it.
func (b *bus) join(search string) (*joined, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if j := b.topics[search]; j != nil {
		return j, nil
	}
	name, err := b.topicName(search)
	if err != nil {
		return nil, err
	}
	t, err := b.n.host.Gossip().Join(name, p2p.EnvelopeDecoder(checkMessage, messageKinds...))
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", name, err)
	}
	sub, err := t.Subscribe(subBuffer)
	if err != nil {
		_ = t.Leave()
		return nil, fmt.Errorf("subscribe %s: %w", name, err)
	}
	j := &joined{search: search, topic: t, sub: sub}
	b.topics[search] = j
	if b.reading {
		b.startReader(j)
	}
	return j, nil
}

// startReaders starts a reader per joined topic, and for every topic joined later.
func (b *bus) startReaders() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reading = true
	for _, j := range b.topics {
		b.startReader(j)
	}
}

// startReader starts j's reader; b.mu must be held.
func (b *bus) startReader(j *joined) {
	b.n.group.Go(func() { b.read(j) })
}

// read delivers j's validated messages to the Manager, in order, until the node closes.
func (b *bus) read(j *joined) {
	n := b.n
	for {
		msg, err := j.sub.Next(n.ctx)
		if err != nil {
			return
		}
		if msg.Local {
			continue
		}
		if !msg.Decoded.Time.IsZero() {
			n.stats.gossiped(time.Since(msg.Decoded.Time))
		}
		if isSearchKind(msg.Decoded.Value) {
			err = n.searches.ingest(msg.Data)
			n.stats.delivered(err)
			if err != nil {
				n.log.Debug("gossip search object refused", "topic", j.topic.Name(), "from", msg.Author, "err", err)
			}
			continue
		}
		m := n.Manager()
		err = m.HandleEnvelope(msg.Author, msg.Data)
		n.stats.delivered(err)
		switch {
		case err == nil:
			n.delivered(j.search, msg.Author, msg.Decoded, msg.Data)
		case errors.Is(err, tasks.ErrIgnored):
		case errors.Is(err, tasks.ErrClosed):
			return
		default:
			n.log.Debug("gossip message refused", "topic", j.topic.Name(), "from", msg.Author, "err", err)
		}
	}
}

// Publish implements tasks.Bus: offers and results are first indexed for sync (they are already
// stored), then every message goes out on its topic.
func (b *bus) Publish(ctx context.Context, search string, kind object.Kind, env []byte) error {
	j, err := b.join(search)
	if err != nil {
		return err
	}
	if kind == object.KindOffer || kind == object.KindResult {
		if c, _, err := object.SealedCID(env); err == nil {
			b.n.indexForSync(search, c)
		}
	}
	if err := j.topic.Publish(ctx, env); err != nil {
		return fmt.Errorf("publish %s on %s: %w", kind, j.topic.Name(), err)
	}
	b.n.stats.published(kind)
	return nil
}

// cancelSubs ends every subscription, so that the readers return.
func (b *bus) cancelSubs() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, j := range b.topics {
		j.sub.Cancel()
	}
}

// close leaves every topic. It is idempotent.
func (b *bus) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	for _, j := range b.topics {
		j.sub.Cancel()
		if err := j.topic.Leave(); err != nil && !errors.Is(err, p2p.ErrNotJoined) {
			errs = append(errs, err)
		}
	}
	b.topics = nil
	return errors.Join(errs...)
}

// delivered runs after the Manager took a gossiped message: offers and results are indexed for
// sync, and the objects an offer names are fetched ahead of a claim.
func (n *Node) delivered(search string, from peer.ID, d p2p.Decoded, env []byte) {
	switch v := d.Value.(type) {
	case object.Offer:
		n.indexForSync(v.Task.Search, d.CID)
		n.prefetch(v.Task, from)
	case object.Result:
		n.indexForSync(taskSearch(n, v.Task), d.CID)
	}
}

// taskSearch returns the search of a known task ("" when unknown or outside any search).
func taskSearch(n *Node, task string) string {
	c, err := object.ParseCID(task)
	if err != nil {
		return ""
	}
	s, err := n.Manager().Get(c)
	if err != nil {
		return ""
	}
	return s.Task.Search
}

// indexForSync lists c under the sync key of search: the network key for "", the search's own
// index otherwise (the Manager indexes those itself; indexing again is idempotent).
func (n *Node) indexForSync(search string, c cid.Cid) {
	var err error
	if search == "" {
		err = n.store.Index(netIndex, n.cfg.Network, c)
	} else {
		err = n.store.Index(store.IndexSearch, search, c)
	}
	if err != nil {
		n.log.Warn("index for sync", "cid", c, "err", err)
	}
}

// admit is the sync Admitter: a block fetched during a catch-up. Offers and results go to the
// Manager, as if gossiped, and are indexed; other objects of a search are indexed only.
func (n *Node) admit(_ context.Context, search string, c cid.Cid, data []byte) error {
	m := n.Manager()
	if m == nil {
		return ErrClosed
	}
	s, err := object.OpenAny(data)
	if err == nil && (s.Kind == object.KindSearch || s.Kind == object.KindProposal) {
		if err := n.searches.ingest(data); err != nil {
			return fmt.Errorf("sync %s: %s: %w", search, c, err)
		}
		return nil
	}
	if err != nil || !slices.Contains([]object.Kind{object.KindOffer, object.KindResult}, s.Kind) {
		if search == TasksSyncKey {
			return fmt.Errorf("sync %s: %s is not an offer or a result", search, c)
		}
		n.indexForSync(search, c)
		return nil
	}
	err = m.HandleEnvelope("", data)
	n.stats.delivered(err)
	if err != nil && !errors.Is(err, tasks.ErrIgnored) {
		return err
	}
	key := search
	if key == TasksSyncKey {
		key = ""
	}
	n.indexForSync(key, c)
	if s.Kind == object.KindOffer {
		if o, err := object.OfferOf(s); err == nil {
			n.prefetch(o.Task, "")
		}
	}
	return nil
}
