package tasks

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
)

// loop re-evaluates claims, leases, heartbeats and the capability every Tick, and whenever
// something changed.
func (m *Manager) loop() {
	defer m.wg.Done()
	tick := time.NewTicker(m.cfg.Tick)
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
		case <-m.wake:
		}
		m.step(time.Now())
	}
}

// step is one evaluation.
func (m *Manager) step(now time.Time) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	var evs []Event
	evs = m.checkRuns(now, evs)
	m.republish(now)
	m.advertise(now)
	starts, evs := m.claimNew(now, evs)
	queued := len(m.outbox) > 0
	m.mu.Unlock()
	if queued { // an idle tick must not wake the publisher (nor, through it, Drain)
		m.kickPublisher()
	}
	for _, r := range starts {
		go m.execute(r)
	}
	m.emit(evs...)
}

// checkRuns settles conflicts, releases tasks paused too long and renews leases; m.mu must be
// held.
func (m *Manager) checkRuns(now time.Time, evs []Event) []Event {
	for _, r := range m.running {
		if r.stop != stopNone {
			continue
		}
		t := r.t
		if m.outranked(t, now) {
			r.stop = stopAbandon
			r.cancel()
			m.log.Info("abandoning task to better-ranked claimers", "task", t.cid, "step", r.step)
			continue
		}
		if m.paused && m.cfg.PauseHold > 0 && now.Sub(m.pausedAt) >= m.cfg.PauseHold {
			r.stop = stopRelease
			r.cancel()
			m.log.Info("releasing task held paused", "task", t.cid, "step", r.step)
			continue
		}
		if now.Sub(r.beat) >= m.cfg.Heartbeat {
			m.sendClaim(t, object.ClaimProgress, r.step, r.of, now)
			r.beat = now
		}
	}
	return evs
}

// outranked reports whether this node must abandon its run of t: R results from others exist, or
// at least as many live claimers with better rendezvous scores hold the remaining slots. Every
// node computes the same scores, so all of them agree on who stays. m.mu must be held.
func (m *Manager) outranked(t *taskEntry, now time.Time) bool {
	slots := t.replicas - t.doneByOthers(m.self)
	if slots <= 0 {
		return true
	}
	better := 0
	for p, l := range t.leases {
		if p != m.self && l.live(now) && t.ahead(p, m.self, m.cfg.Weight) {
			better++
		}
	}
	return better >= slots
}

// alivePeer is a peer that accepts work, as its recent capability says.
type alivePeer struct {
	id   peer.ID
	capa object.Capability
}

// claimCandidate is a task this node may claim now.
type claimCandidate struct {
	t    *taskEntry
	rank int
}

// claimNew claims what this node may claim now; m.mu must be held. It returns the runs to start.
func (m *Manager) claimNew(now time.Time, evs []Event) ([]*run, []Event) {
	free := m.workers - len(m.running)
	accepting := !m.paused && !m.draining && now.Sub(m.started) >= m.cfg.Warmup
	var cands []claimCandidate
	var alive []alivePeer
	for id, p := range m.peers {
		if id != m.self && p.capa.Accepting && m.alive(p, now) {
			alive = append(alive, alivePeer{id, p.capa})
		}
	}
	for _, t := range m.open {
		need := t.replicas - len(t.done) - t.liveLeases(m.self, now)
		if t.run != nil {
			need--
		}
		if need <= 0 {
			t.openSince = time.Time{}
			continue
		}
		if t.openSince.IsZero() {
			t.openSince = now
		}
		if !accepting || free <= 0 || t.run != nil || !m.mayClaim(t, now) {
			continue
		}
		// Rank this node among the capable peers not already involved in the task.
		rank := 0
		for _, p := range alive {
			id := p.id
			if !p.capa.Fits(t.need) {
				continue
			}
			if _, did := t.done[id]; did {
				continue
			}
			if l := t.leases[id]; l != nil && l.live(now) {
				continue
			}
			if t.ahead(id, m.self, m.cfg.Weight) {
				rank++
			}
		}
		if rank >= need && now.Sub(t.openSince) < time.Duration(rank-need+1)*m.cfg.RankDelay {
			continue
		}
		cands = append(cands, claimCandidate{t, rank})
	}
	if len(cands) == 0 {
		return nil, evs
	}
	slices.SortFunc(cands, func(a, b claimCandidate) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		if c := a.t.firstSeen.Compare(b.t.firstSeen); c != 0 {
			return c
		}
		return bytes.Compare(a.t.cid.Bytes(), b.t.cid.Bytes())
	})
	var starts []*run
	for _, c := range cands {
		if len(starts) >= free {
			break
		}
		if !m.fits(c.t.need) {
			continue
		}
		r := m.startRun(c.t, int64(min(c.rank, object.MaxClaimRank-1)), now, false)
		if r == nil {
			continue
		}
		starts = append(starts, r)
		evs = append(evs, Event{Kind: EventClaimed, Task: c.t.cid, Step: r.step, Of: r.of})
	}
	return starts, evs
}

