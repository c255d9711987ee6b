package tasks_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
	"github.com/airanode/airanode/tasks"
	"github.com/airanode/airanode/tasks/taskstest"
)

// Three managers, twenty tasks submitted on one: every task completes, each is executed by exactly
// R distinct managers, every manager ends up holding every result, and replicas agree bit for bit.
func TestTwentyTasksThreeManagers(t *testing.T) {
	const nTasks, R = 20, 2
	net := taskstest.NewNetwork()
	exec := func() *taskstest.CounterExecutor {
		return &taskstest.CounterExecutor{Steps: 12, Every: 4, Delay: 20 * time.Millisecond}
	}
	// Exactly R executions needs every node to hear of the others' claims before it finishes a
	// task: keep the chatter low and the tasks long enough for a loaded machine under -race.
	cfg := fastConfig()
	cfg.Lease, cfg.Heartbeat, cfg.CapabilityInterval = 3*time.Second, 500*time.Millisecond, time.Second
	nodes := []*node{newNode(t, net, exec(), cfg), newNode(t, net, exec(), cfg), newNode(t, net, exec(), cfg)}
	waitPeers(t, nodes...)
	time.Sleep(cfg.Warmup) // so that the claim latencies below measure claiming, not warming up

	var ids []cid.Cid
	for i := range nTasks {
		c := submit(t, nodes[0], testTask(i), R)
		ids = append(ids, c)
	}
	defer func() {
		if t.Failed() {
			for _, c := range ids {
				if len(publishedResults(t, net, c)) <= R {
					continue
				}
				for _, msg := range net.Messages() {
					switch msg.Kind {
					case object.KindClaim:
						cl, _ := object.OpenClaim(msg.Data)
						if cl.Task == c.String() {
							t.Logf("%s claim %s %s seq=%d step=%d t=%d", c.String()[50:], cl.Claimer[48:], cl.State, cl.Seq, cl.Step, cl.Time%100000)
						}
					case object.KindResult:
						r, _ := object.OpenResult(msg.Data)
						if r.Task == c.String() {
							t.Logf("%s result %s", c.String()[50:], r.Executor[48:])
						}
					}
				}
			}
			for _, n := range nodes {
				t.Logf("node %s: %+v max lag %s", n.id.ShortString(), n.m.Stats(), n.ep.MaxLag())
				for _, s := range n.m.List() {
					if s.State != tasks.StateDone {
						t.Logf("  %s %s leases=%+v results=%d local=%+v", s.CID, s.State, s.Leases, len(s.Results), s.Local)
					}
				}
			}
		}
	}()
	waitFor(t, 40*time.Second, "every task done with R results on every node", func() bool {
		for _, n := range nodes {
			for _, c := range ids {
				if s := n.status(c); s.State != tasks.StateDone || len(s.Results) != R {
					return false
				}
			}
		}
		return true
	})

	perNode := map[peer.ID]int{}
	for i, c := range ids {
		results := publishedResults(t, net, c)
		if len(results) != R {
			t.Fatalf("task %d: %d results published, want exactly %d", i, len(results), R)
		}
		if results[0].Executor == results[1].Executor {
			t.Fatalf("task %d: both results by %s", i, results[0].Executor)
		}
		want := reference(t, exec(), testTask(i))
		for _, r := range results {
			if err := sameWork(r, want); err != nil {
				t.Fatalf("task %d: %v", i, err)
			}
			id, _ := peer.Decode(r.Executor)
			perNode[id]++
		}
		// Every node stored and indexed every result.
		for _, n := range nodes {
			got, _, err := n.st.Scan(store.IndexTask, c.String(), "", 100)
			if err != nil {
				t.Fatal(err)
			}
			held := 0
			for _, x := range got {
				b, err := n.st.Get(x)
				if err != nil {
					continue
				}
				if s, err := object.OpenAny(b); err == nil && s.Kind == object.KindResult {
					held++
				}
			}
			if held != R {
				t.Fatalf("task %d: node %s indexes %d results, want %d", i, n.id.ShortString(), held, R)
			}
		}
	}
	total := 0
	for _, n := range nodes {
		st := n.m.Stats()
		if st.Done != nTasks || st.Running != 0 {
			t.Errorf("node %s stats %+v", n.id.ShortString(), st)
		}
		total += int(st.Completed)
		if perNode[n.id] != int(st.Completed) {
			t.Errorf("node %s completed %d, published %d", n.id.ShortString(), st.Completed, perNode[n.id])
		}
	}
	if total != nTasks*R {
		t.Fatalf("%d executions, want %d", total, nTasks*R)
	}
	t.Logf("executions per node: %v", perNode)
	// Claim latency: from the offer's publication to the first claim of the task (most tasks
	// also wait for a free worker).
	offered, claimed := map[string]time.Time{}, map[string]time.Time{}
	for _, m := range net.Messages() {
		switch m.Kind {
		case object.KindOffer:
			o, _ := object.OpenOffer(m.Data)
			c, _ := object.CID(o.Task)
			offered[c.String()] = m.At
		case object.KindClaim:
			c, _ := object.OpenClaim(m.Data)
			if _, ok := claimed[c.Task]; !ok && c.State == object.ClaimClaimed {
				claimed[c.Task] = m.At
			}
		}
	}
	var lat []time.Duration
	for k, at := range claimed {
		lat = append(lat, at.Sub(offered[k]))
	}
	slices.Sort(lat)
	t.Logf("first-claim latency over %d tasks: min %s, median %s, max %s", len(lat), lat[0], lat[len(lat)/2], lat[len(lat)-1])
	for _, n := range nodes {
		t.Logf("node %s: max message lag %s", n.id.ShortString(), n.ep.MaxLag())
	}
	noRejections(t, nodes...)
}

