// Package nodetest builds airanode nodes and clusters of them on loopback for tests: real p2p
// hosts on OS-chosen ports, real stores in temporary directories, the real training executor,
// and task timings shortened so that leases, rank delays and capability announcements play out
// in seconds. Helpers take a testing.TB, fail it on error, and stop what they started in
// t.Cleanup. The helpers are safe for concurrent use; a Cluster is not changed after NewCluster.
package nodetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/config"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/tasks"
)

// Network is the network name of test nodes.
const Network = "test"

// Timings are the shortened task-protocol timings of test nodes.
type Timings struct {
	Lease, Heartbeat, RankDelay, Tick, Capability, Warmup, PublishTimeout time.Duration
}

// Fast are the timings test nodes use: leases of 3 s renewed every 500 ms, 500 ms per rank,
// capabilities every 500 ms, and a 1 s warm-up.
var Fast = Timings{
	Lease: 3 * time.Second, Heartbeat: 500 * time.Millisecond, RankDelay: 500 * time.Millisecond,
	Tick: 50 * time.Millisecond, Capability: 500 * time.Millisecond, Warmup: time.Second,
	PublishTimeout: 3 * time.Second,
}

// Apply sets the timings on a tasks configuration.
func (tm Timings) Apply(c *tasks.Config) {
	c.Lease, c.Heartbeat, c.RankDelay, c.Tick = tm.Lease, tm.Heartbeat, tm.RankDelay, tm.Tick
	c.CapabilityInterval, c.Warmup, c.PublishTimeout = tm.Capability, tm.Warmup, tm.PublishTimeout
}

// Config returns a node configuration for loopback tests in dir: TCP on 127.0.0.1 and the API on
// OS-chosen ports, no mDNS, one training thread, bootstrapping through bootstrap.
func Config(dir string, bootstrap ...string) config.Config {
	c := config.Default()
	c.DataDir = dir
	c.Network = Network
	c.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	c.Bootstrap = bootstrap
	c.MDNS = false
	c.API = "127.0.0.1:0"
	c.Threads = 1
	c.MemoryMB = 1024
	c.LogLevel = "error"
	// Test nodes never start compute cores, even on a machine with a GPU and airanode-cuda.
	c.GPU = config.GPUOff
	return c
}

// Logger returns a logger for test nodes: errors only, unless AIRANODE_TEST_LOG is set to a
// level (debug, info, warn), in which case it writes that level to stderr with the name.
func Logger(name string) *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(os.Getenv("AIRANODE_TEST_LOG")) {
	case "debug":
		lvl = slog.LevelDebug
	case "info":
		lvl = slog.LevelInfo
	case "warn":
		lvl = slog.LevelWarn
	default:
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})).With("node", name)
}

// Options returns the node options of test nodes: Fast timings and a quiet logger.
func Options(name string, tm Timings) []node.Option {
	return []node.Option{
		node.WithLogger(Logger(name)),
		node.WithVersion("test"),
		node.WithTasks(tm.Apply),
		node.WithFetchTimeout(10 * time.Second),
	}
}

// Start starts a node with cfg and opts and closes it at the end of the test.
func Start(t testing.TB, cfg config.Config, opts ...node.Option) *node.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.New(ctx, cfg, opts...)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// Cluster is a set of test nodes: node 0 starts first, the others bootstrap through it.
type Cluster struct {
	t     testing.TB
	Nodes []*node.Node
	Dirs  []string
}

// NewCluster starts n nodes with Fast timings, each in its own temporary data directory, and
// waits until every node has heard the others' capabilities.
func NewCluster(t testing.TB, n int, extra ...node.Option) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	for i := range n {
		dir := t.TempDir()
		var boot []string
		if i > 0 {
			boot = c.Nodes[0].Addrs()[:1]
		}
		opts := append(Options(fmt.Sprint(i), Fast), extra...)
		c.Nodes = append(c.Nodes, Start(t, Config(dir, boot...), opts...))
		c.Dirs = append(c.Dirs, dir)
	}
	WaitFor(t, 30*time.Second, func() error {
		for i, nd := range c.Nodes {
			if got := nd.Manager().Stats().Peers; got < n-1 {
				return fmt.Errorf("node %d knows %d task peers, want %d", i, got, n-1)
			}
		}
		return nil
	})
	return c
}

// Client returns an API client of node i.
func (c *Cluster) Client(i int) *api.Client {
	return Client(c.t, c.Nodes[i])
}

// Client returns an API client of n.
func Client(t testing.TB, n *node.Node) *api.Client {
	t.Helper()
	cl, err := api.NewClient(n.APIAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdle)
	return cl
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
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Goroutines returns a check that fails t if goroutines started after this call are still
// running (it waits up to 10 s for them to end) and prints their stacks. Call it before starting
// anything and run the returned function after the node's Close.
func Goroutines(t testing.TB) func() {
	t.Helper()
	before := goroutineStacks()
	return func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var extra []string
			for id, st := range goroutineStacks() {
				if _, ok := before[id]; !ok {
					extra = append(extra, st)
				}
			}
			if len(extra) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d goroutines left running:\n%s", len(extra), strings.Join(extra, "\n\n"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// goroutineStacks returns the stack of every goroutine by its ID.
func goroutineStacks() map[string]string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		f := strings.Fields(g)
		if len(f) >= 2 && f[0] == "goroutine" {
			out[f[1]] = g
		}
	}
	return out
}
