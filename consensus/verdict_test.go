package consensus

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
)

// Peers of the verdict tests: h* honest, l* liars (colluders share a lie), v* verifiers.
const (
	h1 = iota
	h2
	h3
	l1
	l2
	l3
	v1
	v2
	nPeers
)

// anyHonest stands for the score of either honest class.
const anyHonest = -1

func TestVerdict(t *testing.T) {
	ps := newNodes(t, 1, nPeers)
	task := taskCID(t, 1)
	other := taskCID(t, 2)
	def := object.DefaultPolicy()
	res := func(i int, r run) SignedResult { return sealResult(t, task, ps[i], r) }

	hon1, hon2, hon3 := res(h1, honest), res(h2, honest), res(h3, honest)
	forge, fab, fab2 := res(l1, forged), res(l1, fabricated), res(l2, fabricated2)
	coll1, coll2 := res(l1, fabricated), res(l2, fabricated)
	cuda := res(h3, honestCUDA)

	// Bad input.
	tampered := bytes.Clone(hon2)
	tampered[len(tampered)-5] ^= 1
	wrongSigner := func() SignedResult {
		r := resultOf(task, ps[h2], honest) // claims h2 ran it, but l1 signs
		return seal(t, ps[l1], object.KindResult, r)
	}()
	otherTask := sealResult(t, other, ps[h2], honest)
	noSegments := func() SignedResult {
		r := resultOf(task, ps[h2], honest)
		r.Segments = nil
		return seal(t, ps[h2], object.KindResult, r)
	}()
	engineBump := func() SignedResult {
		r := resultOf(task, ps[h1], honest)
		r.Engine = "0.2" // same content, another CID: not equivocation
		return seal(t, ps[h1], object.KindResult, r)
	}()

	agree := func(v int, env SignedResult, seg int) SignedAttestation {
		return attest(t, task, env, ps[v], honest, seg)
	}

	type want struct {
		state    State
		score    int64
		accepted []int // executors in the winning group
		rejected []int
		ignored  []error
		equiv    []int
	}
	tests := []struct {
		name    string
		policy  object.Policy
		results []SignedResult
		atts    []SignedAttestation
		want    want
	}{
		{"nothing", def, nil, nil, want{state: Pending}},
		{"one honest", def, []SignedResult{hon1}, nil, want{state: Pending}},
		{"two honest", def, []SignedResult{hon1, hon2}, nil, want{state: Verified, score: honest.score, accepted: []int{h1, h2}}},
		{"three honest", def, []SignedResult{hon1, hon2, hon3}, nil, want{state: Verified, score: honest.score, accepted: []int{h1, h2, h3}}},
		{"honest vs forged score", def, []SignedResult{hon1, forge}, nil, want{state: NeedsMore}},
		{"honest vs fabricated chain", def, []SignedResult{hon1, fab}, nil, want{state: NeedsMore}},
		{"forged score outvoted", def, []SignedResult{hon1, forge, hon2}, nil,
			want{state: Verified, score: honest.score, accepted: []int{h1, h2}, rejected: []int{l1}}},
		{"fabricated chain outvoted", def, []SignedResult{fab, hon2, hon1}, nil,
			want{state: Verified, score: honest.score, accepted: []int{h1, h2}, rejected: []int{l1}}},
		{"two independent lies block: disputed, never verified", def, []SignedResult{hon1, fab, fab2, hon2}, nil,
			want{state: Disputed}},
		{"two independent lies, budget left", object.Policy{Replicas: 2, Quorum: 2, MaxExtra: 3}, []SignedResult{hon1, fab, fab2, hon2}, nil,
			want{state: NeedsMore}},
		{"two independent lies, third honest", object.Policy{Replicas: 2, Quorum: 2, MaxExtra: 3}, []SignedResult{hon1, fab, fab2, hon2, hon3}, nil,
			want{state: Verified, score: honest.score, accepted: []int{h1, h2, h3}, rejected: []int{l1, l2}}},
		{"no extra allowed: disputed at once", object.Policy{Replicas: 2, Quorum: 2}, []SignedResult{hon1, fab}, nil,
			want{state: Disputed}},
		{"quorum 1 trusts a lone result", object.Policy{Replicas: 1, Quorum: 1}, []SignedResult{hon1}, nil,
			want{state: Verified, score: honest.score, accepted: []int{h1}}},
		{"cross-class within tolerance", def, []SignedResult{hon1, cuda}, nil,
			want{state: Verified, score: anyHonest, accepted: []int{h1, h3}}},
		{"cross-class outside tolerance", object.Policy{Replicas: 2, Quorum: 2, Tolerance: 100, MaxExtra: 2}, []SignedResult{hon1, cuda}, nil,
			want{state: NeedsMore}},
		{"same class never uses the tolerance", object.Policy{Replicas: 2, Quorum: 2, Tolerance: object.Fixed, MaxExtra: 2},
			[]SignedResult{hon1, forge}, nil, want{state: NeedsMore}},
		{"replayed result counts once", def, []SignedResult{hon1, hon1, hon1}, nil,
			want{state: Pending, ignored: []error{ErrDuplicate, ErrDuplicate}}},
		{"same content under another engine string counts once", def, []SignedResult{hon1, engineBump}, nil,
			want{state: Pending, ignored: []error{ErrDuplicate}}},
		{"bad envelopes ignored", def, []SignedResult{hon1, tampered, []byte("garbage"), nil, wrongSigner, otherTask, noSegments}, nil,
			want{state: Pending, ignored: []error{ErrEnvelope, ErrEnvelope, ErrEnvelope, ErrWrongSigner, ErrOtherTask, ErrMalformedObject}}},
		{"attestation given as a result", def, []SignedResult{hon1, SignedResult(agree(v1, hon1, 0))}, nil,
			want{state: Pending, ignored: []error{ErrEnvelope}}},
		{"equivocating executor rejected", def, []SignedResult{hon1, hon2, forge, fab}, nil,
			want{state: Verified, score: honest.score, accepted: []int{h1, h2}, ignored: []error{ErrEquivocation, ErrEquivocation}, equiv: []int{l1}}},
		{"spot check: one run and an agreeing attestation", def, []SignedResult{hon1}, []SignedAttestation{agree(v1, hon1, 2)},
			want{state: Verified, score: honest.score, accepted: []int{h1}}},
		{"spot check catches a forged score", def, []SignedResult{forge}, []SignedAttestation{agree(v1, forge, 1)},
			want{state: NeedsMore}},
		{"spot check catches a fabricated chain", def, []SignedResult{fab}, []SignedAttestation{agree(v1, fab, 3)},
			want{state: NeedsMore}},
		{"dissent, then honest majority", def, []SignedResult{fab, hon1, hon2}, []SignedAttestation{agree(v1, fab, 3)},
			want{state: Verified, score: honest.score, accepted: []int{h1, h2}, rejected: []int{l1}}},
		{"colluding pair are the replicas: their lie stands (quorum boundary)", def, []SignedResult{coll1, coll2}, nil,
			want{state: Verified, score: fabricated.score, accepted: []int{l1, l2}}},
		{"colluding pair vs one honest (quorum boundary)", def, []SignedResult{coll1, coll2, hon1}, nil,
			want{state: Verified, score: fabricated.score, accepted: []int{l1, l2}, rejected: []int{h1}}},
		{"colluding pair vs two honest: disputed", def, []SignedResult{coll1, coll2, hon1, hon2}, nil,
			want{state: Disputed}},
		{"colluding pair under quorum 3", object.Policy{Replicas: 3, Quorum: 3, MaxExtra: 2}, []SignedResult{coll1, coll2, hon1}, nil,
			want{state: NeedsMore}},
		{"colluding pair under quorum 3, honest majority", object.Policy{Replicas: 3, Quorum: 3, MaxExtra: 2},
			[]SignedResult{coll1, coll2, hon1, hon2, hon3}, nil,
			want{state: Verified, score: honest.score, accepted: []int{h1, h2, h3}, rejected: []int{l1, l2}}},
		{"flood beyond the budget: disputed", def, []SignedResult{hon1, hon2, coll1, coll2, res(l3, fabricated)}, nil,
			want{state: Disputed}},
		{"unanimous beyond the budget still verified", object.Policy{Replicas: 2, Quorum: 2}, []SignedResult{hon1, hon2, hon3}, nil,
			want{state: Verified, score: honest.score, accepted: []int{h1, h2, h3}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := mustVerdict(t, task, tc.policy, tc.results, tc.atts)
			if o.State != tc.want.state {
				t.Fatalf("state %s (%s), want %s", o.State, o.Reason, tc.want.state)
			}
			if o.Reason == "" {
				t.Error("no reason given")
			}
			if tc.want.score == anyHonest {
				if o.Score != honest.score && o.Score != honestCUDA.score {
					t.Errorf("score %d, want an honest one", o.Score)
				}
			} else if tc.want.state == Verified && o.Score != tc.want.score {
				t.Errorf("score %d, want %d", o.Score, tc.want.score)
			}
			if tc.want.state != Verified && (o.Score != 0 || o.Canonical.Defined() || len(o.Accepted()) != 0) {
				t.Errorf("unverified outcome carries a score: %+v", o)
			}
			ids := func(idx []int) []peer.ID {
				var out []peer.ID
				for _, i := range idx {
					out = append(out, ps[i].id)
				}
				slices.Sort(out)
				return out
			}
			execs := func(vs []ResultVote) []peer.ID {
				var out []peer.ID
				for _, v := range vs {
					out = append(out, v.Executor)
				}
				slices.Sort(out)
				return out
			}
			if got := execs(o.Accepted()); !slices.Equal(got, ids(tc.want.accepted)) {
				t.Errorf("accepted %v, want %v", got, ids(tc.want.accepted))
			}
			if got := execs(o.Rejected()); !slices.Equal(got, ids(tc.want.rejected)) {
				t.Errorf("rejected %v, want %v", got, ids(tc.want.rejected))
			}
			if !slices.Equal(o.Equivocators, ids(tc.want.equiv)) {
				t.Errorf("equivocators %v, want %v", o.Equivocators, ids(tc.want.equiv))
			}
			var reasons []error
			for _, ig := range o.Ignored {
				reasons = append(reasons, ig.Err)
			}
			if len(reasons) != len(tc.want.ignored) {
				t.Fatalf("ignored %v, want %v", reasons, tc.want.ignored)
			}
			for _, w := range tc.want.ignored {
				found := false
				for i, r := range reasons {
					if r != nil && errors.Is(r, w) {
						reasons[i], found = nil, true
						break
					}
				}
				if !found {
					t.Errorf("no ignored object for %v in %v", w, o.Ignored)
				}
			}
		})
	}
}

