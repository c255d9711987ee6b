package p2p_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	dutil "github.com/libp2p/go-libp2p/p2p/discovery/util"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/p2p"
	"github.com/airanode/airanode/p2p/p2ptest"
)

const search = "search-a"

// meshed waits until every node sees every other on the search topic.
func meshed(t *testing.T, nodes []*p2ptest.Node) {
	t.Helper()
	topic := p2p.SearchTopic(p2ptest.Network, p2ptest.SearchCID(search))
	p2ptest.WaitFor(t, 20*time.Second, func() error {
		for _, n := range nodes {
			tp := n.Gossip().Topic(topic)
			if tp == nil {
				return fmt.Errorf("%s has not joined", n.ID())
			}
			if got := len(tp.Peers()); got < len(nodes)-1 {
				return fmt.Errorf("%s sees %d topic peers, want %d", n.ID(), got, len(nodes)-1)
			}
		}
		return nil
	})
}

// haveAll waits until every node has indexed and stored every CID.
func haveAll(t *testing.T, nodes []*p2ptest.Node, cids []cid.Cid, timeout time.Duration) {
	t.Helper()
	p2ptest.WaitFor(t, timeout, func() error {
		for i, n := range nodes {
			if got := n.Index.Len(search); got != len(cids) {
				return fmt.Errorf("node %d indexed %d of %d", i, got, len(cids))
			}
			for _, c := range cids {
				if ok, _ := n.Store.Has(c); !ok {
					return fmt.Errorf("node %d lacks %s", i, c)
				}
			}
		}
		return nil
	})
}

// meshedCluster starts n nodes, waits until they are fully connected, has each follow search and
// waits until they see each other on its topic. topics[i] is node i's topic.
func meshedCluster(t *testing.T, n int) (c *p2ptest.Cluster, nodes []*p2ptest.Node, topics []*p2p.Topic) {
	t.Helper()
	c = p2ptest.NewCluster(t, n)
	p2ptest.WaitFor(t, 30*time.Second, c.FullyConnected)
	nodes = c.Running()
	topics = make([]*p2p.Topic, len(nodes))
	for i, node := range nodes {
		topics[i] = p2ptest.Follow(t, node, search)
	}
	meshed(t, nodes)
	return c, nodes, topics
}

func publish(t *testing.T, n *p2ptest.Node, topic *p2p.Topic, k int64) cid.Cid {
	t.Helper()
	env, c := p2ptest.Seal(t, n.Key, search, k, 64)
	if err := topic.Publish(context.Background(), env); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return c
}

func TestDHTDiscoveryFromOneBootstrapAddress(t *testing.T) {
	c := p2ptest.NewCluster(t, 4)
	for i := 1; i < c.Len(); i++ {
		if got := c.Node(i).Libp2p().Network().Connectedness(c.Node(0).ID()); got != network.Connected {
			t.Logf("node %d not yet connected to its bootstrap node", i)
		}
	}
	// Nodes 1..3 were given only node 0's address: they find each other through the DHT.
	p2ptest.WaitFor(t, 30*time.Second, c.FullyConnected)
	// And the rendezvous namespace lists every node.
	last := c.Node(3)
	ns := p2p.RendezvousNamespace(p2ptest.Network)
	disc := drouting.NewRoutingDiscovery(last.DHT())
	p2ptest.WaitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		found, err := dutil.FindPeers(ctx, disc, ns)
		if err != nil {
			return err
		}
		ids := map[peer.ID]bool{}
		for _, ai := range found {
			ids[ai.ID] = true
		}
		for i := range 3 {
			if !ids[c.Node(i).ID()] {
				return fmt.Errorf("rendezvous lists %d peers, not node %d", len(found), i)
			}
		}
		return nil
	})
}