// A manager stopped mid-task without releasing it: its lease expires at the others, one of them
// claims and completes the task, and the crashed manager, restarted late, duplicates nothing.
func TestCrashedLeaseExpires(t *testing.T) {
	net := taskstest.NewNetwork()
	cfg := fastConfig()
	cfg.Workers = 1
	cfg.Lease = time.Second
	mk := func() *taskstest.CounterExecutor {
		return &taskstest.CounterExecutor{Steps: 60, Every: 5, Delay: 10 * time.Millisecond}
	}
	nodes := []*node{newNode(t, net, mk(), cfg), newNode(t, net, mk(), cfg), newNode(t, net, mk(), cfg)}
	waitPeers(t, nodes...)
	task := testTask(100)
	tc := submit(t, nodes[0], task, 1)
	var victim *node
	waitFor(t, 10*time.Second, "a node to make progress", func() bool {
		for _, n := range nodes {
			if l := n.status(tc).Local; l != nil && l.State == tasks.RunRunning && l.Step >= 3 {
				victim = n
				return true
			}
		}
		return false
	})
	crashedAt := time.Now()
	victim.crash()
	var rest []*node
	for _, n := range nodes {
		if n != victim {
			rest = append(rest, n)
		}
	}
	waitFor(t, 15*time.Second, "another node to complete the task", func() bool {
		for _, n := range rest {
			if s := n.status(tc); s.State == tasks.StateDone {
				return true
			}
		}
		return false
	})
	// The take-over waited for the lease to expire (the claim came from another node after it).
	// A claim its node released afterwards is not one: on a loaded machine a lower-ranked node may
	// claim the task at the start, before the victim's claim reaches it, and then abandon it to the
	// victim (claimed, then released, both before the crash).
	claims := publishedClaims(t, net, tc)
	releasedLater := func(c object.Claim) bool {
		for _, d := range claims {
			if d.Claimer == c.Claimer && d.Seq > c.Seq && d.State == object.ClaimReleased {
				return true
			}
		}
		return false
	}
	var takeover []object.Claim
	for _, c := range claims {
		if c.Claimer != victim.id.String() && c.State == object.ClaimClaimed && !releasedLater(c) {
			takeover = append(takeover, c)
		}
	}
	if len(takeover) != 1 {
		t.Fatalf("%d take-over claims, want 1: %+v", len(takeover), takeover)
	}
	// The victim's last heartbeat came at most one Heartbeat before the crash, and its lease ran
	// a Lease from there.
	if earliest := crashedAt.Add(cfg.Lease - cfg.Heartbeat).UnixMilli(); takeover[0].Time < earliest {
		t.Fatalf("take-over claimed %d ms before the lease could expire", earliest-takeover[0].Time)
	}

	// Restart the crashed node after its lease lapsed: it resumes nothing and publishes nothing.
	before := len(net.Messages())
	victim.start()
	waitFor(t, 5*time.Second, "the restarted node to learn the result", func() bool {
		return victim.status(tc).State == tasks.StateDone
	})
	time.Sleep(cfg.Warmup + 10*cfg.Tick)
	for _, m := range net.Messages()[before:] {
		if m.From == victim.id && m.Kind != object.KindCapability {
			t.Fatalf("restarted node published a %s", m.Kind)
		}
	}
	if l := victim.status(tc).Local; l == nil || l.State != tasks.RunReleased {
		t.Fatalf("restarted node's run: %+v", l)
	}
	results := publishedResults(t, net, tc)
	if len(results) != 1 || results[0].Executor == victim.id.String() {
		t.Fatalf("results %+v", results)
	}
	if err := sameWork(results[0], reference(t, mk(), task)); err != nil {
		t.Fatal(err)
	}
	if runs := victim.exec.Runs(); len(runs) != 1 {
		t.Fatalf("crashed node ran %d times", len(runs))
	}
	noRejections(t, rest...)
}

