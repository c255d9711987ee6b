package tasks

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
)

// load rebuilds the Manager's state from the store at start: the offers it knew, the results it
// holds, its own runs. It returns the runs to resume; m.mu need not be held (nothing runs yet).
func (m *Manager) load() ([]*run, []Event, error) {
	st := m.cfg.Store
	now := time.Now()
	if b, err := st.GetMeta(capSeqKey); err == nil {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil || n < 0 || n > object.MaxCounter {
			return nil, nil, fmt.Errorf("tasks: load capability seq %q: %w", b, store.ErrCorrupt)
		}
		m.capSeq = n
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("tasks: load: %w", err)
	}

	offers, err := st.ScanMeta("tasks/offer/")
	if err != nil {
		return nil, nil, fmt.Errorf("tasks: load offers: %w", err)
	}
	for _, e := range offers {
		o, err := object.OpenOffer(e.Value)
		if err != nil {
			m.log.Warn("dropping unreadable offer", "key", e.Key, "err", err)
			continue
		}
		tc, _, err := taskCID(o.Task)
		if err != nil || e.Key != offerKey(tc) {
			m.log.Warn("dropping misfiled offer", "key", e.Key)
			continue
		}
		m.applyOffer(tc, o, o.Need, now)
		if err := m.loadResults(m.tasks[tc.KeyString()]); err != nil {
			return nil, nil, err
		}
	}

	owns, err := st.ScanMeta("tasks/own/")
	if err != nil {
		return nil, nil, fmt.Errorf("tasks: load runs: %w", err)
	}
	var starts []*run
	var evs []Event
	for _, e := range owns {
		tc, err := object.ParseCID(strings.TrimPrefix(e.Key, "tasks/own/"))
		var o ownRecord
		if err == nil {
			err = object.Unmarshal(e.Value, &o)
		}
		t := m.tasks[tc.KeyString()]
		if err != nil || t == nil {
			m.log.Warn("dropping run without its task", "key", e.Key, "err", err)
			continue
		}
		t.own = &o
		if rc, ok := t.done[m.self]; ok && o.State != RunDone {
			// The result was stored but the crash came before the run was marked done.
			o.State, o.Result, o.ResultSent = RunDone, rc.String(), false
			o.LastSent = true // the last claim is a stale heartbeat: the result speaks for itself
		}
		switch {
		case o.State != RunRunning:
		case len(starts) < m.workers && now.UnixMilli()-o.Beat < m.cfg.Lease.Milliseconds():
			// Our lease is still live at the other nodes: resume from the last checkpoint.
			if r := m.startRun(t, o.Rank, now, true); r != nil {
				starts = append(starts, r)
				m.log.Info("resuming task", "task", tc, "from", o.CheckpointStep)
				evs = append(evs, Event{Kind: EventResumed, Task: tc, Step: r.step, Of: r.of})
				continue
			}
			o.State, o.LastSent = RunReleased, true
		default:
			// The lease lapsed while we were down (or there are fewer workers now): the task may
			// be anyone's. Keep the checkpoint: if this node claims it again, it resumes.
			o.State = RunReleased
			o.LastSent = true // never re-send the old heartbeat of a lapsed lease
		}
		if err := m.persistOwn(t, true); err != nil {
			return nil, nil, fmt.Errorf("tasks: load: %w", err)
		}
	}
	return starts, evs, nil
}

// loadResults counts the results the store holds for t.
func (m *Manager) loadResults(t *taskEntry) error {
	after := ""
	for {
		cids, next, err := m.cfg.Store.Scan(store.IndexTask, t.cid.String(), after, 1000)
		if err != nil {
			return fmt.Errorf("tasks: load results of %s: %w", t.cid, err)
		}
		for _, c := range cids {
			if c.Prefix().Codec != cid.DagCBOR {
				continue // a checkpoint
			}
			b, err := m.cfg.Store.Get(c)
			if err != nil {
				continue // an index entry whose block is gone
			}
			s, err := object.OpenAny(b)
			if err != nil || s.Kind != object.KindResult {
				continue
			}
			r, err := object.ResultOf(s)
			if err != nil || r.Task != t.cid.String() {
				continue
			}
			if _, ok := t.done[s.Author]; !ok {
				m.addResult(t, s.Author, c)
			}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}