func TestGossipDeliveredToAll(t *testing.T) {
	_, nodes, topics := meshedCluster(t, 4)
	sub, err := topics[3].Subscribe(16)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	var cids []cid.Cid
	for k := range 6 {
		cids = append(cids, publish(t, nodes[k%3], topics[k%3], int64(k)))
	}
	haveAll(t, nodes, cids, 20*time.Second)

	// A subscriber sees the author (the signer), the decoded value and the raw bytes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seen := map[cid.Cid]bool{}
	for len(seen) < len(cids) {
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("next: %v (have %d)", err, len(seen))
		}
		o, ok := m.Decoded.Value.(p2ptest.Object)
		if !ok || o.Search != search {
			t.Fatalf("decoded value %#v", m.Decoded.Value)
		}
		if want := nodes[o.N%3].ID(); m.Author != want || m.Decoded.Author != want {
			t.Fatalf("object %d: author %s, want %s", o.N, m.Author, want)
		}
		if m.Local {
			t.Fatal("a message from another node is marked Local")
		}
		if got, _, _ := object.SealedCID(m.Data); !got.Equals(m.Decoded.CID) {
			t.Fatal("raw bytes do not match the decoded CID")
		}
		seen[m.Decoded.CID] = true
	}
	// Republishing the exact bytes of a delivered object is a no-op: nothing new is delivered.
	dup, err := nodes[0].Store.Get(cids[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := topics[0].Publish(context.Background(), dup); err != nil {
		t.Fatalf("republish: %v", err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if m, err := sub.Next(short); err == nil {
		t.Fatalf("duplicate delivered again: %s", m.Decoded.CID)
	}
}

func TestGossipRejectsBadMessagesAndPenalisesSender(t *testing.T) {
	_, nodes, topics := meshedCluster(t, 2)
	name := topics[0].Name()

	rogue := p2ptest.NewRogue(t, false)
	rogue.Join(t, name, nodes...)
	unsigned := p2ptest.NewRogue(t, true)
	unsigned.Join(t, name, nodes...)
	rogueKey := rogue.Host.Peerstore().PrivKey(rogue.Host.ID())

	valid, _ := p2ptest.Seal(t, rogueKey, search, 1, 16)
	forged := slices.Clone(valid)
	forged[len(forged)-2] ^= 0x10                                        // breaks the envelope signature
	impersonation, _ := p2ptest.Seal(t, nodes[1].Key, search, 2, 16)     // signed by node 1, sent by the rogue
	wrongSearch, _ := p2ptest.Seal(t, rogueKey, "another-search", 3, 16) // an object of another search's CID
	oversized, _ := p2ptest.Seal(t, rogueKey, search, 4, 253<<10)        // over the 252 KiB data cap
	cases := map[string][]byte{
		"malformed":     []byte("\xa1not cbor at all"),
		"forged":        forged,
		"impersonation": impersonation,
		"wrong search":  wrongSearch,
		"oversized":     oversized,
	}
	before := nodes[0].Gossip().Stats()
	for _, data := range cases {
		rogue.Publish(t, name, data)
	}
	unsignedMsg, _ := p2ptest.Seal(t, rogueKey, search, 5, 16)
	unsigned.Publish(t, name, unsignedMsg)

	for i, n := range nodes {
		p2ptest.WaitFor(t, 15*time.Second, func() error {
			s, ok := n.Gossip().PeerScore(rogue.Host.ID())
			if !ok || s >= 0 {
				return fmt.Errorf("node %d: rogue score %v (scored %v), want < 0", i, s, ok)
			}
			s, ok = n.Gossip().PeerScore(unsigned.Host.ID())
			if !ok || s >= 0 {
				return fmt.Errorf("node %d: unsigned rogue %s score %v (scored %v), want < 0; %v", i, unsigned.Host.ID(), s, ok, n.Gossip().Scores())
			}
			return nil
		})
	}
	after := nodes[0].Gossip().Stats()
	if got := after.Rejected - before.Rejected; got < uint64(len(cases)) {
		t.Fatalf("node 0 rejected %d messages, want >= %d", got, len(cases))
	}
	for i, n := range nodes {
		if n.Index.Len(search) != 0 || n.Store.Len() != 0 {
			t.Fatalf("node %d stored a bad message", i)
		}
	}
	// Honest traffic still flows, and honest peers keep a non-negative score.
	c0 := publish(t, nodes[1], topics[1], 10)
	haveAll(t, nodes, []cid.Cid{c0}, 10*time.Second)
	if s, _ := nodes[0].Gossip().PeerScore(nodes[1].ID()); s < 0 {
		t.Fatalf("honest peer score %v", s)
	}
	// The score reaches `airanode peers` too.
	for _, pi := range nodes[0].Peers() {
		if pi.ID == rogue.Host.ID() && (!pi.Scored || pi.Score >= 0) {
			t.Fatalf("Peers() shows rogue score %v scored %v", pi.Score, pi.Scored)
		}
	}
}

func TestLateJoinerCatchesUp(t *testing.T) {
	c, nodes, topics := meshedCluster(t, 3)
	var cids []cid.Cid
	for k := range 6 {
		cids = append(cids, publish(t, nodes[k%3], topics[k%3], int64(k)))
	}
	haveAll(t, nodes, cids, 20*time.Second)

	late := c.Add()
	p2ptest.Follow(t, late, search)
	haveAll(t, []*p2ptest.Node{late}, cids, 30*time.Second)
}

func TestRestartedNodeCatchesUp(t *testing.T) {
	c, nodes, topics := meshedCluster(t, 3)
	cids := []cid.Cid{publish(t, nodes[0], topics[0], 0), publish(t, nodes[2], topics[2], 1)}
	haveAll(t, nodes, cids, 20*time.Second)

	c.Stop(2)
	cids = append(cids, publish(t, nodes[0], topics[0], 2), publish(t, nodes[1], topics[1], 3), publish(t, nodes[1], topics[1], 4))
	haveAll(t, nodes[:2], cids, 20*time.Second)
	if nodes[2].Index.Len(search) != 2 {
		t.Fatalf("stopped node indexed %d", nodes[2].Index.Len(search))
	}
	restarted := c.Restart(2)
	p2ptest.Follow(t, restarted, search)
	haveAll(t, []*p2ptest.Node{restarted}, cids, 30*time.Second)
}

func TestPartitionHeals(t *testing.T) {
	c, nodes, topics := meshedCluster(t, 4)
	all := []cid.Cid{publish(t, nodes[0], topics[0], 0)}
	haveAll(t, nodes, all, 20*time.Second)

	c.Partition([]int{0, 1}, []int{2, 3})
	p2ptest.WaitFor(t, 10*time.Second, func() error {
		for _, a := range []int{0, 1} {
			for _, b := range []int{2, 3} {
				if nodes[a].Libp2p().Network().Connectedness(nodes[b].ID()) == network.Connected {
					return fmt.Errorf("%d still connected to %d", a, b)
				}
			}
		}
		return nil
	})
	sideA := append(slices.Clone(all), publish(t, nodes[0], topics[0], 1), publish(t, nodes[1], topics[1], 2))
	sideB := append(slices.Clone(all), publish(t, nodes[2], topics[2], 3), publish(t, nodes[3], topics[3], 4), publish(t, nodes[3], topics[3], 5))
	haveAll(t, nodes[:2], sideA, 20*time.Second)
	haveAll(t, nodes[2:], sideB, 20*time.Second)

	c.Heal()
	all = append(sideA, sideB[1:]...)
	haveAll(t, nodes, all, 30*time.Second)
	want := nodes[0].Store.CIDs()
	for i, n := range nodes {
		if got := n.Store.CIDs(); !slices.EqualFunc(got, want, cid.Cid.Equals) {
			t.Fatalf("node %d holds %d objects, node 0 %d", i, len(got), len(want))
		}
	}
}

func TestPeersReportAgentAndAddresses(t *testing.T) {
	c := p2ptest.NewCluster(t, 2)
	p2ptest.WaitFor(t, 30*time.Second, c.FullyConnected)
	a, b := c.Node(0), c.Node(1)
	p2ptest.WaitFor(t, 10*time.Second, func() error {
		for _, pi := range a.Peers() {
			if pi.ID == b.ID() {
				if pi.AgentVersion != "airanode/test" || len(pi.Addrs) == 0 || !pi.Scored {
					return fmt.Errorf("peer info %+v", pi)
				}
				return nil
			}
		}
		return errors.New("peer not listed")
	})
	if len(a.Addrs()) == 0 || a.Network() != p2ptest.Network {
		t.Fatal("no addresses or wrong network")
	}
	if _, err := peer.AddrInfoFromP2pAddr(a.Addrs()[0]); err != nil {
		t.Fatalf("Addrs() not a bootstrap address: %v", err)
	}
	// Blocking a peer closes the connection and keeps it closed.
	a.BlockPeer(b.ID())
	p2ptest.WaitFor(t, 10*time.Second, func() error {
		if a.Libp2p().Network().Connectedness(b.ID()) == network.Connected ||
			b.Libp2p().Network().Connectedness(a.ID()) == network.Connected {
			return errors.New("still connected")
		}
		return nil
	})
	// A redial may complete its own handshake, but a drops the connection at once.
	_ = b.Connect(context.Background(), a.Addrs()[0].String())
	time.Sleep(200 * time.Millisecond)
	if a.Libp2p().Network().Connectedness(b.ID()) == network.Connected {
		t.Fatal("blocked peer reconnected")
	}
	a.UnblockPeer(b.ID())
	if err := b.Connect(context.Background(), a.Addrs()[0].String()); err != nil {
		t.Fatalf("unblocked peer: %v", err)
	}
}

func TestIdentityPathKeepsPeerID(t *testing.T) {
	cfg := p2ptest.Config()
	cfg.IdentityPath = filepath.Join(t.TempDir(), "identity.key")
	deps := p2p.Deps{Blocks: p2p.NewMemBlockStore(), Index: p2p.NewMemIndex()}
	h, err := p2p.New(context.Background(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	h, err = p2p.New(context.Background(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.ID() != id {
		t.Fatalf("peer ID changed across restarts: %s then %s", id, h.ID())
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	deps := p2p.Deps{Blocks: p2p.NewMemBlockStore(), Index: p2p.NewMemIndex()}
	cfg := p2ptest.Config()
	cfg.Network = "Bad Name"
	if _, err := p2p.New(context.Background(), cfg, deps); !errors.Is(err, p2p.ErrInvalidConfig) {
		t.Fatalf("bad config: %v", err)
	}
	if _, err := p2p.New(context.Background(), p2ptest.Config(), p2p.Deps{}); !errors.Is(err, p2p.ErrInvalidConfig) {
		t.Fatalf("missing stores: %v", err)
	}
	cfg = p2ptest.Config()
	cfg.ListenAddrs = []string{"/ip4/203.0.113.1/tcp/1"} // not ours: listening fails
	if _, err := p2p.New(context.Background(), cfg, deps); err == nil {
		t.Fatal("listening on a foreign address succeeded")
	}
}

func TestPrivateNetwork(t *testing.T) {
	pskA, pskB := make([]byte, 32), make([]byte, 32)
	pskA[0], pskB[0] = 1, 2
	c := p2ptest.NewCluster(t, 2, p2ptest.WithConfig(func(i int, cfg *p2p.Config) {
		cfg.PSK = pskA
		cfg.ListenAddrs = append(cfg.ListenAddrs, "/ip4/127.0.0.1/udp/0/quic-v1") // dropped: QUIC has no PSK
	}))
	p2ptest.WaitFor(t, 30*time.Second, c.FullyConnected)
	for _, a := range c.Node(0).Libp2p().Network().ListenAddresses() {
		if _, err := a.ValueForProtocol(ma.P_QUIC_V1); err == nil {
			t.Fatalf("private node listens on QUIC: %s", a)
		}
	}
	outsiders := p2ptest.NewCluster(t, 1, p2ptest.WithConfig(func(i int, cfg *p2p.Config) { cfg.PSK = pskB }))
	public := p2ptest.NewCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // a key mismatch hangs the handshake
	defer cancel()
	for _, o := range []*p2ptest.Node{outsiders.Node(0), public.Node(0)} {
		if err := o.Connect(ctx, c.Node(0).Addrs()[0].String()); err == nil {
			t.Fatal("a node without the network key connected")
		}
	}
}

func TestQUICBlockExchange(t *testing.T) {
	c := p2ptest.NewCluster(t, 2, p2ptest.WithConfig(func(i int, cfg *p2p.Config) {
		cfg.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"}
	}))
	p2ptest.WaitFor(t, 30*time.Second, c.FullyConnected)
	a, b := c.Node(0), c.Node(1)
	blob := make([]byte, 1<<20)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	bc := object.RawCID(blob)
	if err := b.Store.Put(bc, blob); err != nil {
		t.Fatal(err)
	}
	got, err := a.Blocks().Fetch(context.Background(), b.ID(), []cid.Cid{bc})
	if err != nil || len(got[0].Data) != len(blob) {
		t.Fatalf("fetch over QUIC: %v", err)
	}
	for _, conn := range a.Libp2p().Network().ConnsToPeer(b.ID()) {
		if _, err := conn.RemoteMultiaddr().ValueForProtocol(ma.P_QUIC_V1); err != nil {
			t.Fatalf("connection is not QUIC: %s", conn.RemoteMultiaddr())
		}
	}
}

// TestEveryFeatureStarts builds a host with everything a volunteer node turns on (mDNS, NAT port
// mapping, hole punching, AutoRelay, relay service, TCP and QUIC) and an announced address.
func TestEveryFeatureStarts(t *testing.T) {
	cfg := p2ptest.Config()
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	cfg.MDNS, cfg.NATPortMap, cfg.HolePunching, cfg.AutoRelay, cfg.RelayService = true, true, true, true, true
	cfg.DHTMode = p2p.DHTAutoServer
	cfg.AnnounceAddrs = []string{"/ip4/198.51.100.7/tcp/4001"}
	h, err := p2p.New(context.Background(), cfg, p2p.Deps{Blocks: p2p.NewMemBlockStore(), Index: p2p.NewMemIndex()})
	if err != nil {
		t.Fatal(err)
	}
	addrs := h.Addrs()
	if len(addrs) != 1 || !strings.HasPrefix(addrs[0].String(), "/ip4/198.51.100.7/tcp/4001/p2p/") {
		t.Fatalf("announced addresses %v", addrs)
	}
	listen := h.Libp2p().Network().ListenAddresses()
	var tcp, quic bool
	for _, a := range listen {
		_, errT := a.ValueForProtocol(ma.P_TCP)
		_, errQ := a.ValueForProtocol(ma.P_QUIC_V1)
		tcp, quic = tcp || errT == nil, quic || errQ == nil
	}
	if !tcp || !quic {
		t.Fatalf("listening on %v, want TCP and QUIC", listen)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
}