// A manager restarted within its lease resumes its task from the last checkpoint, publishes
// nothing twice, and reaches the result of an uninterrupted run; nobody else claims the task.
func TestRestartResumesFromCheckpoint(t *testing.T) {
	net := taskstest.NewNetwork()
	cfg := fastConfig()
	cfg.Workers = 1
	cfg.Lease = 3 * time.Second
	// The second-ranked node holds back RankDelay for the first one's claim to arrive; on a loaded
	// machine 200 ms was sometimes too short, and both claimed (one then abandoned).
	cfg.RankDelay = time.Second
	mk := func() *taskstest.CounterExecutor {
		return &taskstest.CounterExecutor{Steps: 80, Every: 5, Delay: 10 * time.Millisecond}
	}
	a, b := newNode(t, net, mk(), cfg), newNode(t, net, mk(), cfg)
	waitPeers(t, a, b)
	task := testTask(7)
	tc := submit(t, a, task, 1)
	var owner, other *node
	waitFor(t, 10*time.Second, "a checkpoint", func() bool {
		for _, n := range []*node{a, b} {
			if l := n.status(tc).Local; l != nil && l.State == tasks.RunRunning && l.Checkpoint >= 10 {
				owner = n
				return true
			}
		}
		return false
	})
	if owner == a {
		other = b
	} else {
		other = a
	}
	owner.crash()
	owner.start()
	waitFor(t, 15*time.Second, "the task to complete", func() bool {
		return other.status(tc).State == tasks.StateDone && owner.status(tc).State == tasks.StateDone
	})
	runs := owner.exec.Runs()
	if len(runs) != 2 || runs[0].From != 0 || runs[1].From < 10 {
		t.Fatalf("runs %+v: want one from scratch and one resumed from step >= 10", runs)
	}
	if r := other.exec.Runs(); len(r) != 0 {
		t.Fatalf("the other node ran the task %d times: %+v (owner's runs %+v)", len(r), r, runs)
	}
	results := publishedResults(t, net, tc)
	if len(results) != 1 || results[0].Executor != owner.id.String() {
		t.Fatalf("results %+v", results)
	}
	if err := sameWork(results[0], reference(t, mk(), task)); err != nil {
		t.Fatal(err)
	}
	// Nothing published twice: claim sequence numbers strictly increase across the restart, and
	// no envelope left twice.
	seen := map[string]bool{}
	for _, m := range net.Messages() {
		if m.From == owner.id && seen[string(m.Data)] {
			t.Fatalf("%s published twice", m.Kind)
		}
		seen[string(m.Data)] = true
	}
	var seqs []int64
	for _, c := range publishedClaims(t, net, tc) {
		if c.Claimer == owner.id.String() {
			seqs = append(seqs, c.Seq)
		}
	}
	if !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
		t.Fatalf("claim seqs %v", seqs)
	}
	if owner.eventCount(tasks.EventResumed, tc) != 1 {
		t.Fatal("no resumed event")
	}
	noRejections(t, a, b)
}

