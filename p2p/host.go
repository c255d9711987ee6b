package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	ma "github.com/multiformats/go-multiaddr"
)

// DHTPrefix is the kad-dht protocol prefix: airanode's DHT is separate from IPFS's.
const DHTPrefix = "/airanode"

// MDNSService is the mDNS service name, so that we pair with airanode nodes only.
const MDNSService = "_airanode._udp"

// Deps are the stores a Host serves from and fills.
type Deps struct {
	// Blocks holds every block (objects and blobs); block exchange answers from it and stores
	// what it fetches.
	Blocks BlockStore
	// Index lists the CIDs held per search; sync answers from it.
	Index SearchIndex
	// Admit is called for each block a catch-up fetches (see Admitter); nil admits nothing.
	Admit Admitter
}

// Host is a running airanode network node: the libp2p host and every service of this package.
// It is safe for concurrent use.
type Host struct {
	cfg   Config
	log   *slog.Logger
	h     host.Host
	kad   *dht.IpfsDHT
	disc  *drouting.RoutingDiscovery
	gater *Gater
	cm    *connmgr.BasicConnMgr

	gossip *Gossip
	blocks *Blocks
	sync   *Sync
	mdns   mdns.Service

	bootstrap []peer.AddrInfo
	life      *lifecycle
	found     atomic.Int64 // peers found through rendezvous or mDNS

	closeOnce sync.Once
	closeErr  error
}

// New builds and starts a Host: the libp2p host, the DHT, gossip, block exchange, sync, mDNS and
// the discovery loops. It starts everything or nothing: on error, whatever was started is
// stopped. ctx bounds only the construction.
func New(ctx context.Context, cfg Config, deps Deps) (_ *Host, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Blocks == nil || deps.Index == nil {
		return nil, fmt.Errorf("%w: Deps.Blocks and Deps.Index are required", ErrInvalidConfig)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "p2p")
	sk, err := hostKey(cfg)
	if err != nil {
		return nil, err
	}
	n := &Host{cfg: cfg, log: log, gater: &Gater{}, life: newLifecycle()}
	n.bootstrap, _ = ParseBootstrap(cfg.Bootstrap) // validated
	var cleanup []func() error
	defer func() {
		if err != nil {
			n.life.close()
			for i := len(cleanup) - 1; i >= 0; i-- {
				_ = cleanup[i]()
			}
		}
	}()

	rm, err := resourceManager(cfg.Resources)
	if err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh, connmgr.WithGracePeriod(cfg.ConnGrace))
	if err != nil {
		_ = rm.Close()
		return nil, fmt.Errorf("%w: connection manager: %w", ErrInvalidConfig, err)
	}
	n.cm = cm
	var kadRef atomic.Pointer[dht.IpfsDHT]
	listen := cfg.ListenAddrs
	if cfg.PSK != nil {
		listen = tcpOnly(listen)
		if len(listen) < len(cfg.ListenAddrs) {
			log.Info("private network: QUIC listen addresses dropped", "listen", listen)
		}
	}
	opts := []libp2p.Option{
		libp2p.Identity(sk),
		libp2p.ListenAddrStrings(listen...),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(n.gater),
		libp2p.UserAgent(cfg.UserAgent()),
		libp2p.EnableNATService(),
	}
	if cfg.PSK != nil {
		opts = append(opts, libp2p.PrivateNetwork(cfg.PSK))
	}
	if len(cfg.AnnounceAddrs) > 0 {
		announce := make([]ma.Multiaddr, 0, len(cfg.AnnounceAddrs))
		for _, s := range cfg.AnnounceAddrs {
			announce = append(announce, ma.StringCast(s)) // validated
		}
		opts = append(opts, libp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return announce }))
	}
	if cfg.NATPortMap {
		opts = append(opts, libp2p.NATPortMap())
	}
	if cfg.HolePunching {
		opts = append(opts, libp2p.EnableHolePunching())
	}
	if cfg.AutoRelay {
		opts = append(opts, libp2p.EnableAutoRelayWithPeerSource(relaySource(&kadRef)))
	}
	if cfg.RelayService {
		opts = append(opts, libp2p.EnableRelayService())
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		_ = cm.Close()
		_ = rm.Close()
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}
	n.h = h
	cleanup = append(cleanup, h.Close) // closes rm and cm too

	n.kad, err = dht.New(h,
		dht.Mode(dhtMode(cfg.DHTMode)),
		dht.ProtocolPrefix(DHTPrefix),
		dht.BootstrapPeers(n.bootstrap...),
	)
	if err != nil {
		return nil, fmt.Errorf("start DHT: %w", err)
	}
	cleanup = append(cleanup, n.kad.Close)
	kadRef.Store(n.kad)
	n.disc = drouting.NewRoutingDiscovery(n.kad)

	if n.gossip, err = NewGossip(h, cfg.Gossip, log); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, n.gossip.Close)
	if n.blocks, err = NewBlocks(h, deps.Blocks, cfg.Blocks, log); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, n.blocks.Close)
	if n.sync, err = NewSync(h, n.blocks, deps.Index, deps.Admit, cfg.Sync, log); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, n.sync.Close)
	if cfg.MDNS {
		// A machine without multicast still runs a node: mDNS is a convenience, not a need.
		svc := mdns.NewMdnsService(h, MDNSService, mdnsNotifee{n})
		if err := svc.Start(); err != nil {
			log.Warn("mDNS unavailable, LAN discovery off", "err", err)
		} else {
			n.mdns = svc
			cleanup = append(cleanup, svc.Close)
		}
	}
	for _, b := range n.bootstrap {
		cm.Protect(b.ID, "bootstrap")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n.life.goFunc(n.bootstrapLoop)
	n.life.goFunc(n.rendezvousLoop)
	log.Info("p2p host started", "peer", h.ID(), "addrs", h.Addrs(), "network", cfg.Network)
	return n, nil
}

