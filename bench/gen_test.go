package bench

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// structureSettings covers every task, both query modes, noise, several motif sizes, and the edges of
// the validation rules (shortest sequences, smallest vocabularies).
func structureSettings() []Setting {
	b := func(s Setting) Setting {
		s.TrainExamples, s.TestExamples, s.Steps, s.Batch = 64, 64, 10, 4
		return s
	}
	out := []Setting{}
	for _, s := range MADLite().Settings {
		out = append(out, b(s))
	}
	return append(out,
		b(Setting{Task: TaskRecall, Vocab: 16, SeqLen: 128, MultiQuery: true}),
		b(Setting{Task: TaskRecall, Vocab: 16, SeqLen: 128}),
		b(Setting{Task: TaskRecall, Vocab: 4, SeqLen: 4, MultiQuery: true}),
		b(Setting{Task: TaskRecall, Vocab: 3, SeqLen: 4}),
		b(Setting{Task: TaskNoisyRecall, Vocab: 144, SeqLen: 256, MultiQuery: true, NoiseVocab: 16, NoisePPM: 800_000}),
		b(Setting{Task: TaskNoisyRecall, Vocab: 32, SeqLen: 64, NoiseVocab: 16, NoisePPM: 400_000}),
		b(Setting{Task: TaskFuzzyRecall, Vocab: 16, SeqLen: 128, MultiQuery: true, KeyMotif: 3, ValueMotif: 3}),
		b(Setting{Task: TaskFuzzyRecall, Vocab: 16, SeqLen: 128, KeyMotif: 3, ValueMotif: 3}),
		b(Setting{Task: TaskFuzzyRecall, Vocab: 32, SeqLen: 64, MultiQuery: true, KeyMotif: 2, ValueMotif: 3, NoiseVocab: 8, NoisePPM: 300_000}),
		b(Setting{Task: TaskFuzzyRecall, Vocab: 5, SeqLen: 6, MultiQuery: true, KeyMotif: 1, ValueMotif: 1}),
		b(Setting{Task: TaskSelCopy, Vocab: 16, SeqLen: 256, CopyTokens: 16}),
		b(Setting{Task: TaskSelCopy, Vocab: 3, SeqLen: 4, CopyTokens: 1}),
		b(Setting{Task: TaskCompression, Vocab: 128, SeqLen: 256}),
		b(Setting{Task: TaskCompression, Vocab: 2, SeqLen: 3}),
		b(Setting{Task: TaskMemorize, Vocab: 8192, SeqLen: 32}),
		b(Setting{Task: TaskMemorize, Vocab: 4, SeqLen: 2}),
	)
}

func TestExampleStructure(t *testing.T) {
	for _, s := range structureSettings() {
		t.Run(s.String(), func(t *testing.T) {
			b, err := NewSettingBatcher(s, 7)
			if err != nil {
				t.Fatal(err)
			}
			L := b.SeqLen()
			if L != s.ExampleLen() {
				t.Fatalf("SeqLen %d, ExampleLen %d", L, s.ExampleLen())
			}
			tok, tgt := make([]int32, L), make([]int32, L)
			for _, split := range []Split{Train, Test} {
				for i := range 64 {
					for j := range tok {
						tok[j], tgt[j] = -7, -7 // every position must be written
					}
					b.Example(split, i, tok, tgt)
					if err := verifyExample(s, split, tok, tgt); err != nil {
						t.Fatalf("%s example %d: %v\ntokens  %v\ntargets %v", split, i, err, tok, tgt)
					}
				}
			}
		})
	}
}

// A structural bug must not pass the checker: corrupt valid examples and expect rejection.
func TestVerifierCatchesCorruption(t *testing.T) {
	for _, s := range MADLite().Settings {
		b, err := NewSettingBatcher(s, 1)
		if err != nil {
			t.Fatal(err)
		}
		L := b.SeqLen()
		tok, tgt := make([]int32, L), make([]int32, L)
		b.Example(Test, 0, tok, tgt)
		i := slices.IndexFunc(tgt, func(y int32) bool { return y >= 0 })
		tgt[i] = (tgt[i] + 1) % int32(s.Vocab)
		if err := verifyExample(s, Test, tok, tgt); err == nil {
			t.Errorf("%s: a wrong target at %d passed", s, i)
		}
	}
}

