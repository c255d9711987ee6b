package consensus

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
)

// Role is what a final outcome means for one participant.
type Role uint8

// The roles of a participant in a final outcome.
const (
	RoleNone     Role = iota // not a participant
	RoleVerified             // its result or attestation agreed with the verified group
	RoleRejected             // its result or attestation lost the vote, or it equivocated
	RoleDisputed             // it took part in a task that ended without a majority
)

// MarshalText encodes the role as its name.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText decodes a role name.
func (r *Role) UnmarshalText(b []byte) error {
	for c := RoleNone; c <= RoleDisputed; c++ {
		if c.String() == string(b) {
			*r = c
			return nil
		}
	}
	return fmt.Errorf("consensus: unknown role %q", b)
}

func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleVerified:
		return "verified"
	case RoleRejected:
		return "rejected"
	case RoleDisputed:
		return "disputed"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// TrustAfter is how many verified outcomes in a row (Record.Credit) a peer needs before its
// tasks may go unreplicated (BOINC's CONS_VALID_UNREPLICATED).
const TrustAfter = 10

// wilsonZ is the z of the Wilson score bounds: 1.96, the 95% two-sided interval.
const wilsonZ = 1.96

// Scale of AppScore: a verified record earns up to +appReward; a record of lost votes costs up to
// appPenalty (times the squared distrust), so that a peer whose results keep losing sinks below
// gossipsub's graylist threshold (-2500 in p2p) after about 15 lost votes and nothing else.
const (
	appReward  = 10.0
	appPenalty = 4000.0
)

// Record is one peer's verification history.
type Record struct {
	// Verified, Rejected and Disputed count the final outcomes the peer took part in by role.
	Verified uint64 `cbor:"verified,omitempty" json:"verified"`
	Rejected uint64 `cbor:"rejected,omitempty" json:"rejected"`
	Disputed uint64 `cbor:"disputed,omitempty" json:"disputed"`
	// Credit counts verified outcomes since the last rejection (BOINC's consecutive_valid); any
	// rejection resets it to 0.
	Credit uint64 `cbor:"credit,omitempty" json:"credit"`
	// Seq is the last reputation journal entry applied to this record (crash recovery).
	Seq uint64 `cbor:"seq,omitempty" json:"-"`
}

// wilsonLower is the lower bound of the Wilson score interval of successes out of n trials.
func wilsonLower(successes, n float64) float64 {
	if n <= 0 {
		return 0
	}
	p := successes / n
	z2 := wilsonZ * wilsonZ
	lb := (p + z2/(2*n) - wilsonZ*math.Sqrt(p*(1-p)/n+z2/(4*n*n))) / (1 + z2/n)
	return min(max(lb, 0), 1)
}

func (r Record) trials() float64 {
	return float64(r.Verified) + float64(r.Rejected) + float64(r.Disputed)
}

// Trust is the Wilson lower bound (95%) of the peer's success rate, counting a dispute as half a
// success: 0 for an unknown peer, near 1 only after many verified outcomes, and falling with
// every lost vote.
func (r Record) Trust() float64 {
	return wilsonLower(float64(r.Verified)+float64(r.Disputed)/2, r.trials())
}

// Distrust is the Wilson lower bound of the peer's failure rate (a dispute is half a failure).
func (r Record) Distrust() float64 {
	return wilsonLower(float64(r.Rejected)+float64(r.Disputed)/2, r.trials())
}

// AppScore is the peer's gossipsub application-specific score (added with weight 1):
// 10*Trust - 4000*Distrust^2. 0 for an unknown peer, up to +10 for a long verified record;
// about -1300 after 5 lost votes and nothing else, below -2500 (graylist) after 15.
func (r Record) AppScore() float64 {
	d := r.Distrust()
	return appReward*r.Trust() - appPenalty*d*d
}

// RankWeight is the weight of the peer in claim ranking, in (0, 1]: 0.5 for an unknown peer,
// towards 1 with trust, towards 0 with distrust, and 0.001 (last, in practice) for a peer out of
// good standing (AppScore at or below ExcludeScore).
func (r Record) RankWeight() float64 {
	if r.AppScore() <= ExcludeScore {
		return minRankWeight
	}
	return max((1+r.Trust()-r.Distrust())/2, minRankWeight)
}

