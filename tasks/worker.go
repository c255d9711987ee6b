package tasks

import (
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
)

// execute runs one claimed task on the executor; it owns one worker slot until it returns.
func (m *Manager) execute(r *run) {
	defer m.wg.Done()
	t := r.t
	var resume *Checkpoint
	if r.resume != "" {
		resume = m.loadCheckpoint(t, r)
	}
	res, err := m.runExecutor(r, resume)
	m.finish(r, res, err)
}

// runExecutor calls the executor, turning a panic into an error: a bad task must not take the
// node down.
func (m *Manager) runExecutor(r *run, resume *Checkpoint) (res object.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("executor panic: %v", p)
		}
	}()
	return m.cfg.Executor.Execute(r.ctx, r.t.task, resume, func(p Progress) error { return m.progress(r, p) })
}

// loadCheckpoint fetches the run's resume checkpoint; a missing or bad one restarts from scratch.
func (m *Manager) loadCheckpoint(t *taskEntry, r *run) *Checkpoint {
	c, err := object.ParseCID(r.resume)
	var data []byte
	if err == nil {
		data, err = m.cfg.Store.Get(c)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.log.Warn("checkpoint unavailable: starting over", "task", t.cid, "checkpoint", r.resume, "err", err)
		r.step = 0
		t.own.Checkpoint, t.own.CheckpointStep = "", 0
		return nil
	}
	return &Checkpoint{Step: t.own.CheckpointStep, Data: data}
}

// progress is the executor's callback: it stores checkpoints, records progress, holds the run
// while the node is paused, and tells the executor to stop when the run was stopped.
func (m *Manager) progress(r *run, p Progress) error {
	t := r.t
	var evs []Event
	if ck := p.Checkpoint; ck != nil && len(ck.Data) > 0 {
		c := object.RawCID(ck.Data)
		opts := store.PutOptions{Sync: true, TTL: m.cfg.Retention}
		err := m.cfg.Store.PutWith(c, ck.Data, opts)
		if err == nil {
			err = m.cfg.Store.IndexWith(store.IndexTask, t.cid.String(), c, store.PutOptions{TTL: m.cfg.Retention})
		}
		m.mu.Lock()
		if err != nil {
			m.log.Warn("store checkpoint", "task", t.cid, "step", ck.Step, "err", err)
		} else if r.stop == stopNone { // including a last checkpoint taken on shutdown
			t.own.Checkpoint, t.own.CheckpointStep = c.String(), max(ck.Step, 0)
			if err := m.persistOwn(t, true); err != nil {
				m.log.Warn("persist checkpoint", "task", t.cid, "err", err)
			}
			evs = append(evs, Event{Kind: EventCheckpoint, Task: t.cid, Step: ck.Step, Of: p.Of})
		}
		m.mu.Unlock()
	}
	m.mu.Lock()
	r.of = min(max(p.Of, 0), object.MaxCounter)
	r.step = min(max(p.Step, 0), r.of)
	evs = append(evs, Event{Kind: EventProgress, Task: t.cid, Step: r.step, Of: r.of})
	for {
		if r.stop != stopNone || r.ctx.Err() != nil {
			r.paused = false
			m.mu.Unlock()
			m.emit(evs...)
			return ErrStopped
		}
		if !m.paused {
			r.paused = false
			m.mu.Unlock()
			m.emit(evs...)
			return nil
		}
		if !r.paused {
			r.paused = true
			evs = append(evs, Event{Kind: EventPaused, Task: t.cid, Step: r.step, Of: r.of})
		}
		ch := m.resumed
		m.mu.Unlock()
		m.emit(evs...)
		evs = nil
		select {
		case <-ch:
		case <-r.ctx.Done():
		}
		m.mu.Lock()
	}
}