func TestRecallTargetsAreBoundValues(t *testing.T) {
	// Direct statement of the rule for in-context recall: every scored target is the value that
	// the key at that position was bound to earlier in the sequence.
	s := Setting{Task: TaskRecall, Vocab: 16, SeqLen: 128, TrainExamples: 10, TestExamples: 100, Steps: 1, Batch: 1, MultiQuery: true}
	b, _ := NewSettingBatcher(s, 3)
	tok, tgt := make([]int32, b.SeqLen()), make([]int32, b.SeqLen())
	scored := 0
	for i := range 100 {
		b.Example(Test, i, tok, tgt)
		bound := map[int32]int32{}
		for p := 0; p < len(tok); p += 2 {
			k := tok[p]
			if tgt[p] >= 0 {
				scored++
				if v, ok := bound[k]; !ok || v != tgt[p] {
					t.Fatalf("example %d position %d: key %d target %d, bound %d (%v)", i, p, k, tgt[p], v, ok)
				}
			}
			if p+1 < len(tok) {
				bound[k] = tok[p+1]
			}
		}
	}
	if scored < 100*20 {
		t.Errorf("only %d scored positions in 100 multi-query examples", scored)
	}
}

func TestNoisyRecallNoiseVocab(t *testing.T) {
	s := Setting{Task: TaskNoisyRecall, Vocab: 32, SeqLen: 128, TrainExamples: 10, TestExamples: 200, Steps: 1, Batch: 1,
		MultiQuery: true, NoiseVocab: 16, NoisePPM: 200_000}
	b, _ := NewSettingBatcher(s, 3)
	tok, tgt := make([]int32, b.SeqLen()), make([]int32, b.SeqLen())
	noise, pairs := 0, 0
	for i := range 200 {
		b.Example(Test, i, tok, tgt)
		for p := 0; p+1 < len(tok); p += 2 {
			pairs++
			k, v := tok[p], tok[p+1]
			switch {
			case k >= 16 && v >= 16: // both from the noise vocabulary [16, 32)
				noise++
				if tgt[p] != Ignore {
					t.Fatalf("noise pair at %d is scored", p)
				}
			case k < 8 && v >= 8 && v < 16:
			default:
				t.Fatalf("pair (%d, %d) at %d is neither key-value nor noise", k, v, p)
			}
		}
	}
	// 62 of 63 slots may be noise with probability 0.2: about 19.7% of slots.
	if frac := float64(noise) / float64(pairs); frac < 0.17 || frac > 0.23 {
		t.Errorf("noise fraction %.3f, want about 0.197", frac)
	}
}

func TestMemorizationMapFixed(t *testing.T) {
	for _, v := range []int{4, 16, 256, 8192} {
		m := MemorizationMap(v)
		if len(m) != (v-1)/2 {
			t.Fatalf("vocab %d: %d keys, want %d", v, len(m), (v-1)/2)
		}
		seen := map[int32]bool{}
		for k, x := range m {
			if int(x) < (v-1)/2 || int(x) >= v-1 || seen[x] {
				t.Fatalf("vocab %d: key %d → %d (repeated %v)", v, k, x, seen[x])
			}
			seen[x] = true
		}
		if !slices.Equal(m, MemorizationMap(v)) {
			t.Fatalf("vocab %d: map differs between calls", v)
		}
	}
	// The map does not depend on the protocol seed: examples under two seeds agree on every key.
	s := Setting{Task: TaskMemorize, Vocab: 256, SeqLen: 32, TrainExamples: 256, TestExamples: 64, Steps: 1, Batch: 1}
	got := map[int32]int32{}
	for _, seed := range []uint64{1, 2, 12345} {
		b, _ := NewSettingBatcher(s, seed)
		tok, tgt := make([]int32, 32), make([]int32, 32)
		for i := range 64 {
			b.Example(Test, i, tok, tgt)
			for p := 0; p < 32; p += 2 {
				if v, ok := got[tok[p]]; ok && v != tgt[p+1] {
					t.Fatalf("seed %d: key %d → %d, earlier %d", seed, tok[p], tgt[p+1], v)
				}
				got[tok[p]] = tgt[p+1]
			}
		}
	}
	// Pin the map's bits: a change here changes every memorisation score.
	if m := MemorizationMap(256); !slices.Equal(m[:4], goldenMemo) {
		t.Errorf("MemorizationMap(256)[:4] = %v, want %v", m[:4], goldenMemo)
	}
	if MemorizationMap(3) != nil || MemorizationMap(MaxVocab+1) != nil {
		t.Error("out-of-range vocab gave a map")
	}
}

var goldenMemo = []int32{142, 242, 182, 202}

func TestSelectiveCopyTargetsInOrder(t *testing.T) {
	s := Setting{Task: TaskSelCopy, Vocab: 16, SeqLen: 256, CopyTokens: 16, TrainExamples: 10, TestExamples: 50, Steps: 1, Batch: 1}
	b, _ := NewSettingBatcher(s, 9)
	tok, tgt := make([]int32, 256), make([]int32, 256)
	for i := range 50 {
		b.Example(Test, i, tok, tgt)
		var data []int32
		for _, x := range tok[:256-17] {
			if x != 14 { // blank
				data = append(data, x)
			}
		}
		if !slices.Equal(data, tgt[240:]) {
			t.Fatalf("example %d: non-blank tokens %v, targets %v", i, data, tgt[240:])
		}
	}
}

