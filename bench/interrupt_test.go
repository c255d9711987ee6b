package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/object"
)

// stopAt is where a test cancels an evaluation: right after step Step of run Run (before the
// next step starts).
type stopAt struct{ Run, Step int }

// evaluateUntil runs an evaluation with CheckpointOnCancel that cancels itself after the given
// step, and returns the last state it saved and the progress it reported. The evaluation must
// end with the context's error.
func evaluateUntil(t *testing.T, o EvalOptions, at stopAt) (*EvalState, []Progress) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var last *EvalState
	var prog []Progress
	o.CheckpointOnCancel = true
	o.OnState = func(s *EvalState) error { last = s; return nil }
	o.Progress = func(pr Progress) {
		prog = append(prog, pr)
		if pr.Run == at.Run && pr.Step == at.Step && pr.Segment == 0 {
			cancel()
		}
	}
	if _, err := Evaluate(ctx, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("evaluation cancelled at %+v: %v", at, err)
	}
	return last, prog
}

// storeFor returns a fresh checkpoint store holding only the checkpoint a state resumes from
// (the cut's, else the last segment's), copied from full.
func storeFor(t *testing.T, s *EvalState, full CheckpointStore) *countingStore {
	t.Helper()
	st := newCountingStore()
	switch {
	case s.Cut != nil:
		copyBlocks(t, st, full, s.Cut.Checkpoint)
	case len(s.Segments) > 0:
		copyBlocks(t, st, full, s.Segments[len(s.Segments)-1].Checkpoint)
	}
	return st
}