func TestVerdictAttestations(t *testing.T) {
	ps := newNodes(t, 2, nPeers)
	task := taskCID(t, 3)
	def := object.DefaultPolicy()
	hon1 := sealResult(t, task, ps[h1], honest)
	hon2 := sealResult(t, task, ps[h2], honest)
	fab := sealResult(t, task, ps[l1], fabricated)
	cuda := sealResult(t, task, ps[h3], honestCUDA)

	mk := func(v int, target SignedResult, mutate func(*object.Attestation)) SignedAttestation {
		var a object.Attestation
		if _, err := object.Open(attest(t, task, target, ps[v], honest, 1), object.KindAttestation, &a); err != nil {
			t.Fatal(err)
		}
		mutate(&a)
		return seal(t, ps[v], object.KindAttestation, a)
	}
	same := func(*object.Attestation) {}

	tests := []struct {
		name    string
		results []SignedResult
		atts    []SignedAttestation
		state   State
		ignored error
		upheld  []bool
		roles   map[int]Role
	}{
		{"agree counts as a vote", []SignedResult{hon1}, []SignedAttestation{mk(v1, hon1, same)}, Verified, nil,
			[]bool{true}, map[int]Role{h1: RoleVerified, v1: RoleVerified}},
		{"two verifiers, one result", []SignedResult{hon1}, []SignedAttestation{mk(v1, hon1, same), mk(v2, hon1, same)}, Verified, nil,
			[]bool{true, true}, map[int]Role{h1: RoleVerified, v1: RoleVerified, v2: RoleVerified}},
		{"lying verifier outvoted", []SignedResult{hon1, hon2}, []SignedAttestation{mk(v1, hon1, func(a *object.Attestation) {
			a.Verdict, a.Digest = object.Disagree, digest(fabricated.chain, "cpu-v1", 1)
		})}, Verified, nil, []bool{false}, map[int]Role{h1: RoleVerified, h2: RoleVerified, v1: RoleRejected}},
		{"checkpoint unavailable: verifier neither credited nor blamed", []SignedResult{hon1, hon2}, []SignedAttestation{mk(v1, hon1, func(a *object.Attestation) {
			a.Verdict, a.Digest = object.Disagree, nil
		})}, Verified, nil, []bool{false}, map[int]Role{h1: RoleVerified, h2: RoleVerified}},
		{"lone dissent blocks a lone result", []SignedResult{hon1}, []SignedAttestation{mk(v1, hon1, func(a *object.Attestation) {
			a.Verdict, a.Digest = object.Disagree, nil
		})}, NeedsMore, nil, []bool{false}, nil},
		{"truthful dissent upheld", []SignedResult{fab, hon1, hon2}, []SignedAttestation{mk(v1, fab, same)}, Verified, nil,
			[]bool{true}, map[int]Role{h1: RoleVerified, h2: RoleVerified, l1: RoleRejected, v1: RoleVerified}},
		{"replayed attestation counts once", []SignedResult{hon1}, func() []SignedAttestation {
			a := mk(v1, hon1, same)
			return []SignedAttestation{a, a}
		}(), Verified, ErrDuplicate, []bool{true}, nil},
		{"executor cannot attest", []SignedResult{hon1, fab}, []SignedAttestation{mk(l1, fab, func(a *object.Attestation) {
			a.Digest, a.Score, a.Segment = digest(fabricated.chain, "cpu-v1", 1), fabricated.score, 1
			a.Verdict = object.Agree
		})}, NeedsMore, ErrSelfAttestation, nil, nil},
		{"other class cannot attest bits", []SignedResult{cuda}, []SignedAttestation{mk(v1, cuda, func(a *object.Attestation) {
			a.Verdict = object.Disagree
		})}, Pending, ErrClassMismatch, nil, nil},
		{"agree that contradicts its digest", []SignedResult{fab}, []SignedAttestation{mk(v1, fab, func(a *object.Attestation) {
			a.Verdict = object.Agree
		})}, Pending, ErrInconsistent, nil, nil},
		{"disagree that matches", []SignedResult{hon1}, []SignedAttestation{mk(v1, hon1, func(a *object.Attestation) {
			a.Verdict = object.Disagree
		})}, Pending, ErrInconsistent, nil, nil},
		{"segment outside the result", []SignedResult{hon1}, []SignedAttestation{mk(v1, hon1, func(a *object.Attestation) {
			a.Segment = segments
		})}, Pending, ErrSegmentRange, nil, nil},
		{"attestation of a result not held", []SignedResult{hon1}, []SignedAttestation{mk(v1, hon2, same)}, Pending, ErrUnknownResult, nil, nil},
		{"attestation for another task", []SignedResult{hon1}, []SignedAttestation{mk(v1, hon1, func(a *object.Attestation) {
			a.Task = taskCID(t, 99).String()
		})}, Pending, ErrOtherTask, nil, nil},
		{"verifier field is not the signer", []SignedResult{hon1}, []SignedAttestation{mk(v1, hon1, func(a *object.Attestation) {
			a.Verifier = ps[v2].id.String()
		})}, Pending, ErrWrongSigner, nil, nil},
		{"invalid attestation", []SignedResult{hon1}, []SignedAttestation{mk(v1, hon1, func(a *object.Attestation) {
			a.Verdict = "perhaps"
		})}, Pending, ErrMalformedObject, nil, nil},
		{"verifier that agrees and disagrees equivocates", []SignedResult{hon1, hon2}, []SignedAttestation{
			mk(v1, hon1, same),
			mk(v1, hon2, func(a *object.Attestation) { a.Verdict, a.Digest = object.Disagree, nil }),
		}, Verified, ErrEquivocation, nil, map[int]Role{h1: RoleVerified, h2: RoleVerified, v1: RoleRejected}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := mustVerdict(t, task, def, tc.results, tc.atts)
			if o.State != tc.state {
				t.Fatalf("state %s (%s), want %s; ignored %v", o.State, o.Reason, tc.state, o.Ignored)
			}
			if tc.ignored != nil {
				if len(o.Ignored) == 0 || !errors.Is(o.Ignored[0].Err, tc.ignored) {
					t.Fatalf("ignored %v, want %v", o.Ignored, tc.ignored)
				}
			} else if len(o.Ignored) != 0 {
				t.Fatalf("ignored %v, want nothing", o.Ignored)
			}
			if tc.upheld != nil {
				var got []bool
				for _, a := range o.Attestations {
					got = append(got, a.Upheld)
				}
				if o.State == Verified && !slices.Equal(got, tc.upheld) {
					t.Errorf("upheld %v, want %v", got, tc.upheld)
				}
				if len(o.Attestations) != len(tc.upheld) {
					t.Errorf("%d attestations counted, want %d", len(o.Attestations), len(tc.upheld))
				}
			}
			if tc.roles != nil {
				want := make(map[peer.ID]Role)
				for i, r := range tc.roles {
					want[ps[i].id] = r
				}
				got := o.Roles()
				if len(got) != len(want) {
					t.Fatalf("roles %v, want %v", got, want)
				}
				for p, r := range want {
					if got[p] != r {
						t.Errorf("role of %s: %s, want %s", p, got[p], r)
					}
				}
			}
		})
	}
}

