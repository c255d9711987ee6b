package bench

import "slices"

// memoSeed is the fixed seed of the memorisation task's key→value map (MAD's default seed). The map
// depends only on the vocabulary, never on a protocol's seed, so every run memorises the same facts.
const memoSeed = 12345

// generator produces the examples of one setting. It owns scratch buffers reused across examples,
// so generating an example allocates nothing once the buffers have grown. Not safe for concurrent use.
type generator struct {
	s Setting
	n int // example length

	in, out []int32 // the sequence and its targets before the autoregressive shift

	// recall
	kv    []int32 // key → value (−1: not bound yet)
	seen  []bool  // key → presented before
	order []int32 // keys in order of first presentation
	// fuzzy recall: motifs packed into uint64 (see pack)
	fkv   map[uint64]uint64
	fseen map[uint64]bool
	// memorisation
	memo []int32 // key → value, fixed
	// selective copying
	counts []int32
	data   []int32
}

func newGenerator(s Setting) *generator {
	g := &generator{s: s, n: s.ExampleLen()}
	g.in = make([]int32, 0, g.n+2)
	g.out = make([]int32, 0, g.n+2)
	switch s.Task {
	case TaskRecall, TaskNoisyRecall:
		nk, _ := s.recallVocab()
		g.kv = make([]int32, nk)
		g.seen = make([]bool, nk)
		g.order = make([]int32, 0, nk)
	case TaskFuzzyRecall:
		g.fkv = make(map[uint64]uint64)
		g.fseen = make(map[uint64]bool)
	case TaskMemorize:
		g.memo = MemorizationMap(s.Vocab)
	case TaskSelCopy:
		g.counts = make([]int32, s.CopyTokens)
		g.data = make([]int32, s.CopyTokens)
	case TaskCompression:
		g.data = make([]int32, s.SeqLen-1)
	}
	return g
}

// fill writes one example drawn from r into tokens and targets (each ExampleLen long). Training
// examples of the recall tasks carry next-token targets at every position (as in MAD); test examples
// and every other task carry targets only at the scored positions.
func (g *generator) fill(r *rng, tokens, targets []int32, train bool) {
	switch g.s.Task {
	case TaskRecall, TaskNoisyRecall:
		g.recall(r)
		g.shift(tokens, targets, train)
	case TaskFuzzyRecall:
		g.fuzzy(r, train)
		g.shift(tokens, targets, train)
	case TaskSelCopy:
		g.selCopy(r, tokens, targets)
	case TaskCompression:
		g.compression(r, tokens, targets)
	case TaskMemorize:
		g.memorize(r, tokens, targets)
	}
}

// shift turns the sequence in g.in (one token longer than an example) into an example: the inputs
// drop the last token; the targets are the next tokens (training) or the scored targets shifted.
func (g *generator) shift(tokens, targets []int32, train bool) {
	copy(tokens, g.in[:len(g.in)-1])
	if train {
		copy(targets, g.in[1:])
	} else {
		copy(targets, g.out[1:])
	}
}

// recall generates in-context recall (and its noisy variant): key-value pairs with a map that is fixed
// within a sequence, then a final probe pair. It follows MAD's generate_in_context_recall_instance.
func (g *generator) recall(r *rng) {
	s := g.s
	nk, nv := s.recallVocab()
	ns := int32(s.nonSpecial())
	in, out := g.in[:0], g.out[:0]
	for i := range g.kv {
		g.kv[i] = -1
		g.seen[i] = false
	}
	g.order = g.order[:0]
	pairs := s.SeqLen / 2
	// One slot is never noise, so a probe key always exists. (MAD draws it from all pairs,
	// including the final probe slot, which can leave no key to probe when noise is heavy.)
	keep := r.intn(pairs - 1)
	for i := 0; i < pairs-1; i++ {
		if s.NoisePPM > 0 && i != keep && r.chance(s.NoisePPM) {
			a := ns + int32(r.intn(s.NoiseVocab))
			b := ns + int32(r.intn(s.NoiseVocab))
			in = append(in, a, b)
			out = append(out, Ignore, Ignore)
			continue
		}
		k := int32(r.intn(nk))
		v := g.kv[k]
		if v < 0 {
			v = int32(nk + r.intn(nv))
			g.kv[k] = v
		}
		in = append(in, k, v)
		out = append(out, Ignore)
		if g.seen[k] && s.MultiQuery {
			out = append(out, v)
		} else {
			out = append(out, Ignore)
		}
		if !g.seen[k] {
			g.seen[k] = true
			g.order = append(g.order, k)
		}
	}
	kp := g.order[r.intn(len(g.order))]
	vp := g.kv[kp]
	if !s.MultiQuery {
		in = append(in, int32(s.Vocab-1)) // copy prefix
		out = append(out, Ignore)
	}
	in = append(in, kp, vp)
	out = append(out, Ignore, vp)
	g.in, g.out = in, out
}

