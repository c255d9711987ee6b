package train

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"slices"
	"testing"

	"github.com/airanode/airanode/gpu"
)

// run describes a short training run used by the determinism tests.
type run struct {
	spec    string
	B, T, V int
	hyper   Hyper
}

func shortRun(spec string, steps, segments int) run {
	h := DefaultHyper(steps)
	h.Segments = segments
	h.Warmup = 2
	h.LR = 3e-3
	h.Seed = 42
	return run{spec: spec, B: 2, T: 8, V: 11, hyper: h}
}

func (r run) data() Batcher { return copyTask{B: r.B, T: r.T, V: r.V, seed: 9} }

// newTrainer builds a model and trainer for r on dev.
func (r run) newTrainer(t testing.TB, dev gpu.Device, opts ...Option) *Trainer {
	t.Helper()
	m := mustModel(t, dev, r.spec, r.B, r.T)
	tr, err := NewTrainer(m, r.hyper, opts...)
	if err != nil {
		t.Fatalf("NewTrainer: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// chain trains r to the end on dev and returns its digest chain.
func (r run) chain(t testing.TB, dev gpu.Device) []SegmentDigest {
	t.Helper()
	tr := r.newTrainer(t, dev)
	if err := tr.Run(context.Background(), r.data()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return tr.Chain()
}

var runArchs = []string{
	"width=16 vocab=11: A(heads=2) M A(heads=2) M",
	"width=16 vocab=11 norm=layer pos=learned context=8: A(heads=4,kv=1,win=4) G",
	"width=16 vocab=11: S(state=4,expand=2) M",
}

// TestDigestsDeterministic: the same run gives the same digest chain with 1 and 2 device threads,
// GOMAXPROCS 1 and 2, and across repeated runs.
func TestDigestsDeterministic(t *testing.T) {
	for _, spec := range runArchs {
		t.Run(spec, func(t *testing.T) {
			r := shortRun(spec, 12, 3)
			var want []SegmentDigest
			for _, procs := range []int{1, 2} {
				for _, threads := range []int{1, 2, 1} {
					prev := runtime.GOMAXPROCS(procs)
					got := r.chain(t, cpuDev.new(t, threads))
					runtime.GOMAXPROCS(prev)
					if len(got) != 3 {
						t.Fatalf("chain of %d digests, want 3", len(got))
					}
					if want == nil {
						want = got
						continue
					}
					if !slices.Equal(got, want) {
						t.Fatalf("GOMAXPROCS=%d threads=%d: chain %v, want %v", procs, threads, got, want)
					}
				}
			}
			// A different seed gives a different chain.
			r.hyper.Seed++
			if got := r.chain(t, cpuDev.new(t, 1)); slices.Equal(got, want) {
				t.Fatal("seed does not change the digests")
			}
		})
	}
}

// TestResumeMatchesUninterrupted: a run cut at a checkpoint (at a segment boundary and in the middle
// of a segment) and resumed in a fresh model and trainer ends with the same digest chain.
func TestResumeMatchesUninterrupted(t *testing.T) {
	for _, dv := range devices {
		for _, spec := range runArchs {
			t.Run(dv.name+"/"+spec, func(t *testing.T) {
				r := shortRun(spec, 12, 4)
				want := r.chain(t, dv.new(t, 2))
				for _, cut := range []int{3, 7} { // 3 is a boundary (12/4), 7 is not
					first := r.newTrainer(t, dv.new(t, 1))
					if err := first.RunUntil(context.Background(), r.data(), cut); err != nil {
						t.Fatal(err)
					}
					var ckpt bytes.Buffer
					if err := first.SaveCheckpoint(&ckpt); err != nil {
						t.Fatal(err)
					}
					second := r.newTrainer(t, dv.new(t, 2))
					if err := second.LoadCheckpoint(bytes.NewReader(ckpt.Bytes())); err != nil {
						t.Fatal(err)
					}
					if second.Step() != cut {
						t.Fatalf("resumed at step %d, want %d", second.Step(), cut)
					}
					if err := second.Run(context.Background(), r.data()); err != nil {
						t.Fatal(err)
					}
					got := append(first.Chain(), second.Chain()...)
					if !slices.Equal(got, want) {
						t.Fatalf("cut at %d: chain %v, want %v", cut, got, want)
					}
				}
			})
		}
	}
}

// TestLossFalls: on the copy task, the training loss falls and the loss on the copied half of
// held-out sequences falls to well below its start, with the copy predicted exactly.
func TestLossFalls(t *testing.T) {
	const steps = 300
	r := run{spec: "width=32 vocab=8: A(heads=2) M A(heads=2) M", B: 8, T: 16, V: 8}
	r.hyper = DefaultHyper(steps)
	r.hyper.LR, r.hyper.Warmup, r.hyper.Segments, r.hyper.Seed = 1e-2, 10, 4, 1
	var first, last float64
	tr := r.newTrainer(t, cpuDev.new(t, 2), WithEvents(func(e Event) {
		if e.Kind != EventStep {
			return
		}
		if e.Step == 1 {
			first = e.Loss
		}
		last = e.Loss
	}))
	// A held-out batch, scored on the copied half only (the first half is random and unpredictable).
	rows := r.B * r.T
	tokens, targets, pred := make([]int32, rows), make([]int32, rows), make([]int32, rows)
	if err := r.data().Batch(steps+1000, tokens, targets); err != nil {
		t.Fatal(err)
	}
	for i := range targets {
		if i%r.T < r.T/2 {
			targets[i] = -1
		}
	}
	before, err := tr.Model().Predict(tokens, targets, pred)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), r.data()); err != nil {
		t.Fatal(err)
	}
	after, err := tr.Model().Predict(tokens, targets, pred)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("training loss %.3f -> %.3f; held-out copy loss %.3f -> %.3f, accuracy %.2f -> %.2f",
		first, last, before.Mean(), after.Mean(), before.Accuracy(), after.Accuracy())
	if last >= first || after.Mean() > 0.2*before.Mean() || after.Accuracy() < 0.95 {
		t.Fatal("the model did not learn to copy")
	}
}

// TestEventsAndCancel: events arrive for every step and segment, segment digests equal Digest and the
// chain, and cancelling the context stops the run at a step boundary.
func TestEventsAndCancel(t *testing.T) {
	r := shortRun(runArchs[0], 10, 5)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var steps, segs int
	var tr *Trainer
	tr = r.newTrainer(t, cpuDev.new(t, 1), WithEvents(func(e Event) {
		switch e.Kind {
		case EventStep:
			steps++
			if e.Step != steps || e.LR <= 0 || e.Loss <= 0 || e.GradNorm <= 0 {
				t.Errorf("bad step event %+v", e)
			}
		case EventSegment:
			segs++
			if d, err := tr.Digest(); err != nil || d != e.Digest || e.Step != 2*segs || e.Segment != segs {
				t.Errorf("segment event %+v, digest now %v (%v)", e, d, err)
			}
		}
		if e.Step == 5 {
			cancel()
		}
	}))
	err := tr.Run(ctx, r.data())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v", err)
	}
	if tr.Step() != 5 || steps != 5 || segs != 2 || len(tr.Chain()) != 2 {
		t.Fatalf("stopped at step %d after %d step and %d segment events, chain %d", tr.Step(), steps, segs, len(tr.Chain()))
	}
	if err := tr.Run(context.Background(), r.data()); err != nil {
		t.Fatal(err)
	}
	if tr.Step() != 10 || segs != 5 || !tr.Done() {
		t.Fatalf("finished at step %d with %d segments", tr.Step(), segs)
	}
	if b := tr.Boundaries(); len(b) != 5 || b[4] != 10 {
		t.Fatalf("boundaries %v", b)
	}
	if err := tr.RunUntil(context.Background(), r.data(), 11); !errors.Is(err, ErrHyper) {
		t.Fatalf("RunUntil beyond Steps: %v", err)
	}
}

// TestBatcherError: a data error stops the run with the batcher's error and no step.
func TestBatcherError(t *testing.T) {
	r := shortRun(runArchs[0], 4, 1)
	tr := r.newTrainer(t, cpuDev.new(t, 1))
	boom := errors.New("boom")
	err := tr.Run(context.Background(), BatcherFunc(func(int, []int32, []int32) error { return boom }))
	if !errors.Is(err, boom) || tr.Step() != 0 {
		t.Fatalf("Run: %v at step %d", err, tr.Step())
	}
	bad := BatcherFunc(func(_ int, tokens, targets []int32) error {
		for i := range tokens {
			tokens[i], targets[i] = 99, 1
		}
		return nil
	})
	if err := tr.Run(context.Background(), bad); !errors.Is(err, ErrBatch) {
		t.Fatalf("Run with out-of-vocabulary tokens: %v", err)
	}
}

// TestDiverged: a non-finite loss stops the run with ErrDiverged.
func TestDiverged(t *testing.T) {
	r := shortRun(runArchs[0], 4, 1)
	tr := r.newTrainer(t, cpuDev.new(t, 1))
	p := make([]float32, tr.Model().NumParams())
	for i := range p {
		p[i] = float32(1e30)
	}
	if err := tr.Model().WriteParams(p); err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), r.data()); !errors.Is(err, ErrDiverged) {
		t.Fatalf("Run: %v", err)
	}
}