func TestDeterminismAndIndependence(t *testing.T) {
	p := MADLite()
	for i, s := range p.Settings {
		b1, _ := NewTaskBatcher(p, i)
		b2, _ := NewTaskBatcher(p, i)
		n := s.Batch * b1.SeqLen()
		t1, g1 := make([]int32, n), make([]int32, n)
		t2, g2 := make([]int32, n), make([]int32, n)
		// Order of calls does not matter: step 5 first on one, step 0 first on the other.
		b1.Batch(5, t1, g1)
		b2.Batch(0, t2, g2)
		b2.Batch(5, t2, g2)
		if !slices.Equal(t1, t2) || !slices.Equal(g1, g2) {
			t.Fatalf("%s: step 5 differs by call order", s)
		}
		b1.Batch(6, t2, g2)
		if slices.Equal(t1, t2) {
			t.Fatalf("%s: steps 5 and 6 are the same batch", s)
		}
		// Another seed gives other data.
		b3, _ := NewSettingBatcher(s, p.Seed+1)
		b3.Batch(5, t2, g2)
		if slices.Equal(t1, t2) {
			t.Fatalf("%s: seeds %d and %d give the same batch", s, p.Seed, p.Seed+1)
		}
		// Train and test example i differ (independent streams).
		L := b1.SeqLen()
		a, at := make([]int32, L), make([]int32, L)
		c, ct := make([]int32, L), make([]int32, L)
		b1.Example(Train, 0, a, at)
		b1.Example(Test, 0, c, ct)
		if slices.Equal(a, c) {
			t.Fatalf("%s: train and test example 0 are equal", s)
		}
	}
}

// Every epoch visits every training example exactly once.
func TestEpochCoverage(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 64, 100, 256, 1000, 4097} {
		s := Setting{Task: TaskCompression, Vocab: 16, SeqLen: 8, TrainExamples: n, TestExamples: 1, Steps: 1, Batch: 3}
		b, err := NewSettingBatcher(s, 1)
		if err != nil {
			t.Fatal(err)
		}
		for epoch := range 2 {
			seen := make([]bool, n)
			for g := epoch * n; g < (epoch+1)*n; g++ {
				idx := b.TrainIndex(g/3, g%3)
				if idx < 0 || idx >= n || seen[idx] {
					t.Fatalf("n=%d epoch %d: index %d repeated or out of range", n, epoch, idx)
				}
				seen[idx] = true
			}
		}
	}
}

func TestLeakage(t *testing.T) {
	for _, s := range MADLite().Settings {
		l, err := CheckLeakage(s, DefaultSeed)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-50s leakage %d/%d = %d ppm", s, l.InTrain, l.Test, l.PPM)
		if !l.OK() || l.Test != s.TestExamples {
			t.Errorf("%s: leakage %+v over %d ppm", s, l, MaxLeakagePPM)
		}
	}
	// The MAD settings with the smallest input spaces (memorisation: 16 keys from a small set;
	// compression: short sequences) are leak-free too.
	for _, s := range MADSettings() {
		if s.Task != TaskMemorize && (s.Task != TaskCompression || s.SeqLen > 32 || s.TrainExamples < 12800) {
			continue
		}
		if l, err := CheckLeakage(s, DefaultSeed); err != nil || !l.OK() {
			t.Errorf("%s: leakage %+v %v", s, l, err)
		}
	}
	// A degenerate setting with one possible input leaks completely, and the check says so.
	s := Setting{Task: TaskMemorize, Vocab: 4, SeqLen: 2, TrainExamples: 8, TestExamples: 8, Steps: 1, Batch: 1}
	l, err := CheckLeakage(s, 1)
	if err != nil {
		t.Fatal(err)
	}
	if l.OK() || l.InTrain != 8 || l.PPM != ppm {
		t.Errorf("degenerate setting: %+v, want all 8 test inputs in train", l)
	}
}

// Pin the generated bits: the first training and test batch (4 rows) of each MAD baseline setting.
// Changing a generator changes every score, so it must be deliberate (and a new protocol version).
func TestGoldenBatches(t *testing.T) {
	got := map[string]string{}
	for _, s := range MADSettings() {
		if _, done := got[s.Task]; done {
			continue // the baseline comes first
		}
		s.Batch = 4
		b, err := NewSettingBatcher(s, DefaultSeed)
		if err != nil {
			t.Fatal(err)
		}
		n := s.Batch * b.SeqLen()
		tok, tgt := make([]int32, n), make([]int32, n)
		h := sha256.New()
		b.Batch(0, tok, tgt)
		binary.Write(h, binary.LittleEndian, tok)
		binary.Write(h, binary.LittleEndian, tgt)
		b.TestBatch(0, s.TestExamples, tok, tgt)
		binary.Write(h, binary.LittleEndian, tok)
		binary.Write(h, binary.LittleEndian, tgt)
		got[s.Task] = hex.EncodeToString(h.Sum(nil))[:16]
	}
	for task, want := range goldenBatches {
		if got[task] != want {
			t.Errorf("%s: batch digest %s, want %s", task, got[task], want)
		}
	}
	if len(goldenBatches) != len(got) {
		t.Errorf("golden digests:\n%v", fmtMap(got))
	}
}