// motifBits is the width of one token in a packed motif; the top 4 bits hold the motif's length.
const motifBits = 15

// pack encodes a motif of at most MaxMotif tokens below 2^15 (keys and values of fuzzy recall are
// below Vocab/2 ≤ 2^15) with its length, so motifs of different lengths never collide.
func pack(m []int32) uint64 {
	c := uint64(len(m)) << 60
	for i, t := range m {
		c |= uint64(t) << (motifBits * uint(i))
	}
	return c
}

// unpack appends the tokens of a packed motif to dst.
func unpack(dst []int32, c uint64) []int32 {
	n := int(c >> 60)
	for i := range n {
		dst = append(dst, int32(c>>(motifBits*uint(i))&(1<<motifBits-1)))
	}
	return dst
}

// motif draws size distinct tokens from [lo, lo+n), uniformly over ordered tuples (as MAD's choice
// over all permutations of the vocabulary), and returns it packed.
func motif(r *rng, lo, n, size int) uint64 {
	var m [MaxMotif]int32
	for i := 0; i < size; {
		t := int32(lo + r.intn(n))
		if slices.Contains(m[:i], t) {
			continue
		}
		m[i] = t
		i++
	}
	return pack(m[:size])
}

// fuzzy generates fuzzy in-context recall: keys and values are motifs of 1..KeyMotif and
// 1..ValueMotif tokens (test keys always have KeyMotif tokens), a probe pair is placed at a random
// point, and the sequence is left-padded to SeqLen+1. It follows MAD's
// generate_fuzzy_in_context_recall_instance, except that the probe's position is drawn so that it
// always lands in the sequence (MAD's draw can fall past the end, leaving the final query unanswerable).
func (g *generator) fuzzy(r *rng, train bool) {
	s := g.s
	nk, nv := s.recallVocab()
	ns := s.nonSpecial()
	kM, vM := s.KeyMotif, s.ValueMotif
	pad := int32(s.Vocab - 1)
	if !s.MultiQuery {
		pad = int32(s.Vocab - 2)
	}
	clear(g.fkv)
	clear(g.fseen)
	keySize := func() int {
		if train {
			return 1 + r.intn(kM)
		}
		return kM
	}
	kps := keySize()
	vps := 1 + r.intn(vM)
	kProbe := motif(r, 0, nk, kps)
	vProbe := motif(r, nk, nv, vps)
	end := s.SeqLen - kps - vps - (kM + vM)
	probeAt := r.intn(end)
	added := false
	in, out := g.in[:0], g.out[:0]
	ignore := func(out []int32, n int) []int32 {
		for range n {
			out = append(out, Ignore)
		}
		return out
	}
	for len(in) < end {
		ks := keySize()
		vs := 1 + r.intn(vM)
		// Insert the probe at its place, or in the last iteration that surely runs.
		if !added && (len(in) >= probeAt || len(in)+kM+vM >= end) {
			in = unpack(in, kProbe)
			in = unpack(in, vProbe)
			out = ignore(out, kps+vps)
			g.fkv[kProbe] = vProbe
			g.fseen[kProbe] = true
			added = true
			continue
		}
		if s.NoisePPM > 0 && r.chance(s.NoisePPM) {
			for range ks + vs {
				in = append(in, int32(ns+r.intn(s.NoiseVocab)))
			}
			out = ignore(out, ks+vs)
			continue
		}
		k := motif(r, 0, nk, ks)
		var v uint64
		if k == kProbe {
			v = vProbe
			added = true
		} else if bound, ok := g.fkv[k]; ok {
			v = bound
		} else {
			v = motif(r, nk, nv, vs)
			g.fkv[k] = v
		}
		in = unpack(in, k)
		n0 := len(in)
		in = unpack(in, v)
		out = ignore(out, ks)
		if g.fseen[k] && s.MultiQuery {
			out = append(out, in[n0:]...)
		} else {
			out = ignore(out, len(in)-n0)
		}
		g.fseen[k] = true
	}
	if !s.MultiQuery {
		in = append(in, int32(s.Vocab-1)) // copy prefix
		out = append(out, Ignore)
	}
	in = unpack(in, kProbe)
	out = ignore(out, kps)
	n0 := len(in)
	in = unpack(in, vProbe)
	out = append(out, in[n0:]...)
	// Left-pad to SeqLen+1 tokens (one more than an example, for the shift).
	npad := s.SeqLen + 1 - len(in)
	g.in, g.out = padLeft(in, npad, pad), padLeft(out, npad, Ignore)
}

