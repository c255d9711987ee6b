package consensus

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
)

// node is a test identity.
type node struct {
	sk crypto.PrivKey
	id peer.ID
}

// newNodes makes n Ed25519 identities, deterministically from seed (so failures reproduce).
func newNodes(t testing.TB, seed uint64, n int) []node {
	t.Helper()
	rng := rand.NewChaCha8(seedBytes(seed))
	out := make([]node, n)
	for i := range out {
		sk, _, err := crypto.GenerateEd25519Key(rng)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(sk)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = node{sk, id}
	}
	return out
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	return b
}

// taskCID returns the CID of a task object for candidate i.
func taskCID(t testing.TB, i int) cid.Cid {
	t.Helper()
	c, err := object.CID(object.Task{
		Arch:     object.ObjectCID(fmt.Appendf(nil, "arch %d", i)).String(),
		Protocol: object.ObjectCID([]byte("mad-lite")).String(),
		Seed:     uint64(i),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// run describes what an execution reports: its chain seed (same seed and class, same digests),
// its class and its score.
type run struct {
	chain string
	class string
	score int64
}

var (
	honest      = run{"honest", "cpu-v1", 612_000}
	honestCUDA  = run{"honest-cuda", "cuda-v1", 612_500} // another class, score within 1%
	forged      = run{"honest", "cpu-v1", 990_000}       // the honest chain with a forged score
	fabricated  = run{"lie", "cpu-v1", 990_000}          // a fabricated chain
	fabricated2 = run{"lie-2", "cpu-v1", 970_000}        // another, independent lie
)

const segments = 4

func digest(chain, class string, i int) []byte {
	d := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%d", chain, class, i))
	return d[:]
}

// resultOf builds the Result that n reports for task.
func resultOf(task cid.Cid, n node, r run) object.Result {
	res := object.Result{
		Task: task.String(), Executor: n.id.String(), Class: r.class, Engine: "0.1",
		Steps: 100, Tokens: 100 * 64,
		Metrics: []object.Metric{{Name: "recall", Value: r.score}},
		Score:   r.score,
	}
	for i := range segments {
		res.Segments = append(res.Segments, object.Segment{
			Step: int64(25 * (i + 1)), Digest: digest(r.chain, r.class, i), Loss: int64(3_000_000 - 500_000*i),
			Checkpoint: object.RawCID(digest(r.chain, r.class, i)).String(),
		})
	}
	return res
}

func seal(t testing.TB, n node, kind object.Kind, v any) []byte {
	t.Helper()
	env, err := object.Seal(n.sk, kind, v)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func sealResult(t testing.TB, task cid.Cid, n node, r run) SignedResult {
	t.Helper()
	return seal(t, n, object.KindResult, resultOf(task, n, r))
}

func sealedCID(t testing.TB, env []byte) cid.Cid {
	t.Helper()
	c, _, err := object.SealedCID(env)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// attest has verifier v re-run segment seg of the sealed result env in class, honestly: it
// reaches the digest that truth (the honest run of that class) has at seg and truth's score, and
// agrees when the result says the same.
func attest(t testing.TB, task cid.Cid, env SignedResult, v node, truth run, seg int) SignedAttestation {
	t.Helper()
	var res object.Result
	if _, err := object.Open(env, object.KindResult, &res); err != nil {
		t.Fatal(err)
	}
	a := object.Attestation{
		Result: sealedCID(t, env).String(), Task: task.String(), Verifier: v.id.String(),
		Segment: int64(seg), Digest: digest(truth.chain, truth.class, seg), Score: truth.score, Class: truth.class,
	}
	a.Verdict = object.Disagree
	if string(a.Digest) == string(res.Segments[seg].Digest) && a.Score == res.Score {
		a.Verdict = object.Agree
	}
	return seal(t, v, object.KindAttestation, a)
}

// canon renders an outcome as text, errors included, to compare outcomes exactly.
func canon(t testing.TB, o Outcome) string {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, ig := range o.Ignored {
		s += "\n" + ig.Ref + " " + ig.Err.Error()
	}
	return s
}

func mustVerdict(t testing.TB, task cid.Cid, p object.Policy, rs []SignedResult, as []SignedAttestation) Outcome {
	t.Helper()
	o, err := Verdict(task, p, rs, as)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
