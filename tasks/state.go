package tasks

import (
	"context"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
)

// TaskState is a task's state as this node sees it.
type TaskState string

// The task states.
const (
	// StatePending: fewer than R results and no live lease.
	StatePending TaskState = "pending"
	// StateClaimed: fewer than R results and at least one live lease.
	StateClaimed TaskState = "claimed"
	// StateDone: R results (or more) are held.
	StateDone TaskState = "done"
	// StateUnknown: claims or results were heard for the task, but not its offer.
	StateUnknown TaskState = "unknown"
)

// Status is what a node knows about one task.
type Status struct {
	CID      cid.Cid
	Task     object.Task
	Replicas int
	Need     object.Need
	State    TaskState
	// Leases are the live leases (this node's included), best rendezvous score first.
	Leases []Lease
	// Results are the results held, one per executor, in peer ID order.
	Results []ResultRef
	// Local is this node's own run of the task, if it ever claimed it.
	Local *LocalRun
}

// Lease is one live claim on a task.
type Lease struct {
	Peer  peer.ID
	Rank  int64
	Step  int64
	Of    int64
	State object.ClaimState
	// Expires is when the lease lapses unless renewed (this node's clock).
	Expires time.Time
}

// ResultRef names one result of a task.
type ResultRef struct {
	Executor peer.ID
	// CID is the sealed result's name (object.SealedCID).
	CID cid.Cid
}

// Local run states.
const (
	RunRunning  = "running"  // executing (or blocked at a step boundary while paused)
	RunReleased = "released" // stopped without a result: abandoned, released or lapsed; may be re-claimed
	RunDone     = "done"     // finished; the result is stored and published
	RunFailed   = "failed"   // the executor failed MaxFailures times; never claimed again
)

// LocalRun is this node's own run of a task.
type LocalRun struct {
	// State is RunRunning, RunReleased, RunDone or RunFailed.
	State string
	// Paused is true while the run is held at a step boundary.
	Paused bool
	Step   int64
	Of     int64
	// Checkpoint is the step of the last stored checkpoint (0: none).
	Checkpoint int64
	// Result is the sealed result's CID once done.
	Result   cid.Cid
	Failures int
}

// Stats summarises a Manager.
type Stats struct {
	// Tasks counts the offered tasks known; Pending, Claimed and Done split them by state.
	Tasks, Pending, Claimed, Done int
	// Running is how many tasks run here now, out of Workers.
	Running, Workers int
	// Class is the reproducibility classes this node advertises (Config.Class, SetClass).
	Class string
	// Peers is how many peers advertised a capability recently (not counting this node).
	Peers int
	// Paused and Draining are the volunteer controls' state.
	Paused, Draining bool
	// Since start: tasks this node completed, abandoned (to a better-ranked claimer or because
	// R results existed), released (after a long pause) and failed.
	Completed, Abandoned, Released, Failed uint64
}

// EventKind names an Event.
type EventKind string

// The events a Manager reports through Config.OnEvent.
const (
	EventOffered    EventKind = "offered"    // a new task became known
	EventClaimed    EventKind = "claimed"    // this node claimed a task and started it
	EventResumed    EventKind = "resumed"    // this node resumed its own task after a restart
	EventProgress   EventKind = "progress"   // a running task reported Step of Of
	EventCheckpoint EventKind = "checkpoint" // a running task stored a checkpoint at Step
	EventPaused     EventKind = "paused"     // a running task is held at a step boundary
	EventDone       EventKind = "done"       // this node finished a task; Result names the result
	EventAbandoned  EventKind = "abandoned"  // this node gave a task up to better-ranked claimers
	EventReleased   EventKind = "released"   // this node released a task it held paused too long
	EventFailed     EventKind = "failed"     // the executor failed; Err says why
	EventResult     EventKind = "result"     // a result from a peer was stored
)

// Event is a progress report for status lines and logs.
type Event struct {
	Kind EventKind
	Task cid.Cid
	// Peer is the executor of a peer's result (EventResult); this node otherwise.
	Peer   peer.ID
	Step   int64
	Of     int64
	Result cid.Cid
	Err    error
}

// lease is a peer's claim on a task as this node last heard it.
type lease struct {
	seq   int64
	rank  int64
	step  int64
	of    int64
	state object.ClaimState
	heard time.Time // monotonic receipt time of the latest claim
	dur   time.Duration
}

func (l *lease) live(now time.Time) bool {
	return l.state.Live() && now.Before(l.heard.Add(l.dur))
}