const minRankWeight = 1e-3

// apply moves one participant's contribution of one task from role old to role new.
func (r *Record) apply(old, new Role) {
	dec := func(c *uint64) {
		if *c > 0 {
			*c--
		}
	}
	switch old {
	case RoleVerified:
		dec(&r.Verified)
	case RoleRejected:
		dec(&r.Rejected)
	case RoleDisputed:
		dec(&r.Disputed)
	}
	switch new {
	case RoleVerified:
		r.Verified++
	case RoleRejected:
		r.Rejected++
	case RoleDisputed:
		r.Disputed++
	}
	switch {
	case new == RoleRejected:
		r.Credit = 0
	case new == RoleVerified && old != RoleVerified:
		r.Credit++
	case old == RoleVerified && r.Credit > 0:
		r.Credit--
	}
}

// Keys of the reputation state in its KV.
const (
	keyPeer    = "rep/peer/"
	keyTask    = "rep/task/"
	keyJournal = "rep/journal"
)

// roleEntry is one participant's role in a task, as persisted.
type roleEntry struct {
	Peer string `cbor:"peer"`
	Role uint8  `cbor:"role"`
}

// taskRecord is the outcome last applied for a task.
type taskRecord struct {
	Roles []roleEntry `cbor:"roles"`
}

// journal is the apply in progress (Done false) or the last one done. Applying a journal entry is
// idempotent: a peer record whose Seq is already Seq is not touched again.
type journal struct {
	Seq  uint64      `cbor:"seq"`
	Task string      `cbor:"task"`
	Old  []roleEntry `cbor:"old,omitempty"`
	New  []roleEntry `cbor:"new,omitempty"`
	Done bool        `cbor:"done,omitempty"`
}

// Reputation keeps every peer's Record in a KV and updates it from final verdicts. It is safe for
// concurrent use.
//
// Apply is idempotent (the roles of the last outcome applied to each task are kept, so applying the
// same outcome again changes nothing, and a changed outcome replaces the old one's contribution)
// and crash-safe: each apply is written to a journal first and replayed on the next use if it was
// cut short.
type Reputation struct {
	kv  KV
	log *slog.Logger

	mu    sync.Mutex
	cache map[peer.ID]Record // peers with a stored record
	// absent caches the peers without one (at most maxAbsent, then cleared): any peer can make
	// itself asked about, so they must not pile up.
	absent  map[peer.ID]struct{}
	journal journal
	loaded  bool
}

// NewReputation returns a Reputation over kv. A nil logger discards logs.
func NewReputation(kv KV, log *slog.Logger) *Reputation {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reputation{kv: kv, log: log, cache: make(map[peer.ID]Record), absent: make(map[peer.ID]struct{})}
}

// recover loads the journal and finishes an apply that was cut short. Callers hold mu.
func (r *Reputation) recover() error {
	if r.loaded {
		return nil
	}
	b, err := r.kv.Get(keyJournal)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return fmt.Errorf("reputation: load journal: %w", err)
	default:
		if err := object.Unmarshal(b, &r.journal); err != nil {
			return fmt.Errorf("reputation: journal: %w", err)
		}
		if !r.journal.Done {
			r.log.Info("reputation: finishing an interrupted update", "task", r.journal.Task, "seq", r.journal.Seq)
			if err := r.run(r.journal); err != nil {
				return err
			}
		}
	}
	r.loaded = true
	return nil
}

