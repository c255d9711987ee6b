package bench

import (
	"fmt"
	"slices"
)

// verifyExample checks the structure of one generated example against its task's definition
// (docs/protocols.md). It is independent of the generator's code paths: it parses the tokens back.
func verifyExample(s Setting, split Split, tokens, targets []int32) error {
	L := s.ExampleLen()
	if len(tokens) != L || len(targets) != L {
		return fmt.Errorf("lengths %d/%d, want %d", len(tokens), len(targets), L)
	}
	for i, t := range tokens {
		if t < 0 || int(t) >= s.Vocab {
			return fmt.Errorf("token %d at %d outside vocab %d", t, i, s.Vocab)
		}
		if y := targets[i]; y < Ignore || int(y) >= s.Vocab {
			return fmt.Errorf("target %d at %d outside [-1, %d)", y, i, s.Vocab)
		}
	}
	scored := 0
	for _, y := range targets {
		if y >= 0 {
			scored++
		}
	}
	if scored == 0 {
		return fmt.Errorf("no scored position")
	}
	train := split == Train
	switch s.Task {
	case TaskRecall, TaskNoisyRecall, TaskFuzzyRecall:
		return verifyRecall(s, train, tokens, targets)
	case TaskSelCopy:
		return verifySelCopy(s, tokens, targets)
	case TaskCompression:
		n := s.SeqLen - 1
		if tokens[n] != int32(s.Vocab-1) {
			return fmt.Errorf("no compression token at %d", n)
		}
		for i := range n {
			if tokens[i] == int32(s.Vocab-1) {
				return fmt.Errorf("compression token inside the data at %d", i)
			}
			if targets[i] != Ignore {
				return fmt.Errorf("data position %d scored", i)
			}
			if targets[n+i] != tokens[i] {
				return fmt.Errorf("reconstruction target %d at %d is %d, input was %d", i, n+i, targets[n+i], tokens[i])
			}
			if i > 0 && tokens[n+i] != tokens[i-1] {
				return fmt.Errorf("teacher-forced input at %d is %d, want %d", n+i, tokens[n+i], tokens[i-1])
			}
		}
	case TaskMemorize:
		m := MemorizationMap(s.Vocab)
		for i := 0; i < L; i += 2 {
			k := tokens[i]
			if tokens[i+1] != int32(s.Vocab-1) || targets[i] != Ignore {
				return fmt.Errorf("pair %d: (%d, %d) targets (%d, %d)", i/2, k, tokens[i+1], targets[i], targets[i+1])
			}
			if int(k) >= len(m) || targets[i+1] != m[k] {
				return fmt.Errorf("pair %d: key %d has target %d, the map says %d", i/2, k, targets[i+1], m[k])
			}
		}
	}
	return nil
}