// TestStepAllocatesNothing: a steady-state training step makes no heap allocation.
func TestStepAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	for _, spec := range runArchs {
		t.Run(spec, func(t *testing.T) {
			r := shortRun(spec, 1000, 1)
			tr := r.newTrainer(t, cpuDev.new(t, 2))
			data := r.data()
			if _, err := tr.trainStep(data); err != nil { // warm up kernel scratch
				t.Fatal(err)
			}
			var err error
			allocs := testing.AllocsPerRun(10, func() {
				if _, e := tr.trainStep(data); e != nil {
					err = e
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if allocs != 0 {
				t.Fatalf("%v allocations per step", allocs)
			}
		})
	}
}

// TestDevicesAgree: the CPU device and the reference device give the same loss and gradients (to
// float32 rounding) for the same weights and batch: a cross-check of the kernels' conventions.
func TestDevicesAgree(t *testing.T) {
	for _, spec := range testArchs {
		t.Run(spec, func(t *testing.T) {
			ref := mustModel(t, &refDevice{}, spec, 2, 6)
			got := mustModel(t, cpuDev.new(t, 2), spec, 2, 6)
			if err := ref.Init(5); err != nil {
				t.Fatal(err)
			}
			p := perturb(t, ref, 6, 0.1)
			if err := got.WriteParams(p); err != nil {
				t.Fatal(err)
			}
			rows := 12
			tokens, targets := make([]int32, rows), make([]int32, rows)
			randomBatch(8, ref.spec.vocab, tokens, targets)
			l1, err1 := ref.LossAndGrad(tokens, targets)
			l2, err2 := got.LossAndGrad(tokens, targets)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if d := relDiff(l1, l2); d > 1e-5 {
				t.Errorf("loss %v (ref) vs %v (cpu): rel %.2g", l1, l2, d)
			}
			g1, g2 := make([]float32, ref.NumParams()), make([]float32, ref.NumParams())
			_ = ref.ReadGrads(g1)
			_ = got.ReadGrads(g2)
			for _, ts := range ref.Tensors() {
				if d := normDiff(g1[ts.Offset:ts.Offset+ts.Len], g2[ts.Offset:ts.Offset+ts.Len]); d > 1e-4 {
					t.Errorf("%s: gradients differ by %.2g (relative L2)", ts.Name, d)
				}
			}
		})
	}
}
