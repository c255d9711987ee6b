package node_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/config"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/node/nodetest"
	"github.com/airanode/airanode/p2p"
	"github.com/airanode/airanode/store"
)

func TestMain(m *testing.M) {
	if nodetest.IsChild() {
		os.Exit(nodetest.ChildMain())
	}
	os.Exit(m.Run())
}

var warm sync.Once

// warmGlobals starts and closes one node (once per process), so that the goroutines libp2p and
// its dependencies start once per process do not count as leaks.
func warmGlobals(t *testing.T) {
	t.Helper()
	warm.Do(func() {
		n, err := node.New(context.Background(), nodetest.Config(t.TempDir()), nodetest.Options("warm", nodetest.Fast)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCloseWaitsAndIsIdempotent starts a node, checks what it publishes about itself, closes it
// twice, and checks that no goroutine it started is left and that its info file is gone.
func TestCloseWaitsAndIsIdempotent(t *testing.T) {
	warmGlobals(t)
	check := nodetest.Goroutines(t)
	dir := t.TempDir()
	n, err := node.New(context.Background(), nodetest.Config(dir), nodetest.Options("a", nodetest.Fast)...)
	if err != nil {
		t.Fatal(err)
	}
	info, err := node.ReadInfo(dir)
	if err != nil || info.PeerID != n.ID().String() || info.API != n.APIAddr() || info.PID != os.Getpid() || len(info.Addrs) == 0 {
		t.Fatalf("info file %+v, %v", info, err)
	}
	st, err := nodetest.Client(t, n).Status(context.Background())
	if err != nil || st.PeerID != n.ID().String() || st.Worker.State != api.WorkerWorking || st.Worker.Workers != 1 {
		t.Fatalf("status %+v, %v", st, err)
	}
	for range 3 {
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := node.ReadInfo(dir); !errors.Is(err, node.ErrNoInfo) {
		t.Fatalf("info file after Close: %v", err)
	}
	if _, err := n.Submit(context.Background(), api.SubmitRequest{Arch: "A", Protocol: "mad-lite"}); !errors.Is(err, node.ErrClosed) {
		t.Fatalf("submit after close: %v", err)
	}
	check()
}

// TestFailedStartUndoesEverything makes each start step fail in turn: New returns an error
// wrapping ErrStart, leaves no goroutine behind, and the data directory is usable at once by a
// node that starts properly.
func TestFailedStartUndoesEverything(t *testing.T) {
	warmGlobals(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyTCP := "/ip4/127.0.0.1/tcp/" + strings.Split(busy.Addr().String(), ":")[1]
	tests := []struct {
		name  string
		edit  func(t *testing.T, c *config.Config)
		match string
	}{
		{"api port in use", func(_ *testing.T, c *config.Config) { c.API = busy.Addr().String() }, "address already in use"},
		{"api not on loopback", func(_ *testing.T, c *config.Config) { c.API = "0.0.0.0:0" }, "loopback"},
		{"p2p port in use", func(_ *testing.T, c *config.Config) { c.Listen = []string{busyTCP} }, "listen"},
		{"bad psk file", func(t *testing.T, c *config.Config) {
			p := filepath.Join(t.TempDir(), "swarm.key")
			if err := os.WriteFile(p, []byte("not a key\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			c.PSKFile = p
		}, "psk"},
		{"missing psk file", func(t *testing.T, c *config.Config) { c.PSKFile = filepath.Join(t.TempDir(), "none") }, "psk"},
		{"store locked", func(t *testing.T, c *config.Config) {
			st, err := store.Open(filepath.Join(c.DataDir, node.StoreDir), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
		}, "store"},
		{"bad network name", func(_ *testing.T, c *config.Config) { c.Network = "Upper_Case" }, "network"},
		{"invalid config", func(_ *testing.T, c *config.Config) { c.Threads = 0 }, "threads"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := nodetest.Config(dir)
			tc.edit(t, &cfg)
			check := nodetest.Goroutines(t)
			n, err := node.New(context.Background(), cfg, nodetest.Options("bad", nodetest.Fast)...)
			if err == nil {
				_ = n.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, node.ErrStart) || !strings.Contains(strings.ToLower(err.Error()), tc.match) {
				t.Fatalf("error %v: want ErrStart mentioning %q", err, tc.match)
			}
			check()
			if _, err := node.ReadInfo(dir); !errors.Is(err, node.ErrNoInfo) {
				t.Fatalf("info file left: %v", err)
			}
		})
	}
	// After the failures, a good start on a data directory that failed works.
	dir := t.TempDir()
	cfg := nodetest.Config(dir)
	cfg.API = busy.Addr().String()
	if _, err := node.New(context.Background(), cfg, nodetest.Options("bad", nodetest.Fast)...); err == nil {
		t.Fatal("New succeeded on a busy port")
	}
	nodetest.Start(t, nodetest.Config(dir), nodetest.Options("good", nodetest.Fast)...)
}

// TestPrivateNetwork starts two nodes sharing a PSK and one without: the pair connects and sees
// each other's capabilities, the outsider cannot connect.
func TestPrivateNetwork(t *testing.T) {
	t.Parallel()
	key, err := p2p.NewPSK()
	if err != nil {
		t.Fatal(err)
	}
	psk := filepath.Join(t.TempDir(), "swarm.key")
	if err := os.WriteFile(psk, key, 0o600); err != nil {
		t.Fatal(err)
	}
	c0 := nodetest.Config(t.TempDir())
	c0.PSKFile = psk
	a := nodetest.Start(t, c0, nodetest.Options("a", nodetest.Fast)...)
	c1 := nodetest.Config(t.TempDir(), a.Addrs()[0])
	c1.PSKFile = psk
	b := nodetest.Start(t, c1, nodetest.Options("b", nodetest.Fast)...)
	nodetest.WaitFor(t, 30*time.Second, func() error {
		if a.Manager().Stats().Peers < 1 || b.Manager().Stats().Peers < 1 {
			return errors.New("the private pair has not heard each other")
		}
		return nil
	})
	outsider := nodetest.Start(t, nodetest.Config(t.TempDir()), nodetest.Options("out", nodetest.Fast)...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := outsider.Host().Connect(ctx, a.Addrs()[0]); err == nil {
		t.Fatal("a node without the PSK connected to the private network")
	}
}