// A restart after the result was stored but before anything was published publishes the result,
// once.
func TestRestartPublishesUnsentResult(t *testing.T) {
	net := taskstest.NewNetwork()
	cfg := fastConfig()
	cfg.Workers = 1
	exec := &taskstest.CounterExecutor{Steps: 4, Every: 2}
	n := newNode(t, net, exec, cfg)
	// Cut the node off: it runs the task and stores the result, but cannot publish it.
	n.ep.Leave()
	// What the node announced before it went offline (its capability) does not count.
	before := len(net.Messages())
	task := testTask(3)
	tc, err := n.m.Submit(t.Context(), task, 1)
	if err == nil {
		t.Fatal("Submit on an offline bus should report the publish failure")
	}
	waitFor(t, 10*time.Second, "the local result", func() bool {
		l := n.status(tc).Local
		return l != nil && l.State == tasks.RunDone
	})
	n.m.Close()
	if c := len(net.Messages()) - before; c != 0 {
		t.Fatalf("%d messages escaped an offline node", c)
	}
	n.start()
	waitFor(t, 10*time.Second, "the result to be published", func() bool {
		return len(publishedResults(t, net, tc)) == 1
	})
	time.Sleep(20 * cfg.Tick)
	if got := publishedResults(t, net, tc); len(got) != 1 {
		t.Fatalf("%d results published", len(got))
	}
	done := 0
	for _, c := range publishedClaims(t, net, tc) {
		if c.State == object.ClaimDone {
			done++
		}
	}
	if done != 1 {
		t.Fatalf("%d done claims published", done)
	}
	if len(exec.Runs()) != 1 {
		t.Fatalf("executor ran %d times", len(exec.Runs()))
	}
}

// Two managers split by a partition both claim the same task; when the partition heals, the one
// with the lower rendezvous score abandons, whoever claimed first.
func TestConflictSettledByRank(t *testing.T) {
	t.Run("plain score", func(t *testing.T) { conflict(t, false) })
	// A Weight (the node's reputation) settles conflicts too: the peer with the better plain
	// score but a tiny weight gives way to the trusted one, and both sides agree on it.
	t.Run("weighted", func(t *testing.T) { conflict(t, true) })
}

