package p2p

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/pnet"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	ma "github.com/multiformats/go-multiaddr"
)

// DHTMode says whether the node answers DHT queries.
type DHTMode string

// DHT modes.
const (
	// DHTAutoServer serves while reachability is unknown or public, and stops serving once the
	// node learns it is behind NAT. The default: right for LANs and test clusters too.
	DHTAutoServer DHTMode = "autoserver"
	// DHTAuto serves only once the node learns it is publicly reachable.
	DHTAuto DHTMode = "auto"
	// DHTServer always serves (bootstrap nodes, private networks).
	DHTServer DHTMode = "server"
	// DHTClient never serves.
	DHTClient DHTMode = "client"
)

// DefaultPort is the TCP and UDP port of DefaultConfig's listen addresses.
const DefaultPort = 4001

// Config is everything New needs. It is plain data: copy it, fill it from a file or flags, and
// call Validate (New does). DefaultConfig gives the values for a volunteer node.
type Config struct {
	// Network names the network: topics and the rendezvous namespace are per network.
	Network string
	// Version goes into the user agent "airanode/<Version>".
	Version string

	// Identity is the node's key. If nil, the key is loaded from (or created at) IdentityPath; if
	// that is empty too, an ephemeral key is generated (tests only: the peer ID changes each run).
	Identity     crypto.PrivKey
	IdentityPath string

	// ListenAddrs are multiaddrs to listen on: TCP and QUIC, IPv4 and IPv6. Port 0 picks a free port.
	ListenAddrs []string
	// AnnounceAddrs, if set, replace the addresses the node advertises (a port forward, a public IP).
	AnnounceAddrs []string
	// Bootstrap are multiaddrs with /p2p/<peer-id> of nodes to join the network through.
	Bootstrap []string

	// PSK, if set (32 bytes), makes the node join only the private network sharing the key. QUIC
	// cannot carry a private network, so QUIC listen addresses are dropped. LoadPSK reads a key file.
	PSK pnet.PSK

	// MDNS enables LAN discovery with the service name MDNSService.
	MDNS bool
	// DHTMode is the kad-dht mode.
	DHTMode DHTMode
	// DiscoveryInterval is the longest pause between rendezvous lookups (they start at one
	// second and back off to it).
	DiscoveryInterval time.Duration

	// ConnLow, ConnHigh and ConnGrace configure the connection manager: above ConnHigh
	// connections it trims down to ConnLow, sparing connections younger than ConnGrace.
	ConnLow, ConnHigh int
	ConnGrace         time.Duration

	// Resources are the resource-manager limits.
	Resources ResourceConfig

	// NATPortMap asks the router for a port mapping (UPnP, NAT-PMP).
	NATPortMap bool
	// HolePunching enables DCUtR hole punching (needs AutoRelay for the relayed first connection).
	HolePunching bool
	// AutoRelay makes a node behind NAT reserve slots on relays found through the DHT.
	AutoRelay bool
	// RelayService lets a publicly reachable node act as a (limited) relay for others.
	RelayService bool

	Gossip GossipConfig
	Blocks BlocksConfig
	Sync   SyncConfig

	// Logger receives the layer's logs; nil means slog.Default().
	Logger *slog.Logger
}

// ResourceConfig sets the resource manager's limits: go-libp2p's defaults, plus airanode's
// per-protocol limits, scaled to MaxMemory and MaxFD (0: scale to the machine), then Overrides.
type ResourceConfig struct {
	MaxMemory int64
	MaxFD     int
	// Overrides, if set, replace individual limits (rcmgr's JSON format, as operators write it).
	Overrides *rcmgr.PartialLimitConfig
}