// copyBlocks copies the named blocks from src to dst, uncounted.
func copyBlocks(t *testing.T, dst *countingStore, src CheckpointStore, names ...string) {
	t.Helper()
	for _, name := range names {
		c, err := object.ParseCID(name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := src.Get(c)
		if err != nil {
			t.Fatalf("checkpoint %s is not stored: %v", c, err)
		}
		dst.MemStore.Set(c, b)
	}
}

func mustMarshalResult(t *testing.T, r object.Result) []byte {
	t.Helper()
	b, err := object.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEvaluateCheckpointOnCancel cancels an evaluation after various steps (the first step of a
// run, the middle of a segment, right before a boundary, in later runs, on a boundary), resumes
// from the state it saved with only the checkpoint that state names, and expects the
// uninterrupted Result byte for byte, with no step trained twice.
func TestEvaluateCheckpointOnCancel(t *testing.T) {
	p := tinyEvalProtocol() // 3 runs of 6 steps, boundaries at 3 and 6
	want := mustEvaluate(t, evalOpts(t, p, nil))
	wantBytes := mustMarshalResult(t, want.Result)
	tests := []struct {
		name string
		at   stopAt
		cut  bool // whether the saved state is a cut (else the last boundary's)
	}{
		{"first step of run 0", stopAt{0, 1}, true},
		{"before run 0's first boundary", stopAt{0, 2}, true},
		{"mid run 0's second segment", stopAt{0, 4}, true},
		{"before run 0's last boundary", stopAt{0, 5}, true},
		{"first step of run 1", stopAt{1, 1}, true},
		{"mid run 1's second segment", stopAt{1, 4}, true},
		{"before the last boundary", stopAt{2, 5}, true},
		{"on a boundary", stopAt{0, 3}, false},
		{"at the end of a run", stopAt{1, 6}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			full := newCountingStore()
			last, _ := evaluateUntil(t, evalOpts(t, p, full), tc.at)
			if last == nil {
				t.Fatal("no state saved")
			}
			offset := int64(6 * tc.at.Run)
			if tc.cut {
				if last.Cut == nil || last.Cut.Step != offset+int64(tc.at.Step) || last.Step() != last.Cut.Step {
					t.Fatalf("saved state %+v, want a cut at step %d", last, offset+int64(tc.at.Step))
				}
				for _, g := range want.Result.Segments {
					if g.Step == last.Cut.Step {
						t.Fatalf("cut on boundary step %d", g.Step)
					}
				}
			} else if last.Cut != nil || last.Step() != offset+int64(tc.at.Step) {
				t.Fatalf("saved state %+v, want the boundary at step %d", last, offset+int64(tc.at.Step))
			}
			// Persist and reload the state as a worker would.
			js, err := jsonRoundTrip(last)
			if err != nil {
				t.Fatal(err)
			}
			o := evalOpts(t, p, storeFor(t, js, full))
			o.Resume = js
			var first *Progress
			o.Progress = func(pr Progress) {
				if first == nil {
					first = &pr
				}
			}
			got := mustEvaluate(t, o)
			if gb := mustMarshalResult(t, got.Result); !bytes.Equal(gb, wantBytes) {
				t.Fatalf("resumed result differs:\n%+v\nwant\n%+v", got.Result, want.Result)
			}
			if !reflect.DeepEqual(got.Scores, want.Scores) {
				t.Fatal("resumed scores differ")
			}
			// The resumed evaluation starts with the step after the one saved: nothing is lost.
			next := stopAt{tc.at.Run, tc.at.Step + 1}
			if tc.at.Step == 6 {
				next = stopAt{tc.at.Run + 1, 1}
			}
			if first == nil || first.Run != next.Run || first.Step != next.Step {
				t.Fatalf("resumed at %+v, want run %d step %d", first, next.Run, next.Step)
			}
		})
	}
	// Cut twice in the same segment: the segment's loss sum carries over both cuts.
	t.Run("twice", func(t *testing.T) {
		full := newCountingStore()
		first, _ := evaluateUntil(t, evalOpts(t, p, full), stopAt{1, 4})
		o := evalOpts(t, p, storeFor(t, first, full))
		o.Resume = first
		second, prog := evaluateUntil(t, o, stopAt{1, 5})
		if len(prog) != 1 || second.Cut == nil || second.Cut.Step != 11 || second.Cut.LossSum == first.Cut.LossSum {
			t.Fatalf("second cut %+v after %d steps, first %+v", second.Cut, len(prog), first.Cut)
		}
		o = evalOpts(t, p, storeFor(t, second, o.Checkpoints))
		o.Resume = second
		if got := mustEvaluate(t, o); !bytes.Equal(mustMarshalResult(t, got.Result), wantBytes) {
			t.Fatal("result resumed after two cuts differs")
		}
	})
}

// TestEvaluateCancelWithoutCheckpoint: without CheckpointOnCancel (or without OnState) a cancelled
// evaluation saves nothing more than its boundaries, as before.
func TestEvaluateCancelWithoutCheckpoint(t *testing.T) {
	p := tinyEvalProtocol()
	for _, tc := range []struct {
		name    string
		on      bool
		onState bool
	}{{"option off", false, true}, {"no OnState", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			st := newCountingStore()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := evalOpts(t, p, st)
			o.CheckpointOnCancel = tc.on
			var states []*EvalState
			if tc.onState {
				o.OnState = func(s *EvalState) error { states = append(states, s); return nil }
			}
			o.Progress = func(pr Progress) {
				if pr.Run == 0 && pr.Step == 4 {
					cancel()
				}
			}
			if _, err := Evaluate(ctx, o); !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
			if st.count() != 1 {
				t.Fatalf("%d checkpoints stored, want the first boundary's only", st.count())
			}
			for _, s := range states {
				if s.Cut != nil {
					t.Fatalf("state with a cut: %+v", s)
				}
			}
		})
	}
}

// TestEvaluateCancelSaveFails: a checkpoint store or OnState failing at the cancel still returns
// the context's error, joined with the failure.
func TestEvaluateCancelSaveFails(t *testing.T) {
	p := tinyEvalProtocol()
	fail := errors.New("disk full")
	for _, failStore := range []bool{true, false} {
		t.Run(fmt.Sprintf("store=%v", failStore), func(t *testing.T) {
			st := newCountingStore()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := evalOpts(t, p, st)
			o.CheckpointOnCancel = true
			o.OnState = func(s *EvalState) error {
				if s.Cut != nil {
					return fail
				}
				return nil
			}
			o.Progress = func(pr Progress) {
				if pr.Run == 0 && pr.Step == 1 {
					if failStore {
						st.mu.Lock()
						st.fail = fail
						st.mu.Unlock()
					}
					cancel()
				}
			}
			_, err := Evaluate(ctx, o)
			if !errors.Is(err, context.Canceled) || !errors.Is(err, fail) {
				t.Fatalf("got %v, want the cancellation and %v", err, fail)
			}
		})
	}
}

// cutState returns the uninterrupted evaluation's checkpoints and a state cut at run 1, step 4
// (global step 10: one run and one segment done).
func cutState(t *testing.T, p *Protocol) (*countingStore, *EvalState) {
	t.Helper()
	full := newCountingStore()
	last, _ := evaluateUntil(t, evalOpts(t, p, full), stopAt{1, 4})
	if last.Cut == nil || last.Cut.Step != 10 || len(last.Runs) != 1 || len(last.Partials) != 1 {
		t.Fatalf("cut state %+v", last)
	}
	return full, last
}

// TestEvaluateCutRejects: a cut state that does not fit the evaluation is ErrResume, trains
// nothing and writes no checkpoint.
func TestEvaluateCutRejects(t *testing.T) {
	p := tinyEvalProtocol()
	full, cut := cutState(t, p)
	// A whole evaluation's states, for a finished one with a cut.
	var done *EvalState
	o := evalOpts(t, p, full)
	o.OnState = func(s *EvalState) error { done = s; return nil }
	mustEvaluate(t, o)
	boundary := cut.Segments[len(cut.Segments)-1] // run 1's first boundary, step 9
	tests := []struct {
		name  string
		state func() *EvalState
		store func(st *countingStore)
		nil   bool // no checkpoint store at all
	}{
		{"other task", func() *EvalState { s := cut.clone(); s.Task = boundary.Checkpoint; return s }, nil, false},
		{"step beyond the run", func() *EvalState { s := cut.clone(); s.Cut.Step = 13; return s }, nil, false},
		{"step beyond the segment", func() *EvalState { s := cut.clone(); s.Cut.Step = 12; return s }, nil, false},
		{"step on the boundary", func() *EvalState { s := cut.clone(); s.Cut.Step = 9; return s }, nil, false},
		{"step before the boundary", func() *EvalState { s := cut.clone(); s.Cut.Step = 8; return s }, nil, false},
		{"negative step", func() *EvalState { s := cut.clone(); s.Cut.Step = -1; return s }, nil, false},
		{"step not where the checkpoint is", func() *EvalState { s := cut.clone(); s.Cut.Step = 11; return s }, nil, false},
		{"finished evaluation", func() *EvalState {
			s := done.clone()
			s.Cut = &EvalCut{Step: 17, Checkpoint: cut.Cut.Checkpoint}
			return s
		}, nil, false},
		{"NaN loss sum", func() *EvalState { s := cut.clone(); s.Cut.LossSum = math.Float64bits(math.NaN()); return s }, nil, false},
		{"infinite loss sum", func() *EvalState { s := cut.clone(); s.Cut.LossSum = math.Float64bits(math.Inf(1)); return s }, nil, false},
		{"no checkpoint", func() *EvalState { s := cut.clone(); s.Cut.Checkpoint = ""; return s }, nil, false},
		{"checkpoint of the boundary", func() *EvalState { s := cut.clone(); s.Cut.Checkpoint = boundary.Checkpoint; return s }, nil, false},
		{"checkpoint block missing", cut.clone, func(st *countingStore) {
			c, _ := object.ParseCID(cut.Cut.Checkpoint)
			st.Delete(c)
		}, false},
		{"corrupt checkpoint", cut.clone, func(st *countingStore) {
			c, _ := object.ParseCID(cut.Cut.Checkpoint)
			b, _ := st.Get(c)
			b = slices.Clone(b)
			b[len(b)-1] ^= 1
			st.Set(c, b)
		}, false},
		{"no checkpoint store", cut.clone, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newCountingStore()
			copyBlocks(t, st, full, cut.Cut.Checkpoint, boundary.Checkpoint)
			if tc.store != nil {
				tc.store(st)
			}
			o := evalOpts(t, p, st)
			if tc.nil {
				o.Checkpoints = nil
			}
			o.Resume = tc.state()
			var steps int
			o.Progress = func(Progress) { steps++ }
			o.OnState = func(*EvalState) error { t.Error("state saved"); return nil }
			_, err := Evaluate(context.Background(), o)
			if !errors.Is(err, ErrResume) {
				t.Fatalf("got %v, want ErrResume", err)
			}
			if st.count() != 0 || steps != 0 {
				t.Fatalf("%d checkpoints written, %d steps trained", st.count(), steps)
			}
		})
	}
}