// peerInfo is a peer's latest capability.
type peerInfo struct {
	capa  object.Capability
	heard time.Time
}

// ownRecord is this node's run of a task, persisted in meta under "tasks/own/<task>".
type ownRecord struct {
	State string `cbor:"state"`
	// Seq is the sequence number of the last claim this node signed for the task.
	Seq  int64 `cbor:"seq"`
	Rank int64 `cbor:"rank"`
	Step int64 `cbor:"step"`
	Of   int64 `cbor:"of"`
	// Checkpoint is the raw CID of the last checkpoint, taken at CheckpointStep.
	Checkpoint     string `cbor:"checkpoint,omitempty"`
	CheckpointStep int64  `cbor:"checkpoint_step"`
	// Result is the sealed result's CID once done.
	Result string `cbor:"result,omitempty"`
	// ResultSent is set once the result was published.
	ResultSent bool `cbor:"result_sent"`
	// Last is the envelope of the last claim signed; LastSent is set once it was published.
	Last     []byte `cbor:"last,omitempty"`
	LastSent bool   `cbor:"last_sent"`
	// Beat is when (Unix ms, this node's wall clock) the last live claim was signed: after a
	// restart, the run resumes only if Beat + lease is still ahead.
	Beat     int64 `cbor:"beat"`
	Failures int64 `cbor:"failures"`
}

// stopReason says why a run was stopped by the Manager.
type stopReason int

const (
	stopNone    stopReason = iota
	stopAbandon            // conflict lost, or R results exist
	stopRelease            // paused longer than PauseHold
)

// run is a task executing on a worker.
type run struct {
	t      *taskEntry
	ctx    context.Context
	cancel context.CancelFunc
	stop   stopReason
	step   int64
	of     int64
	paused bool
	beat   time.Time // when the last live claim was published
	resume string    // checkpoint CID to resume from ("" for none)
}

// taskEntry is everything this node knows about one task.
type taskEntry struct {
	cid       cid.Cid
	key       string // cid.KeyString()
	task      object.Task
	offered   bool // the offer is known (a stub otherwise)
	replicas  int
	need      object.Need
	firstSeen time.Time
	openSince time.Time // when fewer than R leases and results became live (zero: not open)
	leases    map[peer.ID]*lease
	done      map[peer.ID]cid.Cid // executor -> sealed result CID, for results held
	scores    map[peer.ID]uint64  // rendezvous scores, cached
	own       *ownRecord
	run       *run
	retry     time.Time // after a failure: no claim before this
	republish time.Time // unsent own messages: next retry
}

// newTaskEntry returns an empty entry for task c (k is c.KeyString()), first seen at now.
func newTaskEntry(c cid.Cid, k string, now time.Time) *taskEntry {
	return &taskEntry{
		cid: c, key: k, firstSeen: now,
		leases: map[peer.ID]*lease{}, done: map[peer.ID]cid.Cid{}, scores: map[peer.ID]uint64{},
	}
}

func (t *taskEntry) score(p peer.ID) uint64 {
	s, ok := t.scores[p]
	if !ok {
		s = Score(t.cid, p)
		t.scores[p] = s
	}
	return s
}

// ahead reports whether a ranks before b for this task: by weighted rendezvous key when weight
// is not nil and the weights differ (see WeightedKey), else by Score, ties to the smaller peer ID.
func (t *taskEntry) ahead(a, b peer.ID, weight func(peer.ID) float64) bool {
	sa, sb := t.score(a), t.score(b)
	if weight != nil {
		if wa, wb := clampWeight(weight(a)), clampWeight(weight(b)); wa != wb {
			if ka, kb := WeightedKey(sa, wa), WeightedKey(sb, wb); ka != kb {
				return ka > kb
			}
		}
	}
	if sa != sb {
		return sa > sb
	}
	return string(a) < string(b)
}

// liveLeases counts live leases of peers other than self.
func (t *taskEntry) liveLeases(self peer.ID, now time.Time) int {
	n := 0
	for p, l := range t.leases {
		if p != self && l.live(now) {
			n++
		}
	}
	return n
}

// doneByOthers counts results of peers other than self.
func (t *taskEntry) doneByOthers(self peer.ID) int {
	n := len(t.done)
	if _, ok := t.done[self]; ok {
		n--
	}
	return n
}

func (t *taskEntry) state(self peer.ID, now time.Time) TaskState {
	switch {
	case !t.offered:
		return StateUnknown
	case len(t.done) >= t.replicas:
		return StateDone
	case t.run != nil || t.liveLeases(self, now) > 0:
		return StateClaimed
	}
	return StatePending
}