// mayClaim reports whether this node's own history allows claiming t; m.mu must be held.
func (m *Manager) mayClaim(t *taskEntry, now time.Time) bool {
	if _, did := t.done[m.self]; did {
		return false
	}
	if o := t.own; o != nil {
		if o.State == RunDone || o.State == RunFailed || o.State == RunRunning {
			return false
		}
		if now.Before(t.retry) {
			return false
		}
	}
	return true
}

// fits reports whether a task needing n fits this node's limits and free memory; m.mu must be
// held.
func (m *Manager) fits(n object.Need) bool {
	if m.cfg.MaxCompute > 0 && n.Compute > m.cfg.MaxCompute {
		return false
	}
	return m.cfg.Memory == 0 || m.memUsed+n.Memory <= m.cfg.Memory
}

// startRun claims t and prepares its run; m.mu must be held. The caller starts execute.
func (m *Manager) startRun(t *taskEntry, rank int64, now time.Time, resumed bool) *run {
	if t.own == nil {
		t.own = &ownRecord{}
	}
	o := t.own
	o.State, o.Rank = RunRunning, rank
	ctx, cancel := context.WithCancel(m.ctx)
	r := &run{t: t, ctx: ctx, cancel: cancel, step: o.CheckpointStep, of: o.Of, beat: now, resume: o.Checkpoint}
	if r.of < r.step {
		r.of = r.step
	}
	state := object.ClaimClaimed
	if resumed {
		state = object.ClaimProgress
	}
	if !m.sendClaim(t, state, r.step, r.of, now) {
		cancel()
		o.State = RunReleased
		return nil
	}
	t.run = r
	m.running[t.key] = r
	m.memUsed += t.need.Memory
	m.wg.Add(1)
	return r
}

// sendClaim signs the next claim about t in state, persists it in the task's own record and
// queues it for publication; m.mu must be held. It reports false if the claim could not be made.
func (m *Manager) sendClaim(t *taskEntry, state object.ClaimState, step, of int64, now time.Time) bool {
	o := t.own
	of = min(max(of, 0), object.MaxCounter)
	step = min(max(step, 0), of)
	c := object.Claim{
		Task: t.cid.String(), Claimer: m.self.String(), Rank: o.Rank, Seq: o.Seq + 1,
		Step: step, Of: of, State: state, Time: now.UnixMilli(),
	}
	if state.Live() {
		c.LeaseMillis = m.cfg.Lease.Milliseconds()
	}
	if state == object.ClaimDone {
		c.Result = o.Result
	}
	env, err := object.Seal(m.cfg.Key, object.KindClaim, c)
	if err != nil {
		m.log.Error("seal claim", "task", t.cid, "err", err)
		return false
	}
	o.Seq, o.Step, o.Of, o.Last, o.LastSent = c.Seq, step, of, env, false
	if state.Live() {
		o.Beat = c.Time
	}
	// Opening and closing a lease must survive a crash; heartbeats need not be synced.
	if err := m.persistOwn(t, state != object.ClaimProgress); err != nil {
		m.log.Error("persist claim", "task", t.cid, "err", err)
		return false
	}
	t.republish = now.Add(m.retryAfter())
	m.enqueue(t.task.Search, object.KindClaim, env, m.claimSent(t, c.Seq))
	return true
}