// finish ends a run: it stores and publishes a result, or releases the task, or (when the
// Manager is closing) leaves the run to be resumed after a restart.
func (m *Manager) finish(r *run, res object.Result, err error) {
	t := r.t
	now := time.Now()
	m.mu.Lock()
	stop := r.stop
	closing := m.ctx.Err() != nil
	if err == nil && stop == stopNone && m.outranked(t, now) {
		// Better-ranked claimers or R results turned up since the last check: ours would be
		// one result too many.
		stop = stopAbandon
		r.stop = stop
	}
	success := err == nil && stop == stopNone
	m.mu.Unlock()

	var rc cid.Cid
	if success {
		rc, err = m.storeResult(t, res)
		success = err == nil
	}

	var ev Event
	m.mu.Lock()
	if success && (r.stop != stopNone || m.outranked(t, time.Now())) {
		// Others' claims or results arrived while the result was being synced to disk: ours would
		// be one too many. Drop it unpublished and unindexed.
		success = false
		stop = r.stop
		if stop == stopNone {
			stop = stopAbandon
			r.stop = stop
		}
		if err := m.cfg.Store.Delete(rc); err != nil {
			m.log.Warn("drop abandoned result", "task", t.cid, "err", err)
		}
	}
	defer func() {
		m.notifyChanged()
		m.mu.Unlock()
		m.kickPublisher()
		m.signal()
		if ev.Kind != "" {
			m.emit(ev)
		}
	}()
	delete(m.running, t.key)
	t.run = nil
	m.memUsed -= t.need.Memory
	r.cancel()
	o := t.own
	switch {
	case success:
		m.indexResult(t, rc)
		m.completed++
		o.State, o.Result, o.ResultSent = RunDone, rc.String(), false
		o.Step = max(o.Of, o.Step)
		t.retry = time.Time{}
		m.addResult(t, m.self, rc)
		m.queueResult(t)
		m.sendClaim(t, object.ClaimDone, o.Of, o.Of, now)
		ev = Event{Kind: EventDone, Task: t.cid, Step: o.Of, Of: o.Of, Result: rc}
		m.log.Info("task done", "task", t.cid, "result", rc)
	case stop == stopAbandon || stop == stopRelease:
		o.State = RunReleased
		m.sendClaim(t, object.ClaimReleased, r.step, r.of, now)
		if stop == stopAbandon {
			m.abandoned++
			ev = Event{Kind: EventAbandoned, Task: t.cid, Step: r.step, Of: r.of}
		} else {
			m.released++
			ev = Event{Kind: EventReleased, Task: t.cid, Step: r.step, Of: r.of}
		}
	case closing:
		// A shutdown: keep the lease and the running state, so a restart within the lease
		// resumes from the last checkpoint. Nothing is published.
		return
	default:
		m.failed++
		o.Failures++
		o.State = RunReleased
		if o.Failures >= int64(m.cfg.MaxFailures) {
			o.State = RunFailed
		}
		t.retry = now.Add(time.Duration(o.Failures) * max(m.cfg.RankDelay, m.cfg.Tick))
		m.sendClaim(t, object.ClaimReleased, r.step, r.of, now)
		ev = Event{Kind: EventFailed, Task: t.cid, Step: r.step, Of: r.of, Err: err}
		m.log.Warn("task failed", "task", t.cid, "failures", o.Failures, "err", err)
	}
}

// storeResult completes, validates, seals and durably stores this node's result of t, with its
// indexes. It returns the sealed result's CID.
func (m *Manager) storeResult(t *taskEntry, res object.Result) (cid.Cid, error) {
	res.Task = t.cid.String()
	res.Executor = m.self.String()
	if err := res.Validate(); err != nil {
		return cid.Undef, fmt.Errorf("executor result: %w", err)
	}
	env, err := object.Seal(m.cfg.Key, object.KindResult, res)
	if err != nil {
		return cid.Undef, fmt.Errorf("seal result: %w", err)
	}
	rc, _, err := object.SealedCID(env)
	if err != nil {
		return cid.Undef, fmt.Errorf("seal result: %w", err)
	}
	// Durable before anything about it leaves the node. It is indexed (and so listed to peers by
	// sync) only once finish has re-checked, after this fsync, that the run was not abandoned.
	if err := m.cfg.Store.PutDurable(rc, env); err != nil {
		return cid.Undef, fmt.Errorf("store result: %w", err)
	}
	return rc, nil
}

// indexResult makes a stored own result visible: task, author and search indexes.
func (m *Manager) indexResult(t *taskEntry, rc cid.Cid) {
	m.storeIndex(store.IndexTask, t.cid.String(), rc)
	m.storeIndex(store.IndexAuthor, m.self.String(), rc)
	if t.task.Search != "" {
		m.storeIndex(store.IndexSearch, t.task.Search, rc)
	}
}