func hostKey(cfg Config) (crypto.PrivKey, error) {
	switch {
	case cfg.Identity != nil:
		return cfg.Identity, nil
	case cfg.IdentityPath != "":
		return LoadOrCreateIdentity(cfg.IdentityPath)
	default:
		sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate ephemeral identity: %w", err)
		}
		return sk, nil
	}
}

func dhtMode(m DHTMode) dht.ModeOpt {
	switch m {
	case DHTServer:
		return dht.ModeServer
	case DHTClient:
		return dht.ModeClient
	case DHTAuto:
		return dht.ModeAuto
	default:
		return dht.ModeAutoServer
	}
}

// resourceManager builds the resource manager: go-libp2p's default limits with its service
// limits, plus ours for the block and sync protocols, scaled, then the operator's overrides.
func resourceManager(rc ResourceConfig) (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	limits.AddServiceLimit(ServiceBlocks,
		rcmgr.BaseLimit{Streams: 256, StreamsInbound: 128, StreamsOutbound: 128, Memory: 128 << 20},
		rcmgr.BaseLimitIncrease{Streams: 128, StreamsInbound: 64, StreamsOutbound: 64, Memory: 64 << 20})
	limits.AddServicePeerLimit(ServiceBlocks,
		rcmgr.BaseLimit{Streams: 16, StreamsInbound: 8, StreamsOutbound: 8, Memory: 32 << 20},
		rcmgr.BaseLimitIncrease{Memory: 8 << 20})
	limits.AddServiceLimit(ServiceSync,
		rcmgr.BaseLimit{Streams: 128, StreamsInbound: 64, StreamsOutbound: 64, Memory: 16 << 20},
		rcmgr.BaseLimitIncrease{Streams: 64, StreamsInbound: 32, StreamsOutbound: 32, Memory: 8 << 20})
	limits.AddServicePeerLimit(ServiceSync,
		rcmgr.BaseLimit{Streams: 8, StreamsInbound: 4, StreamsOutbound: 4, Memory: 4 << 20},
		rcmgr.BaseLimitIncrease{})
	var concrete rcmgr.ConcreteLimitConfig
	if rc.MaxMemory > 0 || rc.MaxFD > 0 {
		concrete = limits.Scale(rc.MaxMemory, rc.MaxFD)
	} else {
		concrete = limits.AutoScale()
	}
	if rc.Overrides != nil {
		concrete = rc.Overrides.Build(concrete)
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(concrete))
	if err != nil {
		return nil, fmt.Errorf("%w: resource manager: %w", ErrInvalidConfig, err)
	}
	return rm, nil
}