func conflict(t *testing.T, distrustBest bool) {
	net := taskstest.NewNetwork()
	cfg := fastConfig()
	cfg.Workers = 1
	var distrusted peer.ID
	if distrustBest {
		cfg.Weight = func(p peer.ID) float64 {
			if p == distrusted {
				return 1e-9 // clamped to the minimum weight
			}
			return 1
		}
	}
	mk := func() *taskstest.CounterExecutor {
		return &taskstest.CounterExecutor{Steps: 100, Every: 10, Delay: 10 * time.Millisecond}
	}
	a, b := newGatedNode(t, net, mk(), cfg), newGatedNode(t, net, mk(), cfg)
	task := testTask(55)
	_, tc, err := object.Encode(task)
	if err != nil {
		t.Fatal(err)
	}
	winner, loser := a, b
	if tasks.Score(tc, b.id) > tasks.Score(tc, a.id) {
		winner, loser = b, a
	}
	if distrustBest {
		distrusted = winner.id
		winner, loser = loser, winner
	}
	for _, n := range []*node{a, b} {
		submit(t, n, task, 1)
	}
	waitFor(t, 10*time.Second, "both sides of the partition to run the task", func() bool {
		la, lb := a.status(tc).Local, b.status(tc).Local
		return la != nil && lb != nil && la.Step >= 2 && lb.Step >= 2
	})
	a.gate.open()
	b.gate.open()
	waitFor(t, 15*time.Second, "the task to complete", func() bool {
		return a.status(tc).State == tasks.StateDone && b.status(tc).State == tasks.StateDone
	})
	results := publishedResults(t, net, tc)
	if len(results) != 1 || results[0].Executor != winner.id.String() {
		t.Fatalf("%d results, want one by the better-ranked %s", len(results), winner.id)
	}
	if loser.m.Stats().Abandoned != 1 || loser.eventCount(tasks.EventAbandoned, tc) != 1 {
		t.Fatalf("loser stats %+v", loser.m.Stats())
	}
	if winner.m.Stats().Abandoned != 0 {
		t.Fatalf("winner stats %+v", winner.m.Stats())
	}
	var released bool
	for _, c := range publishedClaims(t, net, tc) {
		released = released || (c.Claimer == loser.id.String() && c.State == object.ClaimReleased)
	}
	if !released {
		t.Fatal("the loser did not release its claim")
	}
}

// gateBus holds publications (a partition) until it is opened, then sends them in order.
type gateBus struct {
	inner  tasks.Bus
	mu     sync.Mutex
	isOpen bool
	held   []taskstest.Message
}

func (g *gateBus) Publish(ctx context.Context, search string, kind object.Kind, env []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.isOpen {
		g.held = append(g.held, taskstest.Message{Search: search, Kind: kind, Data: env})
		return nil
	}
	return g.inner.Publish(ctx, search, kind, env)
}

func (g *gateBus) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.held {
		g.inner.Publish(context.Background(), m.Search, m.Kind, m.Data)
	}
	g.held, g.isOpen = nil, true
}

func newGatedNode(t *testing.T, net *taskstest.Network, exec *taskstest.CounterExecutor, cfg tasks.Config) *node {
	key, id := newKey(t)
	n := &node{t: t, key: key, id: id, st: memStore(t), exec: exec, net: net}
	n.ep = net.Join(id)
	n.gate = &gateBus{inner: n.ep}
	cfg.Key, cfg.Store, cfg.Bus, cfg.Executor = key, n.st, n.gate, exec
	cfg.OnEvent = n.record
	m, err := tasks.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.m = m
	n.ep.Attach(m)
	t.Cleanup(func() { n.ep.Leave(); m.Close() })
	return n
}

// Capability: a node does not claim a task bigger than its memory limit, and the others do not
// wait for it.
func TestCapabilityLimitsClaims(t *testing.T) {
	net := taskstest.NewNetwork()
	est := func(_ context.Context, task object.Task) (object.Need, error) {
		return object.Need{Memory: int64(task.Seed) * 1000, Compute: 1}, nil
	}
	small, big := fastConfig(), fastConfig()
	small.Memory, small.Estimator, small.RankDelay = 1500, est, time.Hour
	big.Estimator, big.RankDelay = est, time.Hour
	mk := func() *taskstest.CounterExecutor { return &taskstest.CounterExecutor{Steps: 4, Every: 2} }
	s, b := newNode(t, net, mk(), small), newNode(t, net, mk(), big)
	waitPeers(t, s, b)
	var ids []cid.Cid
	for _, seed := range []int{2, 3, 4, 5} { // all too big for the small node
		c := submit(t, s, testTask(seed), 1)
		ids = append(ids, c)
	}
	waitFor(t, 10*time.Second, "the big node to run everything", func() bool {
		for _, c := range ids {
			if b.status(c).State != tasks.StateDone {
				return false
			}
		}
		return true
	})
	if n := len(s.exec.Runs()); n != 0 {
		t.Fatalf("the small node ran %d tasks over its memory limit", n)
	}
	if st := b.status(ids[0]); st.Need.Memory != 2000 {
		t.Fatalf("need %+v", st.Need)
	}
}

