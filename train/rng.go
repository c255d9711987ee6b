package train

import (
	"github.com/airanode/airanode/gpu/fmath"
)

// The engine's random numbers come from a counter-based generator: value i of stream s under seed k is
//
//	key   = mix64(mix64(k) + (s+1)·φ)
//	value = mix64(key + (i+1)·φ)
//
// with φ = 0x9e3779b97f4a7c15 and mix64 the splitmix64 finaliser (all arithmetic mod 2⁶⁴). Any value
// can be computed on its own, so initialisation does not depend on the order tensors are filled in,
// and the generator's whole state is (seed, counter).

const golden = 0x9e3779b97f4a7c15

// mix64 is the splitmix64 output function.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// streamKey is the key of stream s under seed.
func streamKey(seed, s uint64) uint64 { return mix64(mix64(seed) + (s+1)*golden) }

// draw is value i of the stream with the given key.
func draw(key, i uint64) uint64 { return mix64(key + (i+1)*golden) }

// unit24 maps 24 random bits to a float32 in [0, 1) exactly (multiples of 2⁻²⁴).
func unit24(bits uint64) float32 { return float32(float32(bits&(1<<24-1)) * (1.0 / (1 << 24))) }

// RNG is the training state's random-number generator: a seed and the number of values drawn from the
// training stream. Initialisation draws from one stream per tensor (stream = the tensor's index in
// the canonical order) and does not advance Counter. No primitive of the current engine draws random
// numbers during training, so Counter stays 0; it is part of the state (digests, checkpoints) so that
// stochastic primitives (dropout, sampling) can be added without changing the state format.
type RNG struct {
	Seed    uint64
	Counter uint64
}

// trainStream is the stream index of training-time draws; tensor streams are 0..len(tensors)-1.
const trainStream = 1 << 32

// Next returns the next value of the training stream and advances the counter.
func (r *RNG) Next() uint64 {
	v := draw(streamKey(r.Seed, trainStream), r.Counter)
	r.Counter++
	return v
}

// normal returns a standard normal sample from one 64-bit value (Box–Muller on two 24-bit uniforms),
// computed in float32 with gpu/fmath so that every platform gets the same bits.
func normal(bits uint64) float32 {
	u1 := unit24(bits>>40) + 1.0/(1<<24) // (0, 1]
	u2 := unit24(bits >> 16)             // [0, 1)
	r := fmath.Sqrt(-2 * fmath.Log(u1))
	return r * fmath.Cos(float32(2*3.14159265358979323846)*u2)
}

// uniform returns a sample of U(-1, 1) (multiples of 2⁻²³).
func uniform(bits uint64) float32 {
	u := unit24(bits >> 40)
	return float32(2*u) - 1
}

// initTensor fills dst (tensor t, whose index in the canonical order is idx) from seed.
func initTensor(dst []float32, t Tensor, idx int, seed uint64) {
	key := streamKey(seed, uint64(idx))
	a := t.init.a
	switch t.init.kind {
	case initNormal:
		for i := range dst {
			dst[i] = a * normal(draw(key, uint64(i)))
		}
	case initUniform:
		for i := range dst {
			dst[i] = a * uniform(draw(key, uint64(i)))
		}
	case initConst:
		for i := range dst {
			dst[i] = a
		}
	case initALog:
		// A_log[c, n] = log(n+1), so A = -exp(A_log) = -(n+1) (S4D-real initialisation).
		n := t.Shape[1]
		for i := range dst {
			dst[i] = fmath.Log(float32(i%n + 1))
		}
	case initDTBias:
		// dt = exp(u·(log dtMax - log dtMin) + log dtMin), u ~ U[0,1); dt_b = dt + log(1 - exp(-dt)),
		// the inverse of softplus, in float64 for accuracy at small dt.
		lo, hi := fmath.Log64(dtMin), fmath.Log64(dtMax)
		for i := range dst {
			u := float64(unit24(draw(key, uint64(i)) >> 40))
			dt := fmath.Exp64(float64(u*(hi-lo)) + lo)
			dst[i] = float32(dt + fmath.Log64(1-fmath.Exp64(-dt)))
		}
	}
}
