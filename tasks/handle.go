package tasks

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
)

// HandleEnvelope takes one envelope from the network: an offer, capability, claim or result.
// from is the peer the network says authored it (the gossip message's signer); when not empty it
// must be the envelope's signer. The envelope is checked as Check does before anything changes;
// offers and results are stored and indexed, claims and capabilities update the node's view.
//
// Errors wrap ErrRejected for bad input (with the object sentinel that explains it), ErrIgnored
// for valid envelopes that change nothing (our own, a stale sequence number, a duplicate, or one
// over a memory bound), and ErrClosed after Close. Bad input never changes state.
func (m *Manager) HandleEnvelope(from peer.ID, env []byte) error {
	if m.isClosed() {
		return ErrClosed
	}
	s, v, err := checkEnvelope(from, env)
	if err != nil {
		return err
	}
	if s.Author == m.self {
		return fmt.Errorf("%w: our own %s", ErrIgnored, s.Kind)
	}
	switch o := v.(type) {
	case object.Offer:
		_, err = m.acceptOffer(o, env, false)
	case object.Capability:
		err = m.handleCapability(s.Author, o)
	case object.Claim:
		err = m.handleClaim(s.Author, o)
	case object.Result:
		err = m.handleResult(s, o, env)
	}
	return err
}

// acceptOffer records a valid offer (ours when local): the task and offer blocks, their indexes,
// the offer in meta, and the task entry. It returns the task's CID.
func (m *Manager) acceptOffer(o object.Offer, env []byte, local bool) (cid.Cid, error) {
	tc, tb, err := taskCID(o.Task)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	k := tc.KeyString()
	m.mu.Lock()
	t := m.tasks[k]
	switch {
	case m.closed:
		m.mu.Unlock()
		return tc, ErrClosed
	case t != nil && t.offered && int(o.Replicas) <= t.replicas:
		r := t.replicas // read under the lock: a re-offer may raise it at any time
		m.mu.Unlock()
		return tc, fmt.Errorf("%w: task %s already offered with %d replicas", ErrIgnored, tc, r)
	case (t == nil || !t.offered) && m.offered >= m.cfg.MaxTasks:
		m.mu.Unlock()
		return tc, fmt.Errorf("%w: %d tasks tracked (MaxTasks)", ErrIgnored, m.offered)
	}
	m.mu.Unlock()

	need := o.Need
	if m.cfg.Estimator != nil && !local {
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.PublishTimeout)
		n, err := m.cfg.Estimator(ctx, o.Task)
		cancel()
		if err == nil && n.Validate() == nil {
			need = n
		} else {
			m.log.Debug("estimate: using the offer's need", "task", tc, "err", err)
		}
	}
	oc, err := object.CID(o) // the payload is canonical: the same bytes, the same name
	if err != nil {
		return tc, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	if err := m.cfg.Store.Put(tc, tb); err != nil {
		return tc, fmt.Errorf("store task: %w", err)
	}
	if err := m.cfg.Store.Put(oc, env); err != nil {
		return tc, fmt.Errorf("store offer: %w", err)
	}
	if err := m.cfg.Store.PutMetaWith(offerKey(tc), env, store.PutOptions{Sync: local}); err != nil {
		return tc, fmt.Errorf("store offer state: %w", err)
	}
	m.storeIndex(store.IndexTask, tc.String(), oc)
	if o.Task.Search != "" {
		m.storeIndex(store.IndexSearch, o.Task.Search, tc)
		m.storeIndex(store.IndexSearch, o.Task.Search, oc)
	}
	m.storeIndex(store.IndexArch, o.Task.Arch, tc)

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return tc, ErrClosed
	}
	isNew := m.applyOffer(tc, o, need, time.Now())
	if isNew {
		t := m.tasks[k]
		if o.Task.Search != "" {
			for _, rc := range t.done {
				m.storeIndex(store.IndexSearch, o.Task.Search, rc)
			}
		}
		m.log.Debug("task offered", "task", tc, "replicas", o.Replicas, "by", o.Submitter)
	}
	m.mu.Unlock()
	m.signal()
	if isNew {
		m.emit(Event{Kind: EventOffered, Task: tc})
	}
	return tc, nil
}

// applyOffer puts an offer into the task table; m.mu must be held. It reports whether the task
// was not offered before.
func (m *Manager) applyOffer(tc cid.Cid, o object.Offer, need object.Need, now time.Time) bool {
	k := tc.KeyString()
	t := m.tasks[k]
	if t == nil {
		t = newTaskEntry(tc, k, now)
		m.tasks[k] = t
	} else if !t.offered {
		m.stubs--
	}
	isNew := !t.offered
	if isNew {
		m.offered++
		t.offered, t.task, t.need = true, o.Task, need
	}
	t.replicas = max(t.replicas, int(o.Replicas))
	if len(t.done) < t.replicas {
		m.open[k] = t
	}
	return isNew
}

