package object

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// The kinds of the task-distribution messages (docs/tasks.md). KindClaim is declared with the
// other authored kinds.
const (
	// KindOffer is a signed announcement of a task: the task object, its replication and its
	// resource estimate.
	KindOffer Kind = "/airanode/offer/1"
	// KindCapability is a node's signed advertisement of what tasks it can take.
	KindCapability Kind = "/airanode/capability/1"
)

// ErrSigner means an envelope is validly signed, but not by the peer its object names as author
// (Claim.Claimer, Offer.Submitter, Capability.Peer, Result.Executor).
var ErrSigner = errors.New("object: envelope signer is not the object's author")

// Bounds of claims, offers and capabilities.
const (
	// MaxClaimRank bounds Claim.Rank: ranks count the peers a node knows.
	MaxClaimRank = 1 << 16
	// MaxCounter bounds sequence numbers, steps and timestamps (2^53: exact in any JSON reader).
	MaxCounter = 1 << 53
	// MinLeaseMillis and MaxLeaseMillis bound a live claim's lease.
	MinLeaseMillis = 50
	MaxLeaseMillis = 3_600_000
	// MaxMemory bounds memory figures, in bytes (1 PiB).
	MaxMemory = 1 << 50
	// MaxCompute bounds compute figures, in FLOPs.
	MaxCompute = 1 << 62
	// MaxWorkers bounds Capability.Workers.
	MaxWorkers = 1 << 12
	// MaxSmallEnvelope caps the envelope of a claim, offer or capability: they are tiny, and a
	// larger one is rejected before its signature is checked.
	MaxSmallEnvelope = 4 << 10
)

// ClaimState is where a claimer stands with a task.
type ClaimState string

// The states of a claim.
const (
	// ClaimClaimed opens a lease: the claimer has started (or resumed) the task.
	ClaimClaimed ClaimState = "claimed"
	// ClaimProgress renews the lease: a heartbeat carrying the claimer's progress.
	ClaimProgress ClaimState = "progress"
	// ClaimReleased ends the lease without a result: the claimer abandoned or gave up the task.
	ClaimReleased ClaimState = "released"
	// ClaimDone ends the lease with a result, named by Claim.Result.
	ClaimDone ClaimState = "done"
)

// Live reports whether the state holds a lease (claimed or progress).
func (s ClaimState) Live() bool { return s == ClaimClaimed || s == ClaimProgress }

// Claim is a signed, gossiped lease on a task: Claimer is working on Task. A claimer renews its
// lease with heartbeats (State progress, Seq increasing); a receiver considers the lease live for
// LeaseMillis after it received the latest heartbeat, measured on its own monotonic clock, so
// neither clock skew nor the claimer's Time affects expiry. Claims travel in envelopes of
// KindClaim signed by Claimer.
type Claim struct {
	// Task is the CID of the task.
	Task string `cbor:"task" json:"task"`
	// Claimer is the peer ID of the claiming node; it must equal the envelope's signer.
	Claimer string `cbor:"claimer" json:"claimer"`
	// Rank is the claimer's 0-based rendezvous rank among the capable peers it knew when it
	// claimed. It is advisory (views differ); conflicts are settled by the rendezvous score, which
	// every node computes alike.
	Rank int64 `cbor:"rank" json:"rank"`
	// Seq numbers the claimer's messages about Task: strictly increasing, from 1, across
	// heartbeats, releases, re-claims and restarts. Receivers ignore a Seq they have seen beaten.
	Seq int64 `cbor:"seq" json:"seq"`
	// Step and Of are the claimer's progress: Step of Of steps done (0 <= Step <= Of).
	Step int64 `cbor:"step" json:"step"`
	Of   int64 `cbor:"of" json:"of"`
	// LeaseMillis is how long the lease stays live after a receiver gets this message: between
	// MinLeaseMillis and MaxLeaseMillis for a live state, 0 for released and done.
	LeaseMillis int64 `cbor:"lease_ms" json:"lease_ms"`
	// State is claimed, progress, released or done.
	State ClaimState `cbor:"state" json:"state"`
	// Result is the CID of the sealed result (SealedCID) when State is done; empty otherwise.
	Result string `cbor:"result,omitempty" json:"result,omitempty"`
	// Time is the claimer's wall clock when it signed, in Unix milliseconds. It only lets gossip
	// drop stale replays; leases and conflicts never depend on it.
	Time int64 `cbor:"time" json:"time"`
}