func fmtMap(m map[string]string) string {
	var s string
	for _, k := range MADTasks {
		s += fmt.Sprintf("\t%q: %q,\n", k, m[k])
	}
	return s
}

var goldenBatches = map[string]string{
	"in-context-recall":       "b96d830cd61babc7",
	"fuzzy-in-context-recall": "b64267d435852e20",
	"noisy-in-context-recall": "7d42347b93c3aed9",
	"selective-copying":       "f9d2d79bfa62ec8f",
	"compression":             "988a92fb332eadf7",
	"memorization":            "1c64d6f0bafe869a",
}

func TestBatchAllocations(t *testing.T) {
	p := MADLite()
	for i, s := range p.Settings {
		b, _ := NewTaskBatcher(p, i)
		n := s.Batch * b.SeqLen()
		tok, tgt := make([]int32, n), make([]int32, n)
		b.Batch(0, tok, tgt) // warm the scratch buffers
		step := 1
		if a := testing.AllocsPerRun(20, func() { b.Batch(step, tok, tgt); step++ }); a != 0 {
			t.Errorf("%s: %.1f allocations per Batch", s, a)
		}
	}
}

func TestTestBatchPadding(t *testing.T) {
	s := Setting{Task: TaskSelCopy, Vocab: 16, SeqLen: 32, CopyTokens: 4, TrainExamples: 10, TestExamples: 10, Steps: 1, Batch: 4}
	b, _ := NewSettingBatcher(s, 1)
	L := b.SeqLen()
	if got := b.TestBatches(10); got != 3 {
		t.Fatalf("TestBatches(10) = %d, want 3", got)
	}
	if got := b.TestBatches(1000); got != 3 {
		t.Fatalf("TestBatches(1000) = %d, want 3 (capped at the test set)", got)
	}
	if got := b.TestBatches(5); got != 2 {
		t.Fatalf("TestBatches(5) = %d, want 2", got)
	}
	tok, tgt := make([]int32, 4*L), make([]int32, 4*L)
	b.TestBatch(1, 5, tok, tgt) // examples 4 (real) and 5..7 (padding)
	one, onet := make([]int32, L), make([]int32, L)
	b.Example(Test, 4, one, onet)
	if !slices.Equal(tok[:L], one) || !slices.Equal(tgt[:L], onet) {
		t.Fatal("row 0 of test batch 1 is not test example 4")
	}
	for _, y := range tgt[L:] {
		if y != Ignore {
			t.Fatal("padding row has a scored target")
		}
	}
	if err := b.Batch(0, tok[:1], tgt); !errors.Is(err, ErrBatch) {
		t.Errorf("short token buffer: %v", err)
	}
	if err := b.TestBatch(0, 1, tok, tgt[:4*L-1]); !errors.Is(err, ErrBatch) {
		t.Errorf("short target buffer: %v", err)
	}
}

func TestPermAndRNG(t *testing.T) {
	r := rng{key: derive(1, 2)}
	counts := make([]int, 10)
	for range 100000 {
		counts[r.intn(10)]++
	}
	for i, c := range counts {
		if c < 9500 || c > 10500 {
			t.Errorf("intn(10): %d drew %d of 100000", i, c)
		}
	}
	if derive(1, 2, 3) == derive(1, 3, 2) || derive(1, 2) == derive(2, 2) {
		t.Error("derive is not sensitive to order or seed")
	}
	for _, n := range []int{1, 2, 5, 16, 17, 1000} {
		p := newPerm(n, 99)
		seen := make([]bool, n)
		for i := range n {
			x := p.at(uint64(i))
			if x >= uint64(n) || seen[x] {
				t.Fatalf("perm(%d) is not a bijection at %d", n, i)
			}
			seen[x] = true
		}
	}
}

func TestChance(t *testing.T) {
	want := map[string]int64{TaskRecall: 125_000, TaskFuzzyRecall: 125_000, TaskNoisyRecall: 125_000,
		TaskSelCopy: 71_429, TaskCompression: 66_667, TaskMemorize: 7_874}
	for _, s := range MADLite().Settings {
		if got := s.ChancePPM(); got != want[s.Task] {
			t.Errorf("%s: chance %d ppm, want %d", s, got, want[s.Task])
		}
	}
}
