package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/node/nodetest"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/tasks"
)

// smokeArch is the architecture the tests train: width 16, attention then SwiGLU.
const smokeArch = "width=16: A M"

// clusterSteps sizes the tasks of the cluster test.
const clusterSteps = 32

// clusterRankDelay is the rank delay of the cluster test: production-like (the default is 10 s),
// so that the two best-ranked nodes of each task run it and the third waits. With the 500 ms of
// nodetest.Fast, every node that frees a worker while tasks queue claims at once, and when runs
// are shorter than gossip latency (50-120 ms on a loaded 2-core machine) a claimer can finish
// before it hears the claims that outrank it: a task then gets more than R results.
const clusterRankDelay = 30 * time.Second

// smokeRequest returns a submit request of the smoke protocol with steps steps.
func smokeRequest(t testing.TB, steps int, seed uint64, replicas int) api.SubmitRequest {
	t.Helper()
	b, err := json.Marshal(node.SmokeProtocol(steps))
	if err != nil {
		t.Fatal(err)
	}
	return api.SubmitRequest{Arch: smokeArch, ProtocolObject: b, Seed: seed, Replicas: replicas}
}

// TestClusterRunsEveryTask is the main scenario: 3 nodes, 20 tasks submitted through the
// API of one node with R = 2. Every task completes; each is executed by exactly R distinct nodes
// (no lease expires here, so never more); every node ends up holding every result; the two
// results of a task have identical digest chains; a checkpoint named by a result is served over
// block exchange to a node that did not run the task.
func TestClusterRunsEveryTask(t *testing.T) {
	const (
		nTasks = 20
		R      = 2
	)
	c := nodetest.NewCluster(t, 3, node.WithTasks(func(tc *tasks.Config) {
		nodetest.Fast.Apply(tc)
		tc.RankDelay = clusterRankDelay
	}))
	cl := c.Client(0)
	ctx := context.Background()
	var cids []string
	for i := range nTasks {
		r, err := cl.Submit(ctx, smokeRequest(t, clusterSteps, uint64(i), R))
		if err != nil {
			t.Fatal(err)
		}
		cids = append(cids, r.Task)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(cids)))) != nTasks {
		t.Fatalf("20 seeds gave duplicate task CIDs: %v", cids)
	}
	nodetest.WaitFor(t, 90*time.Second, func() error {
		for i, n := range c.Nodes {
			for _, tc := range cids {
				c, _ := object.ParseCID(tc)
				s, err := n.Manager().Get(c)
				if err != nil {
					return fmt.Errorf("node %d: %w", i, err)
				}
				if len(s.Results) < R {
					return fmt.Errorf("node %d: task %s has %d results (%s)", i, tc, len(s.Results), s.State)
				}
			}
		}
		return nil
	})

	executions := map[string]int{}
	for _, tc := range cids {
		var chains []string
		for i, n := range c.Nodes {
			d, err := nodetest.Client(t, n).Task(ctx, tc)
			if err != nil {
				t.Fatal(err)
			}
			if d.State != "done" || len(d.Results) != R || len(d.Outcomes) != R {
				t.Fatalf("node %d: task %s: state %s, %d results, %d outcomes; want done with exactly %d",
					i, tc, d.State, len(d.Results), len(d.Outcomes), R)
			}
			if i == 0 {
				for _, o := range d.Outcomes {
					executions[o.Executor]++
					chains = append(chains, fmt.Sprint(o.Digests))
				}
			}
		}
		if chains[0] != chains[1] || len(chains[0]) < 10 {
			t.Fatalf("task %s: digest chains differ between executors:\n%s\n%s", tc, chains[0], chains[1])
		}
	}
	total := 0
	for _, v := range executions {
		total += v
	}
	if total != nTasks*R {
		t.Fatalf("%d executions, want %d", total, nTasks*R)
	}
	t.Logf("executions per node: %v", executions)
	for i, n := range c.Nodes {
		m := n.Measures()
		t.Logf("node %d: %d runs, train wall %v cpu %v, process cpu %v, claim latency mean %v max %v, gossip latency mean %v max %v",
			i, m.Runs, m.TrainWall, m.TrainCPU, m.ProcessCPU, m.ClaimLatencyMean(), m.ClaimLatencyMax, m.GossipLatencyMean(), m.GossipLatencyMax)
	}
	for i, n := range c.Nodes {
		if st := n.Manager().Stats(); st.Failed != 0 {
			t.Errorf("node %d: %d failed runs", i, st.Failed)
		}
	}

	// A checkpoint of a task node 2 did not run is fetched from the executors over block exchange.
	n2 := c.Nodes[2]
	for _, tc := range cids {
		d, _ := nodetest.Client(t, n2).Task(ctx, tc)
		if d.Outcomes[0].Executor == n2.ID().String() || d.Outcomes[1].Executor == n2.ID().String() {
			continue
		}
		ck, err := object.ParseCID(d.Outcomes[0].Checkpoints[0])
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := n2.Store().Has(ck); ok {
			continue // node 2 started the task, took this checkpoint, and abandoned it
		}
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		got, err := n2.Host().Blocks().FetchAny(fctx, []cid.Cid{ck}, 0)
		cancel()
		if err != nil || len(got) != 1 || len(got[0].Data) == 0 {
			t.Fatalf("fetch checkpoint %s: %v", ck, err)
		}
		return
	}
	t.Fatal("node 2 ran or started every task: no checkpoint to fetch")
}