// TestEvalStateEncodings: a state with a cut holds no floats (canonical CBOR accepts it) and
// round-trips through JSON and CBOR; a state without one encodes as before (no "cut" key), so
// states saved before cuts existed still load.
func TestEvalStateEncodings(t *testing.T) {
	p := tinyEvalProtocol()
	_, cut := cutState(t, p)
	b, err := object.Marshal(cut)
	if err != nil {
		t.Fatal(err)
	}
	var back EvalState
	if err := object.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Cut, cut.Cut) || back.Task != cut.Task || len(back.Segments) != len(cut.Segments) {
		t.Fatalf("CBOR round trip: %+v, want %+v", back, cut)
	}
	js, err := jsonRoundTrip(cut)
	if err != nil || !reflect.DeepEqual(js.Cut, cut.Cut) {
		t.Fatalf("JSON round trip: %+v, %v", js, err)
	}
	old := cut.clone()
	old.Cut = nil
	ob, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ob, []byte(`"cut"`)) {
		t.Fatalf("state without a cut encodes one: %s", ob)
	}
	if old.Step() != 9 || cut.Step() != 10 || (&EvalState{}).Step() != 0 {
		t.Fatalf("steps %d %d", old.Step(), cut.Step())
	}
}

// FuzzEvalCut feeds arbitrary cuts, on top of a real state, to the resume check: it must reject or
// accept them without panicking, and accept only cuts strictly inside the run's current segment.
func FuzzEvalCut(f *testing.F) {
	p := tinyEvalProtocol()
	base := EvalOptions{Arch: arch.MustParse("width=16: A M"), Protocol: p, Seed: 3, Threads: 1, Checkpoints: NewMemStore()}
	var states []*EvalState
	o := base
	o.OnState = func(s *EvalState) error { states = append(states, s); return nil }
	if _, err := Evaluate(context.Background(), o); err != nil {
		f.Fatal(err)
	}
	ck := states[0].Segments[0].Checkpoint
	for i := range states {
		f.Add(i, int64(2), ck, uint64(0))
		f.Add(i, int64(10), ck, math.Float64bits(1.5))
	}
	f.Add(3, int64(10), "not a cid", uint64(math.MaxUint64))
	f.Fuzz(func(t *testing.T, i int, step int64, checkpoint string, loss uint64) {
		if i < 0 || i >= len(states) {
			return
		}
		s := states[i].clone()
		s.Cut = &EvalCut{Step: step, Checkpoint: checkpoint, LossSum: loss}
		o := base
		o.Resume = s
		got := resumeOrReject(t, o)
		if got == nil {
			return
		}
		ri, done := len(got.Runs), len(got.Partials)
		lo, hi := int64(6*ri+3*done), int64(6*ri+3*(done+1))
		if ri >= 3 || step <= lo || step >= hi {
			t.Fatalf("accepted a cut at step %d after %d runs and %d segments", step, ri, done)
		}
	})
}
