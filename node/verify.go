package node

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/consensus"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/tasks"
)

// Verifier timing.
const (
	// verifyRecheck is how often the verifier looks again at every unsettled task with results
	// (a result delivered while it was busy, a lost re-offer).
	verifyRecheck = 3 * time.Second
	// maxLatencies bounds the verdict latencies kept for the report: the most recent ones.
	maxLatencies = 10_000
	// reannounce is how long a task this node offered may wait unclaimed before its offer is
	// published again (gossip drops messages sent before a peer joined the topic; sync catches up
	// only every minute); the wait doubles after each re-announcement up to maxReannounceWait.
	// maxReannounce bounds the offers re-published per recheck.
	reannounce        = 10 * time.Second
	maxReannounceWait = 5 * time.Minute
	maxReannounce     = 64
)

// verifier applies the verification rules to the tasks this node holds results for (package
// consensus decides; the verifier acts): whenever a result arrives it recomputes the task's
// verdict through the registry; a final verdict (verified or disputed) is recorded in the
// reputation, which feeds gossipsub's application score and the claim ranking; a disagreement
// (NeedsMore) raises the task's replication by one, so that one more peer, chosen by rendezvous
// rank among those not yet involved, executes it. Every honest node holding the same results
// reaches the same verdicts, so they all ask for the same extra execution (a re-offer with the
// same replication is ignored by peers that already have it).
//
// A verifier is safe for concurrent use.
type verifier struct {
	n   *Node
	reg *registry.Registry
	rep *consensus.Reputation
	log *slog.Logger

	wake chan struct{}

	mu    sync.Mutex
	dirty map[string]cid.Cid         // tasks to look at
	open  map[string]cid.Cid         // tasks with results and no final verdict yet
	first map[string]time.Time       // when this node first held a result of an open task
	final map[string]consensus.State // tasks that settled once, by their latest state
	lat   ring                       // seconds from first result to final verdict, the last maxLatencies
	extra int                        // extra executions asked for
	own   map[string]*announcement   // tasks this node offered, unsettled

	latency prometheus.Histogram // seconds from first result to final verdict
}

func newVerifier(n *Node, reg *registry.Registry, rep *consensus.Reputation) *verifier {
	return &verifier{
		n: n, reg: reg, rep: rep, log: n.log.With("component", "verify"),
		wake:  make(chan struct{}, 1),
		dirty: map[string]cid.Cid{}, open: map[string]cid.Cid{}, first: map[string]time.Time{},
		final: map[string]consensus.State{}, own: map[string]*announcement{}, lat: ring{bound: maxLatencies},
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "airanode_verdict_seconds",
			Help:    "Time from the first result of a task this node held to its final verdict.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 14), // 0.1 s to about 14 min
		}),
	}
}

