package train

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"log/slog"
	"math"

	"github.com/airanode/airanode/gpu"
)

// Batcher supplies training data.
type Batcher interface {
	// Batch fills tokens and targets (each of length Batch·Seq, row r = b·Seq + t) for the 0-based
	// step. It must be deterministic: the same step always gives the same batch, so that a run resumed
	// from a checkpoint sees the data the uninterrupted run saw. Targets < 0 mark positions without a
	// loss. It must not retain the slices.
	Batch(step int, tokens, targets []int32) error
}

// BatcherFunc adapts a function to the Batcher interface.
type BatcherFunc func(step int, tokens, targets []int32) error

// Batch calls f.
func (f BatcherFunc) Batch(step int, tokens, targets []int32) error { return f(step, tokens, targets) }

// EventKind tells what an Event reports.
type EventKind int

const (
	// EventStep follows every optimizer step.
	EventStep EventKind = iota + 1
	// EventSegment follows the step that ends a segment, after the EventStep of that step.
	EventSegment
)

// Event is progress reported to the trainer's callback.
type Event struct {
	Kind EventKind
	// Step is the number of steps done (1 after the first step).
	Step int
	// Loss is the mean training loss of the step's batch, before the update; LR the learning rate the
	// step used; GradNorm the global gradient norm before clipping.
	Loss     float64
	LR       float32
	GradNorm float64
	// Segment (1..K) and Digest are set for EventSegment.
	Segment int
	Digest  Digest
}

// Digest is the sha256 of a training state's canonical serialisation (see Trainer.Digest).
type Digest [32]byte

// String returns the digest in hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// SegmentDigest is the digest at the end of one segment.
type SegmentDigest struct {
	Segment int // 1..K
	Step    int // steps done at the boundary
	Digest  Digest
}

// Option configures a Trainer.
type Option func(*Trainer)

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(t *Trainer) { t.log = l } }

// WithEvents sets a callback for step and segment events. It runs on the goroutine of Run, between
// steps; it may call the trainer's read-only methods and SaveCheckpoint, never Run.
func WithEvents(fn func(Event)) Option { return func(t *Trainer) { t.onEvent = fn } }

// Trainer trains one model: it owns the AdamW moments (one device buffer each, same layout as the
// parameters), the weight-decay mask, the step counter and the RNG state.
//
// A Trainer may be used by one goroutine at a time, and owns its Model while in use.
type Trainer struct {
	m   *Model
	dev gpu.Device
	h   Hyper

	mom, vel, decay gpu.Buffer
	step            int
	rng             RNG
	bounds          []int
	chain           []SegmentDigest

	tokens, targets []int32
	host            []float32 // staging for digests and checkpoints, NumParams floats
	hasher          hash.Hash
	chunk           []byte

	log     *slog.Logger
	onEvent func(Event)
	closed  bool
}

// NewTrainer prepares m for training with h: it initialises the weights from h.Seed, zeroes the
// moments and sets the step to 0. LoadCheckpoint resumes a run instead.
func NewTrainer(m *Model, h Hyper, opts ...Option) (*Trainer, error) {
	if m == nil || m.closed {
		return nil, ErrClosed
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	t := &Trainer{m: m, dev: m.dev, h: h, log: slog.Default(), bounds: h.boundaries()}
	for _, o := range opts {
		o(t)
	}
	var err error
	P := m.nparams
	for _, b := range []*gpu.Buffer{&t.mom, &t.vel, &t.decay} {
		if *b, err = t.dev.Alloc(P); err != nil {
			return nil, fmt.Errorf("train: allocate optimizer state: %w", err)
		}
	}
	t.host = make([]float32, P)
	for _, ts := range m.tensors {
		v := float32(0)
		if ts.Decay {
			v = 1
		}
		for i := ts.Offset; i < ts.Offset+ts.Len; i++ {
			t.host[i] = v
		}
	}
	if err := t.dev.Upload(t.decay, t.host); err != nil {
		return nil, fmt.Errorf("train: upload decay mask: %w", err)
	}
	t.tokens, t.targets = make([]int32, m.rows), make([]int32, m.rows)
	t.hasher = sha256.New()
	t.chunk = make([]byte, 4096)
	t.chain = make([]SegmentDigest, 0, h.Segments)
	if err := t.reset(); err != nil {
		return nil, err
	}
	return t, nil
}

// reset puts the trainer at step 0: initial weights from the seed, zero moments.
func (t *Trainer) reset() error {
	if err := t.m.Init(t.h.Seed); err != nil {
		return fmt.Errorf("train: init: %w", err)
	}
	t.dev.Fill(t.mom, 0)
	t.dev.Fill(t.vel, 0)
	t.step = 0
	t.rng = RNG{Seed: t.h.Seed}
	t.chain = t.chain[:0]
	return t.dev.Sync()
}

// Model is the model being trained.
func (t *Trainer) Model() *Model { return t.m }

// Hyper returns the hyper-parameters.
func (t *Trainer) Hyper() Hyper { return t.h }

// Step is the number of optimizer steps done.
func (t *Trainer) Step() int { return t.step }

// RNG is the state of the training random-number generator.
func (t *Trainer) RNG() RNG { return t.rng }

// Boundaries returns the step count at the end of every segment (K values, increasing, the last one
// Steps).
func (t *Trainer) Boundaries() []int { return append([]int(nil), t.bounds...) }

// Chain returns the digests of the segment boundaries this trainer has passed since it was created or
// last loaded a checkpoint.
func (t *Trainer) Chain() []SegmentDigest { return append([]SegmentDigest(nil), t.chain...) }

// Done reports whether every step has been run.
func (t *Trainer) Done() bool { return t.step >= t.h.Steps }

// Run trains until Steps steps are done. See RunUntil.
func (t *Trainer) Run(ctx context.Context, data Batcher) error {
	return t.RunUntil(ctx, data, t.h.Steps)
}

// RunUntil trains until stop steps are done (stop <= Steps), reporting events. At every segment
// boundary it computes the state digest and appends it to the chain. A cancelled ctx stops the loop
// at the next step boundary with an error wrapping ctx.Err(); the state is then that of a whole
// number of steps and can be checkpointed and resumed.
func (t *Trainer) RunUntil(ctx context.Context, data Batcher, stop int) error {
	if t.closed {
		return ErrClosed
	}
	if stop > t.h.Steps {
		return fmt.Errorf("%w: stop at %d beyond %d steps", ErrHyper, stop, t.h.Steps)
	}
	for t.step < stop {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("train: stopped at step %d: %w", t.step, err)
		}
		ev, err := t.trainStep(data)
		if err != nil {
			return err
		}
		if t.onEvent != nil {
			t.onEvent(ev)
		}
		if seg := t.segmentEnding(t.step); seg > 0 {
			d, err := t.Digest()
			if err != nil {
				return err
			}
			t.chain = append(t.chain, SegmentDigest{Segment: seg, Step: t.step, Digest: d})
			t.log.Debug("train: segment done", "segment", seg, "step", t.step, "loss", ev.Loss, "digest", d.String())
			if t.onEvent != nil {
				ev.Kind, ev.Segment, ev.Digest = EventSegment, seg, d
				t.onEvent(ev)
			}
		}
	}
	return nil
}