// relaySource feeds AutoRelay with candidate relays: the peers of the DHT routing table (public
// DHT servers are exactly the nodes likely to run a relay service), then other connected peers.
func relaySource(kad *atomic.Pointer[dht.IpfsDHT]) func(context.Context, int) <-chan peer.AddrInfo {
	return func(ctx context.Context, num int) <-chan peer.AddrInfo {
		ch := make(chan peer.AddrInfo, num)
		go func() {
			defer close(ch)
			k := kad.Load()
			if k == nil {
				return
			}
			ids := k.RoutingTable().ListPeers()
			for _, p := range ids {
				if num == 0 {
					return
				}
				ai := k.Host().Peerstore().PeerInfo(p)
				if len(ai.Addrs) == 0 {
					continue
				}
				select {
				case ch <- ai:
					num--
				case <-ctx.Done():
					return
				}
			}
		}()
		return ch
	}
}

// Close stops every service and the libp2p host, and waits for the background loops. It is
// idempotent.
func (n *Host) Close() error {
	n.closeOnce.Do(func() {
		n.life.close()
		var errs []error
		if n.mdns != nil {
			errs = append(errs, n.mdns.Close())
		}
		errs = append(errs, n.sync.Close(), n.blocks.Close(), n.gossip.Close(), n.kad.Close(), n.h.Close())
		n.closeErr = errors.Join(errs...)
		n.log.Info("p2p host stopped", "peer", n.h.ID())
	})
	return n.closeErr
}

// ID returns the node's peer ID.
func (n *Host) ID() peer.ID { return n.h.ID() }

// Addrs returns the node's addresses, each ending in /p2p/<id>: what another node passes as
// a bootstrap address.
func (n *Host) Addrs() []ma.Multiaddr {
	p2pPart, err := ma.NewComponent("p2p", n.h.ID().String())
	if err != nil {
		return nil
	}
	var out []ma.Multiaddr
	for _, a := range n.h.Addrs() {
		out = append(out, a.Encapsulate(p2pPart.Multiaddr()))
	}
	return out
}

// Libp2p returns the underlying libp2p host.
func (n *Host) Libp2p() host.Host { return n.h }

// DHT returns the kad-dht.
func (n *Host) DHT() *dht.IpfsDHT { return n.kad }

// Gossip returns the gossip service.
func (n *Host) Gossip() *Gossip { return n.gossip }

// Blocks returns the block-exchange service.
func (n *Host) Blocks() *Blocks { return n.blocks }

// Sync returns the sync service.
func (n *Host) Sync() *Sync { return n.sync }

// Network returns the network name.
func (n *Host) Network() string { return n.cfg.Network }

// Gater returns the connection gater (the peer blocklist).
func (n *Host) Gater() *Gater { return n.gater }

// Connect dials a peer given as a multiaddr ending in /p2p/<id>.
func (n *Host) Connect(ctx context.Context, addr string) error {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return fmt.Errorf("%w: address %q: %w", ErrInvalidConfig, addr, err)
	}
	return n.h.Connect(ctx, *ai)
}

// BlockPeer refuses all connections with p and closes the open ones.
func (n *Host) BlockPeer(p peer.ID) {
	n.gater.Block(p)
	_ = n.h.Network().ClosePeer(p)
}

// UnblockPeer lifts BlockPeer.
func (n *Host) UnblockPeer(p peer.ID) { n.gater.Unblock(p) }

// DiscoveredPeers returns how many peers rendezvous lookups and mDNS have found since start.
func (n *Host) DiscoveredPeers() int64 { return n.found.Load() }

// PeerInfo describes a connected peer, for `airanode peers`.
type PeerInfo struct {
	ID peer.ID
	// Addrs are the remote addresses of our connections to it.
	Addrs []ma.Multiaddr
	// AgentVersion is what the peer reported through identify ("airanode/<version>" for ours).
	AgentVersion string
	// Score is its gossip score (Scored is false before the first snapshot).
	Score  float64
	Scored bool
	// Latency is the moving average of its round-trip time (0 if unknown).
	Latency time.Duration
	// Inbound is true when it dialed us (on its first connection).
	Inbound bool
}