// touch marks a task for a new look (a result arrived). It never blocks.
func (v *verifier) touch(task cid.Cid) {
	k := task.KeyString()
	v.mu.Lock()
	// A settled task is looked at again too: a late result (one that lost a claim race) changes
	// its outcome's roles, and reputation follows the latest outcome.
	v.dirty[k] = task
	if _, done := v.final[k]; !done {
		if _, ok := v.first[k]; !ok {
			v.first[k] = time.Now()
		}
	}
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// announcement is when this node last announced one of its offers, and how long it waits before
// the next re-announcement.
type announcement struct {
	last time.Time
	wait time.Duration
}

// announced records that this node offered (or re-offered) a task: the re-announcement wait
// starts over.
func (v *verifier) announced(task cid.Cid) {
	v.mu.Lock()
	v.own[task.KeyString()] = &announcement{last: time.Now(), wait: reannounce}
	v.mu.Unlock()
}

// Submit implements search.Submitter on the tasks Manager, recording the task as this node's
// offer so that it is re-announced while nobody claims it.
func (v *verifier) Submit(ctx context.Context, task object.Task, replicas int) (cid.Cid, error) {
	m := v.n.Manager()
	if m == nil {
		return cid.Undef, ErrClosed
	}
	tc, err := m.Submit(ctx, task, replicas)
	if tc.Defined() {
		v.announced(tc)
	}
	return tc, err
}

// reannounceStale publishes again the offers of this node's unsettled tasks that nobody has
// claimed for a while.
func (v *verifier) reannounceStale(ctx context.Context) {
	m := v.n.Manager()
	if m == nil {
		return
	}
	now := time.Now()
	var due []cid.Cid
	v.mu.Lock()
	for k, a := range v.own {
		if _, done := v.final[k]; done {
			delete(v.own, k)
			continue
		}
		if now.Sub(a.last) >= a.wait && len(due) < maxReannounce {
			c, err := cid.Cast([]byte(k))
			if err == nil {
				due = append(due, c)
			}
		}
	}
	v.mu.Unlock()
	for _, tc := range due {
		st, err := m.Get(tc)
		if err != nil {
			continue
		}
		v.mu.Lock()
		if a := v.own[tc.KeyString()]; a != nil {
			a.last, a.wait = now, min(2*a.wait, maxReannounceWait)
		}
		v.mu.Unlock()
		if st.State != tasks.StatePending || len(st.Results) >= st.Replicas {
			continue // claimed or done: nothing to announce now
		}
		if _, err := m.Submit(ctx, st.Task, st.Replicas); err != nil {
			v.log.Debug("re-announce", "task", tc, "err", err)
		}
	}
}

// run looks at the marked tasks until ctx ends. At start it marks every task with results, so a
// restarted node settles what it missed.
func (v *verifier) run(ctx context.Context) {
	if m := v.n.Manager(); m != nil {
		for _, s := range m.List() {
			if len(s.Results) > 0 {
				v.touch(s.CID)
			}
		}
	}
	tick := time.NewTicker(verifyRecheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-v.wake:
		case <-tick.C:
			v.mu.Lock()
			for k, c := range v.open {
				v.dirty[k] = c
			}
			v.mu.Unlock()
			v.reannounceStale(ctx)
		}
		for {
			v.mu.Lock()
			var next []cid.Cid
			for k, c := range v.dirty {
				next = append(next, c)
				delete(v.dirty, k)
			}
			v.mu.Unlock()
			if len(next) == 0 || ctx.Err() != nil {
				break
			}
			for _, c := range next {
				v.check(ctx, c)
			}
		}
	}
}

// check recomputes one task's verdict and acts on it.
func (v *verifier) check(ctx context.Context, tc cid.Cid) {
	k := tc.KeyString()
	to, out, _, err := v.reg.Outcome(ctx, tc)
	if err != nil {
		v.log.Debug("verdict", "task", tc, "err", err)
		return
	}
	if len(out.Results) == 0 {
		return
	}
	switch {
	case out.Final():
		if _, err := v.rep.Apply(out); err != nil {
			v.log.Warn("reputation", "task", tc, "err", err)
			v.mu.Lock()
			v.open[k] = tc // try again at the next recheck
			v.mu.Unlock()
			return
		}
		v.mu.Lock()
		_, seen := v.final[k]
		v.final[k] = out.State // a late result may turn a verified task into a disputed one
		if !seen {
			if t0, ok := v.first[k]; ok {
				sec := time.Since(t0).Seconds()
				v.latency.Observe(sec)
				v.lat.add(sec)
			}
			delete(v.first, k)
		}
		delete(v.open, k)
		v.mu.Unlock()
		if !seen {
			var rejected []string
			for _, r := range out.Results {
				if !r.Accepted {
					rejected = append(rejected, r.Executor.ShortString())
				}
			}
			v.log.Info("task settled", "task", tc, "state", out.State, "score", to.Score, "votes", out.Votes,
				"rejected", rejected)
		}
	default: // pending or needs more votes; a settled task a late result reopened is open again
		v.mu.Lock()
		v.open[k] = tc
		if _, settled := v.final[k]; settled {
			v.final[k] = out.State // counted again only when it settles again; timed once
		}
		v.mu.Unlock()
		if out.State == consensus.NeedsMore {
			v.askMore(ctx, tc, out)
		}
	}
}

