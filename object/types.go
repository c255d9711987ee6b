package object

import (
	"errors"
	"fmt"
)

// ErrInvalid wraps every object validation failure.
var ErrInvalid = errors.New("object: invalid")

// Bounds on object fields a peer can send.
const (
	MaxSegments = 1024 // digests, checkpoints and segment scores per result
	MaxMetrics  = 256  // metrics per result or segment
	maxName     = 128  // metric names, classes, engine versions
	// MaxClass is the longest reproducibility class field (a result's, a capability's list).
	MaxClass   = maxName
	DigestSize = 32 // sha256
	// Fixed is the fixed-point unit of scores: 1.0 == Fixed (parts per million).
	Fixed = 1_000_000
)

// Task names one unit of work: train the architecture Arch under the evaluation protocol Protocol
// with Seed, on behalf of Search. Its CID is the task's identity, so the same candidate proposed twice
// is one task. Tasks carry no author.
type Task struct {
	// Search is the CID of the search the task belongs to; empty for a local evaluation.
	Search string `cbor:"search,omitempty" json:"search,omitempty"`
	// Arch is the CID of the normalised architecture object.
	Arch string `cbor:"arch" json:"arch"`
	// Protocol is the CID of the evaluation protocol object.
	Protocol string `cbor:"protocol" json:"protocol"`
	// Seed seeds initialisation and data order.
	Seed uint64 `cbor:"seed" json:"seed"`
}

// Validate checks that every CID field is an allowed object CID.
func (t Task) Validate() error {
	for _, f := range []struct{ name, v string }{{"arch", t.Arch}, {"protocol", t.Protocol}, {"search", t.Search}} {
		if f.v == "" && f.name == "search" {
			continue
		}
		if _, err := ParseCID(f.v); err != nil {
			return fmt.Errorf("%w: task %s: %w", ErrInvalid, f.name, err)
		}
	}
	return nil
}

// Metric is one named fixed-point measurement: accuracies in parts per million (Fixed), bits per
// byte in micro-bits.
type Metric struct {
	Name  string `cbor:"name" json:"name"`
	Value int64  `cbor:"value" json:"value"`
}

// Segment is the state of a run at the end of one training segment.
type Segment struct {
	// Step is the number of optimizer steps done at the boundary.
	Step int64 `cbor:"step" json:"step"`
	// Digest is the sha256 state digest (weights, optimizer moments, step, RNG) at the boundary.
	Digest []byte `cbor:"digest" json:"digest"`
	// Checkpoint is the raw CID of the checkpoint taken at the boundary, if kept.
	Checkpoint string `cbor:"checkpoint,omitempty" json:"checkpoint,omitempty"`
	// Loss is the mean training loss over the segment, in micro-nats.
	Loss int64 `cbor:"loss" json:"loss"`
	// Metrics are partial scores measured at the boundary (may be empty).
	Metrics []Metric `cbor:"metrics,omitempty" json:"metrics,omitempty"`
}

// Result is a signed report of one executed task: what was run, where, and what it scored. It
// travels in an envelope of KindResult signed by Executor.
type Result struct {
	// Task is the CID of the task.
	Task string `cbor:"task" json:"task"`
	// Executor is the peer ID of the node that ran it; it must equal the envelope's signer.
	Executor string `cbor:"executor" json:"executor"`
	// Class is the engine's reproducibility class, e.g. "cpu-v1".
	Class string `cbor:"class" json:"class"`
	// Engine is the engine version that ran it.
	Engine string `cbor:"engine" json:"engine"`
	// Steps and Tokens are the training budget actually spent.
	Steps  int64 `cbor:"steps" json:"steps"`
	Tokens int64 `cbor:"tokens" json:"tokens"`
	// Segments is the digest chain with per-segment losses and partial scores.
	Segments []Segment `cbor:"segments" json:"segments"`
	// Metrics are the final per-task scores; Score is the overall score (both fixed-point).
	Metrics []Metric `cbor:"metrics" json:"metrics"`
	Score   int64    `cbor:"score" json:"score"`
}

// Validate checks bounds and formats.
func (r Result) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: result: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if _, err := ParseCID(r.Task); err != nil {
		return bad("task: %v", err)
	}
	if r.Executor == "" || len(r.Executor) > maxName {
		return bad("executor %q", r.Executor)
	}
	if r.Class == "" || len(r.Class) > MaxClass || len(r.Engine) > maxName {
		return bad("class %q / engine %q", r.Class, r.Engine)
	}
	if r.Steps < 0 || r.Tokens < 0 {
		return bad("negative budget")
	}
	if len(r.Segments) == 0 || len(r.Segments) > MaxSegments {
		return bad("%d segments, want 1-%d", len(r.Segments), MaxSegments)
	}
	prev := int64(-1)
	for i, s := range r.Segments {
		if len(s.Digest) != DigestSize {
			return bad("segment %d: digest of %d bytes", i, len(s.Digest))
		}
		if s.Step <= prev {
			return bad("segment %d: step %d not after %d", i, s.Step, prev)
		}
		prev = s.Step
		if s.Checkpoint != "" {
			if _, err := ParseCID(s.Checkpoint); err != nil {
				return bad("segment %d checkpoint: %v", i, err)
			}
		}
		if err := validMetrics(s.Metrics); err != nil {
			return bad("segment %d: %v", i, err)
		}
	}
	if err := validMetrics(r.Metrics); err != nil {
		return bad("%v", err)
	}
	return nil
}

func validMetrics(ms []Metric) error {
	if len(ms) > MaxMetrics {
		return fmt.Errorf("%d metrics, want at most %d", len(ms), MaxMetrics)
	}
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		if m.Name == "" || len(m.Name) > maxName {
			return fmt.Errorf("metric name %q", m.Name)
		}
		if seen[m.Name] {
			return fmt.Errorf("metric %q twice", m.Name)
		}
		seen[m.Name] = true
	}
	return nil
}

// DigestChain returns the segment digests in order.
func (r Result) DigestChain() [][]byte {
	out := make([][]byte, len(r.Segments))
	for i, s := range r.Segments {
		out[i] = s.Digest
	}
	return out
}