// Validate checks bounds and formats.
func (c Claim) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: claim: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if _, err := ParseCID(c.Task); err != nil {
		return bad("task: %v", err)
	}
	if err := validPeer(c.Claimer); err != nil {
		return bad("claimer: %v", err)
	}
	switch {
	case c.Rank < 0 || c.Rank >= MaxClaimRank:
		return bad("rank %d, want 0-%d", c.Rank, MaxClaimRank-1)
	case c.Seq < 1 || c.Seq > MaxCounter:
		return bad("seq %d, want 1-%d", c.Seq, int64(MaxCounter))
	case c.Of < 0 || c.Of > MaxCounter || c.Step < 0 || c.Step > c.Of:
		return bad("progress %d of %d", c.Step, c.Of)
	case c.Time < 0 || c.Time > MaxCounter:
		return bad("time %d", c.Time)
	}
	switch c.State {
	case ClaimClaimed, ClaimProgress:
		if c.LeaseMillis < MinLeaseMillis || c.LeaseMillis > MaxLeaseMillis {
			return bad("lease %d ms, want %d-%d", c.LeaseMillis, MinLeaseMillis, MaxLeaseMillis)
		}
	case ClaimReleased, ClaimDone:
		if c.LeaseMillis != 0 {
			return bad("%s with a lease of %d ms", c.State, c.LeaseMillis)
		}
	default:
		return bad("state %q", c.State)
	}
	if c.State == ClaimDone {
		if _, err := ParseCID(c.Result); err != nil {
			return bad("result: %v", err)
		}
	} else if c.Result != "" {
		return bad("result %q in state %s", c.Result, c.State)
	}
	return nil
}

// Need is the resources a task needs, from the architecture cost model.
type Need struct {
	// Memory is the peak training memory, in bytes.
	Memory int64 `cbor:"memory" json:"memory"`
	// Compute is the total work, in FLOPs.
	Compute int64 `cbor:"compute" json:"compute"`
}

// Validate checks bounds.
func (n Need) Validate() error {
	if n.Memory < 0 || n.Memory > MaxMemory || n.Compute < 0 || n.Compute > MaxCompute {
		return fmt.Errorf("%w: need of %d bytes and %d FLOPs out of bounds", ErrInvalid, n.Memory, n.Compute)
	}
	return nil
}

// Offer announces a task to the network: tasks carry no author, so the announcement does. Offers
// travel in envelopes of KindOffer signed by Submitter. The task's identity stays the CID of Task:
// offers of one task by several submitters, or at several times, are one task.
type Offer struct {
	// Task is the task object itself.
	Task Task `cbor:"task" json:"task"`
	// Replicas is R, how many distinct nodes should execute the task (1-MaxReplicas).
	Replicas int64 `cbor:"replicas" json:"replicas"`
	// Need is the submitter's estimate; nodes that hold the architecture and protocol recompute it.
	Need Need `cbor:"need" json:"need"`
	// Submitter is the peer ID of the announcing node; it must equal the envelope's signer.
	Submitter string `cbor:"submitter" json:"submitter"`
	// Time is the submitter's wall clock, in Unix milliseconds (a new announcement of the same
	// task gets a new envelope name).
	Time int64 `cbor:"time" json:"time"`
}

// Validate checks bounds and formats.
func (o Offer) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: offer: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if err := o.Task.Validate(); err != nil {
		return bad("%v", err)
	}
	if o.Replicas < 1 || o.Replicas > MaxReplicas {
		return bad("replicas %d, want 1-%d", o.Replicas, MaxReplicas)
	}
	if err := o.Need.Validate(); err != nil {
		return bad("%v", err)
	}
	if err := validPeer(o.Submitter); err != nil {
		return bad("submitter: %v", err)
	}
	if o.Time < 0 || o.Time > MaxCounter {
		return bad("time %d", o.Time)
	}
	return nil
}

// Capability is a node's advertisement of the tasks it takes: nodes rank for a task only the
// peers whose latest capability says they accept work and have room for the task's Need. It
// travels in envelopes of KindCapability signed by Peer, repeated periodically (a peer whose
// capability is not renewed drops out of the ranking).
type Capability struct {
	// Peer is the advertising node; it must equal the envelope's signer.
	Peer string `cbor:"peer" json:"peer"`
	// Seq numbers the node's capabilities, strictly increasing across restarts.
	Seq int64 `cbor:"seq" json:"seq"`
	// Memory is the most memory one task may use on the node, in bytes (0: no limit stated).
	Memory int64 `cbor:"memory" json:"memory"`
	// Compute is the largest task the node takes, in FLOPs (0: no limit).
	Compute int64 `cbor:"compute" json:"compute"`
	// Workers is how many tasks the node runs at once.
	Workers int64 `cbor:"workers" json:"workers"`
	// Accepting is false while the node is paused or draining: it claims nothing new.
	Accepting bool `cbor:"accepting" json:"accepting"`
	// Class names the node's reproducibility classes, space-separated ("cpu-v1", or "cpu-v1
	// cuda-v1" for a node that also trains on GPUs); informative.
	Class string `cbor:"class,omitempty" json:"class,omitempty"`
	// Time is the node's wall clock, in Unix milliseconds; only for dropping stale replays.
	Time int64 `cbor:"time" json:"time"`
}

// Validate checks bounds and formats.
func (c Capability) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: capability: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if err := validPeer(c.Peer); err != nil {
		return bad("peer: %v", err)
	}
	switch {
	case c.Seq < 1 || c.Seq > MaxCounter:
		return bad("seq %d", c.Seq)
	case c.Memory < 0 || c.Memory > MaxMemory:
		return bad("memory %d", c.Memory)
	case c.Compute < 0 || c.Compute > MaxCompute:
		return bad("compute %d", c.Compute)
	case c.Workers < 0 || c.Workers > MaxWorkers:
		return bad("workers %d, want 0-%d", c.Workers, MaxWorkers)
	case len(c.Class) > MaxClass:
		return bad("class of %d bytes", len(c.Class))
	case c.Time < 0 || c.Time > MaxCounter:
		return bad("time %d", c.Time)
	}
	return nil
}