// askMore raises the task's replication to one more than the votes counted, within the policy's
// budget of votes, by re-offering it: the next peer in the claim ranking that has not executed it
// claims it.
func (v *verifier) askMore(ctx context.Context, tc cid.Cid, out consensus.Outcome) {
	m := v.n.Manager()
	if m == nil {
		return
	}
	st, err := m.Get(tc)
	if err != nil {
		return // the offer is not held: the submitter's peers will ask
	}
	want := min(out.Votes+1, out.Budget)
	if want <= st.Replicas {
		return
	}
	// v.Submit records the re-offer for re-announcement. An offer taken but not published still
	// counts (it is re-announced); one not taken (the node closing, a bad offer) does not.
	got, err := v.Submit(ctx, st.Task, want)
	if err != nil && !errors.Is(err, tasks.ErrClosed) {
		v.log.Warn("ask for another execution", "task", tc, "replicas", want, "err", err)
	}
	if !got.Defined() {
		return
	}
	v.mu.Lock()
	v.extra++
	v.mu.Unlock()
	v.log.Info("results disagree: asking for another execution", "task", tc, "replicas", want,
		"involved", len(out.Involved))
}

// report sums up the verification state of every task this node holds results for.
func (v *verifier) report(ctx context.Context) (api.VerificationReport, error) {
	var r api.VerificationReport
	m := v.n.Manager()
	if m == nil {
		return r, ErrClosed
	}
	for _, s := range m.List() {
		if len(s.Results) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return r, err
		}
		_, out, _, err := v.reg.Outcome(ctx, s.CID)
		if err != nil {
			continue
		}
		r.Tasks++
		c := float64(s.Need.Compute)
		r.Results += len(out.Results)
		r.ComputeAll += c * float64(len(out.Results))
		switch out.State {
		case consensus.Verified:
			r.Verified++
			r.ComputeVerified += c
			for _, x := range out.Results {
				if x.Accepted {
					r.Accepted++
				} else {
					r.Rejected++
					r.ComputeRejected += c
				}
			}
		case consensus.Disputed:
			r.Disputed++
		default:
			r.Pending++
		}
	}
	if r.ComputeVerified > 0 {
		r.Overhead = (r.ComputeAll - r.ComputeRejected) / r.ComputeVerified
	}
	v.mu.Lock()
	r.Extra = v.extra
	lat := slices.Clone(v.lat.vals)
	v.mu.Unlock()
	r.VerdictSeconds = quantiles(lat)
	peers, err := v.reputation()
	if err != nil {
		return r, err
	}
	r.Peers = peers
	return r, nil
}

// counters returns the tasks with a final verdict this node reached since start, by their latest
// state, and the extra executions it asked for.
func (v *verifier) counters() (verified, disputed, extra int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, s := range v.final {
		switch s {
		case consensus.Verified:
			verified++
		case consensus.Disputed:
			disputed++
		}
	}
	return verified, disputed, v.extra
}

// reputation lists every peer with a verification record.
func (v *verifier) reputation() ([]api.PeerReputation, error) {
	recs, err := v.rep.Peers()
	if err != nil {
		return nil, err
	}
	out := make([]api.PeerReputation, 0, len(recs))
	for _, pr := range recs {
		out = append(out, peerReputation(pr.Peer, pr.Record, v.n.id))
	}
	return out, nil
}

func peerReputation(p peer.ID, r consensus.Record, self peer.ID) api.PeerReputation {
	return api.PeerReputation{
		Peer: p.String(), Verified: r.Verified, Rejected: r.Rejected, Disputed: r.Disputed,
		Trust: r.Trust(), AppScore: r.AppScore(), RankWeight: r.RankWeight(), Self: p == self,
	}
}

// quantiles summarises xs (unsorted).
func quantiles(xs []float64) api.Quantiles {
	q := api.Quantiles{N: len(xs)}
	if len(xs) == 0 {
		return q
	}
	slices.Sort(xs)
	at := func(p float64) float64 { return xs[min(len(xs)-1, int(p*float64(len(xs))))] }
	q.P50, q.P90, q.Max = at(0.5), at(0.9), xs[len(xs)-1]
	return q
}

// ring keeps the last values added, up to a bound; the zero ring is empty.
type ring struct {
	bound int       // the most values kept
	vals  []float64 // in no particular order once full
	n     int       // values added in all: vals[n % bound] is the next to go
}

// add records v, dropping the oldest value once bound are held.
func (r *ring) add(v float64) {
	if len(r.vals) < r.bound {
		r.vals = append(r.vals, v)
	} else {
		r.vals[r.n%r.bound] = v
	}
	r.n++
}