// claimSent returns the publication callback of t's claim number seq: once published, and if no
// later claim was signed meanwhile, the own record notes it as sent.
func (m *Manager) claimSent(t *taskEntry, seq int64) func(error) {
	return func(err error) {
		if err != nil {
			return
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if t.own != nil && t.own.Seq == seq && !t.own.LastSent {
			t.own.LastSent = true
			if err := m.persistOwn(t, false); err != nil {
				m.log.Warn("persist claim sent", "task", t.cid, "err", err)
			}
		}
	}
}

// advertise publishes this node's capability when due; m.mu must be held.
func (m *Manager) advertise(now time.Time) {
	if !m.capDue && now.Sub(m.capAt) < m.cfg.CapabilityInterval {
		return
	}
	m.capDue, m.capAt = false, now
	c := object.Capability{
		Peer: m.self.String(), Seq: m.capSeq + 1, Memory: m.cfg.Memory, Compute: m.cfg.MaxCompute,
		Workers: int64(m.workers), Accepting: !m.paused && !m.draining, Class: m.class, Time: now.UnixMilli(),
	}
	env, err := object.Seal(m.cfg.Key, object.KindCapability, c)
	if err != nil {
		m.log.Error("seal capability", "err", err)
		return
	}
	if err := m.cfg.Store.PutMeta(capSeqKey, []byte(strconv.FormatInt(c.Seq, 10))); err != nil {
		m.log.Error("persist capability seq", "err", err)
		return
	}
	m.capSeq = c.Seq
	m.enqueue("", object.KindCapability, env, nil)
}

// republish queues again what a failed publication or a crash left unsent: results and last
// claims of finished or released runs. m.mu must be held.
func (m *Manager) republish(now time.Time) {
	for _, t := range m.tasks {
		o := t.own
		if o == nil || t.run != nil || now.Before(t.republish) {
			continue
		}
		unsentResult := o.State == RunDone && !o.ResultSent
		unsentClaim := (o.State == RunDone || o.State == RunReleased) && !o.LastSent && len(o.Last) > 0
		if !unsentResult && !unsentClaim {
			continue
		}
		t.republish = now.Add(m.retryAfter())
		if unsentResult {
			m.queueResult(t)
		}
		if unsentClaim {
			m.enqueue(t.task.Search, object.KindClaim, o.Last, m.claimSent(t, o.Seq))
		}
	}
}

// retryAfter is how long an unconfirmed publication waits before republish queues it again.
func (m *Manager) retryAfter() time.Duration {
	return max(m.cfg.CapabilityInterval, 2*m.cfg.PublishTimeout)
}

// queueResult queues this node's stored result of t for publication; m.mu must be held.
func (m *Manager) queueResult(t *taskEntry) {
	t.republish = time.Now().Add(m.retryAfter())
	rc, err := object.ParseCID(t.own.Result)
	if err != nil {
		m.log.Error("own result CID", "task", t.cid, "err", err)
		return
	}
	env, err := m.cfg.Store.Get(rc)
	if err != nil {
		m.log.Error("load own result", "task", t.cid, "result", rc, "err", err)
		return
	}
	m.enqueue(t.task.Search, object.KindResult, env, func(err error) {
		if err != nil {
			return
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if t.own != nil && !t.own.ResultSent {
			t.own.ResultSent = true
			if err := m.persistOwn(t, false); err != nil {
				m.log.Warn("persist result sent", "task", t.cid, "err", err)
			}
		}
	})
}

// persistOwn writes t's own record to meta; m.mu must be held.
func (m *Manager) persistOwn(t *taskEntry, sync bool) error {
	b, err := object.Marshal(t.own)
	if err != nil {
		return err
	}
	return m.cfg.Store.PutMetaWith(ownKey(t.cid), b, store.PutOptions{Sync: sync})
}