// Fits reports whether a task needing n fits what c advertises (limits of 0 mean none stated).
func (c Capability) Fits(n Need) bool {
	return (c.Memory == 0 || n.Memory <= c.Memory) && (c.Compute == 0 || n.Compute <= c.Compute)
}

func validPeer(s string) error {
	if s == "" || len(s) > maxName {
		return fmt.Errorf("peer ID of %d bytes", len(s))
	}
	id, err := peer.Decode(s)
	if err != nil {
		return fmt.Errorf("peer ID %q: %w", s, err)
	}
	if id.String() != s {
		return fmt.Errorf("peer ID %q not in its canonical form %s", s, id)
	}
	return nil
}

// checkSize refuses n bytes of a kind whose cap is limit.
func checkSize(kind Kind, n, limit int) error {
	if n > limit {
		return fmt.Errorf("open %s: %d bytes, cap %d: %w", kind, n, limit, ErrTooLarge)
	}
	return nil
}

// signedOf decodes the object of kind inside an opened envelope: it checks the payload against
// limit, checks the kind, decodes strictly, validates, and requires the signer to be the author
// the object names.
func signedOf[T any, PT interface {
	*T
	Validate() error
}](s Signed, kind Kind, limit int, author func(*T) string) (T, error) {
	var zero, v T
	if err := checkSize(kind, len(s.Data), limit); err != nil {
		return zero, err
	}
	if s.Kind != kind {
		return zero, fmt.Errorf("open envelope: %w: want %s, got %q", ErrKind, kind, s.Kind)
	}
	if err := Unmarshal(s.Data, &v); err != nil {
		return zero, fmt.Errorf("open %s: %w", kind, err)
	}
	if err := PT(&v).Validate(); err != nil {
		return zero, err
	}
	if s.Author.String() != author(&v) {
		return zero, fmt.Errorf("open %s: %w: signed by %s, names %s", kind, ErrSigner, s.Author, author(&v))
	}
	return v, nil
}

// ClaimOf decodes the claim inside an opened envelope (see OpenAny): it checks the kind and the
// size cap, decodes strictly, validates, and requires the signer to be the claimer. Errors wrap
// ErrKind, ErrTooLarge, a decoding sentinel, ErrInvalid or ErrSigner.
func ClaimOf(s Signed) (Claim, error) {
	return signedOf(s, KindClaim, MaxSmallEnvelope, func(c *Claim) string { return c.Claimer })
}

// OfferOf decodes the offer inside an opened envelope, as ClaimOf does a claim; the signer must be
// the submitter.
func OfferOf(s Signed) (Offer, error) {
	return signedOf(s, KindOffer, MaxSmallEnvelope, func(o *Offer) string { return o.Submitter })
}

// CapabilityOf decodes the capability inside an opened envelope, as ClaimOf does a claim; the
// signer must be the advertised peer.
func CapabilityOf(s Signed) (Capability, error) {
	return signedOf(s, KindCapability, MaxSmallEnvelope, func(c *Capability) string { return c.Peer })
}

// ResultOf decodes the result inside an opened envelope: size cap (MaxSize), kind, strict decoding,
// Validate, and the signer must be the executor.
func ResultOf(s Signed) (Result, error) {
	return signedOf(s, KindResult, MaxSize, func(r *Result) string { return r.Executor })
}

// openCapped verifies an envelope of a kind whose cap is limit, refusing oversized bytes before
// any signature check.
func openCapped(env []byte, kind Kind, limit int) (Signed, error) {
	if err := checkSize(kind, len(env), limit); err != nil {
		return Signed{}, err
	}
	return OpenAny(env)
}

// OpenClaim opens a claim envelope: size cap, signature, then ClaimOf.
func OpenClaim(env []byte) (Claim, error) {
	s, err := openCapped(env, KindClaim, MaxSmallEnvelope)
	if err != nil {
		return Claim{}, err
	}
	return ClaimOf(s)
}

// OpenOffer opens an offer envelope: size cap, signature, then OfferOf.
func OpenOffer(env []byte) (Offer, error) {
	s, err := openCapped(env, KindOffer, MaxSmallEnvelope)
	if err != nil {
		return Offer{}, err
	}
	return OfferOf(s)
}

// OpenCapability opens a capability envelope: size cap, signature, then CapabilityOf.
func OpenCapability(env []byte) (Capability, error) {
	s, err := openCapped(env, KindCapability, MaxSmallEnvelope)
	if err != nil {
		return Capability{}, err
	}
	return CapabilityOf(s)
}

// OpenResult opens a result envelope (up to MaxEnvelope): signature, then ResultOf.
func OpenResult(env []byte) (Result, error) {
	s, err := OpenAny(env)
	if err != nil {
		return Result{}, err
	}
	return ResultOf(s)
}