// Pause holds the running task at a step boundary and stops new claims; Resume continues both.
func TestPauseResume(t *testing.T) {
	net := taskstest.NewNetwork()
	cfg := fastConfig()
	cfg.Workers = 1
	exec := &taskstest.CounterExecutor{Steps: 60, Every: 10, Delay: 10 * time.Millisecond}
	n := newNode(t, net, exec, cfg)
	first := submit(t, n, testTask(1), 1)
	waitFor(t, 10*time.Second, "progress", func() bool {
		l := n.status(first).Local
		return l != nil && l.Step >= 3
	})
	n.m.Pause()
	waitFor(t, 5*time.Second, "the run to hold", func() bool {
		l := n.status(first).Local
		return l != nil && l.Paused
	})
	held := n.status(first).Local.Step
	second := submit(t, n, testTask(2), 1)
	time.Sleep(300 * time.Millisecond)
	if l := n.status(first).Local; l.Step != held || !l.Paused {
		t.Fatalf("paused run moved from step %d to %+v", held, l)
	}
	if s := n.status(second); s.State != tasks.StatePending || s.Local != nil {
		t.Fatalf("a paused node claimed: %+v", s)
	}
	if st := n.m.Stats(); !st.Paused || st.Running != 1 {
		t.Fatalf("stats %+v", st)
	}
	if lastCapability(t, net, n.id).Accepting {
		t.Fatal("a paused node still advertises that it accepts work")
	}
	n.m.Resume()
	waitFor(t, 10*time.Second, "both tasks", func() bool {
		return n.status(first).State == tasks.StateDone && n.status(second).State == tasks.StateDone
	})
	if !lastCapability(t, net, n.id).Accepting {
		t.Fatal("a resumed node does not advertise that it accepts work")
	}
	if n.eventCount(tasks.EventPaused, first) == 0 {
		t.Fatal("no paused event")
	}
	for _, r := range exec.Runs() {
		if r.Err != nil || r.From != 0 {
			t.Fatalf("run %+v", r)
		}
	}
}

