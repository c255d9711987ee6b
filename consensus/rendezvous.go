package consensus

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
)

// Domains of the hashes below: one key never ranks peers the same way for two purposes.
const (
	domainExtra    = "airanode/extra/1"
	domainVerifier = "airanode/verifier/1"
	domainSegment  = "airanode/segment/1"
	domainSpot     = "airanode/spot/1"
)

// hash64 returns the first 8 bytes of sha256(domain || 0 || key || peer), big-endian. The
// domain's terminating zero and the CID's self-delimiting bytes keep the fields apart.
func hash64(domain string, key cid.Cid, p peer.ID) uint64 {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write(key.Bytes())
	h.Write([]byte(p))
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

// RendezvousScore is the rank of peer p for extra executions of task: the highest score wins
// (highest-random-weight hashing). Neither the executor of a result nor anyone else can change
// the ranking without changing the task or the peer's identity.
func RendezvousScore(task cid.Cid, p peer.ID) uint64 { return hash64(domainExtra, task, p) }

// PickExtra chooses the peer that runs one more execution of task after a disagreement: the
// candidate with the highest RendezvousScore among those not involved yet. Every node that knows
// the same candidates picks the same peer. It reports false when every candidate is involved.
//
// Candidates should be peers known before the task existed (peers with a reputation record, for
// example): an identity made after the task can be ground until it ranks first.
func PickExtra(task cid.Cid, candidates, involved []peer.ID) (peer.ID, bool) {
	return pick(domainExtra, task, candidates, involved)
}

// PickVerifier chooses the verifier of a sealed result (by its CID): the candidate with the
// highest hash(result, peer) among those not involved in the task. The executor cannot choose it,
// since the result's CID is fixed once it is signed and its own ID is excluded.
func PickVerifier(result cid.Cid, candidates, involved []peer.ID) (peer.ID, bool) {
	return pick(domainVerifier, result, candidates, involved)
}

func pick(domain string, key cid.Cid, candidates, involved []peer.ID) (peer.ID, bool) {
	skip := make(map[peer.ID]bool, len(involved))
	for _, p := range involved {
		skip[p] = true
	}
	var best peer.ID
	var bestScore uint64
	found := false
	for _, p := range candidates {
		if p == "" || skip[p] {
			continue
		}
		s := hash64(domain, key, p)
		// Ties (equal 64-bit hashes) go to the smaller ID, so the input order never matters.
		if !found || s > bestScore || (s == bestScore && bytes.Compare([]byte(p), []byte(best)) < 0) {
			best, bestScore, found = p, s, true
		}
	}
	return best, found
}

// SpotSegment is the segment (0..n-1) that verifier re-runs when it checks the sealed result:
// hash(result, verifier) mod n. It is fixed once the result is signed, so an executor cannot know
// in advance which segment it must get right. It returns 0 when n <= 1.
func SpotSegment(result cid.Cid, verifier peer.ID, n int) int {
	if n <= 1 {
		return 0
	}
	return int(hash64(domainSegment, result, verifier) % uint64(n))
}

// FirstDivergence returns the index of the first segment where the digest chains of a and b
// differ, or -1 when they are identical. When one chain is a prefix of the other, the index is
// the shorter one's length. A referee settles a same-class dispute by re-running only that segment
// from the last common checkpoint.
func FirstDivergence(a, b object.Result) int {
	n := min(len(a.Segments), len(b.Segments))
	for i := range n {
		if !bytes.Equal(a.Segments[i].Digest, b.Segments[i].Digest) {
			return i
		}
	}
	if len(a.Segments) != len(b.Segments) {
		return n
	}
	return -1
}