func TestVerdictBadArguments(t *testing.T) {
	for _, tc := range []struct {
		name string
		task cid.Cid
		p    object.Policy
	}{
		{"bad policy", taskCID(t, 1), object.Policy{}},
		{"quorum over replicas", taskCID(t, 1), object.Policy{Replicas: 2, Quorum: 3}},
		{"raw task cid", object.RawCID([]byte("x")), object.DefaultPolicy()},
		{"undefined task", cid.Undef, object.DefaultPolicy()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Verdict(tc.task, tc.p, nil, nil); !errors.Is(err, ErrBadArgument) {
				t.Fatalf("err = %v, want ErrBadArgument", err)
			}
		})
	}
}

// TestVerdictOrderIndependent: any arrival order of the same objects gives the same outcome,
// and so does holding duplicates of some of them.
func TestVerdictOrderIndependent(t *testing.T) {
	ps := newNodes(t, 3, nPeers)
	task := taskCID(t, 5)
	hon1 := sealResult(t, task, ps[h1], honest)
	fab := sealResult(t, task, ps[l1], fabricated)
	scenarios := []struct {
		name    string
		policy  object.Policy
		results []SignedResult
		atts    []SignedAttestation
	}{
		{"verified with liars, noise and attestations", object.DefaultPolicy(), []SignedResult{
			hon1, sealResult(t, task, ps[h2], honest), fab, sealResult(t, task, ps[h3], honestCUDA),
			[]byte("junk"), sealResult(t, taskCID(t, 6), ps[h2], honest),
		}, []SignedAttestation{attest(t, task, fab, ps[v1], honest, 2), attest(t, task, hon1, ps[v2], honest, 0), []byte{1, 2}}},
		{"disputed", object.DefaultPolicy(), []SignedResult{
			hon1, fab, sealResult(t, task, ps[l2], fabricated2), sealResult(t, task, ps[h2], honest),
		}, nil},
		{"needs more, with an equivocator", object.Policy{Replicas: 3, Quorum: 2, MaxExtra: 2}, []SignedResult{
			hon1, fab, sealResult(t, task, ps[l2], forged), sealResult(t, task, ps[l2], fabricated2),
		}, []SignedAttestation{attest(t, task, hon1, ps[v1], honest, 1)}},
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			want := canon(t, mustVerdict(t, task, sc.policy, sc.results, sc.atts))
			for range 50 {
				rs, as := slices.Clone(sc.results), slices.Clone(sc.atts)
				rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
				rng.Shuffle(len(as), func(i, j int) { as[i], as[j] = as[j], as[i] })
				if got := canon(t, mustVerdict(t, task, sc.policy, rs, as)); got != want {
					t.Fatalf("order changed the verdict:\n got %s\nwant %s", got, want)
				}
			}
		})
	}
}

