// Package p2ptest builds clusters of real airanode p2p hosts on loopback for tests and benchmarks:
// NewCluster starts n nodes that find each other through node 0's DHT, Partition and Heal cut and
// restore links with connection gaters, Stop, Restart and Add model crashes and late joiners, and
// WaitFor polls a condition. Rogue is a misbehaving gossip peer. Every helper takes a testing.TB
// and fails it on error; everything started is stopped by t.Cleanup.
//
// A Cluster is safe for concurrent use.
package p2ptest

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/p2p"
)

// Network is the network name of test clusters.
const Network = "test"

// Config returns a node configuration for loopback tests: TCP on 127.0.0.1 with an OS-chosen port,
// no mDNS, NAT, relay or hole punching, a DHT server, fast discovery and quiet logs.
func Config() p2p.Config {
	cfg := p2p.DefaultConfig()
	cfg.Network = Network
	cfg.Version = "test"
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.MDNS = false
	cfg.DHTMode = p2p.DHTServer
	cfg.DiscoveryInterval = 2 * time.Second
	cfg.NATPortMap = false
	cfg.HolePunching = false
	cfg.AutoRelay = false
	cfg.RelayService = false
	cfg.ConnGrace = 10 * time.Minute // never trim during a test
	cfg.Gossip.ScoreInterval = 200 * time.Millisecond
	cfg.Sync.Interval = 0 // catch-up on connect and on Follow only: tests decide when
	cfg.Logger = Logger()
	return cfg
}

// Logger returns a logger that discards everything below Error.
func Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Node is one cluster member: a Host and the in-memory stores it serves, which survive Restart.
type Node struct {
	*p2p.Host
	Key   crypto.PrivKey
	Store *p2p.MemBlockStore
	Index *p2p.MemIndex
}

// PutObject stores an envelope (or an unsigned object's bytes) and indexes it under search, as
// the node layer does for what it receives. It returns the block's CID.
func (n *Node) PutObject(t testing.TB, search string, data []byte) cid.Cid {
	t.Helper()
	c, _, err := object.SealedCID(data)
	if err != nil {
		c = object.ObjectCID(data)
	}
	if err := n.Store.Put(c, data); err != nil {
		t.Fatalf("put %s: %v", c, err)
	}
	n.Index.Add(search, c)
	return c
}

// Option adjusts a cluster.
type Option func(*options)

type options struct {
	edit func(i int, cfg *p2p.Config)
}

// WithConfig edits the configuration of node i before it starts (also on Restart and Add).
func WithConfig(edit func(i int, cfg *p2p.Config)) Option {
	return func(o *options) { o.edit = edit }
}

// Cluster is a set of nodes on loopback.
type Cluster struct {
	t    testing.TB
	opts options

	mu    sync.Mutex
	nodes []*Node // index = node number; Host is nil while stopped
}

// NewCluster starts n nodes: node 0 first, then the others with node 0 as their only bootstrap
// address, so that they find each other through the DHT.
func NewCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	for _, f := range opts {
		f(&c.opts)
	}
	t.Cleanup(c.closeAll)
	for range n {
		c.Add()
	}
	return c
}

func (c *Cluster) closeAll() {
	c.mu.Lock()
	nodes := slices.Clone(c.nodes)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n != nil && n.Host != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = n.Host.Close()
			}()
		}
	}
	wg.Wait()
}

// Add starts a new node (a late joiner) bootstrapping through the first running node, and returns it.
func (c *Cluster) Add() *Node {
	c.t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		c.t.Fatalf("key: %v", err)
	}
	n := &Node{Key: sk, Store: p2p.NewMemBlockStore(), Index: p2p.NewMemIndex()}
	c.mu.Lock()
	i := len(c.nodes)
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	c.start(i, n)
	return n
}

func (c *Cluster) start(i int, n *Node) {
	c.t.Helper()
	cfg := Config()
	cfg.Identity = n.Key
	if b := c.bootstrapFor(i); b != "" {
		cfg.Bootstrap = []string{b}
	}
	if c.opts.edit != nil {
		c.opts.edit(i, &cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := p2p.New(ctx, cfg, p2p.Deps{Blocks: n.Store, Index: n.Index, Admit: p2p.MemAdmitter(n.Index)})
	if err != nil {
		c.t.Fatalf("start node %d: %v", i, err)
	}
	c.mu.Lock()
	n.Host = h
	c.mu.Unlock()
}

// bootstrapFor returns the address of the first running node other than i, or "".
func (c *Cluster) bootstrapFor(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for j, n := range c.nodes {
		if j != i && n.Host != nil {
			if addrs := n.Host.Addrs(); len(addrs) > 0 {
				return addrs[0].String()
			}
		}
	}
	return ""
}

// Len returns the number of nodes, running or stopped.
func (c *Cluster) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes)
}

// Node returns node i (its Host is nil while stopped).
func (c *Cluster) Node(i int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Running returns the running nodes.
func (c *Cluster) Running() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		if n.Host != nil {
			out = append(out, n)
		}
	}
	return out
}

// Stop closes node i's host, keeping its key and stores.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i]
	h := n.Host
	n.Host = nil
	c.mu.Unlock()
	if h != nil {
		if err := h.Close(); err != nil {
			c.t.Logf("stop node %d: %v", i, err)
		}
	}
}

// Restart starts node i again with the same key and stores, bootstrapping through another node.
func (c *Cluster) Restart(i int) *Node {
	c.t.Helper()
	c.Stop(i)
	n := c.Node(i)
	c.start(i, n)
	return n
}

// Partition splits the running nodes into groups: every node blocks (and disconnects) the nodes
// of the other groups. Nodes in no group keep their links.
func (c *Cluster) Partition(groups ...[]int) {
	c.t.Helper()
	for gi, g := range groups {
		for _, i := range g {
			for gj, h := range groups {
				if gi == gj {
					continue
				}
				for _, j := range h {
					a, b := c.Node(i), c.Node(j)
					if a.Host != nil {
						a.BlockPeer(b.PeerID())
					}
				}
			}
		}
	}
}

// Heal lifts every block and reconnects every pair of running nodes.
func (c *Cluster) Heal() {
	c.t.Helper()
	nodes := c.Running()
	c.mu.Lock()
	all := slices.Clone(c.nodes)
	c.mu.Unlock()
	for _, a := range nodes {
		for _, b := range all {
			a.UnblockPeer(b.PeerID())
		}
	}
	c.ConnectAll()
}

// ConnectAll connects every pair of running nodes directly.
func (c *Cluster) ConnectAll() {
	c.t.Helper()
	nodes := c.Running()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes)*len(nodes))
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ai := peer.AddrInfo{ID: b.ID(), Addrs: b.Libp2p().Addrs()}
				if err := a.Libp2p().Connect(ctx, ai); err != nil {
					errs <- fmt.Errorf("connect %s to %s: %w", a.ID(), b.ID(), err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		c.t.Fatal(err)
	}
}

// PeerID returns the node's peer ID from its key (valid while stopped, unlike Host.ID).
func (n *Node) PeerID() peer.ID {
	id, err := peer.IDFromPrivateKey(n.Key)
	if err != nil {
		return ""
	}
	return id
}

// FullyConnected returns nil when every running node is connected to every other.
func (c *Cluster) FullyConnected() error {
	nodes := c.Running()
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b && a.Libp2p().Network().Connectedness(b.ID()) != network.Connected {
				return fmt.Errorf("%s not connected to %s", a.ID(), b.ID())
			}
		}
	}
	return nil
}

// WaitFor polls cond every 50 ms until it returns nil, failing t with cond's last error after
// timeout.
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