// Apply updates the records of the participants of a final outcome (Verified or Disputed); other
// outcomes change nothing. It reports whether anything changed.
func (r *Reputation) Apply(o Outcome) (bool, error) {
	if !o.Final() {
		return false, nil
	}
	roles := o.Roles()
	entries := make([]roleEntry, 0, len(roles))
	for p, role := range roles {
		entries = append(entries, roleEntry{Peer: p.String(), Role: uint8(role)})
	}
	slices.SortFunc(entries, func(a, b roleEntry) int { return strings.Compare(a.Peer, b.Peer) })

	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.recover(); err != nil {
		return false, err
	}
	task := o.Task.String()
	var old taskRecord
	b, err := r.kv.Get(keyTask + task)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return false, fmt.Errorf("reputation: task %s: %w", task, err)
	default:
		if err := object.Unmarshal(b, &old); err != nil {
			return false, fmt.Errorf("reputation: task %s: %w", task, err)
		}
	}
	if slices.Equal(old.Roles, entries) {
		return false, nil
	}
	j := journal{Seq: r.journal.Seq + 1, Task: task, Old: old.Roles, New: entries}
	if err := r.put(keyJournal, j); err != nil {
		return false, err
	}
	r.journal = j
	if err := r.run(j); err != nil {
		r.loaded = false // replay the journal on the next call
		return false, err
	}
	r.log.Debug("reputation: applied", "task", task, "state", o.State, "participants", len(entries))
	return true, nil
}

// run applies a journal entry: every participant's record, then the task record, then marks the
// journal done. Each step can be repeated safely. Callers hold mu.
func (r *Reputation) run(j journal) error {
	oldRole, newRole := make(map[string]Role), make(map[string]Role)
	var peers []string
	for _, e := range j.Old {
		oldRole[e.Peer] = Role(e.Role)
		peers = append(peers, e.Peer)
	}
	for _, e := range j.New {
		if _, ok := oldRole[e.Peer]; !ok {
			peers = append(peers, e.Peer)
		}
		newRole[e.Peer] = Role(e.Role)
	}
	slices.Sort(peers)
	for _, s := range peers {
		if oldRole[s] == newRole[s] {
			continue
		}
		p, err := peer.Decode(s)
		if err != nil {
			return fmt.Errorf("reputation: journal peer %q: %w", s, err)
		}
		rec, err := r.load(p)
		if err != nil {
			return err
		}
		if rec.Seq >= j.Seq {
			continue
		}
		rec.apply(oldRole[s], newRole[s])
		rec.Seq = j.Seq
		if err := r.put(keyPeer+s, rec); err != nil {
			return err
		}
		r.cache[p] = rec
		delete(r.absent, p)
	}
	if err := r.put(keyTask+j.Task, taskRecord{Roles: j.New}); err != nil {
		return err
	}
	j.Done = true
	if err := r.put(keyJournal, j); err != nil {
		return err
	}
	r.journal = j
	return nil
}

func (r *Reputation) put(key string, v any) error {
	b, err := object.Marshal(v)
	if err != nil {
		return fmt.Errorf("reputation: encode %s: %w", key, err)
	}
	if err := r.kv.Put(key, b); err != nil {
		return fmt.Errorf("reputation: put %s: %w", key, err)
	}
	return nil
}

// maxAbsent bounds the cache of peers without a record.
const maxAbsent = 4096

// load returns p's record (zero if unknown). Unknown peers are cached too (absent, bounded): the
// claim ranking asks for every peer's weight on every comparison, and a store read each time would
// be the cost of the ranking. Callers hold mu.
func (r *Reputation) load(p peer.ID) (Record, error) {
	if rec, ok := r.cache[p]; ok {
		return rec, nil
	}
	if _, ok := r.absent[p]; ok {
		return Record{}, nil
	}
	b, err := r.kv.Get(keyPeer + p.String())
	if errors.Is(err, ErrNotFound) {
		if len(r.absent) >= maxAbsent {
			clear(r.absent)
		}
		r.absent[p] = struct{}{}
		return Record{}, nil
	}
	if err != nil {
		return Record{}, fmt.Errorf("reputation: peer %s: %w", p, err)
	}
	var rec Record
	if err := object.Unmarshal(b, &rec); err != nil {
		return Record{}, fmt.Errorf("reputation: peer %s: %w", p, err)
	}
	r.cache[p] = rec
	return rec, nil
}

// Record returns p's record; an unknown peer has the zero Record.
func (r *Reputation) Record(p peer.ID) (Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.recover(); err != nil {
		return Record{}, err
	}
	return r.load(p)
}

