package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/tasks"
)

// backend serves the control API from the node.
type backend struct{ n *Node }

func (b backend) Status(context.Context) (api.Status, error) { return b.n.Status(), nil }

func (b backend) Peers(context.Context) ([]api.Peer, error) { return b.n.Peers(), nil }

func (b backend) Submit(ctx context.Context, req api.SubmitRequest) (api.SubmitResponse, error) {
	return b.n.Submit(ctx, req)
}

func (b backend) Tasks(context.Context) ([]api.Task, error) {
	if b.n.closed.Load() {
		return nil, ErrClosed
	}
	now := time.Now()
	list := b.n.Manager().List()
	out := make([]api.Task, 0, len(list))
	for _, s := range list {
		out = append(out, taskOf(s, now))
	}
	return out, nil
}

func (b backend) Task(_ context.Context, c cid.Cid) (api.TaskDetail, error) {
	return b.n.TaskDetail(c)
}

func (b backend) Worker(_ context.Context, req api.WorkerRequest) (api.Worker, error) {
	return b.n.Control(req)
}

// Status returns what the node is and does now.
func (n *Node) Status() api.Status {
	m := n.Manager()
	st := m.Stats()
	s := api.Status{
		PeerID: n.id.String(), Network: n.cfg.Network, Version: n.o.version, Addrs: n.Addrs(),
		API: n.api.Addr(), Peers: len(n.host.Libp2p().Network().Peers()), TaskPeers: st.Peers,
		Started: n.started, Uptime: time.Since(n.started).Seconds(), Class: st.Class,
		Worker: workerOf(st),
		Tasks:  api.Counts{Known: st.Tasks, Pending: st.Pending, Claimed: st.Claimed, Done: st.Done},
	}
	ms := n.Measures()
	s.Measures = api.Measures{
		TrainCPU: ms.TrainCPU.Seconds(), TrainWall: ms.TrainWall.Seconds(), ProcessCPU: ms.ProcessCPU.Seconds(),
		Runs: ms.Runs, TrainingShare: ms.TrainingShare(), Claims: ms.Claims,
		ClaimLatencyMeanMS:  float64(ms.ClaimLatencyMean()) / float64(time.Millisecond),
		ClaimLatencyMaxMS:   float64(ms.ClaimLatencyMax) / float64(time.Millisecond),
		GossipLatencyMeanMS: float64(ms.GossipLatencyMean()) / float64(time.Millisecond),
		GossipLatencyMaxMS:  float64(ms.GossipLatencyMax) / float64(time.Millisecond),
	}
	if n.gpu != nil {
		for _, c := range n.gpu.sup.Status() {
			s.GPU = append(s.GPU, api.GPUCore{Ordinal: c.Ordinal, State: c.State, Name: c.Info.Name,
				Class: c.Info.Class, Memory: c.Info.Memory, Task: c.Task, Restarts: c.Restarts,
				LastError: c.LastError, Since: c.Since})
		}
	}
	if st.Running > 0 {
		for _, t := range m.List() {
			if l := t.Local; l != nil && l.State == tasks.RunRunning {
				s.Running = append(s.Running, api.Progress{Task: t.CID.String(), Step: l.Step, Of: l.Of, Checkpoint: l.Checkpoint, Paused: l.Paused})
			}
		}
	}
	return s
}

func workerOf(st tasks.Stats) api.Worker {
	w := api.Worker{
		State: api.WorkerWorking, Workers: st.Workers, Running: st.Running, Paused: st.Paused, Draining: st.Draining,
		Completed: st.Completed, Abandoned: st.Abandoned, Released: st.Released, Failed: st.Failed,
	}
	switch {
	case st.Paused:
		w.State = api.WorkerPaused
	case st.Draining && st.Running == 0:
		w.State = api.WorkerDrained
	case st.Draining:
		w.State = api.WorkerDraining
	}
	return w
}

// Peers returns the connected peers.
func (n *Node) Peers() []api.Peer {
	ps := n.host.Peers()
	out := make([]api.Peer, 0, len(ps))
	for _, p := range ps {
		ap := api.Peer{ID: p.ID.String(), AgentVersion: p.AgentVersion, Score: p.Score, Scored: p.Scored,
			LatencyMS: float64(p.Latency) / float64(time.Millisecond), Inbound: p.Inbound}
		for _, a := range p.Addrs {
			ap.Addrs = append(ap.Addrs, a.String())
		}
		if m := n.Manager(); m != nil {
			if c, heard, ok := m.PeerCapability(p.ID); ok {
				ap.Capability = &api.PeerCapability{Workers: c.Workers, Accepting: c.Accepting, Classes: c.Class,
					MemoryBytes: c.Memory, ComputeFLOPs: c.Compute, AgeSeconds: time.Since(heard).Seconds()}
			}
		}
		out = append(out, ap)
	}
	return out
}