func lastCapability(t *testing.T, net *taskstest.Network, id peer.ID) object.Capability {
	t.Helper()
	var last object.Capability
	for _, m := range net.Messages() {
		if m.From == id && m.Kind == object.KindCapability {
			c, err := object.OpenCapability(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			last = c
		}
	}
	return last
}

// A node paused longer than PauseHold releases its task; another node completes it.
func TestPauseHoldReleases(t *testing.T) {
	net := taskstest.NewNetwork()
	cfg := fastConfig()
	cfg.Workers = 1
	cfg.PauseHold = 200 * time.Millisecond
	mk := func() *taskstest.CounterExecutor {
		return &taskstest.CounterExecutor{Steps: 60, Every: 10, Delay: 10 * time.Millisecond}
	}
	a := newNode(t, net, mk(), cfg)
	tc := submit(t, a, testTask(9), 1)
	waitFor(t, 10*time.Second, "progress", func() bool {
		l := a.status(tc).Local
		return l != nil && l.Step >= 2
	})
	a.m.Pause()
	b := newNode(t, net, mk(), cfg)
	waitFor(t, 15*time.Second, "the other node to complete the task", func() bool {
		return b.status(tc).State == tasks.StateDone && a.status(tc).State == tasks.StateDone
	})
	if st := a.m.Stats(); st.Released != 1 || st.Running != 0 {
		t.Fatalf("paused node stats %+v", st)
	}
	results := publishedResults(t, net, tc)
	if len(results) != 1 || results[0].Executor != b.id.String() {
		t.Fatalf("results %+v", results)
	}
}

// Drain finishes the running task and claims nothing more until Resume.
func TestDrain(t *testing.T) {
	net := taskstest.NewNetwork()
	cfg := fastConfig()
	cfg.Workers = 1
	exec := &taskstest.CounterExecutor{Steps: 40, Every: 10, Delay: 20 * time.Millisecond}
	n := newNode(t, net, exec, cfg)
	var ids []cid.Cid
	for i := range 3 {
		c := submit(t, n, testTask(20+i), 1)
		ids = append(ids, c)
	}
	waitFor(t, 10*time.Second, "a running task", func() bool { return n.m.Stats().Running == 1 })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := n.m.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	st := n.m.Stats()
	if st.Completed < 1 || st.Completed > 2 || st.Running != 0 || !st.Draining {
		t.Fatalf("after drain: %+v", st)
	}
	published := 0
	for _, c := range ids {
		published += len(publishedResults(t, net, c))
	}
	if published != int(st.Completed) {
		t.Fatalf("drain returned with %d of %d results published", published, st.Completed)
	}
	time.Sleep(300 * time.Millisecond)
	if again := n.m.Stats(); again.Completed != st.Completed || again.Running != 0 {
		t.Fatalf("a draining node claimed more: %+v", again)
	}
	if lastCapability(t, net, n.id).Accepting {
		t.Fatal("a draining node advertises that it accepts work")
	}
	n.m.Resume()
	waitFor(t, 15*time.Second, "the rest", func() bool { return n.m.Stats().Completed == 3 })
}

// Results of the same task are bit-identical whether a run is interrupted or not, and whichever
// executor instance runs it.
func TestExecutorDeterministicAndResumable(t *testing.T) {
	task := testTask(42)
	mk := func() *taskstest.CounterExecutor { return &taskstest.CounterExecutor{Steps: 23, Every: 5} }
	want := reference(t, mk(), task)
	for stopAt := int64(1); stopAt < 23; stopAt += 4 {
		var last *tasks.Checkpoint
		x := mk()
		_, err := x.Execute(t.Context(), task, nil, func(p tasks.Progress) error {
			if p.Checkpoint != nil {
				last = p.Checkpoint
			}
			if p.Step == stopAt {
				return tasks.ErrStopped
			}
			return nil
		})
		if err != tasks.ErrStopped {
			t.Fatalf("stop at %d: %v", stopAt, err)
		}
		got, err := mk().Execute(t.Context(), task, last, func(tasks.Progress) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if err := sameWork(got, want); err != nil {
			t.Fatalf("resumed from %+v: %v", last, err)
		}
	}
	if _, err := mk().Execute(t.Context(), task, &tasks.Checkpoint{Step: 5, Data: []byte("junk")}, func(tasks.Progress) error { return nil }); err == nil {
		t.Fatal("accepted a junk checkpoint")
	}
	other := reference(t, mk(), testTask(43))
	if sameWork(other, want) == nil {
		t.Fatal("different tasks gave the same result")
	}
}

// A failing executor: the task is released and retried up to MaxFailures, then given up.
func TestExecutorFailure(t *testing.T) {
	net := taskstest.NewNetwork()
	cfg := fastConfig()
	cfg.RankDelay = 20 * time.Millisecond
	cfg.MaxFailures = 2
	exec := &taskstest.CounterExecutor{Steps: 4, Every: 2, Fail: func(object.Task) error { return context.DeadlineExceeded }}
	n := newNode(t, net, exec, cfg)
	tc := submit(t, n, testTask(77), 1)
	waitFor(t, 10*time.Second, "the task to be given up", func() bool {
		l := n.status(tc).Local
		return l != nil && l.State == tasks.RunFailed
	})
	time.Sleep(100 * time.Millisecond)
	if got := len(exec.Runs()); got != 2 {
		t.Fatalf("%d attempts, want 2", got)
	}
	if st := n.m.Stats(); st.Failed != 2 || st.Pending != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// AddWorkers and SetClass change what a node advertises in one step each: the count stays within
// 1-MaxWorkers, a class over the limit is refused, and a peer hears the new workers and classes.
func TestAddWorkersAndClass(t *testing.T) {
	net := taskstest.NewNetwork()
	cfg := fastConfig()
	cfg.Workers, cfg.Class = 3, "cpu-v1 cuda-v1"
	a, b := newNode(t, net, &taskstest.CounterExecutor{Steps: 1}, cfg), newNode(t, net, &taskstest.CounterExecutor{Steps: 1}, fastConfig())
	waitPeers(t, a, b)
	for _, tc := range []struct{ delta, want int }{{-1, 2}, {-5, 1}, {0, 1}, {object.MaxWorkers + 7, object.MaxWorkers}, {-(object.MaxWorkers - 2), 2}} {
		if got := a.m.AddWorkers(tc.delta); got != tc.want {
			t.Fatalf("AddWorkers(%d) = %d, want %d", tc.delta, got, tc.want)
		}
		if st := a.m.Stats(); st.Workers != tc.want {
			t.Fatalf("after AddWorkers(%d): Stats().Workers = %d, want %d", tc.delta, st.Workers, tc.want)
		}
	}
	if err := a.m.SetClass(strings.Repeat("x", object.MaxClass+1)); !errors.Is(err, tasks.ErrInvalid) {
		t.Fatalf("SetClass(MaxClass+1 bytes) = %v, want ErrInvalid", err)
	}
	if st := a.m.Stats(); st.Class != "cpu-v1 cuda-v1" {
		t.Fatalf("a refused SetClass changed the class to %q", st.Class)
	}
	if err := a.m.SetClass("cpu-v1"); err != nil {
		t.Fatal(err)
	}
	if st := a.m.Stats(); st.Class != "cpu-v1" {
		t.Fatalf("Stats().Class = %q after SetClass", st.Class)
	}
	waitFor(t, 10*time.Second, "the peer to hear 2 workers and class cpu-v1", func() bool {
		c, _, ok := b.m.PeerCapability(a.id)
		return ok && c.Workers == 2 && c.Class == "cpu-v1"
	})
}

// A capability goes out when what it advertises changes, not on a call that changes nothing: a
// second Pause, a Resume of a node neither paused nor draining, SetWorkers or SetClass to the
// current value, AddWorkers(0).
func TestCapabilityOnlyOnChange(t *testing.T) {
	net := taskstest.NewNetwork()
	cfg := fastConfig()
	cfg.Workers, cfg.CapabilityInterval = 2, time.Hour // no periodic announcement during the test
	n := newNode(t, net, &taskstest.CounterExecutor{Steps: 1}, cfg)
	count := func() int {
		c := 0
		for _, m := range net.Messages() {
			if m.From == n.id && m.Kind == object.KindCapability {
				c++
			}
		}
		return c
	}
	waitFor(t, 10*time.Second, "the first capability", func() bool { return count() == 1 })
	want := 1
	for _, step := range []struct {
		what    string
		do      func()
		changes bool
	}{
		{"Pause", n.m.Pause, true},
		{"a second Pause", n.m.Pause, false},
		{"Resume", n.m.Resume, true},
		{"Resume with nothing paused or draining", n.m.Resume, false},
		{"SetWorkers to the current count", func() { _ = n.m.SetWorkers(2) }, false},
		{"AddWorkers(0)", func() { n.m.AddWorkers(0) }, false},
		{"SetClass to the current class", func() { _ = n.m.SetClass(n.m.Stats().Class) }, false},
		{"SetWorkers(3)", func() { _ = n.m.SetWorkers(3) }, true},
	} {
		step.do()
		if step.changes {
			want++
			waitFor(t, 10*time.Second, step.what+" to send a capability", func() bool { return count() == want })
			continue
		}
		time.Sleep(200 * time.Millisecond)
		if got := count(); got != want {
			t.Fatalf("%s sent a capability (%d sent, want %d)", step.what, got, want)
		}
	}
}