func (m *Manager) handleCapability(author peer.ID, c object.Capability) error {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.peers[author]
	if p == nil {
		if len(m.peers) >= m.cfg.MaxPeers {
			m.prunePeers(now)
			if len(m.peers) >= m.cfg.MaxPeers {
				return fmt.Errorf("%w: %d peers tracked (MaxPeers)", ErrIgnored, len(m.peers))
			}
		}
		p = &peerInfo{}
		m.peers[author] = p
		// A newcomer: answer with our own capability so it learns us without waiting an interval.
		m.capDue = true
		m.signal()
	} else if c.Seq <= p.capa.Seq {
		return fmt.Errorf("%w: capability seq %d, have %d", ErrIgnored, c.Seq, p.capa.Seq)
	}
	p.capa, p.heard = c, now
	return nil
}

// prunePeers forgets peers not heard for long; m.mu must be held.
func (m *Manager) prunePeers(now time.Time) {
	for id, p := range m.peers {
		if !m.alive(p, now) {
			delete(m.peers, id)
		}
	}
}

func (m *Manager) handleClaim(author peer.ID, c object.Claim) error {
	tc, err := object.ParseCID(c.Task)
	if err != nil { // Check validated it
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.entry(tc, now)
	if t == nil {
		return fmt.Errorf("%w: too many unknown tasks", ErrIgnored)
	}
	l := t.leases[author]
	switch {
	case l != nil && c.Seq <= l.seq:
		return fmt.Errorf("%w: claim seq %d, have %d", ErrIgnored, c.Seq, l.seq)
	case l == nil && len(t.leases) >= maxLeases:
		return fmt.Errorf("%w: %d claimers tracked for %s", ErrIgnored, len(t.leases), tc)
	case l == nil:
		l = &lease{}
		t.leases[author] = l
	}
	*l = lease{
		seq: c.Seq, rank: c.Rank, step: c.Step, of: c.Of, state: c.State,
		heard: now, dur: time.Duration(c.LeaseMillis) * time.Millisecond,
	}
	m.signal()
	return nil
}

func (m *Manager) handleResult(s object.Signed, r object.Result, env []byte) error {
	tc, err := object.ParseCID(r.Task)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	rc := object.ObjectCID(s.Data)
	now := time.Now()
	m.mu.Lock()
	t := m.tasks[tc.KeyString()]
	if t != nil {
		if have, ok := t.done[s.Author]; ok {
			m.mu.Unlock()
			if have.Equals(rc) {
				return fmt.Errorf("%w: duplicate result %s", ErrIgnored, rc)
			}
			return fmt.Errorf("%w: %s already has result %s for %s", ErrIgnored, s.Author, have, tc)
		}
	} else if m.stubs >= maxStubs {
		m.mu.Unlock()
		return fmt.Errorf("%w: too many unknown tasks", ErrIgnored)
	}
	m.mu.Unlock()

	if err := m.cfg.Store.Put(rc, env); err != nil {
		return fmt.Errorf("store result: %w", err)
	}
	m.storeIndex(store.IndexTask, tc.String(), rc)
	m.storeIndex(store.IndexAuthor, s.Author.String(), rc)

	err = func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.closed {
			return ErrClosed
		}
		t = m.entry(tc, now)
		if t == nil {
			return fmt.Errorf("%w: too many unknown tasks", ErrIgnored)
		}
		if _, ok := t.done[s.Author]; ok {
			return fmt.Errorf("%w: duplicate result %s", ErrIgnored, rc)
		}
		if t.offered && t.task.Search != "" {
			m.storeIndex(store.IndexSearch, t.task.Search, rc)
		}
		m.addResult(t, s.Author, rc)
		return nil
	}()
	if err != nil {
		return err
	}
	m.signal()
	m.emit(Event{Kind: EventResult, Task: tc, Peer: s.Author, Result: rc, Step: r.Steps, Of: r.Steps})
	return nil
}

// addResult counts a result; m.mu must be held.
func (m *Manager) addResult(t *taskEntry, executor peer.ID, rc cid.Cid) {
	t.done[executor] = rc
	if l := t.leases[executor]; l != nil && l.state.Live() {
		l.state = object.ClaimDone
	}
	if t.offered && len(t.done) >= t.replicas {
		delete(m.open, t.key)
		t.openSince = time.Time{}
	}
}

func offerKey(c cid.Cid) string { return "tasks/offer/" + c.String() }
func ownKey(c cid.Cid) string   { return "tasks/own/" + c.String() }

const capSeqKey = "tasks/capseq"