// TestLiarNeverVerified: whatever subset of the objects a node holds, in any order, a single
// liar (one identity, possibly equivocating, attesting falsely too) never gets its score verified
// under a quorum of 2 or more, whether it forges the score or fabricates the chain. Every subset
// of the results is tried, each with a random subset of the attestations.
func TestLiarNeverVerified(t *testing.T) {
	ps := newNodes(t, 4, nPeers)
	rng := rand.New(rand.NewPCG(11, 13))
	policies := []object.Policy{object.DefaultPolicy(), {Replicas: 3, Quorum: 2, MaxExtra: 1}, {Replicas: 3, Quorum: 3, MaxExtra: 3}}
	for i := range 2 {
		task := taskCID(t, 100+i)
		liar := ps[l1]
		hon := []SignedResult{
			sealResult(t, task, ps[h1], honest), sealResult(t, task, ps[h2], honest),
			sealResult(t, task, ps[h3], honest), sealResult(t, task, ps[v2], honestCUDA),
		}
		lies := []SignedResult{sealResult(t, task, liar, forged), sealResult(t, task, liar, fabricated)}
		all := append(slices.Clone(hon), lies...)
		atts := []SignedAttestation{
			attest(t, task, hon[0], ps[v1], honest, rng.IntN(segments)),
			attest(t, task, lies[0], ps[v1], honest, rng.IntN(segments)),
			attest(t, task, lies[1], ps[v1], honest, rng.IntN(segments)),
			// The liar "verifies" its own lie and attacks an honest result.
			attest(t, task, lies[0], liar, forged, 1),
			attest(t, task, hon[1], liar, fabricated, 1),
		}
		for mask := range 1 << len(all) {
			var rs []SignedResult
			for j, r := range all {
				if mask&(1<<j) != 0 {
					rs = append(rs, r)
				}
			}
			rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
			as := subset(rng, atts)
			o := mustVerdict(t, task, policies[mask%len(policies)], rs, as)
			if o.State == Verified && o.Score != honest.score && o.Score != honestCUDA.score {
				t.Fatalf("liar verified with score %d from %d results, %d attestations: %s", o.Score, len(rs), len(as), o.Reason)
			}
			for _, r := range o.Accepted() {
				if r.Executor == liar.id {
					t.Fatalf("liar's result accepted: %+v", o)
				}
			}
		}
	}
}