// padLeft prepends n copies of v to s, reusing its capacity when it can.
func padLeft(s []int32, n int, v int32) []int32 {
	s = slices.Grow(s, n)[:len(s)+n]
	copy(s[n:], s[:len(s)-n])
	for i := range n {
		s[i] = v
	}
	return s
}

// selCopy generates selective copying: CopyTokens data tokens with blanks inserted before random
// ones, a copy token, then blanks during which the model must emit the data tokens in order. It
// follows MAD's generate_copying_instance(selective=True): blanks go before a uniformly chosen data
// token (never after the last), and the targets are the data tokens at the final CopyTokens positions.
func (g *generator) selCopy(r *rng, tokens, targets []int32) {
	s := g.s
	n := s.CopyTokens
	blank, cp := int32(s.Vocab-2), int32(s.Vocab-1)
	for i := range g.data {
		g.data[i] = int32(r.intn(s.Vocab - 2))
	}
	clear(g.counts)
	for range s.SeqLen - 2*n - 1 {
		g.counts[r.intn(n)]++
	}
	p := 0
	for j, t := range g.data {
		for range g.counts[j] {
			tokens[p] = blank
			p++
		}
		tokens[p] = t
		p++
	}
	tokens[p] = cp
	p++
	for i := range n {
		tokens[p+i] = blank
	}
	for i := range targets {
		targets[i] = Ignore
	}
	copy(targets[s.SeqLen-n:], g.data)
}

// compression generates the compression task laid out for a causal language model (MAD trains an
// encoder-decoder instead): SeqLen−1 random tokens x, the compression token, then x again shifted by
// one (teacher forcing). The targets from the compression token on are x: the model must reproduce
// the whole input from its state after it. Positions before the compression token are unscored.
func (g *generator) compression(r *rng, tokens, targets []int32) {
	s := g.s
	n := s.SeqLen - 1
	for i := range g.data {
		g.data[i] = int32(r.intn(s.Vocab - 1))
	}
	copy(tokens, g.data)
	tokens[n] = int32(s.Vocab - 1)
	copy(tokens[n+1:], g.data[:n-1])
	for i := range n {
		targets[i] = Ignore
	}
	copy(targets[n:], g.data)
}

// memorize generates memorisation: SeqLen/2 pairs (key, insert token) whose target at the insert token
// is the key's value in the fixed map. It follows MAD's generate_memorization_instance.
func (g *generator) memorize(r *rng, tokens, targets []int32) {
	ins := int32(g.s.Vocab - 1)
	for i := 0; i+1 < g.s.SeqLen; i += 2 {
		k := int32(r.intn(len(g.memo)))
		tokens[i], tokens[i+1] = k, ins
		targets[i], targets[i+1] = Ignore, g.memo[k]
	}
}

// MemorizationMap returns the memorisation task's fixed map for a vocabulary: element k is the value
// bound to key k. As in MAD's generate_kv_map (called with vocab−1, the insert token excluded), keys
// are [0, (vocab−1)/2), values are drawn without replacement from [(vocab−1)/2, vocab−1) by shuffling
// both sides with a fixed seed and pairing them. The map depends only on vocab.
func MemorizationMap(vocab int) []int32 {
	if vocab < 4 || vocab > MaxVocab {
		return nil
	}
	n := vocab - 1
	nk := n / 2
	keys := make([]int32, nk)
	vals := make([]int32, n-nk)
	for i := range keys {
		keys[i] = int32(i)
	}
	for i := range vals {
		vals[i] = int32(nk + i)
	}
	r := rng{key: derive(memoSeed, streamMemo, uint64(vocab))}
	shuffle(&r, keys)
	shuffle(&r, vals)
	m := make([]int32, nk)
	for i, k := range keys {
		m[k] = vals[i]
	}
	return m
}

// shuffle is Fisher–Yates with r.
func shuffle(r *rng, s []int32) {
	for i := len(s) - 1; i > 0; i-- {
		j := r.intn(i + 1)
		s[i], s[j] = s[j], s[i]
	}
}
