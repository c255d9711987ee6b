package consensus

import (
	"math"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
)

// TestSimulatedNetwork runs the verification protocol over many tasks, with the claim ranking
// weighted by reputation as tasks/ does it, adaptive replication, spot checks by attestation and
// extra executions on disagreement, among honest peers and one liar that fabricates every result
// it runs and contradicts every result it checks. No fabricated score is ever verified, every
// task is verified, and the liar's reputation falls until it is asked for no more work.
func TestSimulatedNetwork(t *testing.T) {
	const nHonest, tasks = 8, 160
	peers := newNodes(t, 40, nHonest+1)
	liar := peers[nHonest]
	byID := make(map[peer.ID]node)
	var cands []peer.ID
	for _, p := range peers {
		byID[p.id] = p
		cands = append(cands, p.id)
	}
	rep := NewReputation(&MemKV{}, nil)
	pol := object.DefaultPolicy()

	// claimRank orders the candidates as claiming does: weighted rendezvous hashing, the score
	// w / -ln(u) with u the peer's uniform hash for the task.
	claimRank := func(task cid.Cid) []peer.ID {
		c := slices.Clone(cands)
		score := func(p peer.ID) float64 {
			u := (float64(RendezvousScore(task, p)>>11) + 0.5) / (1 << 53)
			return rep.RankWeight(p) / -math.Log(u)
		}
		slices.SortFunc(c, func(a, b peer.ID) int {
			sa, sb := score(a), score(b)
			switch {
			case sa > sb:
				return -1
			case sa < sb:
				return 1
			}
			return 0
		})
		return c
	}
	execute := func(task cid.Cid, p peer.ID) SignedResult {
		if p == liar.id {
			return sealResult(t, task, liar, fabricated)
		}
		return sealResult(t, task, byID[p], honest)
	}
	check := func(task cid.Cid, env SignedResult, v peer.ID) SignedAttestation {
		var r object.Result
		if _, err := object.Open(env, object.KindResult, &r); err != nil {
			t.Fatal(err)
		}
		seg := SpotSegment(sealedCID(t, env), v, len(r.Segments))
		if v == liar.id { // the liar contradicts whatever it checks
			return attest(t, task, env, liar, fabricated, seg)
		}
		return attest(t, task, env, byID[v], honest, seg)
	}

	var executions, attestations, verified, unreplicated int
	liarWork := [2]int{} // the liar's executions and checks in the first and second half
	involve := func(i int, p peer.ID) {
		if p == liar.id {
			liarWork[2*i/tasks]++
		}
	}
	for i := range tasks {
		task := taskCID(t, 10_000+i)
		rank := claimRank(task)
		first := execute(task, rank[0])
		results := []SignedResult{first}
		var atts []SignedAttestation
		executions++
		involve(i, rank[0])
		if rep.NeedsReplication(rank[0], pol, task) {
			results = append(results, execute(task, rank[1]))
			executions++
			involve(i, rank[1])
		} else {
			unreplicated++
			v, ok := PickVerifier(sealedCID(t, first), rep.Candidates(cands), []peer.ID{rank[0]})
			if !ok {
				t.Fatal("no verifier")
			}
			atts = append(atts, check(task, first, v))
			attestations++
			involve(i, v)
		}
		var o Outcome
		for {
			o = mustVerdict(t, task, pol, results, atts)
			if o.State != NeedsMore {
				break
			}
			p, ok := PickExtra(task, rep.Candidates(cands), o.Involved)
			if !ok {
				t.Fatal("no candidate left")
			}
			results = append(results, execute(task, p))
			executions++
			involve(i, p)
		}
		if o.State != Verified {
			t.Fatalf("task %d: %s (%s)", i, o.State, o.Reason)
		}
		if o.Score != honest.score {
			t.Fatalf("task %d: fabricated score %d verified", i, o.Score)
		}
		verified++
		if _, err := rep.Apply(o); err != nil {
			t.Fatal(err)
		}
	}
	lr, err := rep.Record(liar.id)
	if err != nil {
		t.Fatal(err)
	}
	hr, err := rep.Record(peers[0].id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tasks verified: %d executions (%.2fx), %d spot-check attestations, %d unreplicated",
		verified, executions, float64(executions)/float64(verified), attestations, unreplicated)
	t.Logf("liar: %+v trust %.3f app score %.0f rank weight %.3f; took part in %d tasks of the first half, %d of the second",
		lr, lr.Trust(), lr.AppScore(), lr.RankWeight(), liarWork[0], liarWork[1])
	t.Logf("honest peer: %+v trust %.3f app score %.1f rank weight %.3f", hr, hr.Trust(), hr.AppScore(), hr.RankWeight())
	if lr.Rejected < 3 || lr.Verified != 0 || lr.AppScore() > ExcludeScore || lr.RankWeight() > minRankWeight {
		t.Errorf("liar's reputation did not fall: %+v", lr)
	}
	if hr.Rejected != 0 || hr.Trust() < 0.5 {
		t.Errorf("honest peer's reputation: %+v", hr)
	}
	if unreplicated == 0 {
		t.Error("adaptive replication never skipped a replica")
	}
	if liarWork[0] < 3 || liarWork[1] != 0 {
		t.Errorf("the liar took part in %d tasks of the first half and still %d of the second", liarWork[0], liarWork[1])
	}
}
