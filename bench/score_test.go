package bench

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
)

func TestTally(t *testing.T) {
	var tl Tally
	if err := tl.AddPredictions([]int32{1, 2, 3, 4}, []int32{1, Ignore, 0, 4}); err != nil {
		t.Fatal(err)
	}
	if tl.Correct != 2 || tl.Count != 3 || tl.PPM() != 666_667 {
		t.Fatalf("%+v ppm %d", tl, tl.PPM())
	}
	if err := tl.AddPredictions([]int32{1}, []int32{1, 2}); !errors.Is(err, ErrInvalidScores) {
		t.Errorf("length mismatch: %v", err)
	}
	nan := float32(math.NaN())
	tests := []struct {
		name   string
		logits []float32
		target int32
		hit    bool
	}{
		{"argmax", []float32{0, 3, 1}, 1, true},
		{"miss", []float32{0, 3, 1}, 2, false},
		{"tie goes low", []float32{2, 2, 1}, 0, true},
		{"tie not high", []float32{2, 2, 1}, 1, false},
		{"NaN first never wins", []float32{nan, -1, -2}, 1, true},
		{"NaN later never wins", []float32{-5, nan, -9}, 0, true},
		{"all NaN", []float32{nan, nan, nan}, 0, true},
		{"-Inf", []float32{float32(math.Inf(-1)), -1e30, -2e30}, 1, true},
	}
	for _, tt := range tests {
		var tl Tally
		if err := tl.AddLogits(tt.logits, []int32{tt.target}, 3); err != nil {
			t.Fatal(err)
		}
		if (tl.Correct == 1) != tt.hit || tl.Count != 1 {
			t.Errorf("%s: %+v", tt.name, tl)
		}
	}
	if err := tl.AddLogits(make([]float32, 5), []int32{0, 1}, 3); !errors.Is(err, ErrInvalidScores) {
		t.Errorf("bad logits length: %v", err)
	}
	if err := tl.AddLogits(make([]float32, 3), []int32{3}, 3); !errors.Is(err, ErrInvalidScores) {
		t.Errorf("target out of vocab: %v", err)
	}
	if (Tally{}).PPM() != 0 {
		t.Error("empty tally is not 0")
	}
}

func TestBitsPerByte(t *testing.T) {
	var l LossTally
	l.AddMean(math.Ln2, 100) // one bit per byte
	l.Add(8*math.Ln2*50, 50) // eight bits per byte
	v, err := l.BitsPerByteMicro()
	if err != nil || v != 3_333_333 {
		t.Fatalf("bpb %d µ (%v), want 3333333", v, err)
	}
	if _, err := (LossTally{}).BitsPerByteMicro(); !errors.Is(err, ErrInvalidScores) {
		t.Errorf("empty: %v", err)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), -1} {
		if _, err := (LossTally{Nats: bad, Count: 1}).BitsPerByteMicro(); !errors.Is(err, ErrInvalidScores) {
			t.Errorf("nats %v: %v", bad, err)
		}
	}
}

// sweepProtocol is MAD-lite's first three settings with a two-point sweep.
func sweepProtocol() *Protocol {
	p := MADLite()
	p.Settings = p.Settings[:3]
	p.Settings[1].Task = TaskRecall // two settings of one task
	p.Settings[1].KeyMotif, p.Settings[1].ValueMotif = 0, 0
	p.Settings[1].SeqLen = 32
	p.Sweep = []Hyper{{LR: 100}, {LR: 1000}}
	p.MinLR = 10 // at most every sweep point's learning rate
	return p
}

func runsFor(p *Protocol, correct func(setting, sweep int) int64) []RunScore {
	var runs []RunScore
	for _, r := range p.Runs() {
		c := correct(r.Setting, r.Sweep)
		runs = append(runs, AccuracyRun(r.Setting, r.Sweep, Tally{Correct: c, Count: 1000},
			[]Tally{{Correct: c / 2, Count: 1000}, {Correct: c / 3, Count: 1000}}, []int{150, 300}))
	}
	return runs
}

func TestAggregate(t *testing.T) {
	p := sweepProtocol()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	pc, _ := p.CID()
	// setting 0: sweep 1 best (800); setting 1: tie at 500 → sweep 0; setting 2: sweep 0 best (300).
	acc := map[[2]int]int64{{0, 0}: 600, {0, 1}: 800, {1, 0}: 500, {1, 1}: 500, {2, 0}: 300, {2, 1}: 100}
	runs := runsFor(p, func(s, w int) int64 { return acc[[2]int{s, w}] })
	// Give them out of order: Aggregate sorts.
	runs[0], runs[5] = runs[5], runs[0]
	sc, err := Aggregate(p, pc, runs)
	if err != nil {
		t.Fatal(err)
	}
	want := []SettingScore{{0, 1, 800_000}, {1, 0, 500_000}, {2, 0, 300_000}}
	for i, w := range want {
		if sc.Settings[i] != w {
			t.Errorf("setting %d: %+v, want %+v", i, sc.Settings[i], w)
		}
	}
	// Tasks: recall = mean(800000, 500000) = 650000; noisy recall = 300000; overall = 475000.
	if len(sc.Tasks) != 2 || sc.Tasks[0] != (TaskScore{TaskRecall, 650_000}) || sc.Tasks[1] != (TaskScore{TaskNoisyRecall, 300_000}) {
		t.Errorf("tasks %+v", sc.Tasks)
	}
	if sc.Overall != 475_000 || sc.Metric != MetricAccuracy {
		t.Errorf("overall %d %s", sc.Overall, sc.Metric)
	}
	if err := sc.Check(p, pc); err != nil {
		t.Fatalf("Check of an aggregate: %v", err)
	}
	b, c, err := sc.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalScores(b)
	if err != nil || back.Check(p, pc) != nil || !object.ObjectCID(b).Equals(c) {
		t.Fatalf("round trip: %v", err)
	}
	// Tampering is caught.
	forged := *back
	forged.Overall++
	if err := forged.Check(p, pc); !errors.Is(err, ErrInvalidScores) {
		t.Errorf("forged overall: %v", err)
	}
	forged = *back
	forged.Runs = append([]RunScore(nil), back.Runs...)
	forged.Runs[0].Value = 999_999
	if err := forged.Check(p, pc); !errors.Is(err, ErrInvalidScores) {
		t.Errorf("forged run value: %v", err)
	}
	other, _ := MADLite().CID()
	if err := back.Check(p, other); !errors.Is(err, ErrInvalidScores) {
		t.Errorf("other protocol: %v", err)
	}
}

