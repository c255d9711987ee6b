package tasks_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
	"github.com/airanode/airanode/tasks"
	"github.com/airanode/airanode/tasks/taskstest"
)

// node is one Manager with everything it was built from, so a test can crash and restart it.
type node struct {
	t    testing.TB
	key  crypto.PrivKey
	id   peer.ID
	st   *store.Store
	exec *taskstest.CounterExecutor
	cfg  tasks.Config
	net  *taskstest.Network
	ep   *taskstest.Endpoint
	m    *tasks.Manager
	gate *gateBus

	mu     sync.Mutex
	events []tasks.Event
}

// fastConfig is a Config with every duration scaled down for tests.
func fastConfig() tasks.Config {
	return tasks.Config{
		Workers:            2,
		Lease:              1500 * time.Millisecond,
		Heartbeat:          200 * time.Millisecond,
		RankDelay:          200 * time.Millisecond,
		Tick:               20 * time.Millisecond,
		CapabilityInterval: 300 * time.Millisecond,
		Warmup:             300 * time.Millisecond,
		PublishTimeout:     time.Second,
		Class:              taskstest.Class,
	}
}

func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return sk, id
}

func memStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open("", store.Options{InMemory: true, MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newNode builds and starts a node on net with cfg (Key, Store, Bus and Executor are filled in).
func newNode(t testing.TB, net *taskstest.Network, exec *taskstest.CounterExecutor, cfg tasks.Config) *node {
	t.Helper()
	key, id := newKey(t)
	n := &node{t: t, key: key, id: id, st: memStore(t), exec: exec, cfg: cfg, net: net}
	n.start()
	return n
}

// start (re)starts the node's Manager on its store, as a process restart would.
func (n *node) start() {
	n.t.Helper()
	n.ep = n.net.Join(n.id)
	cfg := n.cfg
	cfg.Key, cfg.Store, cfg.Bus, cfg.Executor = n.key, n.st, n.ep, n.exec
	cfg.OnEvent = n.record
	m, err := tasks.New(cfg)
	if err != nil {
		n.t.Fatal(err)
	}
	n.m = m
	n.ep.Attach(m)
	n.t.Cleanup(func() { n.ep.Leave(); m.Close() })
}

// crash takes the node off the network and stops its Manager without letting anything out: the
// in-memory equivalent of kill -9 (its store survives, as a disk would).
func (n *node) crash() {
	n.ep.Leave()
	n.m.Close()
}

func (n *node) record(e tasks.Event) {
	n.mu.Lock()
	n.events = append(n.events, e)
	n.mu.Unlock()
}

func (n *node) eventCount(kind tasks.EventKind, task cid.Cid) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, e := range n.events {
		if e.Kind == kind && (!task.Defined() || e.Task.Equals(task)) {
			c++
		}
	}
	return c
}

func (n *node) status(task cid.Cid) tasks.Status {
	n.t.Helper()
	s, err := n.m.Get(task)
	if err != nil {
		return tasks.Status{}
	}
	return s
}

// submit offers task with replicas from n, failing the test on an error.
func submit(t *testing.T, n *node, task object.Task, replicas int) cid.Cid {
	t.Helper()
	c, err := n.m.Submit(t.Context(), task, replicas)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitPeers waits until every node ranks every other.
func waitPeers(t *testing.T, nodes ...*node) {
	t.Helper()
	waitFor(t, 10*time.Second, "peers to know each other", func() bool {
		for _, n := range nodes {
			if n.m.Stats().Peers < len(nodes)-1 {
				return false
			}
		}
		return true
	})
}

func testTask(i int) object.Task {
	return object.Task{
		Arch:     object.ObjectCID([]byte("arch-" + strconv.Itoa(i))).String(),
		Protocol: object.ObjectCID([]byte("protocol")).String(),
		Seed:     uint64(i),
	}
}

// publishedClaims returns the claims about task published on net, decoded.
func publishedClaims(t *testing.T, net *taskstest.Network, task cid.Cid) []object.Claim {
	t.Helper()
	var out []object.Claim
	for _, m := range net.Messages() {
		if m.Kind != object.KindClaim {
			continue
		}
		c, err := object.OpenClaim(m.Data)
		if err != nil {
			t.Fatalf("published a bad claim: %v", err)
		}
		if c.Task == task.String() {
			out = append(out, c)
		}
	}
	return out
}

func publishedResults(t *testing.T, net *taskstest.Network, task cid.Cid) []object.Result {
	t.Helper()
	var out []object.Result
	for _, m := range net.Messages() {
		if m.Kind != object.KindResult {
			continue
		}
		r, err := object.OpenResult(m.Data)
		if err != nil {
			t.Fatalf("published a bad result: %v", err)
		}
		if r.Task == task.String() {
			out = append(out, r)
		}
	}
	return out
}

// noRejections fails if any endpoint's handler rejected a message from an honest node.
func noRejections(t *testing.T, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		for _, err := range n.ep.Errors() {
			if !errors.Is(err, tasks.ErrIgnored) && !errors.Is(err, tasks.ErrClosed) {
				t.Errorf("node %s: handler error %v", n.id.ShortString(), err)
			}
		}
	}
}

// reference runs the executor directly, uninterrupted.
func reference(t testing.TB, exec *taskstest.CounterExecutor, task object.Task) object.Result {
	t.Helper()
	x := &taskstest.CounterExecutor{Steps: exec.Steps, Every: exec.Every}
	r, err := x.Execute(t.Context(), task, nil, func(tasks.Progress) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sameWork compares two results apart from who ran them.
func sameWork(a, b object.Result) error {
	a.Executor, b.Executor = "", ""
	x, err := object.Marshal(a)
	if err != nil {
		return err
	}
	y, err := object.Marshal(b)
	if err != nil {
		return err
	}
	if string(x) != string(y) {
		return fmt.Errorf("results differ:\n%+v\n%+v", a, b)
	}
	return nil
}