// Peers returns the connected peers, sorted by ID.
func (n *Host) Peers() []PeerInfo {
	ids := n.h.Network().Peers()
	slices.Sort(ids)
	out := make([]PeerInfo, 0, len(ids))
	for _, p := range ids {
		pi := PeerInfo{ID: p, Latency: n.h.Peerstore().LatencyEWMA(p)}
		for i, c := range n.h.Network().ConnsToPeer(p) {
			pi.Addrs = append(pi.Addrs, c.RemoteMultiaddr())
			if i == 0 {
				pi.Inbound = c.Stat().Direction == network.DirInbound
			}
		}
		if v, err := n.h.Peerstore().Get(p, "AgentVersion"); err == nil {
			pi.AgentVersion, _ = v.(string)
		}
		pi.Score, pi.Scored = n.gossip.PeerScore(p)
		out = append(out, pi)
	}
	return out
}

// mdnsNotifee connects to the airanode nodes mDNS finds on the LAN.
type mdnsNotifee struct{ n *Host }

func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	n := m.n
	if ai.ID == n.h.ID() || n.h.Network().Connectedness(ai.ID) == network.Connected {
		return
	}
	n.life.goFunc(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := n.h.Connect(ctx, ai); err != nil {
			n.log.Debug("mDNS peer unreachable", "peer", ai.ID, "err", err)
			return
		}
		n.found.Add(1)
		n.log.Debug("mDNS peer connected", "peer", ai.ID)
	})
}

// bootstrapLoop connects to the bootstrap peers, then bootstraps the DHT; it reconnects whenever
// the node has lost every connection.
func (n *Host) bootstrapLoop(ctx context.Context) {
	wait := time.Second
	first := true
	for {
		if first || len(n.h.Network().Peers()) == 0 {
			connected := n.connectBootstrap(ctx)
			if connected > 0 || len(n.bootstrap) == 0 {
				if err := n.kad.Bootstrap(ctx); err != nil && ctx.Err() == nil {
					n.log.Debug("DHT bootstrap", "err", err)
				}
				first = false
				wait = 30 * time.Second
			} else {
				wait = min(2*wait, time.Minute)
			}
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// connectBootstrap dials the bootstrap peers in parallel and returns how many are connected.
func (n *Host) connectBootstrap(ctx context.Context) int {
	var ok atomic.Int32
	var wg sync.WaitGroup
	for _, b := range n.bootstrap {
		if b.ID == n.h.ID() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			if err := n.h.Connect(cctx, b); err != nil {
				n.log.Debug("bootstrap peer unreachable", "peer", b.ID, "err", err)
				return
			}
			ok.Add(1)
		}()
	}
	wg.Wait()
	return int(ok.Load())
}

// rendezvousLoop advertises the node under the network's rendezvous namespace and looks up the
// others, connecting to those it is not connected to while it has fewer than ConnLow peers. The
// pause between rounds grows from 1 s to DiscoveryInterval while rounds find nobody new.
func (n *Host) rendezvousLoop(ctx context.Context) {
	ns := RendezvousNamespace(n.cfg.Network)
	wait := time.Second
	var readvertise time.Time
	for {
		if n.kad.RoutingTable().Size() > 0 {
			if time.Now().After(readvertise) {
				actx, cancel := context.WithTimeout(ctx, time.Minute)
				ttl, err := n.disc.Advertise(actx, ns)
				cancel()
				if err != nil {
					n.log.Debug("rendezvous advertise", "ns", ns, "err", err)
				} else {
					readvertise = time.Now().Add(ttl * 7 / 8)
				}
			}
			if n.findPeers(ctx, ns) > 0 {
				wait = time.Second
			} else {
				wait = min(2*wait, n.cfg.DiscoveryInterval)
			}
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// findPeers looks up ns and connects to new peers; it returns how many it connected.
func (n *Host) findPeers(ctx context.Context, ns string) int {
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ch, err := n.disc.FindPeers(fctx, ns)
	if err != nil {
		n.log.Debug("rendezvous lookup", "ns", ns, "err", err)
		return 0
	}
	connected := 0
	for ai := range ch {
		if ai.ID == n.h.ID() || len(ai.Addrs) == 0 || n.gater.Blocked(ai.ID) ||
			n.h.Network().Connectedness(ai.ID) == network.Connected ||
			len(n.h.Network().Peers()) >= n.cfg.ConnLow {
			continue
		}
		cctx, ccancel := context.WithTimeout(fctx, 10*time.Second)
		err := n.h.Connect(cctx, ai)
		ccancel()
		if err != nil {
			n.log.Debug("rendezvous peer unreachable", "peer", ai.ID, "err", err)
			continue
		}
		n.found.Add(1)
		connected++
	}
	return connected
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
