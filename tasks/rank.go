package tasks

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// rankDomain separates claim ranking from every other rendezvous hash of the project.
const rankDomain = "airanode/claim/1"

// Score is peer p's rendezvous (highest-random-weight) score for task: the first 8 bytes,
// big-endian, of sha256("airanode/claim/1" || 0 || task CID bytes || peer ID bytes). Higher is
// preferred. Every node computes the same score for the same task and peer, whatever peers it
// knows, which is what lets claim conflicts be settled without a coordinator.
func Score(task cid.Cid, p peer.ID) uint64 {
	h := sha256.New()
	h.Write([]byte(rankDomain))
	h.Write([]byte{0})
	h.Write(task.Bytes())
	h.Write([]byte(p))
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

// Rank returns peers ordered by preference for task (best first), without duplicates. The input
// is not modified.
func Rank(task cid.Cid, peers []peer.ID) []peer.ID {
	out := slices.Clone(peers)
	type scored struct {
		id peer.ID
		s  uint64
	}
	sc := make([]scored, 0, len(out))
	seen := make(map[peer.ID]bool, len(out))
	for _, p := range out {
		if !seen[p] {
			seen[p] = true
			sc = append(sc, scored{p, Score(task, p)})
		}
	}
	slices.SortFunc(sc, func(a, b scored) int {
		switch {
		case a.s > b.s:
			return -1
		case a.s < b.s:
			return 1
		}
		return bytes.Compare([]byte(a.id), []byte(b.id))
	})
	out = out[:0]
	for _, x := range sc {
		out = append(out, x.id)
	}
	return out
}

// WeightedKey is the weighted rendezvous key of a peer with Score s and weight w in (0, 1]:
// w / -ln(u), u = (top 52 bits of s + 0.5) / 2^52 in (0, 1). Higher is preferred. For equal
// weights it orders peers as Score does; a peer of weight w wins a task against a peer of weight 1
// with probability w/(1+w), so distrusted peers (small RankWeight) rank after trusted ones on most
// tasks without ever being excluded outright. Weights outside (0, 1] are clamped.
func WeightedKey(s uint64, w float64) float64 {
	u := (float64(s>>12) + 0.5) / (1 << 52)
	return clampWeight(w) / -math.Log(u)
}

// minWeight is the smallest weight a peer is ranked with.
const minWeight = 1e-6

func clampWeight(w float64) float64 {
	switch {
	case !(w >= minWeight): // NaN too
		return minWeight
	case w > 1:
		return 1
	}
	return w
}