// record is Record for the score functions: on a storage error it logs and returns the zero
// record (an unknown peer), never a better one.
func (r *Reputation) record(p peer.ID) Record {
	rec, err := r.Record(p)
	if err != nil {
		r.log.Warn("reputation: read failed; treating peer as unknown", "peer", p, "err", err)
		return Record{}
	}
	return rec
}

// Trust returns p's Record.Trust, in [0, 1].
func (r *Reputation) Trust(p peer.ID) float64 { return r.record(p).Trust() }

// AppScore returns p's Record.AppScore: the application-specific score for gossipsub's peer
// scoring (pubsub.PeerScoreParams.AppSpecificScore).
func (r *Reputation) AppScore(p peer.ID) float64 { return r.record(p).AppScore() }

// RankWeight returns p's Record.RankWeight, the weight of p in claim ranking.
func (r *Reputation) RankWeight(p peer.ID) float64 { return r.record(p).RankWeight() }

// NeedsReplication reports whether a task executed by p must be replicated Replicas times (true),
// or may run once and be verified by a cheap check: one attestation that re-runs one segment and
// the final evaluation (false). Peers with fewer than TrustAfter verified outcomes since their last
// rejection are always replicated; after that, a task is replicated anyway with probability
// max(1/Credit, SpotCheck), decided by hash(task, peer), never by a clock or a random source, so
// every node decides the same for the same record. A policy of one replica never replicates; a
// storage error answers true.
func (r *Reputation) NeedsReplication(p peer.ID, policy object.Policy, task cid.Cid) bool {
	if policy.Replicas <= 1 {
		return false
	}
	rec, err := r.Record(p)
	if err != nil {
		r.log.Warn("reputation: read failed; replicating", "peer", p, "err", err)
		return true
	}
	return needsReplication(rec.Credit, policy.SpotCheck, task, p)
}

func needsReplication(credit uint64, spotCheck int64, task cid.Cid, p peer.ID) bool {
	if credit < TrustAfter {
		return true
	}
	rate := max(uint64(max(spotCheck, 0)), object.Fixed/credit)
	return hash64(domainSpot, task, p)%object.Fixed < rate
}

// ExcludeScore is the AppScore at or below which Candidates leaves a peer out: about three lost
// votes with no verified work, or a record of mostly lost votes. It is gossipsub's gossip
// threshold in p2p, where such a peer's gossip is ignored anyway.
const ExcludeScore = -500.0

// Candidates returns the peers of ps in good standing (AppScore above ExcludeScore), in their
// order: the peers to give PickExtra and PickVerifier, so that a peer whose results keep losing
// is no longer asked to execute or check anything.
func (r *Reputation) Candidates(ps []peer.ID) []peer.ID {
	out := make([]peer.ID, 0, len(ps))
	for _, p := range ps {
		if r.AppScore(p) > ExcludeScore {
			out = append(out, p)
		}
	}
	return out
}

// PeerRecord is one peer's record, as listed by Peers.
type PeerRecord struct {
	Peer peer.ID `json:"peer"`
	Record
}

// Peers lists every peer with a record, in key order. It needs a ScanKV.
func (r *Reputation) Peers() ([]PeerRecord, error) {
	s, ok := r.kv.(ScanKV)
	if !ok {
		return nil, fmt.Errorf("reputation: peers: %T cannot scan", r.kv)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.recover(); err != nil {
		return nil, err
	}
	es, err := s.Scan(keyPeer)
	if err != nil {
		return nil, fmt.Errorf("reputation: peers: %w", err)
	}
	out := make([]PeerRecord, 0, len(es))
	for _, e := range es {
		p, err := peer.Decode(strings.TrimPrefix(e.Key, keyPeer))
		if err != nil {
			r.log.Warn("reputation: skipping a bad key", "key", e.Key, "err", err)
			continue
		}
		var rec Record
		if err := object.Unmarshal(e.Value, &rec); err != nil {
			r.log.Warn("reputation: skipping a bad record", "peer", p, "err", err)
			continue
		}
		out = append(out, PeerRecord{Peer: p, Record: rec})
	}
	return out, nil
}
