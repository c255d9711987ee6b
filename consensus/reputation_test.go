package consensus

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
)

// outcomeOf computes the verdict of task where peers in hon report the honest run and peers in
// liars a fabricated one.
func outcomeOf(t testing.TB, task cid.Cid, p object.Policy, hon, liars []node) Outcome {
	t.Helper()
	var rs []SignedResult
	for _, n := range hon {
		rs = append(rs, sealResult(t, task, n, honest))
	}
	for _, n := range liars {
		rs = append(rs, sealResult(t, task, n, fabricated))
	}
	return mustVerdict(t, task, p, rs, nil)
}

// backends runs a test over every KV: the in-memory one and the node store's meta space.
func backends(t *testing.T, f func(t *testing.T, kv func() KV)) {
	t.Run("memkv", func(t *testing.T) {
		m := &MemKV{}
		f(t, func() KV { return m })
	})
	t.Run("store", func(t *testing.T) {
		s, err := store.Open("", store.Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		f(t, func() KV { return StoreKV(s) })
	})
}

func TestReputationApply(t *testing.T) {
	backends(t, func(t *testing.T, kv func() KV) {
		ps := newNodes(t, 30, 4)
		hA, hB, hC, liar := ps[0], ps[1], ps[2], ps[3]
		def := object.DefaultPolicy()
		rep := NewReputation(kv(), nil)

		// Pending and NeedsMore outcomes change nothing.
		for _, o := range []Outcome{
			outcomeOf(t, taskCID(t, 1), def, []node{hA}, nil),
			outcomeOf(t, taskCID(t, 1), def, []node{hA}, []node{liar}),
		} {
			if changed, err := rep.Apply(o); err != nil || changed {
				t.Fatalf("Apply(%s) = %v, %v", o.State, changed, err)
			}
		}

		verified := outcomeOf(t, taskCID(t, 1), def, []node{hA, hB}, []node{liar})
		if verified.State != Verified {
			t.Fatal(verified.State)
		}
		if changed, err := rep.Apply(verified); err != nil || !changed {
			t.Fatalf("Apply = %v, %v", changed, err)
		}
		// The same verdict again, even from another Reputation on the same KV: no change.
		for _, r := range []*Reputation{rep, NewReputation(kv(), nil)} {
			if changed, err := r.Apply(verified); err != nil || changed {
				t.Fatalf("second Apply = %v, %v", changed, err)
			}
		}
		check := func(r *Reputation, p node, want Record) {
			t.Helper()
			got, err := r.Record(p.id)
			if err != nil {
				t.Fatal(err)
			}
			got.Seq = 0
			if got != want {
				t.Fatalf("record of %s = %+v, want %+v", p.id, got, want)
			}
		}
		check(rep, hA, Record{Verified: 1, Credit: 1})
		check(rep, liar, Record{Rejected: 1})
		check(rep, hC, Record{})

		// A later, different verdict on the same task replaces the old one's contribution.
		disputed := outcomeOf(t, taskCID(t, 1), object.Policy{Replicas: 2, Quorum: 2}, []node{hA}, []node{liar})
		if disputed.State != Disputed {
			t.Fatal(disputed.State)
		}
		if changed, err := rep.Apply(disputed); err != nil || !changed {
			t.Fatalf("Apply(disputed) = %v, %v", changed, err)
		}
		check(rep, hA, Record{Disputed: 1})
		check(rep, hB, Record{}) // not in the new outcome
		check(rep, liar, Record{Disputed: 1})

		// A second task adds up; everything survives a restart (a new Reputation on the KV).
		if _, err := rep.Apply(outcomeOf(t, taskCID(t, 2), def, []node{hA, hC}, nil)); err != nil {
			t.Fatal(err)
		}
		again := NewReputation(kv(), nil)
		check(again, hA, Record{Verified: 1, Disputed: 1, Credit: 1})
		check(again, hC, Record{Verified: 1, Credit: 1})
		peers, err := again.Peers()
		if err != nil {
			t.Fatal(err)
		}
		if len(peers) != 4 {
			t.Fatalf("Peers = %+v, want 4 records", peers)
		}
	})
}

// TestReputationCrashRecovery: an apply cut short by a failing write is finished exactly once,
// by the next use of the same KV.
func TestReputationCrashRecovery(t *testing.T) {
	ps := newNodes(t, 31, 3)
	for _, failAt := range []string{keyPeer, keyTask, keyJournal} {
		t.Run(failAt, func(t *testing.T) {
			kv := &MemKV{}
			rep := NewReputation(kv, nil)
			o := outcomeOf(t, taskCID(t, 1), object.DefaultPolicy(), ps[:2], ps[2:])
			if _, err := rep.Apply(outcomeOf(t, taskCID(t, 9), object.DefaultPolicy(), ps[:2], nil)); err != nil {
				t.Fatal(err)
			}
			journalPuts := 0
			kv.fail = func(key string) bool {
				if key == keyJournal {
					journalPuts++
					// Let the first journal write through: fail only the "done" mark.
					return failAt == keyJournal && journalPuts == 2
				}
				return strings.HasPrefix(key, failAt)
			}
			if _, err := rep.Apply(o); err == nil {
				t.Fatal("Apply succeeded through a failing KV")
			}
			kv.fail = nil
			for _, r := range []*Reputation{rep, NewReputation(kv, nil)} {
				if _, err := r.Apply(o); err != nil {
					t.Fatal(err)
				}
				for i, want := range []Record{{Verified: 2, Credit: 2}, {Verified: 2, Credit: 2}, {Rejected: 1}} {
					got, err := r.Record(ps[i].id)
					if err != nil {
						t.Fatal(err)
					}
					got.Seq = 0
					if got != want {
						t.Fatalf("peer %d: %+v, want %+v", i, got, want)
					}
				}
			}
		})
	}
}

func TestReputationStorageErrors(t *testing.T) {
	p := newNodes(t, 32, 1)[0]
	kv := &MemKV{}
	if err := kv.Put(keyPeer+p.id.String(), []byte("not cbor")); err != nil {
		t.Fatal(err)
	}
	rep := NewReputation(kv, nil)
	if _, err := rep.Record(p.id); err == nil {
		t.Fatal("a corrupt record read without error")
	}
	// Scores treat an unreadable peer as unknown; replication is then required.
	if s, w := rep.AppScore(p.id), rep.RankWeight(p.id); s != 0 || w != 0.5 {
		t.Fatalf("AppScore %v, RankWeight %v for an unreadable peer", s, w)
	}
	if !rep.NeedsReplication(p.id, object.DefaultPolicy(), taskCID(t, 1)) {
		t.Fatal("an unreadable peer skipped replication")
	}
	if err := kv.Put(keyJournal, []byte{0xff}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewReputation(kv, nil).Apply(outcomeOf(t, taskCID(t, 1), object.DefaultPolicy(), newNodes(t, 33, 2), nil)); err == nil {
		t.Fatal("Apply over a corrupt journal succeeded")
	}
	type onlyKV struct{ KV }
	if _, err := NewReputation(onlyKV{kv}, nil).Peers(); err == nil {
		t.Fatal("Peers without a scanning KV succeeded")
	}
	var nf error
	_, nf = (&MemKV{}).Get("x")
	if !errors.Is(nf, ErrNotFound) {
		t.Fatalf("MemKV.Get of a missing key: %v", nf)
	}
}

func TestRecordScores(t *testing.T) {
	tests := []struct {
		name           string
		r              Record
		trustMin       float64
		trustMax       float64
		appMin, appMax float64
	}{
		{"unknown", Record{}, 0, 0, 0, 0},
		{"one verified", Record{Verified: 1, Credit: 1}, 0.1, 0.3, 1, 3},
		{"long record", Record{Verified: 500, Credit: 500}, 0.99, 1, 9.9, 10},
		{"long record, one loss", Record{Verified: 500, Rejected: 1}, 0.98, 0.995, 9, 10},
		{"five lost votes", Record{Rejected: 5}, 0, 0, -1400, -1200},
		{"fifteen lost votes: graylisted", Record{Rejected: 15}, 0, 0, -3000, -2500},
		{"a liar with some honest work", Record{Verified: 20, Rejected: 20}, 0.3, 0.4, -700, -300},
		{"disputes are half failures", Record{Disputed: 10}, 0.2, 0.3, -300, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, app, w := tc.r.Trust(), tc.r.AppScore(), tc.r.RankWeight()
			if tr < tc.trustMin || tr > tc.trustMax {
				t.Errorf("Trust = %v, want [%v, %v]", tr, tc.trustMin, tc.trustMax)
			}
			if app < tc.appMin || app > tc.appMax {
				t.Errorf("AppScore = %v, want [%v, %v]", app, tc.appMin, tc.appMax)
			}
			if w <= 0 || w > 1 {
				t.Errorf("RankWeight = %v, want (0, 1]", w)
			}
		})
	}
	// Losing a vote always lowers trust and the weight; winning one raises them.
	r := Record{Verified: 40, Credit: 40}
	lost := r
	lost.apply(RoleNone, RoleRejected)
	won := r
	won.apply(RoleNone, RoleVerified)
	if !(lost.Trust() < r.Trust() && r.Trust() < won.Trust() && lost.RankWeight() < r.RankWeight() && lost.AppScore() < r.AppScore()) {
		t.Fatalf("trust %v -> lost %v, won %v", r.Trust(), lost.Trust(), won.Trust())
	}
	if lost.Credit != 0 || won.Credit != 41 {
		t.Fatalf("credit after loss %d, after win %d", lost.Credit, won.Credit)
	}
	if w := (Record{}).RankWeight(); w != 0.5 {
		t.Fatalf("unknown RankWeight = %v", w)
	}
}

func TestNeedsReplication(t *testing.T) {
	ps := newNodes(t, 34, 1)
	p := ps[0].id
	pol := object.DefaultPolicy()
	tests := []struct {
		name     string
		credit   uint64
		spot     int64
		min, max float64 // fraction of tasks replicated
	}{
		{"new peer", 0, pol.SpotCheck, 1, 1},
		{"just below trust", TrustAfter - 1, pol.SpotCheck, 1, 1},
		{"just trusted: 1/10", TrustAfter, 0, 0.07, 0.13},
		{"credit 100: the 5% floor", 100, pol.SpotCheck, 0.035, 0.065},
		{"credit 100, no floor: 1%", 100, 0, 0.003, 0.02},
		{"credit 10000, 5% floor", 10_000, pol.SpotCheck, 0.035, 0.065},
		{"adaptive replication off", 10_000, object.Fixed, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const n = 3000
			k := 0
			for i := range n {
				task := object.ObjectCID([]byte{byte(i), byte(i >> 8), 'x'})
				got := needsReplication(tc.credit, tc.spot, task, p)
				if got != needsReplication(tc.credit, tc.spot, task, p) {
					t.Fatal("not deterministic")
				}
				if got {
					k++
				}
			}
			if f := float64(k) / n; f < tc.min || f > tc.max {
				t.Fatalf("replicated %.4f of tasks, want [%v, %v]", f, tc.min, tc.max)
			}
		})
	}

	// Through a Reputation: credit earned by verified tasks lowers replication; one rejection
	// brings it back to always.
	rep := NewReputation(&MemKV{}, nil)
	partners := newNodes(t, 35, 1)
	for i := range 200 {
		if _, err := rep.Apply(outcomeOf(t, taskCID(t, 10+i), pol, []node{ps[0], partners[0]}, nil)); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		k := 0
		for i := range 500 {
			if rep.NeedsReplication(p, pol, taskCID(t, 5000+i)) {
				k++
			}
		}
		return k
	}
	if k := count(); k > 60 {
		t.Fatalf("trusted peer replicated %d of 500 tasks", k)
	}
	if rep.NeedsReplication(p, object.Policy{Replicas: 1, Quorum: 1}, taskCID(t, 1)) {
		t.Fatal("a one-replica policy asked for replication")
	}
	// Its next result loses a vote to two honest peers.
	more := newNodes(t, 36, 2)
	lost := outcomeOf(t, taskCID(t, 9999), pol, more, []node{ps[0]})
	if lost.State != Verified {
		t.Fatal(lost.State)
	}
	if _, err := rep.Apply(lost); err != nil {
		t.Fatal(err)
	}
	if k := count(); k != 500 {
		t.Fatalf("after a rejection, replicated %d of 500 tasks, want all", k)
	}
}

