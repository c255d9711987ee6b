package p2ptest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/p2p"
)

// KindTest is the envelope kind of test objects.
const KindTest object.Kind = "/airanode/test/1"

// Object is a small authored object for tests.
type Object struct {
	Search string `cbor:"search"`
	N      int64  `cbor:"n"`
	Pad    []byte `cbor:"pad"`
	// Made is when the object was made, in Unix milliseconds (for staleness tests).
	Made int64 `cbor:"made"`
}

// Seal signs an Object of search number n with pad bytes of padding, made now, and returns the
// envelope and its CID.
func Seal(t testing.TB, sk crypto.PrivKey, search string, n int64, pad int) ([]byte, cid.Cid) {
	t.Helper()
	return SealObject(t, sk, Object{Search: search, N: n, Pad: make([]byte, pad), Made: time.Now().UnixMilli()})
}

// SealObject signs o and returns the envelope and its CID.
func SealObject(t testing.TB, sk crypto.PrivKey, o Object) ([]byte, cid.Cid) {
	t.Helper()
	env, err := object.Seal(sk, KindTest, o)
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	c, _, err := object.SealedCID(env)
	if err != nil {
		t.Fatalf("sealed CID: %v", err)
	}
	return env, c
}

// Decoder is the gossip decoder of test topics: signed Objects whose Search must equal search.
func Decoder(search string) p2p.Decoder {
	return p2p.EnvelopeDecoder(func(s object.Signed) (any, time.Time, error) {
		var o Object
		if err := object.Unmarshal(s.Data, &o); err != nil {
			return nil, time.Time{}, err
		}
		if o.Search != search {
			return nil, time.Time{}, fmt.Errorf("object of search %q on topic of %q", o.Search, search)
		}
		return o, time.UnixMilli(o.Made), nil
	}, KindTest)
}

// Follow joins the node to search's topic and stores (and indexes) every message it delivers,
// as the node layer will, until the test ends. It also follows the search in Sync. It returns the
// topic.
func Follow(t testing.TB, n *Node, search string) *p2p.Topic {
	t.Helper()
	topic, err := n.Gossip().Join(p2p.SearchTopic(Network, SearchCID(search)), Decoder(search))
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	sub, err := topic.Subscribe(256)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				return
			}
			if err := n.Store.Put(m.Decoded.CID, m.Data); err != nil {
				t.Errorf("store gossiped object: %v", err)
				continue
			}
			n.Index.Add(search, m.Decoded.CID)
		}
	}()
	t.Cleanup(func() {
		cancel()
		sub.Cancel()
		<-done
	})
	n.Sync().Follow(search)
	return topic
}

// SearchCID turns a test search name into the CID its topic is named by.
func SearchCID(search string) cid.Cid { return object.RawCID([]byte(search)) }

// Rogue is a misbehaving gossip peer: a plain GossipSub node with no validators, which publishes
// whatever it is given. With unsigned set, its messages carry no signature at all.
type Rogue struct {
	Host  host.Host
	PS    *pubsub.PubSub
	topic map[string]*pubsub.Topic
	mesh  *meshTracer
}

// NewRogue starts a rogue on loopback; it is closed when the test ends.
func NewRogue(t testing.TB, unsigned bool) *Rogue {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatalf("rogue host: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Rogue{Host: h, topic: map[string]*pubsub.Topic{}, mesh: &meshTracer{grafted: map[string]map[peer.ID]bool{}}}
	opts := []pubsub.Option{
		pubsub.WithMessageIdFn(p2p.MessageID),
		pubsub.WithMaxMessageSize(4 << 20),
		pubsub.WithRawTracer(r.mesh),
	}
	if unsigned {
		opts = append(opts, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign))
	}
	ps, err := pubsub.NewGossipSub(ctx, h, opts...)
	if err != nil {
		cancel()
		_ = h.Close()
		t.Fatalf("rogue pubsub: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = h.Close()
	})
	r.PS = ps
	return r
}

// meshTracer records the rogue's mesh: an unsigned publication is not flood-published, so it
// reaches only mesh peers.
type meshTracer struct {
	mu      sync.Mutex
	grafted map[string]map[peer.ID]bool
}

func (m *meshTracer) Graft(p peer.ID, topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.grafted[topic] == nil {
		m.grafted[topic] = map[peer.ID]bool{}
	}
	m.grafted[topic][p] = true
}

func (m *meshTracer) Prune(p peer.ID, topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.grafted[topic], p)
}

func (m *meshTracer) inMesh(topic string, p peer.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.grafted[topic][p]
}

func (*meshTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (*meshTracer) RemovePeer(peer.ID)                                   {}
func (*meshTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (*meshTracer) OnClosedOutboundStream(peer.ID)                       {}
func (*meshTracer) Join(string)                                          {}
func (*meshTracer) Leave(string)                                         {}
func (*meshTracer) ValidateMessage(*pubsub.Message)                      {}
func (*meshTracer) DeliverMessage(*pubsub.Message)                       {}
func (*meshTracer) RejectMessage(*pubsub.Message, string)                {}
func (*meshTracer) DuplicateMessage(*pubsub.Message)                     {}
func (*meshTracer) ThrottlePeer(peer.ID)                                 {}
func (*meshTracer) RecvRPC(*pubsub.RPC)                                  {}
func (*meshTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (*meshTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (*meshTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (*meshTracer) UndeliverableMessage(*pubsub.Message)                 {}

// Join joins topic and connects to the given nodes, waiting until each lists the rogue as a topic
// peer and the rogue has grafted each into its mesh.
func (r *Rogue) Join(t testing.TB, topic string, nodes ...*Node) {
	t.Helper()
	pt, err := r.PS.Join(topic)
	if err != nil {
		t.Fatalf("rogue join: %v", err)
	}
	if _, err := pt.Subscribe(); err != nil {
		t.Fatalf("rogue subscribe: %v", err)
	}
	r.topic[topic] = pt
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range nodes {
		if err := r.Host.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: n.Libp2p().Addrs()}); err != nil {
			t.Fatalf("rogue connect: %v", err)
		}
	}
	WaitFor(t, 10*time.Second, func() error {
		for _, n := range nodes {
			if !slices.Contains(pt.ListPeers(), n.ID()) || !r.mesh.inMesh(topic, n.ID()) {
				return fmt.Errorf("the rogue has not meshed with %s yet", n.ID())
			}
			tp := n.Gossip().Topic(topic)
			if tp == nil {
				return errors.New("node has not joined the topic")
			}
			found := false
			for _, p := range tp.Peers() {
				found = found || p == r.Host.ID()
			}
			if !found {
				return fmt.Errorf("%s does not see the rogue on the topic yet", n.ID())
			}
		}
		return nil
	})
}

// Publish publishes data on a joined topic, with no validation.
func (r *Rogue) Publish(t testing.TB, topic string, data []byte) {
	t.Helper()
	if err := r.topic[topic].Publish(context.Background(), data); err != nil {
		t.Fatalf("rogue publish: %v", err)
	}
}