// DefaultConfig returns the configuration of a volunteer node on the "main" network: TCP and QUIC
// on DefaultPort (IPv4 and IPv6), mDNS, DHT auto-server, 100..400 connections, NAT port mapping,
// hole punching, AutoRelay and relay service on.
func DefaultConfig() Config {
	return Config{
		Network: "main",
		Version: "dev",
		ListenAddrs: []string{
			fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultPort),
			fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", DefaultPort),
			fmt.Sprintf("/ip6/::/tcp/%d", DefaultPort),
			fmt.Sprintf("/ip6/::/udp/%d/quic-v1", DefaultPort),
		},
		MDNS:              true,
		DHTMode:           DHTAutoServer,
		DiscoveryInterval: 5 * time.Minute,
		ConnLow:           100,
		ConnHigh:          400,
		ConnGrace:         time.Minute,
		NATPortMap:        true,
		HolePunching:      true,
		AutoRelay:         true,
		RelayService:      true,
		Gossip:            DefaultGossipConfig(),
		Blocks:            DefaultBlocksConfig(),
		Sync:              DefaultSyncConfig(),
	}
}

// UserAgent returns the identify agent string, "airanode/<version>".
func (c Config) UserAgent() string { return "airanode/" + c.Version }

// Validate reports the first problem, wrapped in ErrInvalidConfig.
func (c Config) Validate() error {
	if err := ValidateNetwork(c.Network); err != nil {
		return err
	}
	if c.Version == "" || strings.ContainsAny(c.Version, " \t\n") {
		return fmt.Errorf("%w: version %q must be non-empty without spaces", ErrInvalidConfig, c.Version)
	}
	if len(c.ListenAddrs) == 0 {
		return fmt.Errorf("%w: no listen addresses", ErrInvalidConfig)
	}
	for _, group := range [][]string{c.ListenAddrs, c.AnnounceAddrs} {
		for _, s := range group {
			if _, err := ma.NewMultiaddr(s); err != nil {
				return fmt.Errorf("%w: address %q: %w", ErrInvalidConfig, s, err)
			}
		}
	}
	if _, err := ParseBootstrap(c.Bootstrap); err != nil {
		return err
	}
	if c.PSK != nil && len(c.PSK) != 32 {
		return fmt.Errorf("%w: PSK of %d bytes, want 32", ErrInvalidConfig, len(c.PSK))
	}
	if c.PSK != nil && len(tcpOnly(c.ListenAddrs)) == 0 {
		return fmt.Errorf("%w: a private network needs a TCP listen address (QUIC cannot use a PSK)", ErrInvalidConfig)
	}
	switch c.DHTMode {
	case DHTAutoServer, DHTAuto, DHTServer, DHTClient:
	default:
		return fmt.Errorf("%w: DHT mode %q, want autoserver, auto, server or client", ErrInvalidConfig, c.DHTMode)
	}
	if c.DiscoveryInterval < time.Second {
		return fmt.Errorf("%w: DiscoveryInterval %v, want >= 1s", ErrInvalidConfig, c.DiscoveryInterval)
	}
	if c.ConnLow < 1 || c.ConnHigh < c.ConnLow || c.ConnGrace < 0 {
		return fmt.Errorf("%w: connections low %d high %d grace %v: want 1 <= low <= high, grace >= 0",
			ErrInvalidConfig, c.ConnLow, c.ConnHigh, c.ConnGrace)
	}
	if c.Resources.MaxMemory < 0 || c.Resources.MaxFD < 0 {
		return fmt.Errorf("%w: negative resource limits", ErrInvalidConfig)
	}
	if err := c.Gossip.Validate(); err != nil {
		return err
	}
	if err := c.Blocks.Validate(); err != nil {
		return err
	}
	return c.Sync.Validate()
}

// tcpOnly drops the addresses that are not plain TCP (QUIC, WebTransport, WebRTC).
func tcpOnly(addrs []string) []string {
	var out []string
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		udp := false
		ma.ForEach(a, func(c ma.Component) bool {
			if c.Protocol().Code == ma.P_UDP {
				udp = true
			}
			return !udp
		})
		if !udp {
			out = append(out, s)
		}
	}
	return out
}
