// Package registrytest builds stores populated with real signed objects for the tests of the
// registry and of its users: architectures, protocols, tasks indexed as the tasks Manager indexes
// them, and results and attestations sealed by test identities. Nothing here is faked but the
// training: a result's digests are derived from (task, class, score), so that honest executors
// reporting the same score agree bit for bit, as deterministic training makes them.
//
// The helpers fail the test on error. They are safe for concurrent use (the store is).
package registrytest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/store"
)

// Class is the reproducibility class of the results Result builds.
const Class = "cpu-v1"

// Segments is the number of segments of the results Result builds.
const Segments = 2

// Peer is a test identity.
type Peer struct {
	Key crypto.PrivKey
	ID  peer.ID
}

// NewPeer returns a fresh Ed25519 identity.
func NewPeer(t testing.TB) Peer {
	t.Helper()
	return peerFrom(t, rand.Reader)
}

// SeededPeer returns the identity derived from seed: the same seed gives the same key, so that
// CIDs that name a signer (a search names its launcher) are the same in every run.
func SeededPeer(t testing.TB, seed uint64) Peer {
	t.Helper()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seed)
	k := sha256.Sum256(append([]byte("registrytest/peer/"), b[:]...))
	return peerFrom(t, bytes.NewReader(k[:]))
}

// peerFrom returns the Ed25519 identity generated from the randomness src.
func peerFrom(t testing.TB, src io.Reader) Peer {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(src)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return Peer{Key: sk, ID: id}
}

// NewPeers returns n fresh identities.
func NewPeers(t testing.TB, n int) []Peer {
	t.Helper()
	out := make([]Peer, n)
	for i := range out {
		out[i] = NewPeer(t)
	}
	return out
}

// Store opens an in-memory store that is closed when the test ends.
func Store(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// PutArch stores the normal form (vocabulary unbound) of an architecture in notation and returns
// its CID and model.
func PutArch(t testing.TB, st *store.Store, spec string) (cid.Cid, arch.Arch) {
	t.Helper()
	a, err := arch.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	a, err = arch.Normalize(a)
	if err != nil {
		t.Fatal(err)
	}
	return PutModel(t, st, a)
}

// PutModel stores a (normalised) architecture object and returns its CID.
func PutModel(t testing.TB, st *store.Store, a arch.Arch) (cid.Cid, arch.Arch) {
	t.Helper()
	b, c, err := arch.Encode(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(c, b); err != nil {
		t.Fatal(err)
	}
	m, _, err := arch.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return c, m
}

// PutProtocol stores a protocol object and returns its CID.
func PutProtocol(t testing.TB, st *store.Store, p *bench.Protocol) cid.Cid {
	t.Helper()
	b, c, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(c, b); err != nil {
		t.Fatal(err)
	}
	return c
}

// PutSearch signs s with p's key (as its launcher) and stores it with registry.PutSearch.
func PutSearch(t testing.TB, st *store.Store, p Peer, s object.Search) cid.Cid {
	t.Helper()
	s.Launcher = p.ID.String()
	env := p.seal(t, object.KindSearch, s)
	c, _, err := registry.PutSearch(st, env, false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// PutProposal signs a proposal by p and stores it with registry.PutProposal.
func PutProposal(t testing.TB, st *store.Store, p Peer, pr object.Proposal) cid.Cid {
	t.Helper()
	pr.Proposer = p.ID.String()
	env := p.seal(t, object.KindProposal, pr)
	c, _, err := registry.PutProposal(st, env, false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// PutTask stores a task object and indexes it as the tasks Manager does for an offer: by
// architecture, and by search when it has one. It returns the task's CID.
func PutTask(t testing.TB, st *store.Store, task object.Task) cid.Cid {
	t.Helper()
	b, c, err := object.Encode(task)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(c, b); err != nil {
		t.Fatal(err)
	}
	if err := st.Index(store.IndexArch, task.Arch, c); err != nil {
		t.Fatal(err)
	}
	if task.Search != "" {
		if err := st.Index(store.IndexSearch, task.Search, c); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Result builds the Result an honest executor of Class reports for task tc with score: two
// segments whose digests are derived from (task, class, score), per-task metrics equal to the
// score, and score. Results built with the same task and score agree; another score makes
// another group (a forged score).
func Result(tc cid.Cid, executor peer.ID, score int64) object.Result {
	digest := func(i int) []byte {
		h := sha256.New()
		h.Write(tc.Bytes())
		h.Write([]byte(Class))
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], uint64(score))
		binary.BigEndian.PutUint64(b[8:], uint64(i))
		h.Write(b[:])
		return h.Sum(nil)
	}
	segs := make([]object.Segment, Segments)
	for i := range segs {
		segs[i] = object.Segment{Step: int64(10 * (i + 1)), Digest: digest(i), Loss: 1_000_000 - int64(i)}
	}
	return object.Result{
		Task: tc.String(), Executor: executor.String(), Class: Class, Engine: "registrytest",
		Steps: 10 * Segments, Tokens: 1000, Segments: segs,
		Metrics: []object.Metric{{Name: bench.TaskRecall, Value: score}}, Score: score,
	}
}

// PutResult seals a result of task tc with score by p, stores it and indexes it as the tasks
// Manager does (task, author, search). It returns the sealed result's CID.
func PutResult(t testing.TB, st *store.Store, p Peer, task object.Task, tc cid.Cid, score int64) cid.Cid {
	t.Helper()
	env := p.seal(t, object.KindResult, Result(tc, p.ID, score))
	return putSealed(t, st, env, tc, task.Search, p.ID)
}

// PutAttestation seals an attestation by p of the sealed result rc of task tc, for the score
// its verifier obtained (Agree when it equals the result's), stores and indexes it.
func PutAttestation(t testing.TB, st *store.Store, p Peer, task object.Task, tc, rc cid.Cid, resultScore, score int64) cid.Cid {
	t.Helper()
	a := object.Attestation{Result: rc.String(), Task: tc.String(), Verifier: p.ID.String(), Verdict: object.Agree,
		Segment: 0, Digest: Result(tc, p.ID, score).Segments[0].Digest, Score: score, Class: Class}
	if score != resultScore {
		a.Verdict = object.Disagree
	}
	env := p.seal(t, object.KindAttestation, a)
	return putSealed(t, st, env, tc, task.Search, p.ID)
}

// seal signs v as an object of kind with p's key.
func (p Peer) seal(t testing.TB, kind object.Kind, v any) []byte {
	t.Helper()
	env, err := object.Seal(p.Key, kind, v)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// putSealed stores a sealed envelope under its sealed CID and files it under task tc, its author
// and its search (when it has one), as the tasks Manager does.
func putSealed(t testing.TB, st *store.Store, env []byte, tc cid.Cid, search string, author peer.ID) cid.Cid {
	t.Helper()
	c, _, err := object.SealedCID(env)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(c, env); err != nil {
		t.Fatal(err)
	}
	for _, ix := range []struct {
		ix  store.IndexName
		key string
	}{{store.IndexTask, tc.String()}, {store.IndexAuthor, author.String()}, {store.IndexSearch, search}} {
		if ix.key == "" {
			continue
		}
		if err := st.Index(ix.ix, ix.key, c); err != nil {
			t.Fatal(err)
		}
	}
	return c
}