// verifyRecall parses a recall example (the sequence is tokens plus the last next-token, which only
// the targets reveal) into motifs by vocabulary range and checks bindings, scoring and noise.
func verifyRecall(s Setting, train bool, tokens, targets []int32) error {
	nk, nv := s.recallVocab()
	ns := int32(s.nonSpecial())
	L := len(tokens)
	isKey := func(t int32) bool { return t >= 0 && int(t) < nk }
	isVal := func(t int32) bool { return int(t) >= nk && int(t) < nk+nv }
	isNoise := func(t int32) bool { return t >= ns && t < ns+int32(s.NoiseVocab) }
	fuzzy := s.Task == TaskFuzzyRecall
	pad := int32(-2)
	if fuzzy {
		pad = int32(s.Vocab - 1)
		if !s.MultiQuery {
			pad = int32(s.Vocab - 2)
		}
	}
	copyPrefix := int32(-2)
	if !s.MultiQuery {
		copyPrefix = int32(s.Vocab - 1)
	}
	if train {
		// Next-token targets everywhere.
		for i := 0; i+1 < L; i++ {
			if targets[i] != tokens[i+1] {
				return fmt.Errorf("training target at %d is %d, next token %d", i, targets[i], tokens[i+1])
			}
		}
	}
	// Rebuild the full sequence: the last token is the final probe value's last token, a scored target
	// in test examples and the next token in training examples.
	seq := append(slices.Clone(tokens), targets[L-1])
	if !isVal(seq[len(seq)-1]) {
		return fmt.Errorf("sequence does not end with a value token (%d)", seq[len(seq)-1])
	}
	// Skip left padding.
	i := 0
	for i < len(seq) && seq[i] == pad {
		i++
	}
	if fuzzy && slices.Contains(seq[i:], pad) {
		return fmt.Errorf("pad token inside the sequence")
	}
	bind := map[string]string{}
	key := func(m []int32) string { return fmt.Sprint(m) }
	var lastKey []int32
	probed := false
	for i < len(seq) {
		t := seq[i]
		switch {
		case isNoise(t) && s.NoiseVocab > 0:
			j := i
			for j < len(seq) && isNoise(seq[j]) {
				j++
			}
			for p := i; p < j; p++ {
				if p > 0 && !train && targets[p-1] != Ignore {
					return fmt.Errorf("noise token at %d is scored", p)
				}
			}
			if !fuzzy && (j-i)%2 != 0 {
				return fmt.Errorf("noise run of odd length %d at %d", j-i, i)
			}
			i = j
		case t == copyPrefix:
			if probed {
				return fmt.Errorf("two copy prefixes")
			}
			probed = true
			i++
		case isKey(t):
			j := i
			for j < len(seq) && isKey(seq[j]) {
				j++
			}
			k := seq[i:j]
			if len(k) > max(1, s.KeyMotif) {
				return fmt.Errorf("key motif %v at %d longer than %d", k, i, max(1, s.KeyMotif))
			}
			if fuzzy && !train && len(k) != s.KeyMotif {
				return fmt.Errorf("test key motif %v at %d shorter than %d", k, i, s.KeyMotif)
			}
			if len(k) != len(slicesCompact(k)) {
				return fmt.Errorf("key motif %v repeats a token", k)
			}
			lastKey = k
			i = j
		case isVal(t):
			if lastKey == nil {
				return fmt.Errorf("value at %d without a key", i)
			}
			j := i
			for j < len(seq) && isVal(seq[j]) {
				j++
			}
			v := seq[i:j]
			if len(v) > max(1, s.ValueMotif) {
				return fmt.Errorf("value motif %v at %d longer than %d", v, i, max(1, s.ValueMotif))
			}
			bound, seen := bind[key(lastKey)]
			if seen && bound != key(v) {
				return fmt.Errorf("key %v bound to %s, then to %v at %d", lastKey, bound, v, i)
			}
			last := j == len(seq)
			// Scored iff the key was seen before (multi-query) or this is the final probe.
			wantScored := (seen && s.MultiQuery) || last
			if last && !seen {
				return fmt.Errorf("final probe key %v never presented", lastKey)
			}
			if !train {
				for p := i; p < j; p++ {
					got := targets[p-1]
					if wantScored && got != seq[p] {
						return fmt.Errorf("value token at %d: target %d, want %d (key %v)", p, got, seq[p], lastKey)
					}
					if !wantScored && got != Ignore {
						return fmt.Errorf("value token at %d of a new key %v is scored", p, lastKey)
					}
				}
			}
			bind[key(lastKey)] = key(v)
			lastKey = nil
			i = j
		default:
			return fmt.Errorf("token %d at %d belongs to no part of the vocabulary", t, i)
		}
	}
	if !s.MultiQuery && !probed {
		return fmt.Errorf("single-query example without a copy prefix")
	}
	if !train {
		// Keys, pads, copy prefixes are never scored (checked above for values and noise).
		for p := 1; p < len(seq); p++ {
			if targets[p-1] != Ignore && !isVal(seq[p]) {
				return fmt.Errorf("non-value token %d at %d is scored", seq[p], p)
			}
		}
	}
	return nil
}

func slicesCompact(m []int32) []int32 {
	c := slices.Clone(m)
	slices.Sort(c)
	return slices.Compact(c)
}

func verifySelCopy(s Setting, tokens, targets []int32) error {
	n := s.CopyTokens
	blank, cp := int32(s.Vocab-2), int32(s.Vocab-1)
	L := s.SeqLen
	c := slices.Index(tokens, cp)
	if c != L-n-1 || slices.Contains(tokens[c+1:], cp) {
		return fmt.Errorf("copy token at %d, want only at %d", c, L-n-1)
	}
	var data []int32
	for _, t := range tokens[:c] {
		if t != blank {
			data = append(data, t)
		}
	}
	if len(data) != n {
		return fmt.Errorf("%d data tokens, want %d", len(data), n)
	}
	if tokens[c-1] == blank {
		return fmt.Errorf("blank right before the copy token (MAD inserts blanks only before data tokens)")
	}
	for _, t := range tokens[c+1:] {
		if t != blank {
			return fmt.Errorf("non-blank %d after the copy token", t)
		}
	}
	if !slices.Equal(targets[L-n:], data) {
		return fmt.Errorf("targets %v, want the data tokens %v in order", targets[L-n:], data)
	}
	for i, y := range targets[:L-n] {
		if y != Ignore {
			return fmt.Errorf("position %d before the answer is scored", i)
		}
	}
	return nil
}
