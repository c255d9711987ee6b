package node_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/airanode/airanode/config"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/node/nodetest"
	"github.com/airanode/airanode/p2p"
)

// TestP2PConfigDefaultsMatch checks that the node configuration's p2p defaults are the p2p
// layer's, and that every DHT mode the configuration accepts is one the p2p layer accepts.
func TestP2PConfigDefaultsMatch(t *testing.T) {
	c, pc := config.Default(), p2p.DefaultConfig()
	if len(c.Announce) != len(pc.AnnounceAddrs) || p2p.DHTMode(c.DHTMode) != pc.DHTMode ||
		c.ConnLow != pc.ConnLow || c.ConnHigh != pc.ConnHigh || time.Duration(c.ConnGrace) != pc.ConnGrace ||
		c.NATPortMap != pc.NATPortMap || c.HolePunching != pc.HolePunching || c.AutoRelay != pc.AutoRelay ||
		c.RelayService != pc.RelayService || c.MDNS != pc.MDNS || c.Network != pc.Network {
		t.Fatalf("config.Default() p2p settings %+v differ from p2p.DefaultConfig() %+v", c, pc)
	}
	for _, m := range []string{config.DHTAutoServer, config.DHTAuto, config.DHTServer, config.DHTClient} {
		c := config.Default()
		c.DHTMode = m
		if err := c.Validate(); err != nil {
			t.Fatalf("config refuses DHT mode %q: %v", m, err)
		}
		pc := p2p.DefaultConfig()
		pc.DHTMode = p2p.DHTMode(m)
		if err := pc.Validate(); err != nil {
			t.Fatalf("p2p refuses DHT mode %q the config accepts: %v", m, err)
		}
	}
}

// connInfo returns the connection manager settings a node's host runs with.
func connInfo(t *testing.T, n *node.Node) connmgr.CMInfo {
	t.Helper()
	cm, ok := n.Host().Libp2p().ConnManager().(*connmgr.BasicConnMgr)
	if !ok {
		t.Fatalf("connection manager is a %T", n.Host().Libp2p().ConnManager())
	}
	return cm.GetInfo()
}

// TestP2PConfigTakesEffect starts a node with announce addresses, connection limits and an
// explicit DHT mode, and checks that its host runs with them: it advertises exactly the announce
// addresses (to a peer too, through identify), its connection manager has the limits, and its
// DHT is a client although the node listens on loopback only. A second node with the defaults
// gets the loopback override: DHT server, NAT traversal off. A third node listening beyond
// loopback keeps the NAT switches and DHT mode of its config.
func TestP2PConfigTakesEffect(t *testing.T) {
	announce := []string{"/ip4/192.0.2.10/tcp/4001", "/ip4/192.0.2.10/udp/4001/quic-v1"}
	ca := nodetest.Config(t.TempDir())
	ca.Announce = announce
	ca.DHTMode = config.DHTClient
	ca.ConnLow, ca.ConnHigh, ca.ConnGrace = 3, 9, config.Duration(7*time.Second)
	var pa p2p.Config
	a := nodetest.Start(t, ca, append(nodetest.Options("a", nodetest.Fast), node.WithP2P(func(pc *p2p.Config) { pa = *pc }))...)

	var want []string
	for _, s := range announce {
		want = append(want, s+"/p2p/"+a.ID().String())
	}
	if got := a.Addrs(); !slices.Equal(got, want) {
		t.Fatalf("advertised addresses %v, want the announce addresses %v", got, want)
	}
	if info := connInfo(t, a); info.LowWater != 3 || info.HighWater != 9 || info.GracePeriod != 7*time.Second {
		t.Fatalf("connection manager %+v, want low 3, high 9, grace 7s", info)
	}
	if m := a.Host().DHT().Mode(); m != dht.ModeClient {
		t.Fatalf("DHT mode %v, want client (explicit dht_mode kept on loopback)", m)
	}
	if pa.NATPortMap || pa.HolePunching || pa.AutoRelay || pa.RelayService || pa.DHTMode != p2p.DHTClient {
		t.Fatalf("p2p config of a loopback node: NAT %v %v %v %v, DHT %q", pa.NATPortMap, pa.HolePunching, pa.AutoRelay, pa.RelayService, pa.DHTMode)
	}

	// b bootstraps through a's real listen address and learns a's announce addresses from it.
	var real string
	for _, m := range a.Host().Libp2p().Network().ListenAddresses() { // the TCP one, not /p2p-circuit
		if _, err := m.ValueForProtocol(ma.P_TCP); err == nil {
			real = fmt.Sprintf("%s/p2p/%s", m, a.ID())
		}
	}
	if real == "" {
		t.Fatalf("a listens on no TCP address: %v", a.Host().Libp2p().Network().ListenAddresses())
	}
	var pb p2p.Config
	b := nodetest.Start(t, nodetest.Config(t.TempDir(), real),
		append(nodetest.Options("b", nodetest.Fast), node.WithP2P(func(pc *p2p.Config) { pb = *pc }))...)
	if d, info := config.Default(), connInfo(t, b); info.LowWater != d.ConnLow || info.HighWater != d.ConnHigh ||
		info.GracePeriod != time.Duration(d.ConnGrace) {
		t.Fatalf("default connection manager %+v", info)
	}
	if m := b.Host().DHT().Mode(); m != dht.ModeServer {
		t.Fatalf("DHT mode %v, want server (autoserver on loopback)", m)
	}
	if pb.NATPortMap || pb.HolePunching || pb.AutoRelay || pb.RelayService || pb.DHTMode != p2p.DHTServer {
		t.Fatalf("p2p config of a default loopback node: NAT %v %v %v %v, DHT %q", pb.NATPortMap, pb.HolePunching, pb.AutoRelay, pb.RelayService, pb.DHTMode)
	}
	// c listens beyond loopback: its NAT switches and DHT mode are the config's, one by one.
	cc := nodetest.Config(t.TempDir())
	cc.Listen = []string{"/ip4/0.0.0.0/tcp/0"}
	cc.NATPortMap, cc.HolePunching, cc.AutoRelay, cc.RelayService = false, true, false, true
	var pc p2p.Config
	nodetest.Start(t, cc, append(nodetest.Options("c", nodetest.Fast), node.WithP2P(func(p *p2p.Config) { pc = *p }))...)
	if pc.NATPortMap || !pc.HolePunching || pc.AutoRelay || !pc.RelayService || pc.DHTMode != p2p.DHTAutoServer {
		t.Fatalf("p2p config of a node beyond loopback: NAT %v %v %v %v, DHT %q, want false true false true, autoserver",
			pc.NATPortMap, pc.HolePunching, pc.AutoRelay, pc.RelayService, pc.DHTMode)
	}

	nodetest.WaitFor(t, 10*time.Second, func() error {
		var known []string
		for _, m := range b.Host().Libp2p().Peerstore().Addrs(a.ID()) {
			known = append(known, m.String())
		}
		for _, s := range announce {
			if !slices.Contains(known, s) {
				return fmt.Errorf("b knows a at %v, not at the announce address %s", known, s)
			}
		}
		return nil
	})
}