// TaskDetail returns one task with its results decoded. An unknown task wraps api.ErrNotFound.
func (n *Node) TaskDetail(c cid.Cid) (api.TaskDetail, error) {
	if n.closed.Load() {
		return api.TaskDetail{}, ErrClosed
	}
	s, err := n.Manager().Get(c)
	if errors.Is(err, tasks.ErrNotFound) {
		return api.TaskDetail{}, fmt.Errorf("%w: task %s", api.ErrNotFound, c)
	}
	if err != nil {
		return api.TaskDetail{}, err
	}
	d := api.TaskDetail{Task: taskOf(s, time.Now()), Outcomes: []api.Outcome{}}
	for _, r := range s.Results {
		res, err := n.Result(r.CID)
		if err != nil {
			n.log.Debug("read result", "result", r.CID, "err", err)
			continue
		}
		o := api.Outcome{CID: r.CID.String(), Executor: res.Executor, Class: res.Class, Engine: res.Engine,
			Steps: res.Steps, Tokens: res.Tokens, Score: res.Score, Metrics: res.Metrics}
		for _, g := range res.Segments {
			o.Digests = append(o.Digests, hex.EncodeToString(g.Digest))
			o.Checkpoints = append(o.Checkpoints, g.Checkpoint)
		}
		d.Outcomes = append(d.Outcomes, o)
	}
	return d, nil
}

// Result reads and opens a stored result envelope.
func (n *Node) Result(c cid.Cid) (object.Result, error) {
	env, err := n.store.Get(c)
	if err != nil {
		return object.Result{}, err
	}
	return object.OpenResult(env)
}

// Control applies a volunteer control: pause, resume, drain (finish the running tasks, claim
// nothing new; it proceeds in the background) or a new worker count. It returns the worker's
// state. Bad requests wrap api.ErrInvalid.
func (n *Node) Control(req api.WorkerRequest) (api.Worker, error) {
	if n.closed.Load() {
		return api.Worker{}, ErrClosed
	}
	if err := req.Check(); err != nil {
		return api.Worker{}, err
	}
	m := n.Manager()
	switch req.Action {
	case api.ActionPause:
		m.Pause()
		n.log.Info("worker paused")
	case api.ActionResume:
		m.Resume()
		n.log.Info("worker resumed")
	case api.ActionDrain:
		n.startDrain()
	case api.ActionWorkers:
		if err := m.SetWorkers(req.Workers); err != nil {
			return api.Worker{}, fmt.Errorf("%w: %w", api.ErrInvalid, err)
		}
		n.log.Info("workers set", "workers", req.Workers)
	}
	return workerOf(m.Stats()), nil
}

// startDrain makes the Manager drain: it stops claiming at once (synchronously, so the state
// returned says so), and one background goroutine at a time waits for the running tasks to end and
// logs it.
func (n *Node) startDrain() {
	m := n.Manager()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_ = m.Drain(done) // sets the draining state; returns at once with a done context
	n.log.Info("worker draining: finishing the running tasks, claiming nothing new")
	if !n.drain.CompareAndSwap(false, true) {
		return
	}
	if !n.group.Go(func() {
		defer n.drain.Store(false)
		if err := m.Drain(n.ctx); err == nil {
			n.log.Info("worker drained: nothing runs; resume to claim again")
		}
	}) {
		n.drain.Store(false)
	}
}

func taskOf(s tasks.Status, now time.Time) api.Task {
	t := api.Task{
		CID: s.CID.String(), Search: s.Task.Search, Arch: s.Task.Arch, Protocol: s.Task.Protocol, Seed: s.Task.Seed,
		Replicas: s.Replicas, State: string(s.State), Memory: s.Need.Memory, Compute: s.Need.Compute,
		Leases: []api.Lease{}, Results: []api.ResultRef{},
	}
	for _, l := range s.Leases {
		t.Leases = append(t.Leases, api.Lease{Peer: l.Peer.String(), Rank: l.Rank, Step: l.Step, Of: l.Of,
			State: string(l.State), ExpiresIn: max(0, l.Expires.Sub(now).Milliseconds())})
	}
	for _, r := range s.Results {
		t.Results = append(t.Results, api.ResultRef{Executor: r.Executor.String(), CID: r.CID.String()})
	}
	if l := s.Local; l != nil {
		t.Local = &api.LocalRun{State: l.State, Paused: l.Paused, Step: l.Step, Of: l.Of, Checkpoint: l.Checkpoint, Failures: l.Failures}
		if l.Result.Defined() {
			t.Local.Result = l.Result.String()
		}
	}
	return t
}
