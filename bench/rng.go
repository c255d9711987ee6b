package bench

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// The generators draw from a counter-based generator of our own, so that every example can be
// produced alone, in any order, on any machine, and two nodes always produce the same bits:
//
//	key   = derive(seed, coordinates...)   (a chain of splitmix64 finalisers)
//	value = mix64(key + (i+1)·φ)           (value i of the stream)
//
// with φ = 0x9e3779b97f4a7c15 and mix64 the splitmix64 output function, all arithmetic mod 2⁶⁴.
// Nothing here uses math/rand or any global state.

const golden = 0x9e3779b97f4a7c15

// Stream numbers: each purpose draws from its own stream, so train and test examples are independent.
const (
	streamTrain   = 1 // training examples, by index
	streamTest    = 2 // test examples, by index
	streamOrder   = 3 // the order in which training examples are visited, per epoch
	streamMemo    = 4 // the memorisation task's fixed key→value map
	streamWindows = 5 // text: training windows, per step and row
)

// mix64 is the splitmix64 output function (a bijection on uint64 with full avalanche).
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// derive hashes a seed and coordinates into a stream key.
func derive(seed uint64, coords ...uint64) uint64 {
	h := mix64(seed ^ 0x6a09e667f3bcc908)
	for _, c := range coords {
		h = mix64(h + mix64(c+golden))
	}
	return h
}

// rng is one stream: a key and a counter. The zero counter starts the stream.
type rng struct {
	key, ctr uint64
}

// next returns the stream's next 64-bit value.
func (r *rng) next() uint64 {
	r.ctr++
	return mix64(r.key + r.ctr*golden)
}

// intn returns a uniform integer in [0, n) without bias (Lemire's multiply-and-reject). n must be > 0.
func (r *rng) intn(n int) int {
	un := uint64(n)
	hi, lo := bits.Mul64(r.next(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(r.next(), un)
		}
	}
	return int(hi)
}

// ppm is the denominator of fractions stored as parts per million.
const ppm = 1_000_000

// chance returns true with probability p/1e6.
func (r *rng) chance(p int) bool { return r.intn(ppm) < p }

// perm is a pseudo-random permutation of [0, n): a 4-round balanced Feistel network on the smallest
// even number of bits covering n, with cycle walking back into range. It is stateless, so position i
// of the permutation costs O(1) expected time and no memory.
type perm struct {
	n    uint64
	half uint
	mask uint64
	keys [4]uint64
}

func newPerm(n int, key uint64) perm {
	h := uint(1)
	for uint64(1)<<(2*h) < uint64(n) {
		h++
	}
	p := perm{n: uint64(n), half: h, mask: 1<<h - 1}
	for i := range p.keys {
		p.keys[i] = derive(key, uint64(i))
	}
	return p
}

func (p *perm) enc(x uint64) uint64 {
	l, r := x>>p.half, x&p.mask
	for _, k := range p.keys {
		l, r = r, l^(mix64(r^k)&p.mask)
	}
	return l<<p.half | r
}

// at returns the i-th element of the permutation (i < n).
func (p *perm) at(i uint64) uint64 {
	x := p.enc(i)
	for x >= p.n {
		x = p.enc(x)
	}
	return x
}

// hashKey returns the first 8 bytes of sha256(b) as a key.
func hashKey(b []byte) uint64 {
	s := sha256.Sum256(b)
	return binary.LittleEndian.Uint64(s[:8])
}