func subset[T any](rng *rand.Rand, xs []T) []T {
	var out []T
	for _, x := range xs {
		if rng.IntN(2) == 0 {
			out = append(out, x)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// TestSybilFlood: one liar with many identities (Sybils) publishing the same lie unasked cannot
// outvote honest executions: more voters than the policy ever asks for, without unanimity, is a
// dispute, never a verified lie.
func TestSybilFlood(t *testing.T) {
	ps := newNodes(t, 5, 2)
	sybils := newNodes(t, 6, 12)
	task := taskCID(t, 7)
	rs := []SignedResult{sealResult(t, task, ps[0], honest), sealResult(t, task, ps[1], honest)}
	for k, s := range sybils {
		rs = append(rs, sealResult(t, task, s, fabricated))
		o := mustVerdict(t, task, object.DefaultPolicy(), rs, nil)
		switch {
		case o.State == Verified && o.Score != honest.score:
			t.Fatalf("%d sybils got their lie verified", k+1)
		case k+1 >= 3 && o.State != Disputed: // 2 honest + 3 sybils > budget of 4
			t.Fatalf("%d sybils: state %s, want disputed", k+1, o.State)
		}
	}
}

func TestWithinTolerance(t *testing.T) {
	tests := []struct {
		a, b, tol int64
		want      bool
	}{
		{612_000, 612_000, 0, true},
		{612_000, 612_001, 0, false},
		{600_000, 610_000, 10_000, true},  // 1% of 1.0 (the floor)
		{600_000, 610_001, 10_000, false}, // just over
		{0, 10_000, 10_000, true},         // near zero the floor applies
		{3_000_000, 3_030_000, 10_000, true},
		{3_000_000, 3_031_000, 10_000, false}, // relative above 1.0: 1% of 3.031
		{-2_000_000, -2_020_000, 10_000, true},
		{math.MinInt64, math.MaxInt64, object.Fixed, false}, // 200% apart
		{0, math.MaxInt64, object.Fixed, true},              // 100% apart
		{1, math.MaxInt64, object.Fixed - 1, false},
		{math.MinInt64, math.MinInt64, 0, true},
	}
	for _, tc := range tests {
		if got := withinTolerance(tc.a, tc.b, tc.tol); got != tc.want {
			t.Errorf("withinTolerance(%d, %d, %d) = %v, want %v", tc.a, tc.b, tc.tol, got, tc.want)
		}
		if got := withinTolerance(tc.b, tc.a, tc.tol); got != tc.want {
			t.Errorf("withinTolerance(%d, %d, %d) not symmetric", tc.b, tc.a, tc.tol)
		}
	}
}

// FuzzVerdict: arbitrary bytes given as results and attestations never make Verdict panic or
// fail; what does not open is ignored, and garbage never counts as a vote.
func FuzzVerdict(f *testing.F) {
	ps := newNodes(f, 8, 3)
	task := taskCID(f, 1)
	hon := sealResult(f, task, ps[0], honest)
	f.Add([]byte(hon), []byte(attest(f, task, hon, ps[1], honest, 1)), []byte(sealResult(f, task, ps[2], fabricated)))
	f.Add([]byte{}, []byte("x"), []byte{0x0a, 0x02, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		o, err := Verdict(task, object.DefaultPolicy(), []SignedResult{a, b, c, hon}, []SignedAttestation{a, b, c})
		if err != nil {
			t.Fatal(err)
		}
		if len(o.Results)+len(o.Attestations)+len(o.Ignored) < 1 {
			t.Fatalf("objects vanished: %+v", o)
		}
		for _, ig := range o.Ignored {
			if ig.Err == nil || ig.Ref == "" {
				t.Fatalf("ignored without a reason or ref: %+v", ig)
			}
		}
		if o.State == Verified && o.Score != honest.score {
			t.Fatalf("fuzzed bytes verified score %d", o.Score)
		}
	})
}

func BenchmarkVerdict(b *testing.B) {
	ps := newNodes(b, 9, 4)
	task := taskCID(b, 1)
	hon1 := sealResult(b, task, ps[0], honest)
	rs := []SignedResult{hon1, sealResult(b, task, ps[1], fabricated), sealResult(b, task, ps[2], honest)}
	as := []SignedAttestation{attest(b, task, hon1, ps[3], honest, 1)}
	b.ReportAllocs()
	for b.Loop() {
		o, err := Verdict(task, object.DefaultPolicy(), rs, as)
		if err != nil || o.State != Verified {
			b.Fatal(o.State, err)
		}
	}
}

func TestStateRoleText(t *testing.T) {
	for s := Pending; s <= Disputed; s++ {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back State
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Fatalf("state %s: %s, %v", s, back, err)
		}
	}
	for r := RoleNone; r <= RoleDisputed; r++ {
		b, _ := r.MarshalText()
		var back Role
		if err := back.UnmarshalText(b); err != nil || back != r {
			t.Fatalf("role %s: %s, %v", r, back, err)
		}
	}
	var s State
	var r Role
	if s.UnmarshalText([]byte("done")) == nil || r.UnmarshalText([]byte("hero")) == nil {
		t.Fatal("unknown names decoded")
	}
	if State(9).String() != "state(9)" || Role(9).String() != "role(9)" {
		t.Fatal("unknown values print badly")
	}
}
