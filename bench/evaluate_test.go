package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/train"
)

// tinyEvalProtocol is a protocol small enough to train in well under a second: three MAD tasks
// (one with two sweep points would double it; the sweep is tested separately), 6 steps each in 2
// segments.
func tinyEvalProtocol() *Protocol {
	set := func(task string, vocab, seq int) Setting {
		return Setting{Task: task, Vocab: vocab, SeqLen: seq, TrainExamples: 64, TestExamples: 12, Steps: 6, Batch: 4}
	}
	rc := set(TaskRecall, 8, 16)
	rc.MultiQuery = true
	sc := set(TaskSelCopy, 8, 16)
	sc.CopyTokens = 4
	mem := set(TaskMemorize, 16, 8)
	mem.TrainExamples = 16
	return &Protocol{
		Type: ProtocolType, Name: "tiny", Settings: []Setting{rc, sc, mem},
		LR: 3000, Schedule: ScheduleCosine, Warmup: 1, MinLR: 10, EvalExamples: 8, Seed: 7, Segments: 2,
	}
}

// tinyArch is a small attention + MLP model.
func tinyArch(t testing.TB) arch.Arch {
	t.Helper()
	a, err := arch.Parse("width=16: A M")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// countingStore is a checkpoint store that counts writes and can fail them.
type countingStore struct {
	*MemStore
	mu   sync.Mutex
	puts int
	fail error
}

func newCountingStore() *countingStore { return &countingStore{MemStore: NewMemStore()} }

func (s *countingStore) Put(c cid.Cid, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.puts++
	return s.MemStore.Put(c, data)
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

func evalOpts(t testing.TB, p *Protocol, st CheckpointStore) EvalOptions {
	return EvalOptions{Arch: tinyArch(t), Protocol: p, Seed: 3, Threads: 1, Checkpoints: st, Executor: "12D3KooWtest"}
}

func mustEvaluate(t *testing.T, o EvalOptions) *EvalReport {
	t.Helper()
	r, err := Evaluate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEvaluateResult(t *testing.T) {
	p := tinyEvalProtocol()
	st := newCountingStore()
	var steps []Progress
	o := evalOpts(t, p, st)
	o.Progress = func(pr Progress) { steps = append(steps, pr) }
	rep := mustEvaluate(t, o)
	r := rep.Result
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	pc, _ := p.CID()
	if err := rep.Scores.Check(p, pc); err != nil {
		t.Fatal(err)
	}
	// The task names the normalised, vocabulary-free architecture, the protocol and the seed.
	ac, _ := arch.CID(tinyArch(t))
	if rep.Task.Arch != ac.String() || rep.Task.Protocol != pc.String() || rep.Task.Seed != 3 {
		t.Fatalf("task %+v, arch %s protocol %s", rep.Task, ac, pc)
	}
	if tc, _ := object.CID(rep.Task); r.Task != tc.String() || !rep.TaskCID.Equals(tc) {
		t.Fatalf("result task %s, want %s", r.Task, tc)
	}
	if r.Class != cpu.Class || r.Engine != EvalEngine || r.Executor != "12D3KooWtest" {
		t.Fatalf("class %q engine %q executor %q", r.Class, r.Engine, r.Executor)
	}
	if r.Steps != 18 || r.Tokens != p.Tokens() {
		t.Fatalf("steps %d tokens %d, want 18 and %d", r.Steps, r.Tokens, p.Tokens())
	}
	// Two segments per run, steps counted over the whole evaluation, each with its checkpoint stored.
	wantSteps := []int64{3, 6, 9, 12, 15, 18}
	if len(r.Segments) != len(wantSteps) || st.count() != len(wantSteps) {
		t.Fatalf("%d segments, %d checkpoints stored", len(r.Segments), st.count())
	}
	for i, g := range r.Segments {
		if g.Step != wantSteps[i] || g.Loss <= 0 {
			t.Errorf("segment %d: step %d loss %d", i, g.Step, g.Loss)
		}
		run := rep.Scores.Runs[i/2]
		if len(g.Metrics) != 1 || g.Metrics[0].Name != MetricAccuracy || g.Metrics[0].Value != run.Segments[i%2].Value {
			t.Errorf("segment %d metrics %+v, partial %+v", i, g.Metrics, run.Segments[i%2])
		}
		c, err := object.ParseCID(g.Checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(c); err != nil {
			t.Errorf("segment %d checkpoint: %v", i, err)
		}
	}
	// Metrics: one per task, in protocol order, equal to the scores; Score is the overall.
	if len(r.Metrics) != 3 || r.Score != rep.Scores.Overall {
		t.Fatalf("metrics %+v score %d", r.Metrics, r.Score)
	}
	for i, m := range r.Metrics {
		if m.Name != p.Settings[i].Task || m.Value != rep.Scores.Tasks[i].Value {
			t.Errorf("metric %d: %+v vs %+v", i, m, rep.Scores.Tasks[i])
		}
	}
	for i, rr := range rep.Runs {
		if rr.Task != p.Settings[i].Task || rr.Steps != 6 || rr.Chance != p.Settings[i].ChancePPM() || rr.Params <= 0 ||
			rr.Value != rep.Scores.Runs[i].Value || rr.Resumed {
			t.Errorf("run report %d: %+v", i, rr)
		}
	}
	// Progress: every step of every run, with the segment boundaries marked.
	var ends int
	for _, pr := range steps {
		if pr.Runs != 3 || pr.Steps != 6 || pr.Step < 1 || pr.Step > 6 {
			t.Fatalf("progress %+v", pr)
		}
		if pr.Segment > 0 {
			ends++
		}
	}
	if len(steps) != 18+6 || ends != 6 {
		t.Fatalf("%d progress calls, %d segment ends", len(steps), ends)
	}
}

func TestEvaluateDeterministic(t *testing.T) {
	p := tinyEvalProtocol()
	a := mustEvaluate(t, evalOpts(t, p, nil))
	o := evalOpts(t, p, NewMemStore())
	o.Threads = 2
	b := mustEvaluate(t, o)
	if !reflect.DeepEqual(a.Result, b.Result) {
		t.Fatalf("results differ:\n%+v\n%+v", a.Result, b.Result)
	}
	if !reflect.DeepEqual(a.Scores, b.Scores) {
		t.Fatalf("scores differ")
	}
	ea, _ := object.Marshal(a.Result)
	eb, _ := object.Marshal(b.Result)
	if !bytes.Equal(ea, eb) {
		t.Fatal("encodings differ")
	}
	// Another seed is other work: another task, another chain.
	o.Seed = 4
	c := mustEvaluate(t, o)
	if c.Result.Task == a.Result.Task || bytes.Equal(c.Result.Segments[0].Digest, a.Result.Segments[0].Digest) {
		t.Fatal("seed does not change the task or the chain")
	}
}

// TestEvaluateResume cuts an evaluation at every state it reports (and once mid-segment with a
// cancelled context), resumes from the saved state with only the checkpoints, and expects the
// uninterrupted result bit for bit.
func TestEvaluateResume(t *testing.T) {
	p := tinyEvalProtocol()
	full := newCountingStore()
	var states []*EvalState
	o := evalOpts(t, p, full)
	o.OnState = func(s *EvalState) error { states = append(states, s); return nil }
	want := mustEvaluate(t, o)
	// 2 segments + 1 run end per run.
	if len(states) != 9 {
		t.Fatalf("%d states", len(states))
	}
	for i, s := range states[:len(states)-1] {
		t.Run(fmt.Sprintf("state%d", i), func(t *testing.T) {
			// Persist and reload the state as a worker would.
			js, err := jsonRoundTrip(s)
			if err != nil {
				t.Fatal(err)
			}
			st := newCountingStore()
			for _, g := range js.Segments {
				c, _ := object.ParseCID(g.Checkpoint)
				b, _ := full.Get(c)
				st.MemStore.Set(c, b)
			}
			o := evalOpts(t, p, st)
			o.Resume = js
			got := mustEvaluate(t, o)
			if !reflect.DeepEqual(got.Result, want.Result) || !reflect.DeepEqual(got.Scores, want.Scores) {
				t.Fatalf("resumed result differs:\n%+v\n%+v", got.Result, want.Result)
			}
			for ri, rr := range got.Runs {
				if rr.Resumed != (ri < len(js.Runs)) || rr.Value != want.Runs[ri].Value {
					t.Errorf("run %d report %+v", ri, rr)
				}
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		st := newCountingStore()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var last *EvalState
		o := evalOpts(t, p, st)
		o.OnState = func(s *EvalState) error { last = s; return nil }
		o.Progress = func(pr Progress) {
			if pr.Run == 1 && pr.Step == 5 {
				cancel()
			}
		}
		if _, err := Evaluate(ctx, o); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled evaluation: %v", err)
		}
		if last == nil || len(last.Runs) != 1 || len(last.Partials) != 1 {
			t.Fatalf("last state %+v", last)
		}
		o = evalOpts(t, p, st)
		o.Resume = last
		got := mustEvaluate(t, o)
		if !reflect.DeepEqual(got.Result, want.Result) {
			t.Fatal("resumed result differs")
		}
	})
}

func jsonRoundTrip(s *EvalState) (*EvalState, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var out EvalState
	return &out, json.Unmarshal(b, &out)
}

func TestEvaluateResumeRejects(t *testing.T) {
	p := tinyEvalProtocol()
	full := newCountingStore()
	var states []*EvalState
	o := evalOpts(t, p, full)
	o.OnState = func(s *EvalState) error { states = append(states, s); return nil }
	mustEvaluate(t, o)
	mid := states[3] // run 1, one segment done
	if len(mid.Runs) != 1 || len(mid.Partials) != 1 {
		t.Fatalf("state 3: %+v", mid)
	}
	tests := []struct {
		name  string
		edit  func(s *EvalState)
		store func(st *countingStore)
	}{
		{"other task", func(s *EvalState) { s.Task = states[0].Segments[0].Checkpoint }, nil},
		{"segment missing", func(s *EvalState) { s.Segments = s.Segments[:len(s.Segments)-1] }, nil},
		{"wrong step", func(s *EvalState) { s.Segments[1].Step++ }, nil},
		{"short digest", func(s *EvalState) { s.Segments[0].Digest = s.Segments[0].Digest[:5] }, nil},
		{"wrong run", func(s *EvalState) { s.Runs[0].Setting = 2 }, nil},
		{"bad run score", func(s *EvalState) { s.Runs[0].Value++ }, nil},
		{"partial step", func(s *EvalState) { s.Partials[0].Step = 2 }, nil},
		{"too many partials", func(s *EvalState) { s.Partials = append(s.Partials, s.Partials[0], s.Partials[0]) }, nil},
		{"no checkpoint", func(s *EvalState) { s.Segments[len(s.Segments)-1].Checkpoint = "" }, nil},
		{"checkpoint missing", func(*EvalState) {}, func(st *countingStore) {
			c, _ := object.ParseCID(mid.Segments[len(mid.Segments)-1].Checkpoint)
			st.Delete(c)
		}},
		{"checkpoint of another segment", func(s *EvalState) {
			s.Segments[len(s.Segments)-1].Checkpoint = s.Segments[0].Checkpoint
		}, nil},
		{"digest tampered", func(s *EvalState) { s.Segments[len(s.Segments)-1].Digest[0] ^= 1 }, nil},
		{"corrupt checkpoint", func(*EvalState) {}, func(st *countingStore) {
			c, _ := object.ParseCID(mid.Segments[len(mid.Segments)-1].Checkpoint)
			b, _ := st.Get(c)
			b = slices.Clone(b)
			b[len(b)-1] ^= 1
			st.Set(c, b)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mid.clone()
			tc.edit(s)
			st := newCountingStore()
			for _, g := range mid.Segments {
				c, _ := object.ParseCID(g.Checkpoint)
				b, _ := full.Get(c)
				st.MemStore.Set(c, b)
			}
			if tc.store != nil {
				tc.store(st)
			}
			o := evalOpts(t, p, st)
			o.Resume = s
			_, err := Evaluate(context.Background(), o)
			if !errors.Is(err, ErrResume) {
				t.Fatalf("got %v, want ErrResume", err)
			}
			if st.count() != 0 {
				t.Fatalf("%d checkpoints written", st.count())
			}
		})
	}
	// Without a checkpoint store there is nothing to resume a run from.
	o = evalOpts(t, p, nil)
	o.Resume = mid
	if _, err := Evaluate(context.Background(), o); !errors.Is(err, ErrResume) {
		t.Fatalf("no store: %v", err)
	}
}

func TestEvaluateBadInput(t *testing.T) {
	good := tinyEvalProtocol()
	badProto := tinyEvalProtocol()
	badProto.Segments = 7 // more segments than steps
	corpus := []byte(strings.Repeat("the cat sat on the mat; ", 200))
	ds := NewMemStore()
	dc, m, err := importBytes(t, ds, corpus, 256)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := NewMemStore()
	for _, b := range m.Blocks {
		data, _ := ds.Get(b.CID)
		corrupt.Set(b.CID, data)
	}
	mb, _ := ds.Get(dc)
	corrupt.Set(dc, mb)
	first, _ := corrupt.Get(m.Blocks[0].CID)
	first[0] ^= 0xff
	corrupt.Set(m.Blocks[0].CID, first)
	missing := NewMemStore()
	missing.Set(dc, mb)

	unknownKind := tinyArch(t)
	unknownKind.Layers = append(unknownKind.Layers, arch.Layer{Kind: "nosuch"})
	tests := []struct {
		name string
		edit func(o *EvalOptions)
		want error
	}{
		{"no protocol", func(o *EvalOptions) { o.Protocol = nil }, ErrEvalOptions},
		{"invalid protocol", func(o *EvalOptions) { o.Protocol = badProto }, ErrInvalidProtocol},
		{"empty arch", func(o *EvalOptions) { o.Arch = arch.Arch{} }, ErrEvalOptions},
		{"unknown primitive", func(o *EvalOptions) { o.Arch = unknownKind }, ErrEvalOptions},
		{"text without data", func(o *EvalOptions) { o.Protocol = tinyText(dc) }, ErrNeedData},
		{"missing dataset", func(o *EvalOptions) { o.Protocol, o.Data = tinyText(dc), NewMemStore() }, ErrMissingBlock},
		{"missing block", func(o *EvalOptions) { o.Protocol, o.Data = tinyText(dc), missing }, ErrMissingBlock},
		{"corrupt dataset", func(o *EvalOptions) { o.Protocol, o.Data = tinyText(dc), corrupt }, ErrCorruptBlock},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newCountingStore()
			o := evalOpts(t, good, st)
			tc.edit(&o)
			// CheckArch finds the same problems without training (it does not validate the
			// protocol itself: that is the caller's, as for Evaluate's ErrInvalidProtocol).
			if tc.want != ErrInvalidProtocol {
				if err := CheckArch(o.Arch, o.Protocol, o.Data); !errors.Is(err, tc.want) {
					t.Fatalf("CheckArch: got %v, want %v", err, tc.want)
				}
			}
			_, err := Evaluate(context.Background(), o)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if st.count() != 0 {
				t.Fatalf("%d checkpoints written", st.count())
			}
		})
	}
	if err := CheckArch(tinyArch(t), good, nil); err != nil {
		t.Fatalf("CheckArch(good) = %v", err)
	}
	// A failing checkpoint store stops the evaluation.
	st := newCountingStore()
	st.fail = errors.New("disk full")
	if _, err := Evaluate(context.Background(), evalOpts(t, good, st)); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("failing store: %v", err)
	}
	// So does a failing OnState.
	o := evalOpts(t, good, nil)
	o.OnState = func(*EvalState) error { return errors.New("cannot persist") }
	if _, err := Evaluate(context.Background(), o); err == nil || !strings.Contains(err.Error(), "cannot persist") {
		t.Fatalf("failing OnState: %v", err)
	}
}

// tinyText is a text protocol over dataset dc small enough for a test.
func tinyText(dc cid.Cid) *Protocol {
	p := Text(dc)
	p.Settings[0].SeqLen, p.Settings[0].Batch, p.Settings[0].Steps, p.Settings[0].TestExamples = 32, 2, 4, 4
	p.Warmup, p.EvalExamples, p.Segments = 1, 2, 2
	return p
}

func importBytes(t *testing.T, st BlockStore, data []byte, blockSize int) (cid.Cid, *Manifest, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "corpus.txt")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return ImportFiles(st, []string{path}, blockSize)
}

func TestEvaluateText(t *testing.T) {
	ds := NewMemStore()
	dc, _, err := importBytes(t, ds, []byte(strings.Repeat("the cat sat on the mat; ", 300)), 512)
	if err != nil {
		t.Fatal(err)
	}
	p := tinyText(dc)
	o := evalOpts(t, p, ds)
	o.Data = ds
	rep := mustEvaluate(t, o)
	if rep.Scores.Metric != MetricBPB || len(rep.Result.Metrics) != 1 || rep.Result.Metrics[0].Name != TaskText {
		t.Fatalf("scores %+v metrics %+v", rep.Scores, rep.Result.Metrics)
	}
	// An untrained byte model is near 8 bits per byte; a few steps cannot reach 0.
	if v := rep.Result.Score; v <= 1_000_000 || v > 12_000_000 {
		t.Fatalf("bits per byte %d µ", v)
	}
	if rep.Runs[0].Chance != 0 || rep.Runs[0].Metric != MetricBPB {
		t.Fatalf("run %+v", rep.Runs[0])
	}
	again := mustEvaluate(t, o)
	if !reflect.DeepEqual(again.Result, rep.Result) {
		t.Fatal("text evaluation is not deterministic")
	}
}

func TestEvaluateSweep(t *testing.T) {
	p := tinyEvalProtocol()
	p.Settings = p.Settings[:1]
	p.Sweep = []Hyper{{LR: 1000}, {LR: 3000, WD: 100_000}}
	rep := mustEvaluate(t, evalOpts(t, p, nil))
	if len(rep.Scores.Runs) != 2 || len(rep.Result.Segments) != 4 || rep.Result.Steps != 12 {
		t.Fatalf("runs %d segments %d steps %d", len(rep.Scores.Runs), len(rep.Result.Segments), rep.Result.Steps)
	}
	if bytes.Equal(rep.Result.Segments[1].Digest, rep.Result.Segments[3].Digest) {
		t.Fatal("sweep points trained alike")
	}
	if rep.Runs[1].Sweep != 1 {
		t.Fatalf("run report %+v", rep.Runs[1])
	}
}

// TestEvaluateLearnedPositions binds a learned-position model's context to each setting's row.
func TestEvaluateLearnedPositions(t *testing.T) {
	a, err := arch.Parse("width=16 pos=learned context=4: A M")
	if err != nil {
		t.Fatal(err)
	}
	o := evalOpts(t, tinyEvalProtocol(), nil)
	o.Arch = a
	rep := mustEvaluate(t, o)
	if ac, _ := arch.CID(a); rep.Task.Arch != ac.String() {
		t.Fatalf("task arch %s, want %s", rep.Task.Arch, ac)
	}
}

// TestCheckpointReplaysSegment checks the verifier's use of a result: the checkpoint at the start of a
// segment, trained through that segment, lands on the segment's digest.
func TestCheckpointReplaysSegment(t *testing.T) {
	p := tinyEvalProtocol()
	st := NewMemStore()
	rep := mustEvaluate(t, evalOpts(t, p, st))
	g0, g1 := rep.Result.Segments[2], rep.Result.Segments[3] // run 1: segments 1 and 2
	c, _ := object.ParseCID(g0.Checkpoint)
	ck, err := st.Get(c)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := cpu.New(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	s := p.Settings[1]
	b, _ := NewTaskBatcher(p, 1)
	a, _ := arch.WithVocab(tinyArch(t), s.Vocab)
	m, err := train.NewModel(dev, a, train.Shape{Batch: s.Batch, Seq: b.SeqLen()})
	if err != nil {
		t.Fatal(err)
	}
	h := train.DefaultHyper(s.Steps)
	h.Segments, h.Warmup, h.Seed, h.LR, h.MinLR, h.WeightDecay = p.Segments, p.Warmup, 3, micro(p.LR), micro(p.MinLR), micro(p.WD)
	tr, err := train.NewTrainer(m, h)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.LoadCheckpoint(bytes.NewReader(ck)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	d, _ := tr.Digest()
	if !bytes.Equal(d[:], g1.Digest) {
		t.Fatalf("replayed segment ends on %s, result says %x", d, g1.Digest)
	}
	// The final score is the argmax accuracy over the whole test set.
	var acc Tally
	tok, tgt, pred := make([]int32, s.Batch*b.SeqLen()), make([]int32, s.Batch*b.SeqLen()), make([]int32, s.Batch*b.SeqLen())
	for i := range b.TestBatches(s.TestExamples) {
		if err := b.TestBatch(i, s.TestExamples, tok, tgt); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Predict(tok, tgt, pred); err != nil {
			t.Fatal(err)
		}
		acc.AddPredictions(pred, tgt)
	}
	if run := rep.Scores.Runs[1]; acc.Count == 0 || acc.Correct == 0 || run.Correct != acc.Correct || run.Count != acc.Count {
		t.Fatalf("run score %d/%d, recomputed %d/%d", run.Correct, run.Count, acc.Correct, acc.Count)
	}
}

// FuzzEvalState feeds arbitrary resume states (as a worker would read them back from its store) to
// the resume check: it must reject or accept them without panicking, and accept only states whose
// shape fits the protocol.
func FuzzEvalState(f *testing.F) {
	p := tinyEvalProtocol()
	var states []*EvalState
	o := EvalOptions{Arch: arch.MustParse("width=16: A M"), Protocol: p, Seed: 3, Threads: 1, Checkpoints: NewMemStore()}
	o.OnState = func(s *EvalState) error { states = append(states, s); return nil }
	if _, err := Evaluate(context.Background(), o); err != nil {
		f.Fatal(err)
	}
	for _, s := range states {
		b, _ := json.Marshal(s)
		f.Add(b)
	}
	f.Add([]byte(`{"task":"x","segments":[{"step":-1}],"partials":[{"segment":-5}]}`))
	f.Add([]byte(`{"runs":[{"setting":99}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s EvalState
		if json.Unmarshal(b, &s) != nil {
			return
		}
		o := o
		o.Resume, o.OnState = &s, nil
		got := resumeOrReject(t, o)
		if got == nil {
			return
		}
		if len(got.Segments) != len(got.Runs)*p.Segments+len(got.Partials) || len(got.Runs) > len(p.Runs()) {
			t.Fatalf("accepted a state of %d runs, %d segments, %d partials", len(got.Runs), len(got.Segments), len(got.Partials))
		}
	})
}

// resumeOrReject plans o (which must plan) and returns the state it would resume from, or nil when
// the resume state is rejected, as it must be, with an error wrapping ErrResume.
func resumeOrReject(t *testing.T, o EvalOptions) *EvalState {
	t.Helper()
	pl, err := planEval(o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pl.resumeState()
	if err != nil {
		if !errors.Is(err, ErrResume) {
			t.Fatalf("error %v does not wrap ErrResume", err)
		}
		return nil
	}
	return got
}