// segmentEnding returns the 1-based segment that ends after step steps, or 0.
func (t *Trainer) segmentEnding(step int) int {
	for j, b := range t.bounds {
		if b == step {
			return j + 1
		}
		if b > step {
			break
		}
	}
	return 0
}

// trainStep runs one optimizer step: batch, forward, backward, clipping, AdamW. It allocates nothing.
func (t *Trainer) trainStep(data Batcher) (Event, error) {
	s := t.step
	if err := data.Batch(s, t.tokens, t.targets); err != nil {
		return Event{}, fmt.Errorf("train: batch for step %d: %w", s, err)
	}
	loss, err := t.m.LossAndGrad(t.tokens, t.targets)
	if err != nil {
		return Event{}, fmt.Errorf("train: step %d: %w", s, err)
	}
	norm := math.Sqrt(t.dev.SumSquares(t.m.grads))
	if !finite(loss) || !finite(norm) {
		return Event{}, fmt.Errorf("%w: step %d: loss %v, gradient norm %v", ErrDiverged, s, loss, norm)
	}
	if clip := float64(t.h.GradClip); clip > 0 && norm > clip {
		t.dev.Scale(t.m.grads, float32(clip/norm))
	}
	lr := t.h.LRAt(s)
	t.dev.AdamWStep(t.m.params, t.m.grads, t.mom, t.vel, t.decay, gpu.AdamW{
		LR: lr, Beta1: t.h.Beta1, Beta2: t.h.Beta2, Eps: t.h.Eps, WeightDecay: t.h.WeightDecay, Step: s + 1,
	})
	if err := t.dev.Err(); err != nil {
		return Event{}, fmt.Errorf("train: step %d: %w", s, err)
	}
	t.step++
	return Event{Kind: EventStep, Step: t.step, Loss: loss, LR: lr, GradNorm: norm}, nil
}

// digestDomain opens the serialisation hashed by Digest.
const digestDomain = "airanode/train-state/v1\x00"

// Digest returns the sha256 of the canonical serialisation of the training state:
//
//	"airanode/train-state/v1" 0x00          domain, 24 bytes
//	step, rng.Seed, rng.Counter, P          4 × uint64 little-endian (P = number of parameters)
//	params                                  P × float32 little-endian (IEEE 754 bits), canonical order
//	AdamW first moment m                    P × float32 little-endian, same order
//	AdamW second moment v                   P × float32 little-endian, same order
//
// It synchronises with the device.
func (t *Trainer) Digest() (Digest, error) {
	var d Digest
	if t.closed {
		return d, ErrClosed
	}
	h := t.hasher
	h.Reset()
	var hdr [len(digestDomain) + 32]byte
	copy(hdr[:], digestDomain)
	p := hdr[len(digestDomain):]
	binary.LittleEndian.PutUint64(p[0:], uint64(t.step))
	binary.LittleEndian.PutUint64(p[8:], t.rng.Seed)
	binary.LittleEndian.PutUint64(p[16:], t.rng.Counter)
	binary.LittleEndian.PutUint64(p[24:], uint64(t.m.nparams))
	h.Write(hdr[:])
	for _, b := range []gpu.Buffer{t.m.params, t.mom, t.vel} {
		if err := t.dev.Download(t.host, b); err != nil {
			return d, fmt.Errorf("train: digest: %w", err)
		}
		t.hashFloats(t.host)
	}
	h.Sum(d[:0])
	return d, nil
}

// hashFloats writes xs to the hasher as little-endian IEEE 754 bits.
func (t *Trainer) hashFloats(xs []float32) {
	c := t.chunk
	for len(xs) > 0 {
		n := min(len(xs), len(c)/4)
		for i, v := range xs[:n] {
			binary.LittleEndian.PutUint32(c[4*i:], math.Float32bits(v))
		}
		t.hasher.Write(c[:4*n])
		xs = xs[n:]
	}
}

// Close releases the trainer's optimizer state and closes its model. It is idempotent.
func (t *Trainer) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	t.mom, t.vel, t.decay = nil, nil, nil
	return t.m.Close()
}