// TestLateJoinerLearnsSearch: a node that joins after a search was launched, later than gossip's
// message cache reaches back (so no peer can forward it the announcement), lists the search, with
// its name and budget, once it has caught up by sync.
func TestLateJoinerLearnsSearch(t *testing.T) {
	t.Parallel()
	first := nodetest.Start(t, nodetest.Config(t.TempDir()), append(nodetest.Options("first", nodetest.Fast),
		node.WithSearchRunner(1, 200*time.Millisecond))...)
	ctx := context.Background()
	spec := liarSpec(2)
	spec.Name = "late-joiner"
	l, err := first.LaunchSearch(ctx, api.LaunchRequest{Spec: &spec})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(lateJoin)
	late := nodetest.Start(t, nodetest.Config(t.TempDir(), first.Addrs()[0]), nodetest.Options("late", nodetest.Fast)...)
	lc := nodetest.Client(t, late)
	nodetest.WaitFor(t, 90*time.Second, func() error {
		list, err := lc.Searches(ctx)
		if err != nil {
			return err
		}
		for _, st := range list {
			if st.Search == l.CID {
				if st.Name != spec.Name || st.Budget != spec.Budget {
					return fmt.Errorf("the late joiner's search: %+v", st)
				}
				return nil
			}
		}
		return fmt.Errorf("the late joiner lists %d searches, not %s", len(list), l.CID)
	})
}

// lateJoin is how long after a message a late joiner starts so that gossip cannot deliver it:
// two heartbeats more than the message cache's reach (go-libp2p-pubsub's GossipSubHistoryGossip
// heartbeats of GossipSubHeartbeatInterval, whose defaults the node keeps: 3 × 1 s), read from the
// library so that a change to them moves it too.
var lateJoin = time.Duration(pubsub.GossipSubHistoryGossip+2) * pubsub.GossipSubHeartbeatInterval

// TestLateJoinerCatchesUp: a node that joins after tasks were offered and finished learns them and
// their results through sync (gossip delivered them before it existed).
func TestLateJoinerCatchesUp(t *testing.T) {
	t.Parallel()
	c := nodetest.NewCluster(t, 2)
	cl := c.Client(0)
	ctx := context.Background()
	var cids []string
	for i := range 3 {
		r, err := cl.Submit(ctx, smokeRequest(t, 8, uint64(100+i), 1))
		if err != nil {
			t.Fatal(err)
		}
		cids = append(cids, r.Task)
	}
	for _, tc := range cids {
		waitTask(t, cl, tc, 60*time.Second, isDone)
	}
	late := nodetest.Start(t, nodetest.Config(t.TempDir(), c.Nodes[1].Addrs()[0]), nodetest.Options("late", nodetest.Fast)...)
	lc := nodetest.Client(t, late)
	for _, tc := range cids {
		d := waitTask(t, lc, tc, 60*time.Second, isDone)
		if len(d.Outcomes) != 1 || d.Local != nil {
			t.Fatalf("late joiner's view of %s: %+v", tc, d)
		}
	}
}