func TestCandidates(t *testing.T) {
	ps := newNodes(t, 37, 4)
	kv := &MemKV{}
	rep := NewReputation(kv, nil)
	// ps[3] loses three votes with no verified work: out of good standing.
	for i := range 3 {
		o := outcomeOf(t, taskCID(t, 50+i), object.DefaultPolicy(), ps[:2], ps[3:])
		if _, err := rep.Apply(o); err != nil {
			t.Fatal(err)
		}
	}
	all := ids(ps)
	got := rep.Candidates(all)
	if !slices.Equal(got, all[:3]) {
		t.Fatalf("Candidates = %v, want %v", got, all[:3])
	}
	if w := rep.RankWeight(ps[3].id); w != minRankWeight {
		t.Fatalf("excluded peer's RankWeight = %v", w)
	}
	if w := rep.RankWeight(ps[2].id); w != 0.5 {
		t.Fatalf("unknown peer's RankWeight = %v", w)
	}
}

// TestReputationConcurrent: scores may be read (by gossipsub, by claiming) while verdicts are
// applied; run with -race.
func TestReputationConcurrent(t *testing.T) {
	ps := newNodes(t, 38, 3)
	rep := NewReputation(&MemKV{}, nil)
	var outcomes []Outcome
	for i := range 20 {
		outcomes = append(outcomes, outcomeOf(t, taskCID(t, 200+i), object.DefaultPolicy(), ps[:2], ps[2:]))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, o := range outcomes {
			if _, err := rep.Apply(o); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 200 {
		for _, p := range ps {
			_ = rep.AppScore(p.id) + rep.RankWeight(p.id) + rep.Trust(p.id)
		}
	}
	<-done
	if r, _ := rep.Record(ps[2].id); r.Rejected != 20 {
		t.Fatalf("liar record %+v", r)
	}
}

// countingKV counts the reads of peer records.
type countingKV struct {
	KV
	peerGets int
}

func (c *countingKV) Get(key string) ([]byte, error) {
	if strings.HasPrefix(key, keyPeer) {
		c.peerGets++
	}
	return c.KV.Get(key)
}

// The claim ranking asks for weights on every comparison: an unknown peer is read from the store
// once, then served from the cache, and a later verdict about it still counts.
func TestReputationCachesUnknownPeers(t *testing.T) {
	ps := newNodes(t, 40, 2)
	kv := &countingKV{KV: &MemKV{}}
	rep := NewReputation(kv, nil)
	for range 5 {
		if w := rep.RankWeight(ps[0].id); w != 0.5 {
			t.Fatalf("an unknown peer's rank weight %v", w)
		}
	}
	if kv.peerGets != 1 {
		t.Fatalf("%d store reads for one unknown peer, want 1", kv.peerGets)
	}
	// The cache of unknown peers is bounded: asked about more peers than it holds, it starts over.
	for i := range maxAbsent + 10 {
		rep.RankWeight(peer.ID(fmt.Sprintf("sybil-%d", i)))
	}
	if n := len(rep.absent); n > maxAbsent {
		t.Fatalf("%d unknown peers cached, at most %d", n, maxAbsent)
	}
	if _, err := rep.Apply(outcomeOf(t, taskCID(t, 1), object.DefaultPolicy(), ps, nil)); err != nil {
		t.Fatal(err)
	}
	if rec, err := rep.Record(ps[0].id); err != nil || rec.Verified != 1 {
		t.Fatalf("record after a verdict: %+v %v", rec, err)
	}
}