func TestAggregateRejects(t *testing.T) {
	p := sweepProtocol()
	pc, _ := p.CID()
	good := func() []RunScore { return runsFor(p, func(s, w int) int64 { return 500 }) }
	tests := []struct {
		name string
		edit func([]RunScore) []RunScore
		want string
	}{
		{"missing run", func(r []RunScore) []RunScore { return r[1:] }, "runs"},
		{"repeated run", func(r []RunScore) []RunScore { r[1] = r[0]; return r }, "missing or repeated"},
		{"bad sweep index", func(r []RunScore) []RunScore { r[1].Sweep = 2; return r }, "missing or repeated"},
		{"value mismatch", func(r []RunScore) []RunScore { r[0].Value++; return r }, "ppm"},
		{"correct over count", func(r []RunScore) []RunScore { r[0].Correct = 2000; r[0].Value = 2_000_000; return r }, "correct"},
		{"zero count", func(r []RunScore) []RunScore { r[0].Count = 0; return r }, "count"},
		{"too many partials", func(r []RunScore) []RunScore {
			r[0].Segments = append(r[0].Segments, r[0].Segments...)
			r[0].Segments = append(r[0].Segments, r[0].Segments...)
			return r
		}, "partial"},
		{"partial step backwards", func(r []RunScore) []RunScore { r[0].Segments[1].Step = 100; return r }, "partial"},
		{"partial past the budget", func(r []RunScore) []RunScore { r[0].Segments[1].Step = p.Settings[0].Steps + 1; return r }, "partial"},
		{"partial out of order", func(r []RunScore) []RunScore { r[0].Segments[0].Segment = 1; return r }, "partial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Aggregate(p, pc, tt.edit(good()))
			if !errors.Is(err, ErrInvalidScores) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalidScores mentioning %q", err, tt.want)
			}
		})
	}
}

func TestAggregateText(t *testing.T) {
	data := object.ObjectCID([]byte("manifest"))
	p := Text(data)
	p.Sweep = []Hyper{{LR: 100}, {LR: 1000}}
	pc, _ := p.CID()
	mk := func(sweep int, bits float64) RunScore {
		r, err := TextRun(0, sweep, LossTally{Nats: bits * math.Ln2 * 1000, Count: 1000},
			[]LossTally{{Nats: 2 * bits * math.Ln2, Count: 1}}, []int{500})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	sc, err := Aggregate(p, pc, []RunScore{mk(0, 2.5), mk(1, 1.25)})
	if err != nil {
		t.Fatal(err)
	}
	// Lower is better: sweep 1.
	if sc.Metric != MetricBPB || sc.Overall != 1_250_000 || sc.Settings[0].Sweep != 1 || sc.Tasks[0].Task != TaskText {
		t.Fatalf("%+v", sc)
	}
	if _, err := TextRun(0, 0, LossTally{}, nil, nil); !errors.Is(err, ErrInvalidScores) {
		t.Errorf("empty text run: %v", err)
	}
	bad := mk(0, 1)
	bad.Correct = 3
	if _, err := Aggregate(p, pc, []RunScore{bad, mk(1, 1)}); !errors.Is(err, ErrInvalidScores) {
		t.Errorf("correct on bpb: %v", err)
	}
}

func TestScoresShape(t *testing.T) {
	p := sweepProtocol()
	pc, _ := p.CID()
	sc, _ := Aggregate(p, pc, runsFor(p, func(s, w int) int64 { return 10 }))
	tests := []struct {
		name string
		edit func(*Scores)
	}{
		{"type", func(s *Scores) { s.Type = "x" }},
		{"protocol", func(s *Scores) { s.Protocol = cid.Undef }},
		{"raw protocol", func(s *Scores) { s.Protocol = object.RawCID(nil) }},
		{"metric", func(s *Scores) { s.Metric = "loss" }},
		{"no runs", func(s *Scores) { s.Runs = nil }},
		{"no tasks", func(s *Scores) { s.Tasks = nil }},
	}
	for _, tt := range tests {
		c := *sc
		tt.edit(&c)
		if _, _, err := c.Encode(); !errors.Is(err, ErrInvalidScores) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}
