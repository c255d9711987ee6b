package consensus

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
)

func ids(ns []node) []peer.ID {
	out := make([]peer.ID, len(ns))
	for i, n := range ns {
		out[i] = n.id
	}
	return out
}

func TestPickExtra(t *testing.T) {
	cands := ids(newNodes(t, 20, 8))
	task := taskCID(t, 1)
	first, ok := PickExtra(task, cands, nil)
	if !ok || !slices.Contains(cands, first) {
		t.Fatalf("PickExtra = %s, %v", first, ok)
	}
	// Whatever the order of the candidates (and duplicates among them), the same peer.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		c := append(slices.Clone(cands), cands[rng.IntN(len(cands))])
		rng.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
		if got, _ := PickExtra(task, c, nil); got != first {
			t.Fatalf("order changed the pick: %s, want %s", got, first)
		}
	}
	// It never picks an involved peer; excluding the winner gives the runner-up, and so on
	// until nobody is left.
	var involved []peer.ID
	for range cands {
		p, ok := PickExtra(task, cands, involved)
		if !ok || slices.Contains(involved, p) {
			t.Fatalf("picked %s (%v), involved %v", p, ok, involved)
		}
		for _, q := range cands {
			if !slices.Contains(involved, q) && RendezvousScore(task, q) > RendezvousScore(task, p) {
				t.Fatalf("picked %s over the higher-ranked %s", p, q)
			}
		}
		involved = append(involved, p)
	}
	if p, ok := PickExtra(task, cands, involved); ok {
		t.Fatalf("picked %s with every candidate involved", p)
	}
	if _, ok := PickExtra(task, nil, nil); ok {
		t.Fatal("picked from no candidates")
	}
	if _, ok := PickExtra(task, []peer.ID{""}, nil); ok {
		t.Fatal("picked the empty peer ID")
	}
	// Another task ranks them differently: some task picks another peer.
	differs := false
	for i := 2; i < 20 && !differs; i++ {
		p, _ := PickExtra(taskCID(t, i), cands, nil)
		differs = p != first
	}
	if !differs {
		t.Fatal("every task picks the same peer")
	}
	// The verifier of a result is ranked by another hash than the extra of a task.
	if RendezvousScore(task, cands[0]) == hash64(domainVerifier, task, cands[0]) {
		t.Fatal("the extra and verifier rankings share a hash")
	}
}

// TestSybilPickExtra: a liar with many identities among the candidates gets each extra
// execution (or verification) with the probability of its share of the candidates, never more,
// and cannot steer it: the choice depends only on the task (or result) and the candidates. Its
// involved identities are never picked again for the same task.
func TestSybilPickExtra(t *testing.T) {
	honestIDs := ids(newNodes(t, 21, 30))
	sybils := ids(newNodes(t, 22, 10)) // one liar, 10 keys: 25% of 40 candidates
	cands := append(slices.Clone(honestIDs), sybils...)
	isSybil := func(p peer.ID) bool { return slices.Contains(sybils, p) }

	const tasks = 2000
	extra, verifier, both := 0, 0, 0
	for i := range tasks {
		task := taskCID(t, 1000+i)
		// The task's first two replicas went to one honest peer and one Sybil.
		involved := []peer.ID{honestIDs[i%len(honestIDs)], sybils[i%len(sybils)]}
		p, ok := PickExtra(task, cands, involved)
		if !ok || slices.Contains(involved, p) {
			t.Fatalf("task %d: picked %s", i, p)
		}
		v, _ := PickVerifier(task, cands, involved)
		if isSybil(p) {
			extra++
		}
		if isSybil(v) {
			verifier++
		}
		if isSybil(p) && isSybil(v) {
			both++
		}
	}
	share := float64(len(sybils)-1) / float64(len(cands)-2) // 9 of 38 eligible
	for name, n := range map[string]int{"extra": extra, "verifier": verifier} {
		got := float64(n) / tasks
		if got < share-0.04 || got > share+0.04 {
			t.Errorf("sybils got %.3f of the %s picks, want about their share %.3f", got, name, share)
		}
	}
	// A majority of two extra votes needs both: about share^2.
	if got := float64(both) / tasks; got > share*share+0.03 {
		t.Errorf("sybils got both picks in %.3f of tasks, want about %.3f", got, share*share)
	}
	t.Logf("sybil share %.3f: extra %.3f, verifier %.3f, both %.3f", share, float64(extra)/tasks, float64(verifier)/tasks, float64(both)/tasks)
}

func TestSpotSegment(t *testing.T) {
	vs := ids(newNodes(t, 23, 16))
	counts := make([]int, 8)
	for i := range 400 {
		r := object.ObjectCID([]byte{byte(i), byte(i >> 8)})
		for _, v := range vs[:2] {
			s := SpotSegment(r, v, 8)
			if s < 0 || s >= 8 || s != SpotSegment(r, v, 8) {
				t.Fatalf("SpotSegment = %d", s)
			}
			counts[s]++
		}
	}
	for s, c := range counts {
		if c < 60 || c > 140 { // 100 expected
			t.Errorf("segment %d chosen %d of 800 times", s, c)
		}
	}
	for _, n := range []int{-1, 0, 1} {
		if s := SpotSegment(object.ObjectCID(nil), vs[0], n); s != 0 {
			t.Errorf("SpotSegment(n=%d) = %d", n, s)
		}
	}
}

func TestFirstDivergence(t *testing.T) {
	ps := newNodes(t, 24, 2)
	task := taskCID(t, 1)
	base := resultOf(task, ps[0], honest)
	tests := []struct {
		name   string
		mutate func(*object.Result)
		want   int
	}{
		{"identical", func(*object.Result) {}, -1},
		{"other executor, same chain", func(r *object.Result) { r.Executor = ps[1].id.String() }, -1},
		{"forged score, same chain", func(r *object.Result) { r.Score++ }, -1},
		{"diverges at 2", func(r *object.Result) { r.Segments[2].Digest = bytes.Repeat([]byte{9}, 32) }, 2},
		{"diverges at 0", func(r *object.Result) { r.Segments[0].Digest = bytes.Repeat([]byte{9}, 32) }, 0},
		{"shorter chain", func(r *object.Result) { r.Segments = r.Segments[:3] }, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := resultOf(task, ps[0], honest)
			tc.mutate(&b)
			if got := FirstDivergence(base, b); got != tc.want {
				t.Fatalf("FirstDivergence = %d, want %d", got, tc.want)
			}
			if got := FirstDivergence(b, base); got != tc.want {
				t.Fatalf("FirstDivergence reversed = %d, want %d", got, tc.want)
			}
		})
	}
}
