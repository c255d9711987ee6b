package object

import (
	"errors"
	"testing"
)

func validResult() Result {
	task := ObjectCID([]byte("task")).String()
	return Result{
		Task: task, Executor: "12D3KooWMzNx81p7TD7cg1PqtG23XBZtJA1cF4jToUA7YmPgnh25", Class: "cpu-v1", Engine: "0.1",
		Steps: 10, Tokens: 100,
		Segments: []Segment{{Step: 5, Digest: make([]byte, 32)}, {Step: 10, Digest: make([]byte, 32), Checkpoint: RawCID([]byte("ck")).String()}},
		Metrics:  []Metric{{Name: "recall", Value: 500000}},
		Score:    500000,
	}
}

func TestResultValidate(t *testing.T) {
	runValidate(t, func() Result { return validResult() }, []validateCase[Result]{
		{"ok", func(*Result) {}, ""},
		{"bad task", func(r *Result) { r.Task = "Qm" }, "task"},
		{"no executor", func(r *Result) { r.Executor = "" }, "executor"},
		{"no class", func(r *Result) { r.Class = "" }, "class"},
		{"negative steps", func(r *Result) { r.Steps = -1 }, "negative"},
		{"no segments", func(r *Result) { r.Segments = nil }, "segments"},
		{"short digest", func(r *Result) { r.Segments[0].Digest = []byte{1} }, "digest"},
		{"steps out of order", func(r *Result) { r.Segments[1].Step = 5 }, "not after"},
		{"bad checkpoint", func(r *Result) { r.Segments[1].Checkpoint = "x" }, "checkpoint"},
		{"duplicate metric", func(r *Result) { r.Metrics = append(r.Metrics, Metric{Name: "recall"}) }, "twice"},
		{"empty metric name", func(r *Result) { r.Metrics[0].Name = "" }, "metric name"},
	})
}

func TestResultRoundTrip(t *testing.T) {
	r := validResult()
	b, c, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	var got Result
	if err := Decode(c, b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Score != r.Score || len(got.DigestChain()) != 2 || got.Segments[1].Checkpoint != r.Segments[1].Checkpoint {
		t.Fatalf("round trip: %+v", got)
	}
}

func TestTaskValidate(t *testing.T) {
	a, p := ObjectCID([]byte("a")).String(), ObjectCID([]byte("p")).String()
	if err := (Task{Arch: a, Protocol: p, Seed: 1}).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tk := range []Task{{Arch: "", Protocol: p}, {Arch: a, Protocol: "zz"}, {Arch: a, Protocol: p, Search: "nope"}} {
		if err := tk.Validate(); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%+v: err = %v", tk, err)
		}
	}
}
