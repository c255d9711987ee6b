package arch

import "math/bits"

// Rand is a counter-based pseudo-random generator: the i-th value of a seed is splitmix64's output
// function applied to seed + i·γ, so a stream is reproducible from (seed, counter) alone, on every
// platform and in every version of Go. It is not safe for concurrent use.
type Rand struct {
	seed, n uint64
}

const golden = 0x9E3779B97F4A7C15

// NewRand returns a generator for seed.
func NewRand(seed uint64) *Rand { return &Rand{seed: seed} }

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Uint64 returns the next value.
func (r *Rand) Uint64() uint64 {
	r.n++
	return mix64(r.seed + r.n*golden)
}

// Intn returns a uniform value in [0, n) (Lemire's method with rejection, so without bias); 0 when
// n <= 0.
func (r *Rand) Intn(n int) int {
	if n <= 0 {
		return 0
	}
	un := uint64(n)
	hi, lo := bits.Mul64(r.Uint64(), un)
	if lo < un {
		t := -un % un
		for lo < t {
			hi, lo = bits.Mul64(r.Uint64(), un)
		}
	}
	return int(hi)
}

// Derive returns the seed of the i-th independent child stream of seed (e.g. per proposal).
func Derive(seed, i uint64) uint64 {
	return mix64(mix64(seed^0x6172636869746563) + (i+1)*golden)
}
